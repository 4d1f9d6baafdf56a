// The pool's credited input, kept raw until an output block spends it.
//
// Why: the conditioner's state is a 512-bit chain value. Hashing 4096
// credited bits into it and then serving seven 64-byte blocks that each
// claim full entropy would claim 4096 bits out of a 512-bit state. So the
// entropy estimate is backed by raw bytes held here, and each output block
// is the hash of the chain together with fresh raw input worth at least
// 8n + 64 bits, taken out of this reservoir (SP 800-90C's rule for a vetted
// conditioning function: n full-entropy bits need n + 64 bits of input
// entropy). Input credited 0 bits goes straight into the conditioner.
//
// Bytes arrive in segments, each with the bits credited for it. A segment
// whose credit is a whole number of bits per byte (every source: 0..8) can
// be split at any byte; another (add_entropy's arbitrary credit) is taken
// whole, and bits beyond what a block needs are then spent, not kept.
//
// Memory: a ring of `capacity` bytes in a SecureRegion (mlock, DONTDUMP,
// WIPEONFORK: a forked child never sees the parent's raw input); metadata
// (segment lengths and bits, not secret) in a plain deque. Not thread-safe:
// the pool's lock guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>

#include "pool/errc.h"
#include "pool/secure_mem.h"

namespace seedpool::pool {

class Reservoir {
 public:
  // Where taken bytes go: the pool passes its conditioner's absorb.
  using Sink = Errc (*)(void* ctx, std::span<const std::uint8_t> bytes);

  Reservoir() = default;
  // `capacity_bytes` of raw input, holding at most `max_bits`.
  static Errc create(std::size_t capacity_bytes, std::uint64_t max_bits,
                     Reservoir& out) noexcept;
  // The same in `memory`, a region of at least `capacity_bytes` that the
  // caller made (the pool: one mapping for all its secrets; it asks for
  // wipe-on-fork, as the form above does).
  static Errc create(std::size_t capacity_bytes, std::uint64_t max_bits,
                     SecureRegion memory, Reservoir& out) noexcept;

  std::uint64_t bits() const noexcept { return bits_; }
  std::size_t bytes() const noexcept { return len_; }
  std::uint64_t max_bits() const noexcept { return max_bits_; }

  std::size_t capacity_bytes() const noexcept { return cap_; }
  std::size_t free_bytes() const noexcept { return cap_ - len_; }

  // Stores what fits of `data`, credited `bits` in all (<= 8 per byte):
  // all of it, a prefix (for a whole-bits-per-byte segment), or nothing.
  // `stored_bytes` and `stored_bits` say how much; the caller mixes the
  // rest in uncredited. What fits: the free bytes, and bits up to
  // `limit_bits` (at most max_bits(); the first form uses max_bits()). The
  // pool holds its pool size in bits, and lets the reservoir hold more only
  // while one request, under its lock, reads its own input ahead.
  void append(std::span<const std::uint8_t> data, std::uint64_t bits,
              std::size_t& stored_bytes, std::uint64_t& stored_bits) noexcept {
    append(data, bits, max_bits_, stored_bytes, stored_bits);
  }
  void append(std::span<const std::uint8_t> data, std::uint64_t bits,
              std::uint64_t limit_bits, std::size_t& stored_bytes,
              std::uint64_t& stored_bits) noexcept;

  // Takes raw bytes worth at least `need` bits -- the oldest first, or the
  // newest first (prediction resistance: what was read for this request) --
  // hands them to `sink` and wipes them. `taken_bits` is what was spent
  // (>= need). Errc::entropy_short (nothing taken) when bits() < need.
  Errc take(std::uint64_t need, bool newest_first, Sink sink, void* ctx,
            std::uint64_t& taken_bits) noexcept;

  // Wipes everything (fork, teardown).
  void clear() noexcept;

  bool locked() const noexcept { return mem_.locked(); }
  bool dump_excluded() const noexcept { return mem_.dump_excluded(); }
  void relock() noexcept { mem_.relock(); }

 private:
  struct Segment {
    std::size_t len;
    std::uint64_t bits;
    bool splittable() const noexcept { return len > 0 && bits % len == 0; }
  };
  // Hands `n` bytes at ring offset `off` to sink (in one or two spans), then
  // wipes them.
  Errc drain(std::size_t off, std::size_t n, Sink sink, void* ctx) noexcept;

  SecureRegion mem_;
  std::size_t cap_ = 0;
  std::uint64_t max_bits_ = 0;
  std::size_t head_ = 0;  // ring offset of the oldest byte
  std::size_t len_ = 0;
  std::uint64_t bits_ = 0;
  std::deque<Segment> segments_;  // oldest first
};

}  // namespace seedpool::pool
