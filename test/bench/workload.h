// The timed workloads: RAND_bytes_ex calls of one size, on one thread or on
// several at once, for a fixed wall-clock time.
#pragma once

#include <openssl/types.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace seedpool::bench {

enum class Unit { calls_per_s, mb_per_s };  // MB: 10^6 bytes

struct Workload {
  std::string_view key;     // for CSV / JSON
  std::string_view label;   // for the table
  std::size_t request_len;  // bytes per RAND_bytes_ex call
  int threads;
  Unit unit;
};

enum WorkloadIndex : std::size_t {
  kBytes32,
  kKiB4,
  kMiB1,
  kThreads2KiB4,
  kThreads2Bytes32,
  kWorkloadCount,
};

inline constexpr std::array<Workload, kWorkloadCount> kWorkloads = {{
    {"bytes32", "32 B", 32, 1, Unit::calls_per_s},
    {"kib4", "4 KiB", 4096, 1, Unit::mb_per_s},
    {"mib1", "1 MiB", std::size_t{1} << 20, 1, Unit::mb_per_s},
    {"threads2_kib4", "2 thr x 4 KiB", 4096, 2, Unit::mb_per_s},
    {"threads2_bytes32", "2 thr x 32 B", 32, 2, Unit::calls_per_s},
}};

struct Timing {
  // Wall-clock time of one timed sample.
  std::chrono::nanoseconds sample_time;
  // The clock is read once per batch of calls, and a batch is grown in the
  // warm-up until it lasts at least this long, so reading the clock (~20 ns)
  // stays out of a ~100 ns call's figure.
  std::chrono::nanoseconds min_batch_time;
};

struct Sample {
  bool ok = false;
  double rate = 0;    // in the workload's unit; all threads together
  std::string error;  // when !ok
};

// Warms up and then times `workload` on `libctx`. Multi-threaded workloads
// run on fresh threads, each warmed up (its first call creates its
// per-thread public instance) before a barrier starts the clock.
Sample run_workload(OSSL_LIB_CTX* libctx, const Workload& workload, const Timing& timing);

// One RAND_bytes_ex call, as a user makes it; false on failure.
bool draw(OSSL_LIB_CTX* libctx, unsigned char* buf, std::size_t len);

}  // namespace seedpool::bench
