// The results of one rand_bench run, their statistics, and how they are
// printed: the table on stdout, and optionally CSV and JSON files.
#pragma once

#include <array>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench_config.h"
#include "per_call_costs.h"
#include "workload.h"

namespace seedpool::bench {

struct MachineInfo {
  std::string cpu_model;        // /proc/cpuinfo "model name"
  unsigned cores = 0;           // processors online
  std::string openssl_version;  // OpenSSL_version(OPENSSL_VERSION): the library run
  std::string modules_dir;      // OPENSSL_MODULES as used
  // 1-minute load average when the run started and ended: other work on a
  // 2-core machine takes the second core the 2-thread workloads need.
  double load_start = -1;
  double load_end = -1;
};

MachineInfo read_machine_info();

// The 1-minute load average (/proc/loadavg), or -1.
double read_load_average();

struct Settings {
  int rounds = 0;
  double sample_ms = 0;
  bool smoke = false;
};

// Request sizes of the per-call cost measurements (the fast path).
inline constexpr std::array<std::size_t, 2> kCostSizes = {32, 4096};

struct ConfigResult {
  ConfigSpec spec;
  ConfigStatus status = ConfigStatus::failed;
  std::string detail;
  // rates[w][r]: workload w in round r, in the workload's unit; nullopt
  // when it was not run or failed.
  std::array<std::vector<std::optional<double>>, kWorkloadCount> rates;
  std::array<std::string, kWorkloadCount> errors;  // the first failure
  std::array<AllocPerCall, kCostSizes.size()> allocs;
  std::array<SyscallPerCall, kCostSizes.size()> syscalls;

  bool ran() const { return status == ConfigStatus::ready; }
};

struct Results {
  MachineInfo machine;
  Settings settings;
  std::vector<ConfigResult> configs;  // in table order; "default" among them
};

// Robust summary of one cell's per-round rates.
struct Spread {
  std::size_t rounds = 0;  // rounds that produced a figure
  double median = 0;
  double min = 0;
  double max = 0;
  double q1 = 0;  // quartiles, linear interpolation
  double q3 = 0;
};

std::optional<Spread> spread_of(const std::vector<std::optional<double>>& values);

// Median over the rounds of numerator[r] / denominator[r], for the rounds in
// which both produced a figure: a ratio taken within one round is immune to
// the machine speeding up or slowing down between rounds.
std::optional<double> median_ratio(const std::vector<std::optional<double>>& numerator,
                                   const std::vector<std::optional<double>>& denominator);

// The same, of the per-round ratios numerator[r] / denominator[r].
std::optional<Spread> ratio_spread(const std::vector<std::optional<double>>& numerator,
                                   const std::vector<std::optional<double>>& denominator);

// printf into a std::string.
__attribute__((format(printf, 1, 2))) std::string strf(const char* format, ...);
// A JSON string literal for `s`, and a number (null when absent or not
// finite), as every benchmark's JSON writes them.
std::string json_string(const std::string& s);
std::string json_number(std::optional<double> v);
// A CSV field, quoted when it must be.
std::string csv_field(const std::string& s);

void print_report(std::FILE* out, const Results& results);
bool write_csv(const std::string& path, const Results& results);
// The JSON holds the per-round figures of every configuration ("configs"),
// and "rows": one comparison per line (subject against baseline, with the
// ratio's spread, the project's target and whether it was met), in the
// schema test/bench/bench_all.py merges from every benchmark.
bool write_json(const std::string& path, const Results& results);

}  // namespace seedpool::bench
