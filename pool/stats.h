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

struct Stats {
  std::uint64_t entropy_available_bits = 0;
  std::uint64_t pool_size_bits = 0;
  std::uint64_t bits_credited = 0;  // total, all sources and add_entropy
  std::uint64_t bits_debited = 0;   // total taken out by extraction
  std::uint64_t bytes_served = 0;
  std::uint64_t requests_served = 0;
  std::uint64_t requests_failed = 0;
  std::uint64_t requests_timed_out = 0;
  std::uint64_t requests_paused = 0;
  std::uint32_t epoch = 0;
  Health health = Health::ok;
  std::vector<SourceStats> sources;
};

// "name:status:credited_bits,..." -- the `sources` ctx param.
std::string format_sources(const Stats& s);

}  // namespace seedpool::pool
