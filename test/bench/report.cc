#include "report.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <fstream>
#include <string_view>
#include <thread>

namespace seedpool::bench {

// --- machine -------------------------------------------------------------------

MachineInfo read_machine_info() {
  MachineInfo info;
  std::ifstream cpuinfo("/proc/cpuinfo");
  unsigned processors = 0;
  for (std::string line; std::getline(cpuinfo, line);) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string_view key =
        std::string_view(line).substr(0, line.find_first_of("\t:"));
    if (key == "processor") ++processors;
    if (key == "model name" && info.cpu_model.empty()) {
      const std::size_t start = line.find_first_not_of(' ', colon + 1);
      info.cpu_model = start == std::string::npos ? "" : line.substr(start);
    }
  }
  if (info.cpu_model.empty()) info.cpu_model = "unknown CPU";
  info.cores = processors != 0 ? processors : std::thread::hardware_concurrency();
  info.openssl_version = OpenSSL_version(OPENSSL_VERSION);
  const char* modules = std::getenv("OPENSSL_MODULES");
  info.modules_dir = modules != nullptr ? modules : "";
  info.load_start = read_load_average();
  return info;
}

double read_load_average() {
  std::ifstream loadavg("/proc/loadavg");
  double one_minute = -1;
  return loadavg >> one_minute ? one_minute : -1;
}

// --- statistics ----------------------------------------------------------------

namespace {

double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

std::optional<Spread> spread_of(const std::vector<std::optional<double>>& values) {
  std::vector<double> v;
  for (const std::optional<double>& x : values)
    if (x) v.push_back(*x);
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  return Spread{v.size(), quantile(v, 0.5),  v.front(),
                v.back(), quantile(v, 0.25), quantile(v, 0.75)};
}

std::optional<double> median_ratio(
    const std::vector<std::optional<double>>& numerator,
    const std::vector<std::optional<double>>& denominator) {
  const std::optional<Spread> sp = ratio_spread(numerator, denominator);
  if (!sp) return std::nullopt;
  return sp->median;
}

std::optional<Spread> ratio_spread(
    const std::vector<std::optional<double>>& numerator,
    const std::vector<std::optional<double>>& denominator) {
  std::vector<std::optional<double>> ratios;
  for (std::size_t r = 0; r < std::min(numerator.size(), denominator.size()); ++r)
    if (numerator[r] && denominator[r] && *denominator[r] > 0)
      ratios.push_back(*numerator[r] / *denominator[r]);
  return spread_of(ratios);
}

// --- formatting ----------------------------------------------------------------

std::string strf(const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string s(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  std::vsnprintf(s.data(), s.size() + 1, format, again);
  va_end(again);
  return s;
}

namespace {

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

const char* unit_name(Unit unit) {
  return unit == Unit::calls_per_s ? "calls/s" : "MB/s";
}

std::string format_value(double v, Unit unit) {
  if (unit == Unit::mb_per_s) return v >= 100 ? strf("%.0f", v) : strf("%.1f", v);
  if (v >= 1e6) return strf("%.2f M", v / 1e6);
  if (v >= 1e3) return strf("%.1f k", v / 1e3);
  return strf("%.0f", v);
}

std::string format_ratio(std::optional<double> ratio) {
  return ratio ? strf("%.2fx", *ratio) : "-";
}

const ConfigResult* find_config(const Results& results, std::string_view name) {
  for (const ConfigResult& c : results.configs)
    if (c.spec.name == name && c.ran()) return &c;
  return nullptr;
}

std::string status_text(const ConfigResult& c) {
  switch (c.status) {
    case ConfigStatus::ready:
      return "ran";
    case ConfigStatus::not_available:
      return "n/a (not available)";
    case ConfigStatus::failed:
      return "error";
  }
  return "?";
}

std::string generator_text(const ConfigSpec& spec) {
  return spec.generator.empty() ? "random_provider, no EVP_RAND" : spec.generator;
}

// The project's targets for the ratios (README, issues): information only.
struct RatioTarget {
  const char* config;
  std::size_t workload;
  double target;
  bool vs_one_thread;  // else vs default
};
constexpr RatioTarget kRatioTargets[] = {
    {"drbg", kBytes32, 4.0, false},  {"drbg", kKiB4, 1.8, false},
    {"drbg", kMiB1, 1.3, false},     {"drbg", kThreads2KiB4, 1.8, true},
    {"seed", kBytes32, 0.98, false}, {"seed", kKiB4, 0.98, false},
};

// Configurations that claim no allocation and no system call per call.
constexpr std::string_view kZeroCostConfigs[] = {"drbg", "rp"};

// "vs default": the per-round ratio against `default` in the same round.
std::optional<double> vs_default(const Results& results, const ConfigResult& c,
                                 std::size_t w) {
  const ConfigResult* base = find_config(results, "default");
  if (base == nullptr) return std::nullopt;
  return median_ratio(c.rates[w], base->rates[w]);
}

// vs_default for the configuration named `name`, when it ran.
std::optional<double> vs_default(const Results& results, std::size_t w,
                                 std::string_view name) {
  const ConfigResult* c = find_config(results, name);
  if (c == nullptr || !c->ran()) return std::nullopt;
  return vs_default(results, *c, w);
}

// The extra column of the multi-threaded rows.
std::string thread_notes(const Results& results, const ConfigResult& c, std::size_t w) {
  std::string notes;
  if (w == kThreads2KiB4)
    notes = format_ratio(median_ratio(c.rates[w], c.rates[kKiB4])) + " of 1 thread";
  if (w == kThreads2Bytes32) {
    notes = format_ratio(median_ratio(c.rates[w], c.rates[kBytes32])) + " of 1 thread";
    const ConfigResult* noop = find_config(results, "noop");
    if (noop != nullptr && noop != &c) {
      const std::optional<Spread> ceiling = spread_of(noop->rates[w]);
      notes += "; " + format_ratio(median_ratio(c.rates[w], noop->rates[w])) +
               " of noop's 2 thr";
      if (ceiling)
        notes += " (" + format_value(ceiling->median, Unit::calls_per_s) + " calls/s)";
    }
  }
  return notes;
}

std::string join_syscalls(const SyscallPerCall& s) {
  std::string text;
  for (const auto& [name, per_call] : s.by_name) {
    if (!text.empty()) text += ", ";
    text += strf("%s %.2f", name.c_str(), per_call);
  }
  return text;
}

std::string size_label(std::size_t len) {
  return len >= 1024 ? strf("%zu KiB", len / 1024) : strf("%zu B", len);
}

}  // namespace

// --- the table -------------------------------------------------------------------

namespace {

void print_header(std::FILE* out, const Results& results) {
  const MachineInfo& m = results.machine;
  const Settings& s = results.settings;
  std::fprintf(out,
               "\nrand_bench: RAND_bytes_ex(libctx, buf, n, 0), each configuration "
               "loaded into its own OSSL_LIB_CTX\n");
  std::fprintf(
      out, "machine:  %s, %u cores; load average %.2f at the start, %.2f at the end\n",
      m.cpu_model.c_str(), m.cores, m.load_start, m.load_end);
  std::fprintf(out, "OpenSSL:  %s; modules from %s\n", m.openssl_version.c_str(),
               m.modules_dir.c_str());
  std::fprintf(out,
               "method:   %s%d rounds, configurations alternated (each round in "
               "another order), %.0f ms per sample;\n"
               "          median of the rounds, min..max, and vs default = median "
               "over rounds of (config / default, same round). MB = 10^6 bytes.\n",
               s.smoke ? "SMOKE (figures meaningless), " : "", s.rounds, s.sample_ms);
  std::fprintf(out, "\nconfigurations:\n");
  for (const ConfigResult& c : results.configs) {
    std::fprintf(out, "  %s %s %s (%s)\n", pad(c.spec.name, 7).c_str(),
                 pad(status_text(c), 20).c_str(), c.spec.conf_path.c_str(),
                 generator_text(c.spec).c_str());
    if (!c.detail.empty()) std::fprintf(out, "          %s\n", c.detail.c_str());
  }
}

void print_rates(std::FILE* out, const Results& results) {
  std::fprintf(out, "\n%s %s %s %s %s %s\n", pad("workload", 14).c_str(),
               pad("config", 7).c_str(), pad("median", 18).c_str(),
               pad("min .. max", 22).c_str(), pad("vs default", 10).c_str(), "notes");
  std::fprintf(out, "%s\n", std::string(100, '-').c_str());
  for (std::size_t w = 0; w < kWorkloadCount; ++w) {
    const Workload& wl = kWorkloads[w];
    for (const ConfigResult& c : results.configs) {
      const std::string label =
          pad(&c == &results.configs.front() ? std::string(wl.label) : "", 14);
      const std::string name = pad(c.spec.name, 7);
      if (!c.ran()) {
        std::fprintf(out, "%s %s %s\n", label.c_str(), name.c_str(),
                     status_text(c).c_str());
        continue;
      }
      const std::optional<Spread> sp = spread_of(c.rates[w]);
      if (!sp) {
        std::fprintf(out, "%s %s error: %s\n", label.c_str(), name.c_str(),
                     c.errors[w].c_str());
        continue;
      }
      std::string notes = thread_notes(results, c, w);
      if (sp->rounds < static_cast<std::size_t>(results.settings.rounds))
        notes += strf("%s%zu of %d rounds", notes.empty() ? "" : "; ", sp->rounds,
                      results.settings.rounds);
      if (!c.errors[w].empty()) notes += "; failed: " + c.errors[w];
      const std::string median =
          format_value(sp->median, wl.unit) + " " + unit_name(wl.unit);
      const std::string range =
          format_value(sp->min, wl.unit) + " .. " + format_value(sp->max, wl.unit);
      std::fprintf(out, "%s %s %s %s %s %s\n", label.c_str(), name.c_str(),
                   pad(median, 18).c_str(), pad(range, 22).c_str(),
                   pad(format_ratio(vs_default(results, c, w)), 10).c_str(),
                   notes.c_str());
    }
  }
}

void print_costs(std::FILE* out, const Results& results) {
  std::fprintf(out,
               "\nper call, after warm-up: heap allocations (malloc family) and "
               "libcrypto allocations (OPENSSL_malloc)\non the calling thread; "
               "system calls of the whole process (strace -f -c, difference of "
               "two call counts)\n");
  std::fprintf(out, "%s %s %s %s %s %s\n", pad("config", 7).c_str(),
               pad("request", 8).c_str(), pad("heap allocs", 12).c_str(),
               pad("libcrypto", 10).c_str(), pad("syscalls", 9).c_str(), "which");
  std::fprintf(out, "%s\n", std::string(100, '-').c_str());
  for (const ConfigResult& c : results.configs) {
    if (!c.ran()) {
      std::fprintf(out, "%s %s\n", pad(c.spec.name, 7).c_str(), status_text(c).c_str());
      continue;
    }
    for (std::size_t i = 0; i < kCostSizes.size(); ++i) {
      const AllocPerCall& a = c.allocs[i];
      const SyscallPerCall& sc = c.syscalls[i];
      const std::string heap = !a.ok            ? "error"
                               : a.heap_counted ? strf("%.3f", a.heap)
                                                : "n/a";
      const std::string crypto = !a.ok                 ? "error"
                                 : a.libcrypto_counted ? strf("%.3f", a.libcrypto)
                                                       : "n/a";
      std::string sys = "n/a";
      std::string which = sc.detail;
      if (sc.status == SyscallPerCall::Status::ok) {
        sys = strf("%.2f", sc.total);
        which = sc.by_name.empty() ? "-" : join_syscalls(sc);
      } else if (sc.status == SyscallPerCall::Status::failed) {
        sys = "error";
      }
      if (!a.ok) which += (which.empty() ? "" : "; ") + a.error;
      std::fprintf(out, "%s %s %s %s %s %s\n", pad(c.spec.name, 7).c_str(),
                   pad(size_label(kCostSizes[i]), 8).c_str(), pad(heap, 12).c_str(),
                   pad(crypto, 10).c_str(), pad(sys, 9).c_str(), which.c_str());
    }
  }
}

// The project's targets, as information: a benchmark never fails on time.
void print_targets(std::FILE* out, const Results& results) {
  std::fprintf(out, "\ntargets (informational; nothing here is asserted):\n");
  for (const RatioTarget& t : kRatioTargets) {
    const ConfigResult* c = find_config(results, t.config);
    std::optional<double> value;
    if (c != nullptr)
      value = t.vs_one_thread ? median_ratio(c->rates[t.workload], c->rates[kKiB4])
                              : vs_default(results, *c, t.workload);
    const std::string what = strf("%s %s >= %.2fx %s", t.config,
                                  std::string(kWorkloads[t.workload].label).c_str(),
                                  t.target, t.vs_one_thread ? "of 1 thread" : "default");
    const std::string verdict =
        value ? strf("%.2fx  %s", *value, *value >= t.target ? "met" : "NOT met") : "n/a";
    std::fprintf(out, "  %s %s\n", pad(what, 42).c_str(), verdict.c_str());
  }

  const ConfigResult* drbg = find_config(results, "drbg");
  for (std::size_t i = 0; i < kCostSizes.size(); ++i) {
    const std::string what =
        "drbg " + size_label(kCostSizes[i]) + " allocs, syscalls = 0";
    std::string verdict = "n/a";
    if (drbg != nullptr && drbg->allocs[i].ok && drbg->allocs[i].heap_counted) {
      const AllocPerCall& a = drbg->allocs[i];
      const SyscallPerCall& sc = drbg->syscalls[i];
      const bool have_sys = sc.status == SyscallPerCall::Status::ok;
      // "0" as printed: fewer than one system call in 200 calls.
      const bool met = a.heap == 0 && have_sys && sc.total < 0.005;
      const bool missed = a.heap != 0 || (have_sys && sc.total >= 0.005);
      verdict = strf("%.3f allocs, %s syscalls  %s", a.heap,
                     have_sys ? strf("%.2f", sc.total).c_str() : "n/a",
                     met      ? "met"
                     : missed ? "NOT met"
                              : "syscalls n/a");
    }
    std::fprintf(out, "  %s %s\n", pad(what, 42).c_str(), verdict.c_str());
  }

  if (const ConfigResult* aes = find_config(results, "aes"); aes != nullptr && aes->ran()) {
    std::fprintf(
        out,
        "  AES-256-CTR ceiling (aes vs default): 32 B %s, 4 KiB %s, 1 MiB %s; "
        "2 thr x 4 KiB %s of 1 thread\n",
        format_ratio(vs_default(results, *aes, kBytes32)).c_str(),
        format_ratio(vs_default(results, *aes, kKiB4)).c_str(),
        format_ratio(vs_default(results, *aes, kMiB1)).c_str(),
        format_ratio(median_ratio(aes->rates[kThreads2KiB4], aes->rates[kKiB4])).c_str());
  }
  if (const ConfigResult* noop = find_config(results, "noop"); noop != nullptr) {
    std::fprintf(
        out,
        "  ceiling (noop vs default): 32 B %s, 4 KiB %s, 1 MiB %s; "
        "2 thr x 4 KiB %s of 1 thread, 2 thr x 32 B %s of 1 thread\n",
        format_ratio(vs_default(results, *noop, kBytes32)).c_str(),
        format_ratio(vs_default(results, *noop, kKiB4)).c_str(),
        format_ratio(vs_default(results, *noop, kMiB1)).c_str(),
        format_ratio(median_ratio(noop->rates[kThreads2KiB4], noop->rates[kKiB4]))
            .c_str(),
        format_ratio(median_ratio(noop->rates[kThreads2Bytes32], noop->rates[kBytes32]))
            .c_str());
  }
}

}  // namespace

void print_report(std::FILE* out, const Results& results) {
  print_header(out, results);
  print_rates(out, results);
  print_costs(out, results);
  print_targets(out, results);
  std::fflush(out);
}

// --- CSV -------------------------------------------------------------------------

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char ch : s) {
    if (ch == '"') quoted += '"';
    quoted += ch;
  }
  return quoted + "\"";
}

namespace {

std::string csv_number(std::optional<double> v) { return v ? strf("%.6g", *v) : ""; }

}  // namespace

bool write_csv(const std::string& path, const Results& results) {
  std::ofstream out(path);
  if (!out) return false;
  out << "section,workload,config,unit,status,rounds,median,min,max,q1,q3,"
         "vs_default,vs_1_thread,vs_noop_2_threads,detail\n";
  const ConfigResult* noop = find_config(results, "noop");
  for (std::size_t w = 0; w < kWorkloadCount; ++w) {
    const Workload& wl = kWorkloads[w];
    for (const ConfigResult& c : results.configs) {
      const std::optional<Spread> sp = c.ran() ? spread_of(c.rates[w]) : std::nullopt;
      std::optional<double> one_thread;
      std::optional<double> of_noop;
      if (c.ran() && w == kThreads2KiB4)
        one_thread = median_ratio(c.rates[w], c.rates[kKiB4]);
      if (c.ran() && w == kThreads2Bytes32) {
        one_thread = median_ratio(c.rates[w], c.rates[kBytes32]);
        if (noop != nullptr) of_noop = median_ratio(c.rates[w], noop->rates[w]);
      }
      const std::string detail = c.ran() ? c.errors[w] : c.detail;
      out << "rate," << wl.key << ',' << c.spec.name << ',' << unit_name(wl.unit) << ','
          << (c.ran() && !sp ? "error" : status_text(c)) << ','
          << (sp ? std::to_string(sp->rounds) : "") << ','
          << csv_number(sp ? std::optional(sp->median) : std::nullopt) << ','
          << csv_number(sp ? std::optional(sp->min) : std::nullopt) << ','
          << csv_number(sp ? std::optional(sp->max) : std::nullopt) << ','
          << csv_number(sp ? std::optional(sp->q1) : std::nullopt) << ','
          << csv_number(sp ? std::optional(sp->q3) : std::nullopt) << ','
          << csv_number(c.ran() ? vs_default(results, c, w) : std::nullopt) << ','
          << csv_number(one_thread) << ',' << csv_number(of_noop) << ','
          << csv_field(detail) << '\n';
    }
  }
  for (const ConfigResult& c : results.configs) {
    for (std::size_t i = 0; i < kCostSizes.size(); ++i) {
      const std::string size = std::to_string(kCostSizes[i]) + "B";
      const AllocPerCall& a = c.allocs[i];
      const SyscallPerCall& sc = c.syscalls[i];
      auto row = [&](const std::string& metric, std::optional<double> v,
                     const std::string& status, const std::string& detail) {
        out << "cost," << metric << '_' << size << ',' << c.spec.name << ",per call,"
            << status << ",," << csv_number(v) << ",,,,,,,," << csv_field(detail) << '\n';
      };
      if (!c.ran()) {
        for (const char* metric : {"heap_allocs", "libcrypto_allocs", "syscalls"})
          row(metric, std::nullopt, status_text(c), c.detail);
        continue;
      }
      row("heap_allocs", a.ok && a.heap_counted ? std::optional(a.heap) : std::nullopt,
          a.ok ? (a.heap_counted ? "ran" : "n/a") : "error", a.error);
      row("libcrypto_allocs",
          a.ok && a.libcrypto_counted ? std::optional(a.libcrypto) : std::nullopt,
          a.ok ? (a.libcrypto_counted ? "ran" : "n/a") : "error", a.error);
      row("syscalls",
          sc.status == SyscallPerCall::Status::ok ? std::optional(sc.total)
                                                  : std::nullopt,
          sc.status == SyscallPerCall::Status::ok       ? "ran"
          : sc.status == SyscallPerCall::Status::failed ? "error"
                                                        : "n/a",
          sc.status == SyscallPerCall::Status::ok ? join_syscalls(sc) : sc.detail);
    }
  }
  return static_cast<bool>(out.flush());
}

// --- JSON ------------------------------------------------------------------------

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (ch < 0x20)
          out += strf("\\u%04x", ch);
        else
          out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

std::string json_number(std::optional<double> v) {
  return v && std::isfinite(*v) ? strf("%.6g", *v) : "null";
}

namespace {

}  // namespace

// --- comparison rows -------------------------------------------------------------

namespace {

// One comparison: `subject` against `baseline` (see write_json).
struct Row {
  std::string key;  // stable across runs and OpenSSL versions: "kib4/drbg"
  std::string workload;
  std::string unit;
  std::string baseline;
  std::string subject;
  std::string status;  // "ran", "not available", "error"
  std::optional<Spread> subject_spread;
  std::optional<Spread> baseline_spread;
  std::optional<Spread> ratio;
  std::string target = "report";
  std::optional<bool> met;
  std::string detail;
};

std::string spread_json(const char* prefix, const std::optional<Spread>& sp) {
  auto field = [&](const char* name, double Spread::* member) {
    return strf(", \"%s%s\": %s", prefix, name,
                json_number(sp ? std::optional(*sp.*member) : std::nullopt).c_str());
  };
  return field("median", &Spread::median) + field("q1", &Spread::q1) +
         field("q3", &Spread::q3) + field("min", &Spread::min) +
         field("max", &Spread::max);
}

std::string row_json(const Row& row) {
  std::string j = "{\"key\": " + json_string(row.key) + ", \"source\": \"rand_bench\"" +
                  ", \"workload\": " + json_string(row.workload) +
                  ", \"unit\": " + json_string(row.unit) +
                  ", \"baseline\": " + json_string(row.baseline) +
                  ", \"subject\": " + json_string(row.subject) +
                  ", \"status\": " + json_string(row.status) + ", \"rounds\": " +
                  (row.ratio ? std::to_string(row.ratio->rounds) : "null");
  j += spread_json("", row.subject_spread);
  j += spread_json("baseline_", row.baseline_spread);
  j += ", \"ratio\": " +
       json_number(row.ratio ? std::optional(row.ratio->median) : std::nullopt);
  j += ", \"ratio_q1\": " +
       json_number(row.ratio ? std::optional(row.ratio->q1) : std::nullopt);
  j += ", \"ratio_q3\": " +
       json_number(row.ratio ? std::optional(row.ratio->q3) : std::nullopt);
  j += ", \"target\": " + json_string(row.target) + ", \"met\": " +
       (row.met ? (*row.met ? "true" : "false") : "null");
  j += ", \"detail\": " + json_string(row.detail) + "}";
  return j;
}

std::string workload_text(std::size_t w) {
  return "RAND_bytes " + std::string(kWorkloads[w].label);
}

// status and detail of `c` when it has no figure for workload w.
void set_status(Row& row, const ConfigResult& c, bool have_figure,
                const std::string& error) {
  if (c.status == ConfigStatus::not_available) {
    row.status = "not available";
    row.detail = c.detail;
  } else if (!c.ran()) {
    row.status = "error";
    row.detail = c.detail;
  } else if (!have_figure || !error.empty()) {
    row.status = "error";
    row.detail = error.empty() ? "no figure" : error;
  } else {
    row.status = "ran";
    row.detail = c.detail;
  }
}

// A single per-call figure as a Spread of one value.
std::optional<Spread> one_value(std::optional<double> v) {
  if (!v) return std::nullopt;
  return Spread{1, *v, *v, *v, *v, *v};
}

// A SEEDPOOL-DRBG target row's detail: what the AES-256-CTR keystream alone
// reaches behind OpenSSL's path in the same rounds (the `aes` row), the
// most any AES-256-CTR generator can.
void append_ceiling(Row& row, bool applies,
                    std::optional<double> ceiling, const char* what) {
  if (!applies || !ceiling) return;
  const std::string text =
      strf("ceiling, same rounds: the AES-256-CTR keystream alone behind OpenSSL's "
           "path (the aes row) reaches %.2fx %s",
           *ceiling, what);
  row.detail = row.detail.empty() ? text : row.detail + "; " + text;
}

std::vector<Row> comparison_rows(const Results& results) {
  std::vector<Row> rows;
  const ConfigResult* base = find_config(results, "default");
  const std::string base_label = "default provider";
  for (std::size_t w = 0; w < kWorkloadCount; ++w) {
    const Workload& wl = kWorkloads[w];
    for (const ConfigResult& c : results.configs) {
      if (c.spec.name == "default") continue;
      Row row;
      row.key = std::string(wl.key) + "/" + c.spec.name;
      row.workload = workload_text(w);
      row.unit = unit_name(wl.unit);
      row.baseline = base_label;
      row.subject = c.spec.label;
      if (c.ran()) {
        row.subject_spread = spread_of(c.rates[w]);
        if (base != nullptr) {
          row.baseline_spread = spread_of(base->rates[w]);
          row.ratio = ratio_spread(c.rates[w], base->rates[w]);
        }
      }
      set_status(row, c, row.subject_spread.has_value(), c.ran() ? c.errors[w] : "");
      if (row.status == "ran" && base == nullptr) {
        row.status = "error";
        row.detail = "the default configuration did not run: no ratio";
      }
      for (const RatioTarget& t : kRatioTargets) {
        if (t.vs_one_thread || t.config != c.spec.name || t.workload != w) continue;
        row.target = strf(">= %.2f", t.target);
        if (row.ratio) row.met = row.ratio->median >= t.target;
        append_ceiling(row, t.config == std::string_view("drbg"),
                       vs_default(results, w, "aes"), "vs default");
      }
      rows.push_back(std::move(row));
    }
  }

  // Scaling: 2 threads against 1, same configuration. The target's
  // configuration first; then, reported beside it, the default provider,
  // the no-work provider -- how far OpenSSL's own RAND_bytes path scales (on
  // 3.0 every call takes the global rand_meth_lock for writing, in
  // RAND_get_rand_method, crypto/rand/rand_lib.c, 3.0.22), the ceiling any
  // provider's scaling sits under -- and the AES-256-CTR keystream alone
  // behind that path, the ceiling of an AES-256-CTR generator's.
  struct Scaling {
    std::string_view config;
    std::size_t workload;
    std::optional<double> target;
  };
  std::vector<Scaling> scalings;
  for (const RatioTarget& t : kRatioTargets) {
    if (!t.vs_one_thread) continue;
    scalings.push_back({t.config, t.workload, t.target});
    for (std::string_view other : {"default", "noop", "aes"})
      if (other != t.config) scalings.push_back({other, t.workload, std::nullopt});
  }
  for (const Scaling& t : scalings) {
    const std::size_t one = t.workload == kThreads2KiB4 ? kKiB4 : kBytes32;
    for (const ConfigResult& c : results.configs) {
      if (c.spec.name != t.config) continue;
      Row row;
      row.key = std::string(kWorkloads[t.workload].key) + "_vs_1_thread/" + c.spec.name;
      row.workload = workload_text(t.workload) + " vs 1 thread";
      row.unit = unit_name(kWorkloads[t.workload].unit);
      row.baseline = "same, 1 thread";
      row.subject = c.spec.label;
      if (c.ran()) {
        row.subject_spread = spread_of(c.rates[t.workload]);
        row.baseline_spread = spread_of(c.rates[one]);
        row.ratio = ratio_spread(c.rates[t.workload], c.rates[one]);
      }
      const std::string error = c.ran() ? (!c.errors[t.workload].empty()
                                               ? c.errors[t.workload]
                                               : c.errors[one])
                                        : "";
      set_status(row, c, row.ratio.has_value(), error);
      if (t.target) {
        row.target = strf(">= %.2f", *t.target);
        if (row.ratio) row.met = row.ratio->median >= *t.target;
        const ConfigResult* aes = find_config(results, "aes");
        append_ceiling(row, t.config == std::string_view("drbg"),
                       aes != nullptr && aes->ran()
                           ? median_ratio(aes->rates[t.workload], aes->rates[one])
                           : std::nullopt,
                       "of 1 thread");
      }
      rows.push_back(std::move(row));
    }
  }

  // No allocation and no system call per call, where that is claimed.
  for (const ConfigResult& c : results.configs) {
    if (std::find(std::begin(kZeroCostConfigs), std::end(kZeroCostConfigs),
                  c.spec.name) == std::end(kZeroCostConfigs))
      continue;
    for (std::size_t i = 0; i < kCostSizes.size(); ++i) {
      const std::string size = std::to_string(kCostSizes[i]) + "B";
      const AllocPerCall& a = c.allocs[i];
      const SyscallPerCall& sc = c.syscalls[i];
      Row heap;
      heap.key = "heap_allocs_" + size + "/" + c.spec.name;
      heap.workload = "heap allocations per RAND_bytes " + size_label(kCostSizes[i]);
      heap.unit = "per call";
      heap.baseline = base_label;
      heap.subject = c.spec.label;
      heap.target = "== 0";
      set_status(heap, c, a.ok, a.error);
      if (heap.status == "ran" && !a.heap_counted) {
        heap.status = "not available";
        heap.detail = "heap allocations are not counted in this build (sanitizer)";
      }
      if (heap.status == "ran") {
        heap.subject_spread = one_value(a.heap);
        if (base != nullptr && base->allocs[i].ok)
          heap.baseline_spread = one_value(base->allocs[i].heap);
        heap.met = a.heap == 0;
      }
      rows.push_back(std::move(heap));

      Row sys;
      sys.key = "syscalls_" + size + "/" + c.spec.name;
      sys.workload = "system calls per RAND_bytes " + size_label(kCostSizes[i]);
      sys.unit = "per call";
      sys.baseline = base_label;
      sys.subject = c.spec.label;
      sys.target = "== 0";
      set_status(sys, c, sc.status == SyscallPerCall::Status::ok,
                 sc.status == SyscallPerCall::Status::failed ? sc.detail : "");
      if (c.ran() && sc.status == SyscallPerCall::Status::unavailable) {
        sys.status = "not available";
        sys.detail = sc.detail;
      }
      if (sys.status == "ran") {
        sys.subject_spread = one_value(sc.total);
        if (base != nullptr && base->syscalls[i].status == SyscallPerCall::Status::ok)
          sys.baseline_spread = one_value(base->syscalls[i].total);
        // "0" as printed: fewer than one system call in 200 calls.
        sys.met = sc.total < 0.005;
        sys.detail = sc.by_name.empty() ? "" : join_syscalls(sc);
      }
      rows.push_back(std::move(sys));
    }
  }
  return rows;
}

}  // namespace

bool write_json(const std::string& path, const Results& results) {
  std::ofstream out(path);
  if (!out) return false;
  const MachineInfo& m = results.machine;
  const Settings& s = results.settings;
  out << "{\n  \"machine\": {\"cpu\": " << json_string(m.cpu_model)
      << ", \"cores\": " << m.cores << ", \"openssl\": " << json_string(m.openssl_version)
      << ", \"openssl_modules\": " << json_string(m.modules_dir)
      << ", \"load_start\": " << json_number(m.load_start)
      << ", \"load_end\": " << json_number(m.load_end) << "},\n";
  out << "  \"settings\": {\"rounds\": " << s.rounds
      << ", \"sample_ms\": " << json_number(s.sample_ms)
      << ", \"smoke\": " << (s.smoke ? "true" : "false") << "},\n";
  out << "  \"configs\": [\n";
  for (std::size_t ci = 0; ci < results.configs.size(); ++ci) {
    const ConfigResult& c = results.configs[ci];
    out << "    {\"name\": " << json_string(c.spec.name)
        << ", \"label\": " << json_string(c.spec.label)
        << ", \"conf\": " << json_string(c.spec.conf_path)
        << ", \"generator\": " << json_string(c.spec.generator)
        << ", \"status\": " << json_string(status_text(c))
        << ", \"detail\": " << json_string(c.detail) << ",\n      \"rates\": {";
    for (std::size_t w = 0; w < kWorkloadCount; ++w) {
      const std::optional<Spread> sp = c.ran() ? spread_of(c.rates[w]) : std::nullopt;
      out << (w == 0 ? "\n" : ",\n") << "        "
          << json_string(std::string(kWorkloads[w].key))
          << ": {\"unit\": " << json_string(unit_name(kWorkloads[w].unit))
          << ", \"per_round\": [";
      for (std::size_t r = 0; r < c.rates[w].size(); ++r)
        out << (r == 0 ? "" : ", ") << json_number(c.rates[w][r]);
      out << "], \"median\": "
          << json_number(sp ? std::optional(sp->median) : std::nullopt)
          << ", \"min\": " << json_number(sp ? std::optional(sp->min) : std::nullopt)
          << ", \"max\": " << json_number(sp ? std::optional(sp->max) : std::nullopt)
          << ", \"q1\": " << json_number(sp ? std::optional(sp->q1) : std::nullopt)
          << ", \"q3\": " << json_number(sp ? std::optional(sp->q3) : std::nullopt)
          << ", \"vs_default\": "
          << json_number(c.ran() ? vs_default(results, c, w) : std::nullopt);
      if (w == kThreads2KiB4 || w == kThreads2Bytes32)
        out << ", \"vs_1_thread\": "
            << json_number(median_ratio(c.rates[w],
                                        c.rates[w == kThreads2KiB4 ? kKiB4 : kBytes32]));
      if (w == kThreads2Bytes32) {
        const ConfigResult* noop = find_config(results, "noop");
        out << ", \"vs_noop\": "
            << json_number(noop != nullptr ? median_ratio(c.rates[w], noop->rates[w])
                                           : std::nullopt);
      }
      out << ", \"error\": " << json_string(c.errors[w]) << "}";
    }
    out << "\n      },\n      \"per_call\": [";
    for (std::size_t i = 0; i < kCostSizes.size(); ++i) {
      const AllocPerCall& a = c.allocs[i];
      const SyscallPerCall& sc = c.syscalls[i];
      const bool sys_ok = sc.status == SyscallPerCall::Status::ok;
      out << (i == 0 ? "\n" : ",\n") << "        {\"request_bytes\": " << kCostSizes[i]
          << ", \"calls_counted\": " << a.calls << ", \"heap_allocs\": "
          << json_number(a.ok && a.heap_counted ? std::optional(a.heap) : std::nullopt)
          << ", \"libcrypto_allocs\": "
          << json_number(a.ok && a.libcrypto_counted ? std::optional(a.libcrypto)
                                                     : std::nullopt)
          << ", \"syscalls\": "
          << json_number(sys_ok ? std::optional(sc.total) : std::nullopt)
          << ", \"syscalls_by_name\": {";
      for (std::size_t k = 0; k < sc.by_name.size(); ++k)
        out << (k == 0 ? "" : ", ") << json_string(sc.by_name[k].first) << ": "
            << json_number(sc.by_name[k].second);
      out << "}, \"detail\": " << json_string(a.ok ? sc.detail : a.error) << "}";
    }
    out << "\n      ]}" << (ci + 1 < results.configs.size() ? ",\n" : "\n");
  }
  out << "  ],\n  \"rows\": [";
  const std::vector<Row> rows = comparison_rows(results);
  for (std::size_t i = 0; i < rows.size(); ++i)
    out << (i == 0 ? "\n" : ",\n") << "    " << row_json(rows[i]);
  out << "\n  ]\n}\n";
  return static_cast<bool>(out.flush());
}

}  // namespace seedpool::bench
