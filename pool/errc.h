// Outcomes of pool operations. pool/ knows nothing of OpenSSL's error queue:
// it returns one of these, and provider/ turns it into a reason string.
#pragma once

#include <cstdint>

namespace seedpool::pool {

enum class [[nodiscard]] Errc : std::uint8_t {
  ok = 0,
  invalid_argument,    // NULL buffer with a length, bad sizes
  request_too_large,   // more than the pool may serve in one request
  entropy_short,       // not enough credited entropy right now (retryable)
  timed_out,           // waited the configured bound, still short
  source_failed,       // a noise source returned an error
  no_usable_source,    // every configured source is absent or failed
  conditioner_failed,  // libcrypto's hash failed (allocation, provider)
  config_conflict,     // the process-wide pool runs with another config
  out_of_memory,
  pending,             // queued: the request's callback will run later
  gatherer_failed,     // the gatherer thread could not be started
  cancelled,           // the request was withdrawn (fork, teardown)
  cipher_failed,       // libcrypto's cipher failed (the generator)
  reseed_required,     // a generator past a reseed limit: reseed first
  wait_fd_failed,      // async/: no eventfd or wait ctx entry for a job
};

// A short, stable, human-readable description (no secrets, no formatting).
const char* describe(Errc e) noexcept;

}  // namespace seedpool::pool
