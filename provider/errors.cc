#include "provider/errors.h"

#include <openssl/core_dispatch.h>

#include <cstdarg>

namespace seedpool::provider {
namespace {

OSSL_FUNC_core_new_error_fn* g_new_error = nullptr;
OSSL_FUNC_core_set_error_debug_fn* g_set_error_debug = nullptr;
OSSL_FUNC_core_vset_error_fn* g_vset_error = nullptr;

#define REASON(code, text) \
  { static_cast<unsigned int>(code), const_cast<char*>(text) }
const OSSL_ITEM kReasons[] = {
    REASON(kReasonSourceFailed, "entropy source failed"),
    REASON(kReasonTimedOut, "timed out waiting for entropy"),
    REASON(kReasonRequestTooLarge, "request too large"),
    REASON(kReasonInvalidArgument, "invalid argument"),
    REASON(kReasonNotInstantiated, "not instantiated"),
    REASON(kReasonStrengthTooHigh, "requested strength exceeds 256 bits"),
    REASON(kReasonBadConfig, "bad configuration value"),
    REASON(kReasonNoUsableSource, "no usable entropy source"),
    REASON(kReasonConditionerFailed, "conditioning hash failed"),
    REASON(kReasonConfigConflict,
           "pool already running with a different configuration"),
    REASON(kReasonEntropyShort, "not enough entropy in the pool"),
    REASON(kReasonOutOfMemory, "out of memory"),
    REASON(kReasonInternal, "internal error"),
    REASON(kReasonGathererFailed, "cannot start the gatherer thread"),
    REASON(kReasonCancelled, "request cancelled"),
    REASON(kReasonCipherFailed, "generator cipher failed"),
    REASON(kReasonReseedRequired, "generator must be reseeded first"),
    REASON(kReasonBadParam, "bad parameter value"),
    REASON(kReasonWaitFdFailed, "cannot create the ASYNC wait fd"),
    REASON(kReasonUnknownConfigKey, "unknown configuration key"),
    {0, nullptr},
};
#undef REASON

}  // namespace

const OSSL_ITEM* reason_strings() noexcept { return kReasons; }

void init_error_upcalls(const OSSL_DISPATCH* in) noexcept {
  for (; in != nullptr && in->function_id != 0; ++in) {
    switch (in->function_id) {
      case OSSL_FUNC_CORE_NEW_ERROR:
        g_new_error = OSSL_FUNC_core_new_error(in);
        break;
      case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
        g_set_error_debug = OSSL_FUNC_core_set_error_debug(in);
        break;
      case OSSL_FUNC_CORE_VSET_ERROR:
        g_vset_error = OSSL_FUNC_core_vset_error(in);
        break;
      default:
        break;
    }
  }
}

void raise(const OSSL_CORE_HANDLE* handle, const char* file, int line,
           const char* func, std::uint32_t reason, const char* fmt,
           ...) noexcept {
  if (g_new_error == nullptr || g_vset_error == nullptr) return;
  g_new_error(handle);
  if (g_set_error_debug != nullptr) g_set_error_debug(handle, file, line, func);
  va_list ap;
  va_start(ap, fmt);
  g_vset_error(handle, reason, fmt, ap);
  va_end(ap);
}

Reason reason_for(pool::Errc e) noexcept {
  switch (e) {
    case pool::Errc::ok: return kReasonInternal;
    case pool::Errc::invalid_argument: return kReasonInvalidArgument;
    case pool::Errc::request_too_large: return kReasonRequestTooLarge;
    case pool::Errc::entropy_short: return kReasonEntropyShort;
    case pool::Errc::timed_out: return kReasonTimedOut;
    case pool::Errc::source_failed: return kReasonSourceFailed;
    case pool::Errc::no_usable_source: return kReasonNoUsableSource;
    case pool::Errc::conditioner_failed: return kReasonConditionerFailed;
    case pool::Errc::config_conflict: return kReasonConfigConflict;
    case pool::Errc::out_of_memory: return kReasonOutOfMemory;
    case pool::Errc::gatherer_failed: return kReasonGathererFailed;
    case pool::Errc::cancelled: return kReasonCancelled;
    case pool::Errc::cipher_failed: return kReasonCipherFailed;
    case pool::Errc::reseed_required: return kReasonReseedRequired;
    case pool::Errc::wait_fd_failed: return kReasonWaitFdFailed;
    // A queued request is not a failure; reaching here would be a bug.
    case pool::Errc::pending: return kReasonInternal;
  }
  return kReasonInternal;
}

}  // namespace seedpool::provider
