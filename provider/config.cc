#include "provider/config.h"

#include <openssl/core_names.h>
#include <openssl/params.h>

#include <array>
#include <charconv>
#include <climits>
#include <limits>
#include <string>

#include "provider/conf_keys.h"

namespace seedpool::provider {
namespace {

constexpr std::array kAllSources = {pool::SourceKind::getrandom,
                                    pool::SourceKind::hwrng,
                                    pool::SourceKind::rdseed,
                                    pool::SourceKind::device};

std::string bad(const char* key, std::string_view value, const char* why) {
  std::string s = "invalid value for ";
  s += key;
  s += ": \"";
  s += value;
  s += "\" (";
  s += why;
  s += ")";
  return s;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Strict unsigned decimal: no sign, no blanks inside, no trailing text.
bool parse_u64(std::string_view v, std::uint64_t max, std::uint64_t& out) {
  v = trim(v);
  if (v.empty() || v.front() < '0' || v.front() > '9') return false;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc{} && p == v.data() + v.size() && out <= max;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

// yes/no, true/false, on/off, 1/0, in any case.
bool parse_bool(std::string_view v, bool& out) {
  v = trim(v);
  for (const char* t : {"yes", "true", "on", "1"})
    if (iequals(v, t)) {
      out = true;
      return true;
    }
  for (const char* f : {"no", "false", "off", "0"})
    if (iequals(v, f)) {
      out = false;
      return true;
    }
  return false;
}

// Longest seed file name: seed_file.cc writes through a temporary file named
// `<name>.tmp.<16 hex digits>` in the same directory, which must fit in
// NAME_MAX. Checked here so that a name that can never be written is a
// configuration error, not a silent status at every start.
constexpr std::size_t kMaxSeedFileNameLen = NAME_MAX - (sizeof(".tmp.") - 1) - 16;

// An absolute path whose last component names a file. The seed file is
// written again at teardown, long after start: a relative path would follow
// the process's current directory in between.
bool valid_seed_file_path(std::string_view v) {
  if (v.empty() || v.front() != '/' || v.size() >= PATH_MAX) return false;
  const std::string_view name = v.substr(v.rfind('/') + 1);
  return !name.empty() && name != "." && name != ".." &&
         name.size() <= kMaxSeedFileNameLen;
}

}  // namespace

bool parse_config(ConfigLookup lookup, void* arg, pool::Config& out,
                  std::string& error, pool::ProbedSources* probed) {
  pool::Config cfg;
  // <source>_credit, for every source kind (also for one not listed: a
  // bad value is an error either way).
  std::array<std::uint32_t, kAllSources.size()> credit{};
  for (std::size_t i = 0; i < kAllSources.size(); ++i) {
    credit[i] = pool::default_credit_bits_per_byte(kAllSources[i]);
    const std::string key = std::string(pool::source_name(kAllSources[i])) + "_credit";
    if (const char* v = lookup(arg, key.c_str())) {
      std::uint64_t n = 0;
      if (!parse_u64(v, 8, n)) {
        error = bad(key.c_str(), v, "expected bits per byte, 0 to 8");
        return false;
      }
      credit[i] = static_cast<std::uint32_t>(n);
    }
  }
  auto credit_of = [&](pool::SourceKind k) {
    for (std::size_t i = 0; i < kAllSources.size(); ++i)
      if (kAllSources[i] == k) return credit[i];
    return 0u;
  };
  if (const char* v = lookup(arg, "device")) {
    if (trim(v).empty()) {
      error = bad("device", v, "expected the path of a character device, FIFO or file");
      return false;
    }
    cfg.device_path = std::string(trim(v));
  }
  if (const char* v = lookup(arg, "sources")) {
    cfg.sources.clear();
    std::string_view rest = v;
    if (trim(rest).empty()) {
      error = bad("sources", v, "expected a comma list of source names");
      return false;
    }
    while (true) {
      std::size_t comma = rest.find(',');
      std::string_view name = trim(rest.substr(0, comma));
      pool::SourceKind kind;
      if (!pool::parse_source_name(name, kind)) {
        error = bad("sources", v,
                    "unknown source; known: getrandom, hwrng, rdseed, device");
        return false;
      }
      for (const pool::SourceConfig& s : cfg.sources)
        if (s.kind == kind) {
          error = bad("sources", v, "a source is listed twice");
          return false;
        }
      cfg.sources.push_back(pool::SourceConfig{kind, credit_of(kind)});
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  } else {
    // "Default: those available" -- plus the device when a path is set.
    cfg.sources = pool::available_sources(probed);
    for (pool::SourceConfig& s : cfg.sources) s.credit_bits_per_byte = credit_of(s.kind);
    if (!cfg.device_path.empty())
      cfg.sources.push_back({pool::SourceKind::device, credit_of(pool::SourceKind::device)});
  }
  if (const char* v = lookup(arg, "block_timeout_ms")) {
    std::uint64_t n = 0;
    if (!parse_u64(v, static_cast<std::uint64_t>(pool::Config::kMaxTimeout.count()), n)) {
      error = bad("block_timeout_ms", v, "expected milliseconds, 0 to 3600000");
      return false;
    }
    cfg.block_timeout = std::chrono::milliseconds{n};
  }
  if (const char* v = lookup(arg, "async_timeout_ms")) {
    std::uint64_t n = 0;
    if (!parse_u64(v, static_cast<std::uint64_t>(pool::Config::kMaxTimeout.count()), n)) {
      error = bad("async_timeout_ms", v, "expected milliseconds, 0 to 3600000");
      return false;
    }
    cfg.async_timeout = std::chrono::milliseconds{n};
  }
  if (const char* v = lookup(arg, "pool_size")) {
    std::uint64_t n = 0;
    if (!parse_u64(v, pool::Config::kMaxPoolSizeBits, n) ||
        n < pool::Config::kMinPoolSizeBits) {
      error = bad("pool_size", v, "expected bits, 1024 to 65536");
      return false;
    }
    cfg.pool_size_bits = static_cast<std::uint32_t>(n);
  }
  // The thresholds are bounded by the pool size, so they come after it: a
  // value above it is refused here, naming the key and the value (validate()
  // would name only the key).
  const std::string up_to_size = std::to_string(cfg.pool_size_bits);
  if (const char* v = lookup(arg, "read_wakeup_threshold")) {
    std::uint64_t n = 0;
    if (!parse_u64(v, cfg.pool_size_bits, n) || n < 8) {
      const std::string why = "expected bits, 8 to pool_size (" + up_to_size + ")";
      error = bad("read_wakeup_threshold", v, why.c_str());
      return false;
    }
    cfg.read_wakeup_threshold_bits = static_cast<std::uint32_t>(n);
  }
  if (const char* v = lookup(arg, "write_wakeup_threshold")) {
    std::uint64_t n = 0;
    if (!parse_u64(v, cfg.pool_size_bits, n)) {
      const std::string why = "expected bits, 0 to pool_size (" + up_to_size + ")";
      error = bad("write_wakeup_threshold", v, why.c_str());
      return false;
    }
    cfg.write_wakeup_threshold_bits = static_cast<std::uint32_t>(n);
  }
  if (const char* v = lookup(arg, "seed_file")) {
    const std::string_view path = trim(v);
    if (!valid_seed_file_path(path)) {
      error = bad("seed_file", v,
                  "expected the absolute path of a file, e.g. "
                  "/var/lib/seedpool/seed");
      return false;
    }
    cfg.seed_file = std::string(path);
  }
  if (const char* v = lookup(arg, "seed_file_trusted")) {
    if (!parse_bool(v, cfg.seed_file_trusted)) {
      error = bad("seed_file_trusted", v, "expected yes or no");
      return false;
    }
  }
  // Every source credited 0: name the <source>_credit keys that say so
  // (validate() names only `sources`, which may not even be set).
  bool credited = false;
  for (const pool::SourceConfig& s : cfg.sources)
    credited = credited || s.credit_bits_per_byte > 0;
  if (!cfg.sources.empty() && !credited) {
    std::string keys;
    for (const pool::SourceConfig& s : cfg.sources) {
      if (!keys.empty()) keys += ", ";
      keys += std::string(pool::source_name(s.kind)) + "_credit = 0";
    }
    error = "invalid configuration: sources: every source is credited 0 bits (" +
            keys + "), so nothing could ever be served";
    return false;
  }
  if (std::string why = cfg.validate(); !why.empty()) {
    error = "invalid configuration: " + why;
    return false;
  }
  out = std::move(cfg);
  return true;
}

namespace {

struct CoreLookup {
  OSSL_FUNC_core_get_params_fn* get_params;
  const OSSL_CORE_HANDLE* handle;
};

const char* core_lookup(void* arg, const char* key) {
  auto* c = static_cast<CoreLookup*>(arg);
  // The core hands provider config values out as UTF8 pointers into its
  // own storage (crypto/provider_core.c, core_get_params).
  const char* value = nullptr;
  OSSL_PARAM params[2] = {
      OSSL_PARAM_construct_utf8_ptr(key, const_cast<char**>(&value), 0),
      OSSL_PARAM_construct_end()};
  if (!c->get_params(c->handle, params)) return nullptr;
  return OSSL_PARAM_modified(&params[0]) ? value : nullptr;
}

}  // namespace

bool read_core_config(OSSL_FUNC_core_get_params_fn* core_get_params,
                      const OSSL_CORE_HANDLE* handle, pool::Config& out,
                      std::string& error, Reason& reason,
                      pool::ProbedSources* probed) {
  reason = kReasonBadConfig;
  if (core_get_params == nullptr) {
    out = pool::Config{};
    return true;
  }
  CoreLookup c{core_get_params, handle};
  // Into a local first: a refusal leaves `out` as it was.
  pool::Config cfg;
  if (!parse_config(core_lookup, &c, cfg, error, probed)) return false;
  // Misspelt keys (conf_keys.h), unless the section turns the check off.
  bool check = true;
  if (const char* v = core_lookup(&c, "check_unknown_keys");
      v != nullptr && !parse_bool(v, check)) {
    error = bad("check_unknown_keys", v, "expected yes or no");
    return false;
  }
  const char* name = core_lookup(&c, OSSL_PROV_PARAM_CORE_PROV_NAME);
  if (check && name != nullptr &&
      !check_default_config_file(name, core_lookup, &c, error)) {
    reason = kReasonUnknownConfigKey;
    return false;
  }
  out = std::move(cfg);
  return true;
}

}  // namespace seedpool::provider
