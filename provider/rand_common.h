// What both RAND algorithms share: OpenSSL's instance locking, the seed
// length rules of get_seed, and their argument checks.
#pragma once

#include <openssl/core.h>
#include <openssl/params.h>

#include <cstddef>
#include <memory>
#include <mutex>

#include "pool/pool.h"

namespace seedpool::provider {

constexpr unsigned int kStrengthBits = 256;

// The lock OpenSSL asks for with enable_locking (on 3.0 only the primary
// DRBG, and a parent of another DRBG, have one). OpenSSL calls lock/unlock
// also on instances that never enabled locking: those are no-ops.
class InstanceLock {
 public:
  bool enabled() const noexcept { return mu_ != nullptr; }
  // Raises on failure.
  bool enable(const OSSL_CORE_HANDLE* handle) noexcept;
  bool lock(const OSSL_CORE_HANDLE* handle) noexcept;
  void unlock() noexcept {
    if (mu_) mu_->unlock();
  }

 private:
  std::unique_ptr<std::mutex> mu_;
};

// get_seed's length: enough bytes for `entropy` bits, at least min_len, at
// most max_len and `max_request`. Raises and returns 0 when impossible.
std::size_t seed_length(const OSSL_CORE_HANDLE* handle, int entropy,
                        std::size_t min_len, std::size_t max_len,
                        std::size_t max_request) noexcept;

// Raises the reason for a draw from `pool` that failed with `rc`. For "no
// usable entropy source" outside an ASYNC job the detail names each source
// and why it is out (status, errno; the device's path), e.g. `device
// /tmp: absent (Is a directory)`. Inside a job the reason alone: a format
// goes through BIO_vsnprintf, too deep for a job's small stack (errors.h).
void raise_draw_error(const OSSL_CORE_HANDLE* handle, const pool::Pool* pool,
                      pool::Errc rc) noexcept;

// Raises kReasonStrengthTooHigh when `strength` exceeds 256 bits.
bool check_strength(const OSSL_CORE_HANDLE* handle, unsigned int strength) noexcept;

// generate's arguments: false (raised) for a NULL buffer or a length above
// max_request. A zero length is valid (nothing to do).
bool check_output(const OSSL_CORE_HANDLE* handle, const unsigned char* out,
                  std::size_t outlen, std::size_t max_request) noexcept;

// The start of both algorithms' get_ctx_params: max_request, then (unless
// that was all EVP asked, as it does before every generate) state and
// strength. `state` is the instance's; a pool that is not running or has
// failed turns READY into ERROR.
enum class CommonParams : std::uint8_t { failed, done, more };
CommonParams get_common_params(OSSL_PARAM params[], std::size_t max_request,
                               int state, const pool::Pool* pool) noexcept;

// Dispatch functions both algorithms share; Ctx has `handle` and `lock`.
template <class Ctx>
int enable_locking_fn(void* vctx) {
  Ctx* c = static_cast<Ctx*>(vctx);
  return c->lock.enable(c->handle) ? 1 : 0;
}
template <class Ctx>
int lock_fn(void* vctx) {
  Ctx* c = static_cast<Ctx*>(vctx);
  return c->lock.lock(c->handle) ? 1 : 0;
}
template <class Ctx>
void unlock_fn(void* vctx) {
  static_cast<Ctx*>(vctx)->lock.unlock();
}
// get_seed's buffers come from OPENSSL_secure_malloc.
void clear_seed_fn(void* vctx, unsigned char* out, std::size_t outlen) noexcept;

}  // namespace seedpool::provider

// Dispatch table entries.
#define SEEDPOOL_FN(id, f) {id, reinterpret_cast<void (*)(void)>(f)}
