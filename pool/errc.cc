#include "pool/errc.h"

namespace seedpool::pool {

const char* describe(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::invalid_argument: return "invalid argument";
    case Errc::request_too_large: return "request too large";
    case Errc::entropy_short: return "not enough entropy in the pool";
    case Errc::timed_out: return "timed out waiting for entropy";
    case Errc::source_failed: return "entropy source failed";
    case Errc::no_usable_source: return "no usable entropy source";
    case Errc::conditioner_failed: return "conditioning hash failed";
    case Errc::config_conflict:
      return "pool already running with a different configuration";
    case Errc::out_of_memory: return "out of memory";
    case Errc::pending: return "request queued";
    case Errc::gatherer_failed: return "cannot start the gatherer thread";
    case Errc::cancelled: return "request cancelled";
    case Errc::cipher_failed: return "generator cipher failed";
    case Errc::reseed_required: return "generator must be reseeded first";
    case Errc::wait_fd_failed: return "cannot create the ASYNC wait fd";
  }
  return "unknown error";
}

}  // namespace seedpool::pool
