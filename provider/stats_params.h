// The pool statistics as gettable RAND ctx params, shared by every seedpool
// algorithm. They describe the process-wide pool, so any instance reports
// them; `openssl list -verbose -random-instances` prints them.
#pragma once

#include <openssl/core.h>
#include <openssl/params.h>

#include "pool/pool.h"

// Spliced into each algorithm's gettable table.
#define SEEDPOOL_STATS_GETTABLES                                     \
  OSSL_PARAM_uint64("entropy_available", nullptr),                   \
      OSSL_PARAM_uint64("pool_size", nullptr),                       \
      OSSL_PARAM_uint64("bytes_served", nullptr),                    \
      OSSL_PARAM_uint64("requests_served", nullptr),                 \
      OSSL_PARAM_uint64("requests_failed", nullptr),                 \
      OSSL_PARAM_uint64("requests_timed_out", nullptr),              \
      OSSL_PARAM_uint64("requests_paused", nullptr),                 \
      OSSL_PARAM_utf8_string("health", nullptr, 0),                  \
      OSSL_PARAM_utf8_string("sources", nullptr, 0)

namespace seedpool::provider {

// Fills whichever statistics params are present. Returns 0 if one could not
// be set (wrong type, buffer too small).
int get_stats_params(const pool::Pool& pool, OSSL_PARAM params[]) noexcept;

}  // namespace seedpool::provider
