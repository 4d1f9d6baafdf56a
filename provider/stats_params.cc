#include "provider/stats_params.h"

#include <string>

namespace seedpool::provider {
namespace {

int set_u64(OSSL_PARAM params[], const char* key, std::uint64_t v) {
  OSSL_PARAM* p = OSSL_PARAM_locate(params, key);
  return p == nullptr || OSSL_PARAM_set_uint64(p, v);
}

}  // namespace

int get_stats_params(const pool::Pool& pool, OSSL_PARAM params[]) noexcept {
  // Cheap counters first: this runs on every EVP_RAND_generate (EVP asks
  // max_request each call), so nothing here may lock or allocate unless the
  // caller asked for a string.
  if (!set_u64(params, "entropy_available", pool.entropy_available_bits()) ||
      !set_u64(params, "pool_size", pool.config().pool_size_bits))
    return 0;
  const bool want_counters =
      OSSL_PARAM_locate(params, "bytes_served") != nullptr ||
      OSSL_PARAM_locate(params, "requests_served") != nullptr ||
      OSSL_PARAM_locate(params, "requests_failed") != nullptr ||
      OSSL_PARAM_locate(params, "requests_timed_out") != nullptr ||
      OSSL_PARAM_locate(params, "requests_paused") != nullptr ||
      OSSL_PARAM_locate(params, "sources") != nullptr;
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, "health");
      p != nullptr && !OSSL_PARAM_set_utf8_string(p, pool::health_name(pool.health())))
    return 0;
  if (!want_counters) return 1;
  try {
    const pool::Stats s = pool.stats();
    if (!set_u64(params, "bytes_served", s.bytes_served) ||
        !set_u64(params, "requests_served", s.requests_served) ||
        !set_u64(params, "requests_failed", s.requests_failed) ||
        !set_u64(params, "requests_timed_out", s.requests_timed_out) ||
        !set_u64(params, "requests_paused", s.requests_paused))
      return 0;
    if (OSSL_PARAM* p = OSSL_PARAM_locate(params, "sources"); p != nullptr) {
      const std::string list = pool::format_sources(s);
      if (!OSSL_PARAM_set_utf8_string(p, list.c_str())) return 0;
    }
    return 1;
  } catch (...) {
    return 0;
  }
}

}  // namespace seedpool::provider
