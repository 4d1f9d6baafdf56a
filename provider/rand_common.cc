#include "provider/rand_common.h"

#include <openssl/async.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstring>
#include <new>
#include <string>

#include "provider/errors.h"

namespace seedpool::provider {

bool InstanceLock::enable(const OSSL_CORE_HANDLE* handle) noexcept {
  if (mu_) return true;
  mu_.reset(new (std::nothrow) std::mutex);
  if (!mu_) {
    SEEDPOOL_RAISE(handle, kReasonOutOfMemory);
    return false;
  }
  return true;
}

bool InstanceLock::lock(const OSSL_CORE_HANDLE* handle) noexcept {
  if (!mu_) return true;
  try {
    mu_->lock();
  } catch (...) {  // std::system_error: no exception crosses into libcrypto
    SEEDPOOL_RAISE(handle, kReasonInternal, "cannot take instance lock");
    return false;
  }
  return true;
}

std::size_t seed_length(const OSSL_CORE_HANDLE* handle, int entropy,
                        std::size_t min_len, std::size_t max_len,
                        std::size_t max_request) noexcept {
  if (entropy < 0 || static_cast<unsigned int>(entropy) > 2 * kStrengthBits) {
    SEEDPOOL_RAISE(handle, kReasonStrengthTooHigh,
                   "asked for %d bits of entropy", entropy);
    return 0;
  }
  std::size_t len = (static_cast<std::size_t>(entropy) + 7) / 8;
  if (len < min_len) len = min_len;
  if (len == 0 || len > max_len || len > max_request) {
    SEEDPOOL_RAISE(handle, kReasonRequestTooLarge,
                   "seed of %d bits in %zu to %zu bytes", entropy, min_len,
                   max_len);
    return 0;
  }
  return len;
}

void raise_draw_error(const OSSL_CORE_HANDLE* handle, const pool::Pool* pool,
                      pool::Errc rc) noexcept {
  const Reason reason = reason_for(rc);
  if (rc != pool::Errc::no_usable_source || pool == nullptr ||
      ASYNC_get_current_job() != nullptr) {
    SEEDPOOL_RAISE(handle, reason);
    return;
  }
  try {
    const pool::Stats st = pool->stats();
    std::string detail;
    for (const pool::SourceStats& src : st.sources) {
      if (!detail.empty()) detail += "; ";
      detail += src.name;
      if (src.name == "device" && !pool->config().device_path.empty())
        detail += " " + pool->config().device_path;
      detail += ": ";
      detail += pool::source_status_name(src.status);
      if (src.last_errno != 0) {
        detail += " (";
        detail += std::strerror(src.last_errno);
        detail += ")";
      }
    }
    SEEDPOOL_RAISE(handle, reason, "sources: %s", detail.c_str());
  } catch (...) {
    SEEDPOOL_RAISE(handle, reason);
  }
}

bool check_strength(const OSSL_CORE_HANDLE* handle, unsigned int strength) noexcept {
  if (strength <= kStrengthBits) return true;
  SEEDPOOL_RAISE(handle, kReasonStrengthTooHigh, "asked for %u bits", strength);
  return false;
}

bool check_output(const OSSL_CORE_HANDLE* handle, const unsigned char* out,
                  std::size_t outlen, std::size_t max_request) noexcept {
  if (outlen == 0) return true;
  if (out == nullptr) {
    SEEDPOOL_RAISE(handle, kReasonInvalidArgument, "NULL output buffer");
    return false;
  }
  if (outlen > max_request) {
    SEEDPOOL_RAISE(handle, kReasonRequestTooLarge,
                   "%zu bytes, at most %zu per call", outlen, max_request);
    return false;
  }
  return true;
}

CommonParams get_common_params(OSSL_PARAM params[], std::size_t max_request,
                               int state, const pool::Pool* pool) noexcept {
  OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_MAX_REQUEST);
  if (p != nullptr && !OSSL_PARAM_set_size_t(p, max_request))
    return CommonParams::failed;
  // EVP asks only max_request on each generate: answer that without more.
  if (p == params && params[1].key == nullptr) return CommonParams::done;
  if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STATE)) != nullptr) {
    if (state == EVP_RAND_STATE_READY &&
        (pool == nullptr || pool->health() == pool::Health::failed))
      state = EVP_RAND_STATE_ERROR;
    if (!OSSL_PARAM_set_int(p, state)) return CommonParams::failed;
  }
  if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STRENGTH)) != nullptr &&
      !OSSL_PARAM_set_uint(p, kStrengthBits))
    return CommonParams::failed;
  return CommonParams::more;
}

void clear_seed_fn(void* /*vctx*/, unsigned char* out, std::size_t outlen) noexcept {
  OPENSSL_secure_clear_free(out, outlen);
}

}  // namespace seedpool::provider
