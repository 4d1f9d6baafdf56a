#include "pool_bench_rows.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <fstream>

namespace seedpool::bench::pb {

using bench::csv_field;
using bench::json_number;
using bench::json_string;
using bench::strf;

namespace {

std::vector<std::optional<double>> as_optional(const std::vector<double>& v) {
  return {v.begin(), v.end()};
}

}  // namespace

Row failed_row(std::string workload, std::string unit, std::string baseline,
               std::string subject, std::string target, const std::string& why) {
  Row row;
  row.workload = std::move(workload);
  row.unit = std::move(unit);
  row.baseline = std::move(baseline);
  row.subject = std::move(subject);
  row.target = std::move(target);
  row.detail = "could not run: " + why;
  row.ran = false;
  return row;
}

std::optional<double> quantile(std::vector<double> values, double q) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}

void fill_comparison(Row& row, const std::vector<double>& subject,
                     const std::vector<double>& baseline) {
  // report.cc's statistics, the ones rand_bench prints.
  if (const std::optional<Spread> s = spread_of(as_optional(subject))) {
    row.median = s->median;
    row.q1 = s->q1;
    row.q3 = s->q3;
    row.min = s->min;
    row.max = s->max;
    row.rounds = static_cast<int>(s->rounds);
  }
  if (const std::optional<Spread> b = spread_of(as_optional(baseline))) {
    row.baseline_median = b->median;
    row.baseline_q1 = b->q1;
    row.baseline_q3 = b->q3;
  }
  std::vector<double> ratios;
  for (std::size_t r = 0; r < std::min(subject.size(), baseline.size()); ++r)
    if (baseline[r] > 0) ratios.push_back(subject[r] / baseline[r]);
  row.ratio = median_ratio(as_optional(subject), as_optional(baseline));
  if (const std::optional<Spread> rs = spread_of(as_optional(ratios))) {
    row.ratio_q1 = rs->q1;
    row.ratio_q3 = rs->q3;
  }
}

// --- the child's rows through a pipe -------------------------------------------

namespace {

constexpr char kSep = '\x1f';  // ASCII unit separator

std::string clean(const std::string& s) {
  std::string out = s;
  for (char& ch : out)
    if (ch == kSep || ch == '\n' || ch == '\r') ch = ' ';
  return out;
}

std::string enc_num(std::optional<double> v) { return v ? strf("%.17g", *v) : "-"; }

bool dec_num(const std::string& s, std::optional<double>& v) {
  if (s == "-") {
    v.reset();
    return true;
  }
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return false;
  v = d;
  return true;
}

}  // namespace

std::string encode_row(const Row& row) {
  std::string line = clean(row.workload);
  for (const std::string& f :
       {clean(row.unit), clean(row.baseline), clean(row.subject),
        enc_num(row.baseline_median), enc_num(row.baseline_q1), enc_num(row.baseline_q3),
        enc_num(row.median), enc_num(row.q1),
        enc_num(row.q3), enc_num(row.min), enc_num(row.max), enc_num(row.ratio),
        enc_num(row.ratio_q1), enc_num(row.ratio_q3), clean(row.target),
        std::string(!row.met ? "-" : *row.met ? "1" : "0"), clean(row.detail),
        std::to_string(row.rounds), std::string(row.ran ? "1" : "0")}) {
    line += kSep;
    line += f;
  }
  return line;
}

bool decode_row(const std::string& line, Row& row) {
  std::vector<std::string> f;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = line.find(kSep, start);
    f.push_back(line.substr(start, end == std::string::npos ? end : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (f.size() != 20) return false;
  row = Row{};
  row.workload = f[0];
  row.unit = f[1];
  row.baseline = f[2];
  row.subject = f[3];
  if (!dec_num(f[4], row.baseline_median) || !dec_num(f[5], row.baseline_q1) ||
      !dec_num(f[6], row.baseline_q3) || !dec_num(f[7], row.median) ||
      !dec_num(f[8], row.q1) || !dec_num(f[9], row.q3) || !dec_num(f[10], row.min) ||
      !dec_num(f[11], row.max) || !dec_num(f[12], row.ratio) ||
      !dec_num(f[13], row.ratio_q1) || !dec_num(f[14], row.ratio_q3))
    return false;
  row.target = f[15];
  if (f[16] == "1")
    row.met = true;
  else if (f[16] == "0")
    row.met = false;
  else if (f[16] != "-")
    return false;
  row.detail = f[17];
  row.rounds = std::atoi(f[18].c_str());
  if (f[19] != "0" && f[19] != "1") return false;
  row.ran = f[19] == "1";
  return true;
}

// --- the table -------------------------------------------------------------------

namespace {

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string value_text(std::optional<double> v, const std::string& unit) {
  if (!v) return "-";
  const double x = *v;
  if (unit == "calls/s") {
    if (x >= 1e6) return strf("%.2f M", x / 1e6);
    if (x >= 1e3) return strf("%.1f k", x / 1e3);
    return strf("%.0f", x);
  }
  if (unit == "MB/s") return x >= 100 ? strf("%.0f", x) : strf("%.1f", x);
  if (unit == "us" || unit == "us/cycle") return x >= 100 ? strf("%.0f", x) : strf("%.1f", x);
  return strf("%.2f", x);
}

std::string ratio_text(const Row& row) {
  if (!row.ratio) return "-";
  std::string text = strf("%.2fx", *row.ratio);
  if (row.ratio_q1 && row.ratio_q3)
    text += strf(" (%.2f..%.2f)", *row.ratio_q1, *row.ratio_q3);
  return text;
}

std::string met_text(const Row& row) {
  if (!row.ran) return "ERROR";
  if (!row.met) return "-";
  return *row.met ? "met" : "NOT met";
}

}  // namespace

void print_table(std::FILE* out, const Header& header, const std::vector<Row>& rows) {
  const MachineInfo& m = header.machine;
  const RunSettings& s = header.settings;
  std::fprintf(out,
               "\npool_bench: seedpool.so's async path, idle gatherer and direct "
               "output, each through an openssl.cnf in its own OSSL_LIB_CTX\n");
  std::fprintf(out,
               "machine:  %s, %u cores, Linux %s; load average %.2f at the start, "
               "%.2f at the end\n",
               m.cpu_model.c_str(), m.cores, header.kernel.c_str(), m.load_start,
               m.load_end);
  std::fprintf(out, "OpenSSL:  %s; modules from %s\n", m.openssl_version.c_str(),
               m.modules_dir.c_str());
  std::fprintf(out,
               "method:   %s%d rounds, the two sides alternated (order reversed every "
               "round); %.0f ms per rate sample, per side per round up to %d pause cycles\n"
               "          (or %.0f ms of them) and %d fed %.0f ms after the pause;"
               " idle gatherer over %d x %.0f ms.\n          Figures: median over the "
               "rounds (q1..q3); ratio = median over rounds of subject / baseline\n"
               "          taken in the same round (q1..q3). MB = 10^6 bytes.\n",
               s.smoke ? "SMOKE (figures meaningless), " : "", s.rounds, s.sample_ms,
               s.cycles_per_round, s.cycle_budget_ms, s.settled_cycles, s.settle_delay_ms,
               s.idle_windows, s.idle_window_ms);

  std::size_t name_width = 8;
  for (std::size_t i = 0; i < rows.size(); ++i)
    name_width = std::max(name_width, strf("%zu. %s", i + 1, rows[i].workload.c_str()).size());
  std::fprintf(out, "\n%s %s %s %s %s %s %s %s %s\n", pad("workload", name_width).c_str(),
               pad("unit", 10).c_str(), pad("baseline", 12).c_str(),
               pad("subject", 12).c_str(), pad("subject q1..q3", 17).c_str(),
               pad("ratio (q1..q3)", 21).c_str(), pad("target", 9).c_str(), "met", "");
  std::fprintf(out, "%s\n", std::string(name_width + 96, '-').c_str());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const std::string spread =
        r.q1 && r.q3 ? value_text(r.q1, r.unit) + ".." + value_text(r.q3, r.unit) : "-";
    std::fprintf(out, "%s %s %s %s %s %s %s %s\n",
                 pad(strf("%zu. %s", i + 1, r.workload.c_str()), name_width).c_str(),
                 pad(r.unit, 10).c_str(), pad(value_text(r.baseline_median, r.unit), 12).c_str(),
                 pad(value_text(r.median, r.unit), 12).c_str(), pad(spread, 17).c_str(),
                 pad(ratio_text(r), 21).c_str(), pad(r.target, 9).c_str(),
                 met_text(r).c_str());
  }
  std::fprintf(out, "\nbaseline and subject of each row, and what else was seen:\n");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::fprintf(out, "%2zu. baseline: %s\n    subject:  %s\n    %s\n", i + 1,
                 r.baseline.c_str(), r.subject.c_str(), r.detail.c_str());
  }
  std::fflush(out);
}

// --- JSON and CSV ------------------------------------------------------------------

namespace {

std::string json_met(const Row& r) {
  return !r.met ? "null" : *r.met ? "true" : "false";
}

std::string csv_number(std::optional<double> v) {
  return v && std::isfinite(*v) ? strf("%.6g", *v) : "";
}

}  // namespace

bool write_json(const std::string& path, const Header& header,
                const std::vector<Row>& rows) {
  std::ofstream out(path);
  if (!out) return false;
  const MachineInfo& m = header.machine;
  const RunSettings& s = header.settings;
  out << "{\n  \"machine\": {\"cpu\": " << json_string(m.cpu_model)
      << ", \"cores\": " << m.cores << ", \"kernel\": " << json_string(header.kernel)
      << ", \"openssl\": " << json_string(m.openssl_version)
      << ", \"openssl_modules\": " << json_string(m.modules_dir)
      << ", \"load_start\": " << json_number(m.load_start)
      << ", \"load_end\": " << json_number(m.load_end) << "},\n";
  out << "  \"settings\": {\"program\": \"pool_bench\", \"rounds\": " << s.rounds
      << ", \"smoke\": " << (s.smoke ? "true" : "false")
      << ", \"sample_ms\": " << json_number(s.sample_ms)
      << ", \"cycles_per_round\": " << s.cycles_per_round
      << ", \"cycle_budget_ms\": " << json_number(s.cycle_budget_ms)
      << ", \"settled_cycles\": " << s.settled_cycles
      << ", \"settle_delay_ms\": " << json_number(s.settle_delay_ms)
      << ", \"idle_windows\": " << s.idle_windows
      << ", \"idle_window_ms\": " << json_number(s.idle_window_ms) << "},\n";
  out << "  \"rows\": [";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out << (i == 0 ? "\n" : ",\n") << "    {\"workload\": " << json_string(r.workload)
        << ", \"unit\": " << json_string(r.unit)
        << ", \"baseline\": " << json_string(r.baseline)
        << ", \"subject\": " << json_string(r.subject)
        << ", \"median\": " << json_number(r.median) << ", \"q1\": " << json_number(r.q1)
        << ", \"q3\": " << json_number(r.q3) << ", \"min\": " << json_number(r.min)
        << ", \"max\": " << json_number(r.max) << ", \"ratio\": " << json_number(r.ratio)
        << ", \"ratio_q1\": " << json_number(r.ratio_q1)
        << ", \"ratio_q3\": " << json_number(r.ratio_q3)
        << ", \"target\": " << json_string(r.target) << ", \"met\": " << json_met(r)
        << ", \"detail\": " << json_string(r.detail)
        << ", \"status\": " << (r.ran ? "\"ran\"" : "\"error\"")
        << ", \"baseline_median\": " << json_number(r.baseline_median)
        << ", \"baseline_q1\": " << json_number(r.baseline_q1)
        << ", \"baseline_q3\": " << json_number(r.baseline_q3)
        << ", \"rounds\": " << r.rounds << "}";
  }
  out << "\n  ]\n}\n";
  return static_cast<bool>(out.flush());
}

bool write_csv(const std::string& path, const std::vector<Row>& rows) {
  std::ofstream out(path);
  if (!out) return false;
  out << "workload,unit,baseline,subject,median,q1,q3,min,max,ratio,ratio_q1,ratio_q3,"
         "target,met,detail,status,baseline_median,baseline_q1,baseline_q3,rounds\n";
  for (const Row& r : rows) {
    out << csv_field(r.workload) << ',' << csv_field(r.unit) << ','
        << csv_field(r.baseline) << ',' << csv_field(r.subject) << ','
        << csv_number(r.median) << ',' << csv_number(r.q1) << ',' << csv_number(r.q3)
        << ',' << csv_number(r.min) << ',' << csv_number(r.max) << ','
        << csv_number(r.ratio) << ',' << csv_number(r.ratio_q1) << ','
        << csv_number(r.ratio_q3) << ',' << csv_field(r.target) << ','
        << (!r.met ? "" : *r.met ? "true" : "false") << ',' << csv_field(r.detail) << ','
        << (r.ran ? "ran" : "error") << ',' << csv_number(r.baseline_median) << ','
        << csv_number(r.baseline_q1) << ',' << csv_number(r.baseline_q3) << ','
        << r.rounds << '\n';
  }
  return static_cast<bool>(out.flush());
}

}  // namespace seedpool::bench::pb
