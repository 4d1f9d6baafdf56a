// How a provider call gets bytes from the pool: the one place that decides
// between answering now, waiting with a bound, and (with the async issue)
// pausing the caller's ASYNC job.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "pool/errc.h"
#include "pool/pool.h"

namespace seedpool::async {

// Whether the caller may be paused. OpenSSL holds its primary DRBG's lock
// around a seed source's get_seed, and our own instance lock around any
// instance with locking enabled: those callers must never pause.
enum class Pausing : std::uint8_t { forbidden, allowed };

struct DrawRequest {
  std::span<std::uint8_t> out;
  std::span<const std::uint8_t> adin;
  bool prediction_resistance = false;
  Pausing pausing = Pausing::forbidden;
};

// Fills req.out with full-entropy pool output, or fails with the reason.
// Outside a job (and, until pausing lands, inside one too) it waits at most
// the pool's block_timeout; 0 fails at once. Never returns short output.
[[nodiscard]] pool::Errc draw(const std::shared_ptr<pool::Pool>& pool,
                              const DrawRequest& req) noexcept;

}  // namespace seedpool::async
