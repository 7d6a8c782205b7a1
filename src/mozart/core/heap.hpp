// How the process's allocator treats memory it frees.
//
// A run builds and frees the same large arrays again and again (a task graph per serving
// iteration, per training step, per re-simulation of a study), each of megabytes. By default
// glibc hands such blocks back to the system when they are freed (mmap'd blocks at once, the
// heap's top past a threshold), so the next run's arrays are faulted in and zeroed by the
// kernel page by page. keep_freed_memory() keeps them for reuse instead: blocks up to 32 MiB
// come from the heap, and the heap's top is not trimmed below 2 GiB. The process then holds its
// peak until it exits.
//
// It also asks for transparent huge pages on the heap's first gigabyte (address space only,
// faulted in as first written): a run's arrays are faulted in 2 MiB at a time rather than
// 4 KiB, and the solver's scattered reads of them miss the TLB less. Worker threads' own
// arenas keep ordinary pages.
#pragma once

namespace mozart::core {

// Called once, first thing in a program's main (or a benchmark's set-up); true when the
// allocator took the settings (glibc), false elsewhere (nothing changes).
bool keep_freed_memory();

}  // namespace mozart::core
