#include "provider/stats_params.h"

#include <string>

#include "provider/random_bytes.h"

namespace seedpool::provider {
namespace {

int set_u64(OSSL_PARAM params[], const char* key, std::uint64_t v) {
  OSSL_PARAM* p = OSSL_PARAM_locate(params, key);
  return p == nullptr || OSSL_PARAM_set_uint64(p, v);
}

}  // namespace

std::string format_gatherer(const pool::Stats& s) {
  std::string out = s.gatherer;
  if (!s.gatherer_fallback_reason.empty())
    out += " (" + s.gatherer_fallback_reason + ")";
  return out;
}

std::string format_source_bytes(const pool::Stats& s) {
  std::string out;
  for (const pool::SourceStats& src : s.sources) {
    if (!out.empty()) out += ',';
    out += src.name + ":" + std::to_string(src.bytes_read);
  }
  return out;
}

std::string format_memory(const pool::Stats& s) {
  return std::string("mlock=") + (s.memory_locked ? "yes" : "no") +
         ",dontdump=" + (s.dump_excluded ? "yes" : "no");
}

std::string format_seed_file(const pool::Stats& s) {
  const pool::SeedFileStats& f = s.seed_file;
  if (f.load.empty()) return "none";
  auto or_dash = [](const std::string& v) { return v.empty() ? std::string("-") : v; };
  return "load=" + f.load + ",credit=" + or_dash(f.credit) +
         ",bits=" + std::to_string(f.bits_credited) +
         ",replace=" + or_dash(f.replace) + ",save=" + or_dash(f.save);
}

int get_stats_params(const pool::Pool& pool, OSSL_PARAM params[]) noexcept {
  // Cheap values first: this runs on every EVP_RAND_generate (EVP asks
  // max_request each call), so nothing here may lock or allocate unless the
  // caller asked for something else.
  const pool::Config& cfg = pool.config();
  if (!set_u64(params, "entropy_available", pool.entropy_available_bits()) ||
      !set_u64(params, "pool_size", cfg.pool_size_bits) ||
      !set_u64(params, "read_wakeup_threshold", cfg.read_wakeup_threshold_bits) ||
      !set_u64(params, "write_wakeup_threshold", cfg.write_wakeup_threshold_bits))
    return 0;
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, "health");
      p != nullptr && !OSSL_PARAM_set_utf8_string(p, pool::health_name(pool.health())))
    return 0;
  static constexpr const char* kSnapshotKeys[] = {
      "bytes_served",    "requests_served", "requests_failed",
      "requests_timed_out", "requests_paused", "requests_resumed",
      "paused_timed_out", "async_callbacks", "requests_queued",
      "gatherer_wakeups", "sources",         "source_bytes", "gatherer",
      "memory",          "seed_file", "random_provider_calls",
      "random_provider_bytes"};
  bool want_snapshot = false;
  for (const char* k : kSnapshotKeys)
    want_snapshot = want_snapshot || OSSL_PARAM_locate(params, k) != nullptr;
  if (!want_snapshot) return 1;
  try {
    const pool::Stats s = pool.stats();
    if (!set_u64(params, "bytes_served", s.bytes_served) ||
        !set_u64(params, "requests_served", s.requests_served) ||
        !set_u64(params, "requests_failed", s.requests_failed) ||
        !set_u64(params, "requests_timed_out", s.requests_timed_out) ||
        !set_u64(params, "requests_paused", s.requests_paused) ||
        !set_u64(params, "requests_resumed", s.requests_resumed) ||
        !set_u64(params, "paused_timed_out", s.paused_timed_out) ||
        !set_u64(params, "async_callbacks", s.async_callbacks) ||
        !set_u64(params, "requests_queued", s.requests_queued) ||
        !set_u64(params, "gatherer_wakeups", s.gatherer_wakeups))
      return 0;
    // OpenSSL 3.5's random_provider (process-wide, like the pool).
    if (OSSL_PARAM_locate(params, "random_provider_calls") != nullptr ||
        OSSL_PARAM_locate(params, "random_provider_bytes") != nullptr) {
      const RandomProviderStats rs = random_provider_stats();
      if (!set_u64(params, "random_provider_calls", rs.calls) ||
          !set_u64(params, "random_provider_bytes", rs.bytes))
        return 0;
    }
    auto set_str = [&](const char* key, const std::string& v) {
      OSSL_PARAM* p = OSSL_PARAM_locate(params, key);
      return p == nullptr || OSSL_PARAM_set_utf8_string(p, v.c_str());
    };
    if (OSSL_PARAM_locate(params, "sources") != nullptr &&
        !set_str("sources", pool::format_sources(s)))
      return 0;
    if (OSSL_PARAM_locate(params, "source_bytes") != nullptr &&
        !set_str("source_bytes", format_source_bytes(s)))
      return 0;
    if (!set_str("gatherer", format_gatherer(s)) ||
        !set_str("memory", format_memory(s)) ||
        !set_str("seed_file", format_seed_file(s)))
      return 0;
    return 1;
  } catch (...) {
    return 0;
  }
}

}  // namespace seedpool::provider
