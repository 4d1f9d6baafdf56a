#include "per_call_costs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "alloc_count.h"
#include "workload.h"

extern char** environ;

namespace seedpool::bench {

AllocPerCall measure_allocations(OSSL_LIB_CTX* libctx, std::size_t request_len,
                                 std::uint64_t warmup_calls, std::uint64_t calls,
                                 bool libcrypto_counted) {
  AllocPerCall result;
  result.libcrypto_counted = libcrypto_counted;
  result.heap_counted = heap_alloc_counter_active();
  std::vector<unsigned char> buf(request_len);  // before the counting starts
  for (std::uint64_t i = 0; i < warmup_calls; ++i) {
    if (!draw(libctx, buf.data(), buf.size())) {
      result.error = "RAND_bytes_ex failed: " + take_openssl_errors();
      return result;
    }
  }
  const AllocCounts before = thread_alloc_counts();
  for (std::uint64_t i = 0; i < calls; ++i) {
    if (!draw(libctx, buf.data(), buf.size())) {
      result.error = "RAND_bytes_ex failed: " + take_openssl_errors();
      return result;
    }
  }
  const AllocCounts after = thread_alloc_counts();
  const auto per_call = [calls](std::uint64_t n) {
    return static_cast<double>(n) / static_cast<double>(calls);
  };
  result.heap = per_call(after.heap - before.heap);
  result.libcrypto = per_call(after.libcrypto - before.libcrypto);
  result.calls = calls;
  result.ok = true;
  return result;
}

namespace {

struct SpawnResult {
  int spawn_errno = 0;   // posix_spawnp failed (ENOENT: not installed)
  int exit_status = -1;  // -1: killed by a signal
};

// Runs argv[0] from PATH with stdout and stderr sent to /dev/null.
SpawnResult spawn_and_wait(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  SpawnResult result;
  pid_t pid = 0;
  result.spawn_errno =
      posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (result.spawn_errno != 0) return result;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_status = WEXITSTATUS(status);
  return result;
}

// The calls column of `strace -c` output, per system call name, plus
// "total". A row reads: % time, seconds, usecs/call, calls, [errors,] name.
std::map<std::string, double> parse_strace_summary(const std::string& path) {
  std::map<std::string, double> calls;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> tokens;
    for (std::string t; fields >> t;) tokens.push_back(t);
    if (tokens.size() < 5) continue;
    char* end = nullptr;
    std::strtod(tokens[0].c_str(), &end);  // a percentage: a data row
    if (end == tokens[0].c_str() || *end != '\0') continue;
    calls[tokens.back()] = std::strtod(tokens[3].c_str(), nullptr);
  }
  return calls;
}

}  // namespace

SyscallCounter::SyscallCounter(std::string self_exe) : self_exe_(std::move(self_exe)) {
  const SpawnResult r = spawn_and_wait({"strace", "-o", "/dev/null", "--", "true"});
  if (r.spawn_errno == ENOENT)
    why_not_ = "strace is not installed";
  else if (r.spawn_errno != 0)
    why_not_ = std::string("cannot run strace: ") + std::strerror(r.spawn_errno);
  else if (r.exit_status != 0)
    why_not_ = "strace cannot trace here (ptrace refused?)";
}

SyscallPerCall SyscallCounter::measure(const std::string& config_name,
                                       std::size_t request_len, std::uint64_t calls_low,
                                       std::uint64_t calls_high) const {
  SyscallPerCall result;
  if (!usable()) {
    result.detail = why_not_;
    return result;
  }
  // One strace run of the probe; nullopt (with result filled in) on failure.
  auto count = [&](std::uint64_t calls) -> std::optional<std::map<std::string, double>> {
    std::string path =
        (std::filesystem::temp_directory_path() / "rand_bench_strace_XXXXXX").string();
    const int fd = mkstemp(path.data());
    if (fd < 0) {
      result.status = SyscallPerCall::Status::unavailable;
      result.detail = std::string("mkstemp: ") + std::strerror(errno);
      return std::nullopt;
    }
    close(fd);
    const SpawnResult r = spawn_and_wait(
        {"strace", "-f", "-c", "-o", path, "--", self_exe_, "--syscall-probe",
         config_name, std::to_string(request_len), std::to_string(calls)});
    std::map<std::string, double> summary = parse_strace_summary(path);
    std::remove(path.c_str());
    if (r.exit_status == kProbeExitRandFailed) {
      result.status = SyscallPerCall::Status::failed;
      result.detail = "RAND_bytes_ex failed in the probe";
      return std::nullopt;
    }
    if (r.spawn_errno != 0 || r.exit_status != 0 || summary.count("total") == 0) {
      result.status = SyscallPerCall::Status::unavailable;
      result.detail =
          "strace run failed (exit status " + std::to_string(r.exit_status) + ")";
      return std::nullopt;
    }
    return summary;
  };

  const std::optional<std::map<std::string, double>> low = count(calls_low);
  if (!low) return result;
  const std::optional<std::map<std::string, double>> high = count(calls_high);
  if (!high) return result;

  const double span = static_cast<double>(calls_high - calls_low);
  for (const auto& [name, n] : *high) {
    const auto it = low->find(name);
    const double per_call = (n - (it != low->end() ? it->second : 0.0)) / span;
    if (name == "total")
      result.total = per_call;
    else if (per_call >= 0.005)
      result.by_name.emplace_back(name, per_call);
  }
  std::sort(result.by_name.begin(), result.by_name.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  result.status = SyscallPerCall::Status::ok;
  return result;
}

int run_syscall_probe(const ConfigSpec& spec, std::size_t request_len,
                      std::uint64_t calls) {
  LoadedConfig config = load_config(spec);
  if (config.status != ConfigStatus::ready) return kProbeExitRandFailed;
  std::vector<unsigned char> buf(request_len);
  for (std::uint64_t i = 0; i < kProbeWarmupCalls + calls; ++i)
    if (!draw(config.libctx.get(), buf.data(), buf.size())) return kProbeExitRandFailed;
  return 0;
}

}  // namespace seedpool::bench
