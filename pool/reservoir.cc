#include "pool/reservoir.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

namespace seedpool::pool {

Errc Reservoir::create(std::size_t capacity_bytes, std::uint64_t max_bits,
                       Reservoir& out) noexcept {
  if (capacity_bytes == 0 || max_bits == 0) return Errc::invalid_argument;
  SecureRegion memory;
  if (Errc rc = SecureRegion::create(capacity_bytes,
                                     SecureRegion::Options{.wipe_on_fork = true},
                                     memory);
      rc != Errc::ok)
    return rc;
  return create(capacity_bytes, max_bits, std::move(memory), out);
}

Errc Reservoir::create(std::size_t capacity_bytes, std::uint64_t max_bits,
                       SecureRegion memory, Reservoir& out) noexcept {
  if (capacity_bytes == 0 || max_bits == 0 || memory.size() < capacity_bytes)
    return Errc::invalid_argument;
  Reservoir r;
  r.mem_ = std::move(memory);
  r.cap_ = capacity_bytes;
  r.max_bits_ = max_bits;
  out = std::move(r);
  return Errc::ok;
}

void Reservoir::append(std::span<const std::uint8_t> data, std::uint64_t bits,
                       std::uint64_t limit_bits, std::size_t& stored_bytes,
                       std::uint64_t& stored_bits) noexcept {
  stored_bytes = 0;
  stored_bits = 0;
  limit_bits = std::min(limit_bits, max_bits_);
  if (data.empty() || bits == 0 || cap_ == 0 || bits_ >= limit_bits) return;
  bits = std::min<std::uint64_t>(bits, std::uint64_t{data.size()} * 8);
  const std::uint64_t room_bits = limit_bits - bits_;
  const std::size_t room_bytes = cap_ - len_;
  std::size_t n = 0;
  std::uint64_t nbits = 0;
  if (bits % data.size() == 0) {
    const std::uint64_t per = bits / data.size();
    n = static_cast<std::size_t>(std::min<std::uint64_t>(
        {data.size(), room_bytes, room_bits / per}));
    nbits = n * per;
  } else if (data.size() <= room_bytes && bits <= room_bits) {
    n = data.size();
    nbits = bits;
  }
  if (n == 0) return;
  // Metadata first: if it cannot grow, nothing is stored.
  const bool merge = !segments_.empty() && segments_.back().splittable() &&
                     nbits % n == 0 &&
                     segments_.back().bits / segments_.back().len == nbits / n;
  if (merge) {
    segments_.back().len += n;
    segments_.back().bits += nbits;
  } else {
    try {
      segments_.push_back({n, nbits});
    } catch (...) {
      return;
    }
  }
  std::uint8_t* ring = mem_.bytes().data();
  const std::size_t tail = (head_ + len_) % cap_;
  const std::size_t first = std::min(n, cap_ - tail);
  std::memcpy(ring + tail, data.data(), first);
  if (first < n) std::memcpy(ring, data.data() + first, n - first);
  len_ += n;
  bits_ += nbits;
  stored_bytes = n;
  stored_bits = nbits;
}

Errc Reservoir::drain(std::size_t off, std::size_t n, Sink sink,
                      void* ctx) noexcept {
  std::uint8_t* ring = mem_.bytes().data();
  const std::size_t first = std::min(n, cap_ - off);
  Errc rc = sink(ctx, {ring + off, first});
  OPENSSL_cleanse(ring + off, first);
  if (first < n) {
    if (rc == Errc::ok) rc = sink(ctx, {ring, n - first});
    OPENSSL_cleanse(ring, n - first);
  }
  return rc;
}

Errc Reservoir::take(std::uint64_t need, bool newest_first, Sink sink,
                     void* ctx, std::uint64_t& taken_bits) noexcept {
  taken_bits = 0;
  if (bits_ < need) return Errc::entropy_short;
  Errc rc = Errc::ok;
  while (taken_bits < need && !segments_.empty()) {
    Segment& s = newest_first ? segments_.back() : segments_.front();
    const std::uint64_t want = need - taken_bits;
    std::size_t nbytes = s.len;
    std::uint64_t nbits = s.bits;
    if (s.bits > want && s.splittable()) {
      const std::uint64_t per = s.bits / s.len;
      nbytes = static_cast<std::size_t>((want + per - 1) / per);
      nbits = nbytes * per;
    }
    const std::size_t off =
        newest_first ? (head_ + len_ - nbytes) % cap_ : head_;
    if (Errc e = drain(off, nbytes, sink, ctx); e != Errc::ok) rc = e;
    if (!newest_first) head_ = (head_ + nbytes) % cap_;
    len_ -= nbytes;
    bits_ -= nbits;
    taken_bits += nbits;
    s.len -= nbytes;
    s.bits -= nbits;
    if (s.len == 0) {
      if (newest_first)
        segments_.pop_back();
      else
        segments_.pop_front();
    }
    if (rc != Errc::ok) return rc;
  }
  if (len_ == 0) head_ = 0;
  return Errc::ok;
}

void Reservoir::clear() noexcept {
  if (cap_ > 0) OPENSSL_cleanse(mem_.bytes().data(), cap_);
  head_ = 0;
  len_ = 0;
  bits_ = 0;
  segments_.clear();
}

}  // namespace seedpool::pool
