#include "mozart/report/report.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"
#include "mozart/report/run_dir.hpp"

namespace mozart::report {
namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

// Rows of a results CSV shown in the page; the file has them all.
constexpr std::size_t kMaxTableRows = 60;
constexpr std::size_t kMaxBreakdownPoints = 8;

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string cell(const ordered_json& v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_number_float())
    return fmt::format("{:.6g}", v.get<double>());
  return v.dump();
}

class Page {
 public:
  explicit Page(FigureMaker& maker) : maker_(maker) {}

  void heading(const std::string& text) { body_ += "<h2>" + escape(text) + "</h2>\n"; }
  void paragraph(const std::string& text) { body_ += "<p>" + escape(text) + "</p>\n"; }
  void table(const std::vector<std::string>& header,
             const std::vector<std::vector<std::string>>& rows) {
    body_ += "<table>\n<tr>";
    for (const auto& h : header)
      body_ += "<th>" + escape(h) + "</th>";
    body_ += "</tr>\n";
    for (const auto& row : rows) {
      body_ += "<tr>";
      for (const auto& c : row)
        body_ += "<td>" + escape(c) + "</td>";
      body_ += "</tr>\n";
    }
    body_ += "</table>\n";
  }
  // The scalars of a JSON object, flattened ("breakdown.compute_s"), as a two-column table.
  void scalars(const ordered_json& object, const std::vector<std::string>& only = {}) {
    std::vector<std::vector<std::string>> rows;
    flatten(object, "", rows);
    if (!only.empty()) {
      std::vector<std::vector<std::string>> kept;
      for (const auto& name : only)
        for (const auto& r : rows)
          if (r[0] == name)
            kept.push_back(r);
      rows = kept;
    }
    table({"", "value"}, rows);
  }
  // A figure, drawn with the others when the page is rendered.
  void figure(const std::string& caption, const std::string& kind,
              const std::vector<std::string>& args) {
    body_ += fmt::format("{}{}{}", kMark, figures_.size(), kMark);
    captions_.push_back(caption);
    figures_.push_back({kind, args});
  }
  std::string render(const std::string& title) {
    const std::vector<std::string> png = maker_.draw(figures_);
    std::string body;
    for (std::size_t at = 0; at < body_.size();) {
      const std::size_t mark = body_.find(kMark, at);
      body += body_.substr(at, mark - at);
      if (mark == std::string::npos)
        break;
      const std::size_t end = body_.find(kMark, mark + 1);
      const std::size_t i = std::stoul(body_.substr(mark + 1, end - mark - 1));
      if (i < png.size())
        body += "<figure><img alt=\"" + escape(captions_[i]) + "\" src=\"data:image/png;base64," +
                base64(png[i]) + "\"><figcaption>" + escape(captions_[i]) +
                "</figcaption></figure>\n";
      at = end + 1;
    }
    std::string note;
    if (!maker_.unavailable().empty())
      note = "<p class=\"note\">Figures left out: " + escape(maker_.unavailable()) + "</p>\n";
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
           escape(title) +
           "</title>\n<style>body{font-family:sans-serif;margin:2em auto;max-width:1100px;"
           "color:#222}table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px "
           "solid #ccc;padding:2px 8px;font-size:13px;text-align:left}th{background:#f0f0f0}"
           "img{max-width:100%}figure{margin:1em 0}figcaption{font-size:13px;color:#555}"
           ".note{color:#a40}</style>\n</head><body>\n<h1>" +
           escape(title) + "</h1>\n" + note + body + "</body></html>\n";
  }

 private:
  static void flatten(const ordered_json& v, const std::string& prefix,
                      std::vector<std::vector<std::string>>& rows) {
    if (v.is_object()) {
      for (const auto& [k, item] : v.items())
        flatten(item, prefix.empty() ? k : prefix + "." + k, rows);
    } else if (!v.is_array()) {
      rows.push_back({prefix, cell(v)});
    }
  }

  // Marks a figure's place in the body; escape() keeps it out of any text.
  static constexpr char kMark = '\x01';

  FigureMaker& maker_;
  std::string body_;
  std::vector<std::string> captions_;
  std::vector<Figure> figures_;
};

ordered_json read_json(const fs::path& path) {
  try {
    return ordered_json::parse(core::read_text_file(path.string()));
  } catch (const nlohmann::json::exception& e) {
    throw core::InputError(path.string(), fmt::format("is not JSON ({})", e.what()));
  }
}

void inputs_section(Page& page, const ordered_json& record) {
  page.heading("Inputs");
  std::vector<std::vector<std::string>> rows;
  if (record.contains("inputs") && record["inputs"].is_array())
    for (const auto& in : record["inputs"])
      rows.push_back({cell(in.value("role", "")), cell(in.value("name", "")),
                      cell(in.value("kind", "")), cell(in.value("hash", ""))});
  page.table({"input", "name", "kind", "hash"}, rows);
  if (record.contains("settings"))
    page.scalars(record["settings"]);
}

void timeline_section(Page& page, const fs::path& dir) {
  if (!fs::exists(dir / kTimelineFile))
    return;
  page.heading("Timeline");
  page.figure("The first tenth of the run, per chiplet", "timeline",
              {(dir / kTimelineFile).string()});
}

void simulate_section(Page& page, const fs::path& dir) {
  const fs::path summary = dir / kSummaryFile;
  const ordered_json s = read_json(summary);
  page.heading("Key figures");
  page.scalars(s, {"model", "hardware", "policy.name", "policy.options", "batch.tokens", "step_s",
                   "tokens_per_s", "lower_bound.bound_s", "lower_bound.binding",
                   "lower_bound.step_over_bound", "copies_per_token", "s_mfu", "s_mbu",
                   "energy_j.total", "memory_fits"});
  page.heading("Where the step goes");
  page.figure("Step time: computing, exposed memory, exposed communication; the lower bound",
              "breakdown", {summary.string()});
  page.scalars(s.value("breakdown", ordered_json::object()));
  if (s.contains("lost_to"))
    page.scalars(ordered_json{{"lost_to", s["lost_to"]}});
  if (s.contains("links")) {
    page.heading("Links");
    page.figure("Bytes per link on the physical layout", "links", {summary.string()});
  }
  timeline_section(page, dir);
  page.heading("Whole summary");
  page.scalars(s);
}

// Serving: the summary's scalars, the links, the timeline.
void serve_section(Page& page, const fs::path& dir) {
  const fs::path summary = dir / kSummaryFile;
  const ordered_json s = read_json(summary);
  page.heading("Key figures");
  page.scalars(s);
  if (s.contains("links")) {
    page.heading("Links");
    page.figure("Bytes per link on the physical layout", "links", {summary.string()});
  }
  timeline_section(page, dir);
}

void place_section(Page& page, const fs::path& dir) {
  const ordered_json p = read_json(dir / kPlaceFile);
  page.heading("Key figures");
  page.scalars(p);
  if (fs::exists(dir / kPriorsFile) && fs::exists(dir / kPlacementFile)) {
    page.heading("Co-activation and the placement");
    page.figure("Layer 0: experts routed together, with the chiplet and group boundaries",
                "coactivation",
                {(dir / kPriorsFile).string(), (dir / kPlacementFile).string(), "--layer", "0"});
  }
}

void reproduce_section(Page& page, const fs::path& dir) {
  const fs::path path = dir / kStudyFile;
  const ordered_json study = read_json(path);
  if (!study.contains("rows") || !study["rows"].is_array())
    throw core::InputError(path.string(), "has no rows: expected `reproduce mozart` results");
  page.heading("Speed-ups");
  page.figure("Speed-up over each model's baseline, per policy", "speedup", {path.string()});
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : study["rows"])
    if (r.value("section", "") == "main")
      rows.push_back(
          {cell(r.value("model", "")), cell(r.value("policy", "")),
           cell(r.value("step_s", ordered_json())), cell(r.value("speedup", ordered_json())),
           cell(r.value("copies_per_token", ordered_json())), cell(r.value("binding", ""))});
  page.table({"model", "policy", "step_s", "speed-up", "C_T", "bound by"}, rows);
}

std::vector<std::vector<std::string>> read_csv_rows(const fs::path& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(core::read_text_file(path.string(), std::size_t(1) << 30));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string c;
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char ch = line[i];
      if (ch == '"' && quoted && i + 1 < line.size() && line[i + 1] == '"') {
        c += '"';
        ++i;
      } else if (ch == '"') {
        quoted = !quoted;
      } else if (ch == ',' && !quoted) {
        cells.push_back(c);
        c.clear();
      } else {
        c += ch;
      }
    }
    cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}

void sweep_section(Page& page, const fs::path& dir) {
  const ordered_json sweep = read_json(dir / "sweep.json");
  const fs::path csv = dir / "results.csv";
  if (!fs::exists(csv))
    throw core::InputError(csv.string(), "is missing: the sweep has not finished (rerun it)");
  page.heading("Sweep");
  page.scalars(sweep);
  const auto rows = read_csv_rows(csv);
  if (rows.size() < 2 || rows[0].empty() || rows[0][0] != "point")
    throw core::InputError(csv.string(), "is not a sweep's results.csv");
  const auto& header = rows[0];
  const auto error_at = std::find(header.begin(), header.end(), "error");
  const std::vector<std::string> fields(header.begin() + 1, error_at);
  std::string metric;
  for (const char* m : {"step_s", "time_s"})
    if (std::find(header.begin(), header.end(), m) != header.end())
      metric = m;
  page.heading("Results");
  for (std::size_t f = 0; f < fields.size() && f < 3 && !metric.empty(); ++f)
    page.figure(metric + " against " + fields[f], "sweep",
                {csv.string(), "--x", fields[f], "--y", metric});
  if (!metric.empty() && std::find(header.begin(), header.end(), "area_mm2") != header.end())
    page.figure("Pareto front: " + metric + " against area", "pareto",
                {csv.string(), "--x", "area_mm2", "--y", metric});
  std::vector<std::string> shown(header.begin(), error_at + (error_at != header.end()));
  if (!metric.empty())
    shown.push_back(metric);
  std::vector<std::vector<std::string>> table;
  for (std::size_t r = 1; r < rows.size() && r <= kMaxTableRows; ++r) {
    std::vector<std::string> row;
    for (const auto& name : shown) {
      const auto at = std::size_t(std::find(header.begin(), header.end(), name) - header.begin());
      row.push_back(at < rows[r].size() ? rows[r][at] : "");
    }
    table.push_back(row);
  }
  page.table(shown, table);
  if (rows.size() - 1 > kMaxTableRows)
    page.paragraph(
        fmt::format("{} more rows in {}", rows.size() - 1 - kMaxTableRows, csv.string()));
  if (sweep.value("run", "") == "simulate") {
    std::vector<std::string> points;
    for (std::size_t p = 0; p + 1 < rows.size() && p < kMaxBreakdownPoints; ++p)
      if (rows[p + 1].size() > 1 && rows[p + 1][std::size_t(error_at - header.begin())].empty())
        points.push_back(fmt::format("{}/points/{:06}.json", dir.string(), p));
    if (!points.empty())
      page.figure("Step time of the first points", "breakdown", points);
  }
  const std::string first = fmt::format("{}/points/{:06}.json", dir.string(), 0);
  if (fs::exists(first) && read_json(first).value("result", ordered_json()).contains("links"))
    page.figure("Bytes per link at point 0", "links", {first});
}

}  // namespace

std::string base64(const std::string& bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k)
      v = (v << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k)
      out += k <= n ? kDigits[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

std::string make_report(const std::string& run_dir, FigureMaker& figures) {
  const fs::path dir(run_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw core::InputError(run_dir, "is not a directory: expected the --out-dir of a run");
  Page page(figures);
  if (fs::exists(dir / "sweep.json")) {
    sweep_section(page, dir);
    return page.render("mozart report: sweep " + read_json(dir / "sweep.json").value("sweep", ""));
  }
  if (!fs::exists(dir / kInputsFile))
    throw core::InputError(run_dir,
                           "holds no results: expected the --out-dir of simulate, serve, place, "
                           "reproduce (inputs.json) or sweep (sweep.json)");
  const ordered_json record = read_json(dir / kInputsFile);
  const std::string command = record.value("command", "");
  inputs_section(page, record);
  if (command == "simulate")
    simulate_section(page, dir);
  else if (command == "serve")
    serve_section(page, dir);
  else if (command == "place")
    place_section(page, dir);
  else if (command == "reproduce")
    reproduce_section(page, dir);
  else
    throw core::InputError(
        (dir / kInputsFile).string(),
        "names command '" + command + "', expected simulate, serve, place or reproduce");
  return page.render("mozart report: " + command + " " + dir.filename().string());
}

}  // namespace mozart::report
