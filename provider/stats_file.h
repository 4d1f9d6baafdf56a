// SEEDPOOL_STATS_FILE=path: at provider teardown (OPENSSL_cleanup, at exit
// for the openssl CLI) append one line of pool statistics to `path`. It is
// how a user -- or a test -- proves that a short-lived process such as
// `openssl rand` really drew from seedpool when seedpool is only the seed
// source, which OpenSSL never reports. No secrets: counters only.
#pragma once

#include <string>

#include "pool/pool.h"

namespace seedpool::provider {

std::string format_stats_line(const pool::Pool& pool);
void write_stats_file(const pool::Pool& pool) noexcept;

}  // namespace seedpool::provider
