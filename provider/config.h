// Turns the provider's openssl.cnf section (read through the core's
// get_params) into a validated pool::Config.
#pragma once

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include <string>
#include <string_view>

#include "pool/config.h"
#include "provider/errors.h"

namespace seedpool::provider {

// A key=value lookup; returns nullptr when the key is not set.
using ConfigLookup = const char* (*)(void* arg, const char* key);

// Parses every key seedpool knows. On error returns false and sets `error`
// to a message that names the key and the offending value. Without a
// `sources` key, the default list's probed sources go to `probed` when
// given (pool::available_sources), for the pool to use.
bool parse_config(ConfigLookup lookup, void* arg, pool::Config& out,
                  std::string& error, pool::ProbedSources* probed = nullptr);

// Reads the keys through the core's get_params for `handle`, then looks
// for keys seedpool does not know (conf_keys.h) unless `check_unknown_keys
// = no`. On error `reason` says which: kReasonBadConfig or
// kReasonUnknownConfigKey. `probed` as for parse_config.
bool read_core_config(OSSL_FUNC_core_get_params_fn* core_get_params,
                      const OSSL_CORE_HANDLE* handle, pool::Config& out,
                      std::string& error, Reason& reason,
                      pool::ProbedSources* probed = nullptr);

}  // namespace seedpool::provider
