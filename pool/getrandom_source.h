// The kernel CRNG through getrandom(2).
#pragma once

#include <mutex>

#include "pool/source.h"

namespace seedpool::pool {

class GetrandomSource final : public Source {
 public:
  GetrandomSource() = default;
  ~GetrandomSource() override;

  const char* name() const noexcept override { return "getrandom"; }
  // GRND_NONBLOCK: an unseeded kernel CRNG is reported (would_block), never
  // waited on blindly inside read().
  SourceRead read(std::span<std::uint8_t> out) noexcept override;
  // poll(2) on /dev/random, which becomes readable once the CRNG is seeded.
  bool wait_ready(std::chrono::milliseconds timeout) noexcept override;

 private:
  // Opened on the first wait only (the CRNG was found unseeded); wait_ready
  // runs outside the pool lock, on any thread.
  std::once_flag open_once_;
  int random_fd_ = -1;
};

}  // namespace seedpool::pool
