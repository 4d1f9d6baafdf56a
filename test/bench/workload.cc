#include "workload.h"

#include <benchmark/benchmark.h>
#include <openssl/rand.h>

#include <algorithm>
#include <barrier>
#include <thread>
#include <vector>

#include "bench_config.h"

namespace seedpool::bench {

bool draw(OSSL_LIB_CTX* libctx, unsigned char* buf, std::size_t len) {
  const int rc = RAND_bytes_ex(libctx, buf, len, 0);
  // RAND_bytes_ex is opaque to the compiler already; these make the written
  // buffer count as used all the same.
  benchmark::DoNotOptimize(buf);
  benchmark::ClobberMemory();
  return rc == 1;
}

namespace {

using Clock = std::chrono::steady_clock;

// One thread's share of a sample.
struct ThreadRun {
  bool ok = false;
  std::uint64_t calls = 0;
  Clock::time_point start;
  Clock::time_point end;
  std::string error;
};

bool draw_batch(OSSL_LIB_CTX* libctx, unsigned char* buf, std::size_t len,
                std::uint64_t calls) {
  for (std::uint64_t i = 0; i < calls; ++i)
    if (!draw(libctx, buf, len)) return false;
  return true;
}

// Warm-up: doubles the batch until one lasts min_batch_time, so every
// batch of the timed part reads the clock once. 0 on failure.
std::uint64_t calibrate(OSSL_LIB_CTX* libctx, unsigned char* buf, std::size_t len,
                        const Timing& timing) {
  constexpr std::uint64_t kMaxBatch = std::uint64_t{1} << 24;
  std::uint64_t batch = 1;
  for (;;) {
    const Clock::time_point t0 = Clock::now();
    if (!draw_batch(libctx, buf, len, batch)) return 0;
    if (Clock::now() - t0 >= timing.min_batch_time || batch >= kMaxBatch) return batch;
    batch *= 2;
  }
}

// The timed part: whole batches until sample_time has passed (at least one).
ThreadRun timed_run(OSSL_LIB_CTX* libctx, unsigned char* buf, std::size_t len,
                    std::uint64_t batch, const Timing& timing) {
  ThreadRun run;
  run.start = Clock::now();
  const Clock::time_point deadline = run.start + timing.sample_time;
  do {
    if (!draw_batch(libctx, buf, len, batch)) {
      run.error = "RAND_bytes_ex failed: " + take_openssl_errors();
      return run;
    }
    run.calls += batch;
    run.end = Clock::now();
  } while (run.end < deadline);
  run.ok = true;
  return run;
}

}  // namespace

Sample run_workload(OSSL_LIB_CTX* libctx, const Workload& workload,
                    const Timing& timing) {
  const auto threads = static_cast<std::size_t>(workload.threads);
  std::vector<ThreadRun> runs(threads);
  // Each thread: its own buffer, its own warm-up, then all start together.
  auto worker = [&](std::size_t i, std::barrier<>& start_line) {
    std::vector<unsigned char> buf(workload.request_len);
    const std::uint64_t batch = calibrate(libctx, buf.data(), buf.size(), timing);
    std::string warmup_error;
    if (batch == 0) warmup_error = take_openssl_errors();
    start_line.arrive_and_wait();  // also when the warm-up failed: no one hangs
    if (batch == 0) {
      runs[i].error = "RAND_bytes_ex failed in the warm-up: " + warmup_error;
      return;
    }
    runs[i] = timed_run(libctx, buf.data(), buf.size(), batch, timing);
  };

  std::barrier<> start_line(static_cast<std::ptrdiff_t>(threads));
  if (threads == 1) {
    // On the calling thread, whose public instance the set-up made.
    worker(0, start_line);
  } else {
    std::vector<std::jthread> pool;
    for (std::size_t i = 0; i < threads; ++i)
      pool.emplace_back(worker, i, std::ref(start_line));
  }  // joined here

  Sample sample;
  std::uint64_t calls = 0;
  Clock::time_point first_start = Clock::time_point::max();
  Clock::time_point last_end = Clock::time_point::min();
  for (const ThreadRun& run : runs) {
    if (!run.ok) {
      sample.error = run.error;
      return sample;
    }
    calls += run.calls;
    first_start = std::min(first_start, run.start);
    last_end = std::max(last_end, run.end);
  }
  // Aggregate rate: everything the threads did over the span in which any
  // of them was running.
  const double seconds = std::chrono::duration<double>(last_end - first_start).count();
  const double per_second = static_cast<double>(calls) / seconds;
  sample.rate = workload.unit == Unit::calls_per_s
                    ? per_second
                    : per_second * static_cast<double>(workload.request_len) / 1e6;
  sample.ok = true;
  return sample;
}

}  // namespace seedpool::bench
