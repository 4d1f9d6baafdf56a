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
      OSSL_PARAM_uint64("requests_resumed", nullptr),                \
      OSSL_PARAM_uint64("paused_timed_out", nullptr),                \
      OSSL_PARAM_uint64("async_callbacks", nullptr),                 \
      OSSL_PARAM_uint64("requests_queued", nullptr),                 \
      OSSL_PARAM_uint64("read_wakeup_threshold", nullptr),           \
      OSSL_PARAM_uint64("write_wakeup_threshold", nullptr),          \
      OSSL_PARAM_uint64("gatherer_wakeups", nullptr),                \
      OSSL_PARAM_uint64("random_provider_calls", nullptr),           \
      OSSL_PARAM_uint64("random_provider_bytes", nullptr),           \
      OSSL_PARAM_utf8_string("health", nullptr, 0),                  \
      OSSL_PARAM_utf8_string("sources", nullptr, 0),                 \
      OSSL_PARAM_utf8_string("source_bytes", nullptr, 0),            \
      OSSL_PARAM_utf8_string("gatherer", nullptr, 0),                \
      OSSL_PARAM_utf8_string("memory", nullptr, 0),                  \
      OSSL_PARAM_utf8_string("seed_file", nullptr, 0)

namespace seedpool::provider {

// "io_uring", "poll (io_uring_queue_init: Operation not permitted)",
// "stopped": which path the gatherer runs and, for poll, why.
std::string format_gatherer(const pool::Stats& s);
// "getrandom:4104,hwrng:64": raw bytes read from each source.
std::string format_source_bytes(const pool::Stats& s);
// "mlock=yes,dontdump=yes": whether the pool's state memory is locked and
// kept out of core dumps.
std::string format_memory(const pool::Stats& s);
// "none", or "load=loaded,credit=allowed,bits=4096,replace=ok,save=..."
std::string format_seed_file(const pool::Stats& s);

// Fills whichever statistics params are present. Returns 0 if one could not
// be set (wrong type, buffer too small).
int get_stats_params(const pool::Pool& pool, OSSL_PARAM params[]) noexcept;

}  // namespace seedpool::provider
