// A sweep across the ranks of an MPI job (`mpirun -n N mozart sweep ...`), when mozart is built
// with MPI: rank 0 holds the results directory and hands out one point at a time to whichever
// rank asks (a slow point holds up only its own rank), runs points itself on its own threads
// meanwhile, writes every record it gets back, and writes the CSV, byte for byte the one a
// threaded run writes.
#pragma once

#include <optional>
#include <string>

#include "mozart/sweep/results.hpp"
#include "mozart/sweep/runner.hpp"

namespace mozart::sweep {

// Whether this build can run under MPI.
bool mpi_built();
// Whether this process was started by mpirun (its environment says so).
bool started_by_mpirun();

// Runs the sweep on every rank; the summary on rank 0, nothing on the others. `options.jobs`
// is rank 0's threads beside its dispatching (0: one).
std::optional<RunSummary> run_mpi(const SweepSpec& spec, const std::string& out_dir,
                                  const Evaluate& evaluate, const RunOptions& options);

}  // namespace mozart::sweep
