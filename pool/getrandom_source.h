// The kernel CRNG through getrandom(2).
#pragma once

#include "pool/source.h"
#include "pool/source_io.h"

namespace seedpool::pool {

class GetrandomSource final : public Source {
 public:
  // Opens /dev/random for readiness (off the hot path). If that fails the
  // source still reads; it only loses its readiness fd (poll_fd() == -1).
  GetrandomSource() noexcept;
  ~GetrandomSource() override = default;

  const char* name() const noexcept override { return "getrandom"; }
  // GRND_NONBLOCK: an unseeded kernel CRNG is reported (would_block), never
  // waited on blindly inside read().
  SourceRead read(std::span<std::uint8_t> out) noexcept override;
  // poll(2) on /dev/random, which becomes readable once the CRNG is seeded.
  // False at once when /dev/random could not be opened.
  bool wait_ready(std::chrono::milliseconds timeout) noexcept override;
  // /dev/random: polls readable once the CRNG is seeded, and stays so.
  int poll_fd() const noexcept override { return random_fd_.get(); }

 private:
  source_io::UniqueFd random_fd_;
};

}  // namespace seedpool::pool
