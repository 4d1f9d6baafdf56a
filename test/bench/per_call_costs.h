// What one RAND_bytes_ex call costs besides time, after warm-up: heap
// allocations (counted in process, on the calling thread) and system calls
// (counted by strace, for the whole process).
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench_config.h"

namespace seedpool::bench {

struct AllocPerCall {
  bool ok = false;
  double heap = 0;                 // every heap allocation on the calling thread
  double libcrypto = 0;            // OPENSSL_malloc / OPENSSL_realloc alone
  bool heap_counted = false;       // the malloc interposition is in effect
  bool libcrypto_counted = false;  // CRYPTO_set_mem_functions took effect
  std::uint64_t calls = 0;
  std::string error;
};

// `warmup_calls` uncounted calls, then the allocations of `calls` calls.
AllocPerCall measure_allocations(OSSL_LIB_CTX* libctx, std::size_t request_len,
                                 std::uint64_t warmup_calls, std::uint64_t calls,
                                 bool libcrypto_counted);

struct SyscallPerCall {
  enum class Status { ok, unavailable, failed };
  Status status = Status::unavailable;
  double total = 0;
  // Per system call name, largest first; only those of at least 0.005 a call.
  std::vector<std::pair<std::string, double>> by_name;
  std::string detail;  // why unavailable or failed
};

// Counts system calls per RAND_bytes_ex with `strace -f -c` (all threads of
// the process: work handed to another thread still counts). The workload
// runs in a child, this same program in probe mode (`--syscall-probe`),
// once with calls_low and once with calls_high calls after the same
// warm-up; the difference divided by (calls_high - calls_low) cancels
// start-up, config loading and exit. `perf trace -s` would do too, but it
// needs a linux-perf matching the kernel, where strace only needs ptrace.
class SyscallCounter {
 public:
  // Checks once that strace is installed and may trace here (containers
  // often refuse ptrace): otherwise every figure reads n/a.
  explicit SyscallCounter(std::string self_exe);

  bool usable() const { return why_not_.empty(); }
  const std::string& why_not() const { return why_not_; }

  SyscallPerCall measure(const std::string& config_name, std::size_t request_len,
                         std::uint64_t calls_low, std::uint64_t calls_high) const;

 private:
  std::string self_exe_;
  std::string why_not_;
};

// The probe's exit status when the configuration or a call failed (strace
// passes the child's status on).
inline constexpr int kProbeExitRandFailed = 3;
// Calls the probe makes before the counted ones.
inline constexpr std::uint64_t kProbeWarmupCalls = 256;

// The child side: load `spec`, warm up, make `calls` calls, exit.
int run_syscall_probe(const ConfigSpec& spec, std::size_t request_len,
                      std::uint64_t calls);

}  // namespace seedpool::bench
