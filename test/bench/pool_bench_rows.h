// pool_bench's results: one Row per measurement, its statistics, and how
// rows are printed (the table on stdout), written (--json, --csv) and passed
// from the child process that runs the FIFO-fed measurements to the parent.
//
// The row schema is the one bench_all.py merges:
//   workload, unit, baseline, subject,
//   median, q1, q3, min, max  -- the subject's figures (per round, unless
//                                the row's detail says "over all cycles"),
//   ratio, ratio_q1, ratio_q3 -- subject / baseline taken within each round,
//                                then the median (quartiles) over the rounds,
//   target, met, detail,
// plus extras at the end: status ("ran" or "error"), baseline_median,
// baseline_q1, baseline_q3 and rounds.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "report.h"  // MachineInfo, spread_of, median_ratio

namespace seedpool::bench::pb {

struct Row {
  std::string workload;
  std::string unit;
  std::string baseline;  // short label of what the subject is compared with
  std::string subject;   // short label of what is measured
  std::optional<double> baseline_median;
  std::optional<double> baseline_q1;
  std::optional<double> baseline_q3;
  std::optional<double> median;
  std::optional<double> q1;
  std::optional<double> q3;
  std::optional<double> min;
  std::optional<double> max;
  std::optional<double> ratio;
  std::optional<double> ratio_q1;
  std::optional<double> ratio_q3;
  std::string target;     // ">= 0.95", "<= 1.3", "<= 50 us", "0", "report"
  std::optional<bool> met;  // nullopt: nothing to judge, or it did not run
  std::string detail;
  int rounds = 0;
  bool ran = false;  // false: the measurement could not run (detail says why)
};

// A row for a measurement that could not run.
Row failed_row(std::string workload, std::string unit, std::string baseline,
               std::string subject, std::string target, const std::string& why);

// Fills median..max from the subject's per-round figures, baseline_median
// from the baseline's, and ratio (quartiles) from the per-round ratios
// subject[r] / baseline[r]. Both vectors have one entry per round.
void fill_comparison(Row& row, const std::vector<double>& subject,
                     const std::vector<double>& baseline);

// The q-quantile (0..1) of `values`, linear interpolation; nullopt if empty.
std::optional<double> quantile(std::vector<double> values, double q);

// One line (no newline in it) that decode_row turns back into the row.
std::string encode_row(const Row& row);
bool decode_row(const std::string& line, Row& row);

struct RunSettings {
  int rounds = 0;
  bool smoke = false;
  double sample_ms = 0;      // one rate sample (in-job, SEEDPOOL vs getrandom)
  int cycles_per_round = 0;  // pause cycles per side per round, at most
  double cycle_budget_ms = 0;  // ... or as many as fit in this
  int settled_cycles = 0;      // cycles fed settle_delay_ms after the pause
  double settle_delay_ms = 0;
  int idle_windows = 0;      // idle gatherer: windows of idle_window_ms
  double idle_window_ms = 0;
};

struct Header {
  MachineInfo machine;
  std::string kernel;  // uname -r
  RunSettings settings;
};

void print_table(std::FILE* out, const Header& header, const std::vector<Row>& rows);
bool write_json(const std::string& path, const Header& header,
                const std::vector<Row>& rows);
bool write_csv(const std::string& path, const std::vector<Row>& rows);

}  // namespace seedpool::bench::pb
