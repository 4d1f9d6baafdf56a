// A snapshot of the pool's statistics (random(4)'s entropy_avail/poolsize,
// plus per-source accounting and request counters).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pool/source.h"

namespace seedpool::pool {

enum class Health : std::uint8_t { ok, degraded, failed };
const char* health_name(Health h) noexcept;

struct SourceStats {
  std::string name;
  SourceStatus status = SourceStatus::ok;
  std::uint64_t bytes_read = 0;
  std::uint64_t bits_credited = 0;
  // Bits the configured credit would have given but the health tests held
  // back (start-up test running, intermittent failures).
  std::uint64_t bits_withheld = 0;
  std::uint32_t credit_bits_per_byte = 0;
  std::uint64_t health_failures = 0;  // RCT + APT failure events
  int last_errno = 0;
};

// The seed file's story in this process; all empty when none is configured.
struct SeedFileStats {
  std::string load;    // seed_load_status_name(): "loaded", "missing", ...
  std::string credit;  // seed_credit_name(): "allowed", "not_trusted", ...
  std::uint64_t bits_credited = 0;
  // Outcome of the last replace/save: "ok", or what failed (describe()).
  std::string replace;
  std::string save;
};

struct Stats {
  std::uint64_t entropy_available_bits = 0;
  std::uint64_t pool_size_bits = 0;
  std::uint64_t bits_credited = 0;  // total, all sources and add_entropy
  std::uint64_t bits_debited = 0;   // total taken out by extraction
  std::uint64_t bytes_served = 0;
  std::uint64_t requests_served = 0;
  std::uint64_t requests_failed = 0;
  std::uint64_t requests_timed_out = 0;
  std::uint64_t requests_paused = 0;   // ASYNC jobs paused (async/)
  std::uint64_t requests_resumed = 0;  // paused jobs run again
  std::uint64_t paused_timed_out = 0;  // paused requests ended at the deadline
  std::uint64_t async_callbacks = 0;   // application ASYNC callbacks called
  std::uint32_t epoch = 0;
  std::uint32_t read_wakeup_threshold_bits = 0;
  std::uint32_t write_wakeup_threshold_bits = 0;
  std::uint64_t requests_queued = 0;  // waiting now
  // "io_uring", "poll", or "stopped" before the gatherer first runs.
  std::string gatherer;
  // Why io_uring is not used (e.g. "io_uring_queue_init: Operation not
  // permitted", "SEEDPOOL_NO_IO_URING=1"); empty when it is.
  std::string gatherer_fallback_reason;
  std::uint64_t gatherer_wakeups = 0;  // times the gatherer woke up
  // Pool state memory: mlock()ed, and excluded from core dumps.
  bool memory_locked = false;
  bool dump_excluded = false;
  SeedFileStats seed_file;
  Health health = Health::ok;
  std::vector<SourceStats> sources;
};

// "name:status:credited_bits,..." -- the `sources` ctx param.
std::string format_sources(const Stats& s);

}  // namespace seedpool::pool
