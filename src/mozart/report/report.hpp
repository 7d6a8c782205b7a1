// `mozart report RUN_DIR`: one self-contained HTML page (figures inlined as base64 PNG) from a
// directory written with --out-dir by simulate, serve, place, reproduce or sweep: the inputs
// with their hashes, key figures, tables and the figures of tools/figures.py.
#pragma once

#include <string>

#include "mozart/report/figures.hpp"

namespace mozart::report {

// The page; an InputError (one line) for a directory that holds no results or a file in it
// that is not what its name says.
std::string make_report(const std::string& run_dir, FigureMaker& figures);

// "SGVsbG8=" for "Hello".
std::string base64(const std::string& bytes);

}  // namespace mozart::report
