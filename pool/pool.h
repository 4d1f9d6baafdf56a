// The entropy pool: mixes raw input through the conditioner, keeps an
// entropy estimate (credit only ever comes from a source's configured rate or
// an explicit add_entropy), and serves full-entropy output.
//
// Accounting rule (SP 800-90C full entropy): every output block of n bytes
// (n <= 64) debits 8n + 64 bits, so no block leaves the conditioner with less
// than 64 bits of margin. A request that the estimate cannot cover is not
// served at all: output is all or nothing, never short, never unseeded.
//
// Thread-safe. One mutex guards the conditioner and the estimate; counters
// that readers poll on every OpenSSL call are atomics, read without the lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "pool/conditioner.h"
#include "pool/config.h"
#include "pool/errc.h"
#include "pool/health.h"
#include "pool/source.h"
#include "pool/stats.h"

namespace seedpool::pool {

class Pool {
 public:
  // Largest single request, in bytes. OpenSSL asks a seed source for up to
  // 48 bytes; `random = SEEDPOOL` splits by max_request.
  static constexpr std::size_t kMaxRequestBytes = 4096;
  static constexpr std::uint32_t kMarginBits = 64;

  // Builds the pool and its sources. Validates config first.
  static Errc create(const Config& config, std::unique_ptr<Pool>& out);
  // For tests and C++ users who bring their own sources: config.sources is
  // ignored, each source comes with its own credit (0..8 bits per byte).
  struct CustomSource {
    std::unique_ptr<Source> source;
    std::uint32_t credit_bits_per_byte = 0;
  };
  static Errc create(const Config& config, std::vector<CustomSource> sources,
                     std::unique_ptr<Pool>& out);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  const Config& config() const noexcept { return config_; }

  // Mixes bytes in, credits nothing (like writing to /dev/random).
  Errc mix(std::span<const std::uint8_t> data) noexcept;
  // Mixes and credits up to `credited_bits` (random(4)'s RNDADDENTROPY);
  // the credit is capped at 8 bits per byte and at the pool size.
  Errc add_entropy(std::span<const std::uint8_t> data,
                   std::uint64_t credited_bits) noexcept;

  // Full-entropy output now, refilling from the sources without waiting.
  // `adin` is mixed in first (credited 0). `fresh` (prediction resistance)
  // reads the sources even when the estimate would cover the request.
  // Errc::entropy_short when the sources have nothing right now.
  Errc try_read(std::span<std::uint8_t> out, std::span<const std::uint8_t> adin,
                bool fresh) noexcept;
  // As try_read, waiting up to `timeout` for a source to become ready.
  // Errc::timed_out at the bound; 0 ms means "do not wait".
  Errc read(std::span<std::uint8_t> out, std::span<const std::uint8_t> adin,
            bool fresh, std::chrono::milliseconds timeout) noexcept;

  // Lock-free, for params polled on every OpenSSL call.
  std::uint64_t entropy_available_bits() const noexcept {
    return entropy_available_.load(std::memory_order_relaxed);
  }
  // Advances each time pool_size bits of new entropy have been credited, and
  // in a forked child: consumers above (OpenSSL's primary DRBG reads it as
  // reseed_counter) reseed when it moves. Starts at 1.
  std::uint32_t epoch() const noexcept {
    return epoch_.load(std::memory_order_relaxed);
  }
  Health health() const noexcept {
    return health_.load(std::memory_order_relaxed);
  }
  Stats stats() const;

 private:
  friend class SeedKeeper;
  // Conditioner output that neither needs nor debits the entropy estimate.
  // Only for the seed file's replacement (random(4)'s advice: save a new
  // seed at once, derived from a state that already holds the old one);
  // never for anything handed to a caller.
  Errc derive_uncounted(std::span<std::uint8_t> out) noexcept;

  struct SourceSlot {
    std::unique_ptr<Source> source;
    std::uint32_t credit_bits_per_byte = 0;
    // SP 800-90B 4.4 tests on this source's raw bytes; none when credited 0.
    std::optional<HealthTest> health;  // guarded by mu_
    std::atomic<std::uint64_t> bits_withheld{0};  // read, not credited
    std::atomic<std::uint64_t> health_failures{0};  // RCT + APT events
    std::atomic<SourceStatus> status{SourceStatus::ok};
    std::atomic<std::uint64_t> bytes_read{0};
    std::atomic<std::uint64_t> bits_credited{0};
    std::atomic<int> last_errno{0};
  };

  Pool(const Config& config, std::unique_ptr<Conditioner> conditioner);

  static std::uint64_t bits_needed(std::size_t out_len) noexcept;
  void credit_locked(std::uint64_t bits);
  // Reads the sources until the estimate covers `want_bits` or every source
  // has nothing more right now. `force` reads at least one block regardless.
  Errc refill_locked(std::uint64_t want_bits, bool force);
  Errc extract_locked(std::span<std::uint8_t> out);
  void after_fork_locked();
  void update_health() noexcept;
  SourceSlot* first_waitable_source() noexcept;

  const Config config_;
  mutable std::mutex mu_;
  std::unique_ptr<Conditioner> conditioner_;  // guarded by mu_
  std::uint64_t entropy_bits_ = 0;            // guarded by mu_
  std::uint64_t credited_since_epoch_ = 0;    // guarded by mu_
  std::uint64_t fork_generation_seen_ = 0;    // guarded by mu_
  std::vector<std::unique_ptr<SourceSlot>> sources_;

  std::atomic<std::uint64_t> entropy_available_{0};
  std::atomic<std::uint32_t> epoch_{1};
  std::atomic<Health> health_{Health::ok};
  std::atomic<std::uint64_t> bits_credited_{0};
  std::atomic<std::uint64_t> bits_debited_{0};
  std::atomic<std::uint64_t> bytes_served_{0};
  std::atomic<std::uint64_t> requests_served_{0};
  std::atomic<std::uint64_t> requests_failed_{0};
  std::atomic<std::uint64_t> requests_timed_out_{0};
  std::atomic<std::uint64_t> requests_paused_{0};  // moved by async (issue 7)
};

}  // namespace seedpool::pool
