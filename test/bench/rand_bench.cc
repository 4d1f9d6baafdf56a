// rand_bench: RAND_bytes_ex through the path a user's program takes, under
// OpenSSL's default provider, seedpool's configurations and a no-work
// provider, in one run, with ratios against the default; on OpenSSL 3.5
// also through `random_provider = seedpool`.
//
//   rand_bench [--smoke] [--rounds N] [--sample-ms MS] [--configs LIST]
//              [--csv FILE] [--json FILE]
//
// Each configuration is an openssl.cnf loaded into its own OSSL_LIB_CTX
// (bench_config.cc); every call is RAND_bytes_ex(libctx, buf, n, 0).
//
// Why our own loop around Google Benchmark's DoNotOptimize / ClobberMemory
// rather than its runner: this machine's speed drifts by +-25% over
// seconds, so a ratio is only honest when both of its figures were taken
// close together, and the order of the configurations has to change from
// round to round. Benchmark's runner repeats one benchmark back to back
// (--benchmark_repetitions) and sizes each run by its own iteration search,
// so interleaving would mean one registered benchmark per (round, workload,
// config) with run lengths we do not control. Here a round times every
// workload for each configuration in turn, in the round's own order, each
// sample for the same wall-clock time; ratios are taken within a round and
// then their median over the rounds is reported.
//
// Exit status: 0 when every available configuration ran every workload and
// cost measurement (timings are never judged), 1 otherwise, 2 on bad usage.
// A configuration this OpenSSL cannot have (rp before 3.5) is "n/a", not a
// failure. test/bench/bench_all.py runs this and merges the JSON "rows".
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "alloc_count.h"
#include "bench_config.h"
#include "per_call_costs.h"
#include "report.h"
#include "workload.h"

#ifndef RAND_BENCH_MODULE_DIR
#error \
    "RAND_BENCH_MODULE_DIR (the folder of seedpool.so and noop-rand.so) must be defined"
#endif

namespace seedpool::bench {
namespace {

struct Options {
  bool smoke = false;
  int rounds = 0;        // 0: the mode's default
  double sample_ms = 0;  // 0: the mode's default
  std::string csv_path;
  std::string json_path;
  std::vector<std::string> configs;  // --configs; empty: all
  // --syscall-probe CONFIG BYTES CALLS: the child side of the syscall count.
  bool probe = false;
  std::string probe_config;
  std::size_t probe_len = 0;
  std::uint64_t probe_calls = 0;
};

// How long and how much of everything, per mode.
struct Plan {
  int rounds;
  Timing timing;
  std::uint64_t alloc_warmup_calls;
  std::uint64_t alloc_calls;
  std::uint64_t syscall_calls_low;
  std::uint64_t syscall_calls_high;
};

Plan plan_for(const Options& o) {
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  Plan plan = o.smoke
                  ? Plan{2, {milliseconds(3), microseconds(200)}, 16, 64, 8, 40}
                  : Plan{7, {milliseconds(250), milliseconds(1)}, 1000, 10000, 500, 2500};
  if (o.rounds > 0) plan.rounds = o.rounds;
  if (o.sample_ms > 0)
    plan.timing.sample_time = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double, std::milli>(o.sample_ms));
  return plan;
}

std::string config_names() {
  std::string names;
  for (const ConfigSpec& spec : standard_configs())
    names += (names.empty() ? "" : ",") + spec.name;
  return names;
}

int usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "rand_bench: %s\n", why);
  std::fprintf(
      stderr,
      "usage: rand_bench [--smoke] [--rounds N] [--sample-ms MS] [--configs LIST]\n"
      "                  [--csv FILE] [--json FILE]\n"
      "  --smoke       every workload and configuration, very briefly (CI); 2 rounds\n"
      "  --rounds N    rounds of alternated configurations (default 7)\n"
      "  --sample-ms   wall-clock time of one sample (default 250)\n"
      "  --configs L   comma list of configurations to run, of: %s\n"
      "                (default: all; rp needs OpenSSL 3.5)\n"
      "  --csv FILE    also write the results as CSV\n"
      "  --json FILE   also write the results, per round, as JSON\n"
      "OPENSSL_MODULES, if set, must hold seedpool.so and noop-rand.so;\n"
      "otherwise the build folder is used (%s).\n",
      config_names().c_str(), RAND_BENCH_MODULE_DIR);
  return 2;
}

bool parse_number(const char* text, double min, double max, double& out) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(v >= min && v <= max)) return false;
  out = v;
  return true;
}

bool bad_usage(const std::string& why) {
  usage(why.c_str());
  return false;
}

// Returns false (after printing why) on bad usage; sets help on --help.
bool parse_options(int argc, char** argv, Options& o, bool& help) {
  auto value = [&](int& i) -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    double n = 0;
    if (arg == "--smoke") {
      o.smoke = true;
    } else if (arg == "--rounds") {
      const char* v = value(i);
      if (v == nullptr || !parse_number(v, 1, 1000, n))
        return bad_usage("--rounds wants 1 to 1000");
      o.rounds = static_cast<int>(n);
    } else if (arg == "--sample-ms") {
      const char* v = value(i);
      if (v == nullptr || !parse_number(v, 0.1, 60000, n))
        return bad_usage("--sample-ms wants 0.1 to 60000");
      o.sample_ms = n;
    } else if (arg == "--configs") {
      const char* v = value(i);
      if (v == nullptr) return bad_usage("--configs wants a comma list");
      const std::vector<ConfigSpec> known = standard_configs();
      std::string list = v;
      for (std::size_t start = 0; start <= list.size();) {
        std::size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        const std::string name = list.substr(start, end - start);
        if (std::none_of(known.begin(), known.end(),
                         [&](const ConfigSpec& k) { return k.name == name; }))
          return bad_usage("--configs: unknown configuration '" + name + "'");
        o.configs.push_back(name);
        start = end + 1;
      }
    } else if (arg == "--csv" || arg == "--json") {
      const char* v = value(i);
      if (v == nullptr) return bad_usage(arg + " wants a file name");
      (arg == "--csv" ? o.csv_path : o.json_path) = v;
    } else if (arg == "--syscall-probe" && i + 3 < argc) {
      double len = 0;
      double calls = 0;
      o.probe = true;
      o.probe_config = argv[i + 1];
      if (!parse_number(argv[i + 2], 1, 1 << 20, len) ||
          !parse_number(argv[i + 3], 0, 1e9, calls))
        return bad_usage("--syscall-probe CONFIG BYTES CALLS");
      o.probe_len = static_cast<std::size_t>(len);
      o.probe_calls = static_cast<std::uint64_t>(calls);
      i += 3;
    } else if (arg == "--help" || arg == "-h") {
      help = true;
    } else {
      return bad_usage("unknown argument " + arg);
    }
  }
  return true;
}

std::string self_exe() {
  std::vector<char> path(4096);
  const ssize_t n = readlink("/proc/self/exe", path.data(), path.size() - 1);
  return n > 0 ? std::string(path.data(), static_cast<std::size_t>(n)) : "rand_bench";
}

// Round r visits the configurations rotated by r, and reversed on odd
// rounds, so no configuration always follows the same one or always comes
// first after a workload change.
std::vector<std::size_t> round_order(std::size_t count, int round) {
  std::vector<std::size_t> order(count);
  for (std::size_t i = 0; i < count; ++i)
    order[i] = (i + static_cast<std::size_t>(round)) % count;
  if (round % 2 == 1) std::reverse(order.begin(), order.end());
  return order;
}

std::string rate_text(double v, Unit unit) {
  char text[64];
  if (unit == Unit::calls_per_s)
    std::snprintf(text, sizeof text, "%.0f calls/s", v);
  else
    std::snprintf(text, sizeof text, "%.1f MB/s", v);
  return text;
}

void run_rounds(std::vector<LoadedConfig>& loaded, std::vector<ConfigResult>& results,
                const Plan& plan) {
  for (ConfigResult& c : results)
    for (auto& per_round : c.rates)
      per_round.assign(static_cast<std::size_t>(plan.rounds), std::nullopt);

  for (int r = 0; r < plan.rounds; ++r) {
    const std::vector<std::size_t> order = round_order(loaded.size(), r);
    for (std::size_t w = 0; w < kWorkloadCount; ++w) {
      for (std::size_t ci : order) {
        ConfigResult& c = results[ci];
        if (!c.ran()) continue;
        const Sample sample =
            run_workload(loaded[ci].libctx.get(), kWorkloads[w], plan.timing);
        const std::string shown = sample.ok ? rate_text(sample.rate, kWorkloads[w].unit)
                                            : "FAILED: " + sample.error;
        std::fprintf(stderr, "[round %d/%d] %-14s %-7s %s\n", r + 1, plan.rounds,
                     std::string(kWorkloads[w].label).c_str(), c.spec.name.c_str(),
                     shown.c_str());
        if (sample.ok)
          c.rates[w][static_cast<std::size_t>(r)] = sample.rate;
        else if (c.errors[w].empty())
          c.errors[w] = sample.error;
      }
    }
  }
}

void measure_costs(std::vector<LoadedConfig>& loaded, std::vector<ConfigResult>& results,
                   const Plan& plan, bool libcrypto_counted) {
  const SyscallCounter syscalls(self_exe());
  if (!syscalls.usable())
    std::fprintf(stderr, "rand_bench: no system call counts: %s\n",
                 syscalls.why_not().c_str());
  for (std::size_t ci = 0; ci < results.size(); ++ci) {
    ConfigResult& c = results[ci];
    if (!c.ran()) continue;
    for (std::size_t i = 0; i < kCostSizes.size(); ++i) {
      std::fprintf(stderr, "[per call] %-7s %zu B: allocations%s\n", c.spec.name.c_str(),
                   kCostSizes[i], syscalls.usable() ? ", system calls (strace)" : "");
      c.allocs[i] = measure_allocations(loaded[ci].libctx.get(), kCostSizes[i],
                                        plan.alloc_warmup_calls, plan.alloc_calls,
                                        libcrypto_counted);
      c.syscalls[i] = syscalls.measure(c.spec.name, kCostSizes[i], plan.syscall_calls_low,
                                       plan.syscall_calls_high);
    }
  }
}

// Every configuration that is available ran everything; n/a is fine.
bool all_ran(const std::vector<ConfigResult>& results) {
  bool ok = true;
  for (const ConfigResult& c : results) {
    if (c.status == ConfigStatus::not_available) continue;
    if (c.status == ConfigStatus::failed) {
      std::fprintf(stderr, "rand_bench: %s did not run: %s\n", c.spec.name.c_str(),
                   c.detail.c_str());
      ok = false;
      continue;
    }
    for (std::size_t w = 0; w < kWorkloadCount; ++w) {
      if (!c.errors[w].empty()) {
        std::fprintf(stderr, "rand_bench: %s, %s failed: %s\n", c.spec.name.c_str(),
                     std::string(kWorkloads[w].label).c_str(), c.errors[w].c_str());
        ok = false;
      }
    }
    for (std::size_t i = 0; i < kCostSizes.size(); ++i) {
      if (!c.allocs[i].ok) {
        std::fprintf(stderr, "rand_bench: %s, allocation count failed: %s\n",
                     c.spec.name.c_str(), c.allocs[i].error.c_str());
        ok = false;
      }
      if (c.syscalls[i].status == SyscallPerCall::Status::failed) {
        std::fprintf(stderr, "rand_bench: %s, system call count failed: %s\n",
                     c.spec.name.c_str(), c.syscalls[i].detail.c_str());
        ok = false;
      }
    }
  }
  return ok;
}

// Configurations that prove themselves by random_provider_calls: the
// counter must have moved over the timed rounds too (OpenSSL could have
// unhooked seedpool since the first call).
void check_still_served(const std::vector<LoadedConfig>& loaded,
                        std::vector<ConfigResult>& results) {
  for (std::size_t ci = 0; ci < results.size(); ++ci) {
    ConfigResult& c = results[ci];
    if (!c.ran() || c.spec.proof != Proof::random_provider_calls) continue;
    const std::optional<std::uint64_t> now =
        seedpool_counter(loaded[ci].libctx.get(), "random_provider_calls");
    if (now && *now > loaded[ci].proof_count) {
      std::fprintf(stderr, "[check] %-7s random_provider_calls +%llu over the rounds\n",
                   c.spec.name.c_str(),
                   static_cast<unsigned long long>(*now - loaded[ci].proof_count));
      continue;
    }
    c.status = ConfigStatus::failed;
    c.detail = now ? "seedpool's random_provider_calls did not move over the timed "
                     "rounds: OpenSSL stopped handing RAND_bytes to seedpool"
                   : "seedpool's random_provider_calls cannot be read after the rounds";
  }
}

int run(const Options& options, bool libcrypto_counted) {
  const Plan plan = plan_for(options);
  std::vector<ConfigSpec> specs = standard_configs();

  if (options.probe) {
    for (const ConfigSpec& spec : specs)
      if (spec.name == options.probe_config)
        return run_syscall_probe(spec, options.probe_len, options.probe_calls);
    return usage("--syscall-probe: unknown configuration");
  }
  if (!options.configs.empty())
    std::erase_if(specs, [&](const ConfigSpec& spec) {
      return std::find(options.configs.begin(), options.configs.end(), spec.name) ==
             options.configs.end();
    });

  Results results;
  results.machine = read_machine_info();
  results.settings = {
      plan.rounds,
      std::chrono::duration<double, std::milli>(plan.timing.sample_time).count(),
      options.smoke};
  if (!libcrypto_counted)
    std::fprintf(
        stderr,
        "rand_bench: CRYPTO_set_mem_functions refused: no libcrypto allocation counts\n");

  std::vector<LoadedConfig> loaded;
  for (const ConfigSpec& spec : specs) {
    loaded.push_back(load_config(spec));
    const LoadedConfig& l = loaded.back();
    std::fprintf(stderr, "[setup] %-7s %s%s%s\n", spec.name.c_str(),
                 l.status == ConfigStatus::ready           ? "ready"
                 : l.status == ConfigStatus::not_available ? "n/a (not available)"
                                                           : "FAILED",
                 l.detail.empty() ? "" : ": ", l.detail.c_str());
    ConfigResult c;
    c.spec = spec;
    c.status = l.status;
    c.detail = l.detail;
    results.configs.push_back(std::move(c));
  }

  run_rounds(loaded, results.configs, plan);
  check_still_served(loaded, results.configs);
  measure_costs(loaded, results.configs, plan, libcrypto_counted);

  results.machine.load_end = read_load_average();
  print_report(stdout, results);
  bool ok = all_ran(results.configs);
  if (!options.csv_path.empty() && !write_csv(options.csv_path, results)) {
    std::fprintf(stderr, "rand_bench: cannot write %s\n", options.csv_path.c_str());
    ok = false;
  }
  if (!options.json_path.empty() && !write_json(options.json_path, results)) {
    std::fprintf(stderr, "rand_bench: cannot write %s\n", options.json_path.c_str());
    ok = false;
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace seedpool::bench

int main(int argc, char** argv) {
  using namespace seedpool::bench;
  // First of all: libcrypto accepts new memory functions only until its
  // first allocation.
  const bool libcrypto_counted = install_libcrypto_alloc_counter();

  Options options;
  bool help = false;
  if (!parse_options(argc, argv, options, help)) return 2;
  if (help) {
    usage(nullptr);
    return 0;
  }

  // Before any configuration is loaded: where the provider modules are.
  // An OPENSSL_MODULES already set wins (it must hold both modules).
  setenv("OPENSSL_MODULES", RAND_BENCH_MODULE_DIR, /*overwrite=*/0);
  return run(options, libcrypto_counted);
}
