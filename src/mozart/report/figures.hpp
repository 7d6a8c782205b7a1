// Figures drawn by tools/figures.py (matplotlib) in a scratch directory, returned as PNG bytes.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mozart::report {

struct FigureTool {
  std::string python;  // an interpreter with matplotlib and numpy (Debian's /usr/bin/python3)
  std::string script;  // tools/figures.py
};

// The tool this build was configured with, unless MOZART_PYTHON or MOZART_FIGURES (the
// script's path) say otherwise.
FigureTool default_figure_tool();

struct Figure {
  std::string kind;               // speedup, breakdown, links, ...
  std::vector<std::string> args;  // inputs and options, without -o
};

class FigureMaker {
 public:
  explicit FigureMaker(FigureTool tool);
  ~FigureMaker();  // removes the scratch directory
  FigureMaker(const FigureMaker&) = delete;
  FigureMaker& operator=(const FigureMaker&) = delete;

  // Each figure (`figures.py KIND ARGS...`) as PNG bytes, drawn by one process; none when the
  // tool cannot run here (no interpreter, no matplotlib: unavailable() then says why). A script
  // that refuses its input (exit 2) is an InputError with the script's line.
  std::vector<std::string> draw(const std::vector<Figure>& figures);
  const std::string& unavailable() const { return unavailable_; }

 private:
  FigureTool tool_;
  std::string scratch_;
  std::string unavailable_;
};

}  // namespace mozart::report
