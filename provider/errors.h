// seedpool's error reasons and how they reach OpenSSL's error queue: through
// the core's error upcalls (core_new_error / core_set_error_debug /
// core_vset_error), under the library number the core gave this provider.
#pragma once

#include <openssl/core.h>

#include <cstdint>

#include "pool/errc.h"

namespace seedpool::provider {

enum Reason : std::uint32_t {
  kReasonSourceFailed = 1,
  kReasonTimedOut,
  kReasonRequestTooLarge,
  kReasonInvalidArgument,
  kReasonNotInstantiated,
  kReasonStrengthTooHigh,
  kReasonBadConfig,
  kReasonNoUsableSource,
  kReasonConditionerFailed,
  kReasonConfigConflict,
  kReasonEntropyShort,
  kReasonOutOfMemory,
  kReasonInternal,
  kReasonGathererFailed,
  kReasonCancelled,
  kReasonCipherFailed,
  kReasonReseedRequired,
  kReasonBadParam,
  kReasonWaitFdFailed,
  kReasonUnknownConfigKey,
};

// The table handed to the core by get_reason_strings.
const OSSL_ITEM* reason_strings() noexcept;

// Captures the core's error upcalls; called once from OSSL_provider_init.
void init_error_upcalls(const OSSL_DISPATCH* in) noexcept;

// Raises `reason` with an optional printf-style detail. A format goes
// through BIO_vsnprintf; code that may run inside an ASYNC job (small job
// stack) raises without one, the reason string alone.
void raise(const OSSL_CORE_HANDLE* handle, const char* file, int line,
           const char* func, std::uint32_t reason, const char* fmt = nullptr,
           ...) noexcept;

Reason reason_for(pool::Errc e) noexcept;

}  // namespace seedpool::provider

#define SEEDPOOL_RAISE(handle, reason, ...)                                \
  ::seedpool::provider::raise((handle), __FILE__, __LINE__, __func__,      \
                              (reason) __VA_OPT__(, ) __VA_ARGS__)
