// What both halves of pool_bench use: the plan (how long, how many), the
// pool's statistics read through a SEEDPOOL instance, the idle-gatherer
// measurement (context switches of every thread but the main one), and
// small system helpers.
#pragma once

#include <openssl/async.h>
#include <openssl/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pool_bench_rows.h"

namespace seedpool::bench::pb {

using Clock = std::chrono::steady_clock;

struct Plan {
  bool smoke = false;
  int rounds = 0;
  // Rate samples (in-job RAND_bytes, SEEDPOOL vs getrandom).
  std::chrono::nanoseconds sample_time{};
  // A batch (one job, or as many calls outside a job) lasts at least this:
  // the clock is read once per batch and a job's start is amortized over it.
  std::chrono::nanoseconds min_batch_time{};
  // Pause cycles per side per round (fewer if a side's block would last
  // longer than cycle_budget), and uncounted ones before round 1.
  int cycles = 0;
  std::chrono::milliseconds cycle_budget{};
  int warmup_cycles = 0;
  // Cycles per side per round whose feed comes settle_delay after the
  // pause, once the gatherer has settled (see pool_bench_fifo.cc).
  int settled_cycles = 0;
  std::chrono::milliseconds settle_delay{};
  // Idle gatherer: this many windows of this length.
  int idle_windows = 0;
  std::chrono::milliseconds idle_window{};
  // How long the pool may take to fill before the idle windows.
  std::chrono::milliseconds fill_limit{};
};

Plan plan_for(bool smoke, int rounds_override);
RunSettings settings_of(const Plan& plan);

// "[pool_bench] ..." on stderr: progress, never results.
__attribute__((format(printf, 1, 2))) void progress(const char* format, ...);

// seedpool's statistics (every SEEDPOOL instance reports the process-wide
// pool), through an instance of `libctx`'s SEEDPOOL; instantiated on
// request so that it can also draw from the pool.
class PoolStats {
 public:
  PoolStats() = default;
  ~PoolStats();
  PoolStats(const PoolStats&) = delete;
  PoolStats& operator=(const PoolStats&) = delete;

  bool open(OSSL_LIB_CTX* libctx, bool instantiate, std::string& error);
  std::optional<std::uint64_t> u64(const char* key) const;
  std::optional<std::string> str(const char* key) const;
  // One draw of `len` bytes straight from the pool (outside any job).
  bool draw(unsigned char* out, std::size_t len) const;

 private:
  EVP_RAND_CTX* ctx_ = nullptr;
};

// Waits until entropy_available >= pool_size (polled every 2 ms), then
// `settle` more and checks it is still full. Sets error when it never was.
bool wait_until_full(const PoolStats& stats, std::chrono::milliseconds limit,
                     std::chrono::milliseconds settle, std::string& error);

// The idle-gatherer measurement: the pool full, nothing drawing; the
// voluntary + nonvoluntary context switches of every thread of this process
// but the calling (main) one, per window, from /proc/self/task/<tid>/status.
// Refuses (error) when no thread named seedpool-gather exists.
struct IdleResult {
  bool ok = false;
  std::string error;
  std::vector<double> per_second;  // one figure per window
  std::uint64_t total = 0;         // context switches over all windows
  double seconds = 0;              // all windows together
  std::optional<std::uint64_t> wakeups;  // seedpool's gatherer_wakeups moved by
  std::string threads;             // which threads were counted
};
// `gatherer_expected`: without a seedpool-gather thread it is an error
// (unless false: callers that keep the pool up inline start none).
IdleResult measure_idle(const PoolStats& stats, const Plan& plan,
                        bool gatherer_expected = true);

// The row of an idle measurement.
Row idle_row(const std::string& workload, const std::string& subject,
             const IdleResult& result, const std::string& setup);

// Random bytes from the kernel (getrandom), for feeding the FIFO; false on
// failure.
bool kernel_random(unsigned char* out, std::size_t len);

// poll() for POLLIN up to `limit`; true when readable. EINTR is retried.
bool wait_readable(int fd, std::chrono::milliseconds limit);

// Resumes a paused job until it is no longer paused, waiting for its wait
// fds between tries (each up to 5 s). Returns ASYNC_start_job's last result;
// `pauses` counts the extra pauses.
int finish_job(ASYNC_JOB** job, ASYNC_WAIT_CTX* ctx, int* ret, int (*fn)(void*),
               void* args, std::size_t size, int& pauses, std::string& error);

// The fds of a wait ctx.
std::vector<OSSL_ASYNC_FD> wait_fds(ASYNC_WAIT_CTX* ctx);

std::string kernel_release();

}  // namespace seedpool::bench::pb
