// fuzz_config: the provider's openssl.cnf keys, read through the core's
// get_params (provider/config.h: read_core_config), with any keys present or
// absent and any bytes as values. The fake core answers as OpenSSL 3.0's
// core_get_params does (crypto/provider_core.c): every configured name/value
// pair whose name the provider asks for is handed out as a UTF8 pointer.
//
// Checked on every input:
//  - never a crash, a leak or UB;
//  - accepted: the Config passes pool::Config::validate(), and each key that
//    was set is what the Config holds (a model of README's table);
//  - refused: the error names a key that was set (for a bad value:
//    `invalid value for <key>: "<value>"`, with that key's value), the
//    model agrees that the configuration is bad, and `out` is untouched.
//
// Input: lines, `key=value` (split at the first '='; the last line of a key
// wins, as in openssl.cnf). A value ends at the end of its line; a NUL in it
// ends it early, as it would in the C string the core hands out. A line
// `!fail=<key>` makes the core's get_params fail for that key; a first line
// `!nocore` passes no get_params at all (the provider then takes defaults).
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/params.h>

#include <cctype>
#include <climits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pool/config.h"
#include "provider/config.h"
#include "test/fuzz/fuzz_util.h"

namespace seedpool::fuzz {
namespace {

using Keys = std::map<std::string, std::string>;

// What the fake core hands out (the provider section of openssl.cnf).
struct FakeCore {
  Keys keys;
  std::set<std::string> failing;  // get_params fails when asked for these
  std::set<std::string> asked;    // every key the provider asked for
};

// OSSL_FUNC_core_get_params_fn. The handle is our FakeCore.
int fake_core_get_params(const OSSL_CORE_HANDLE* handle, OSSL_PARAM params[]) {
  auto* core = reinterpret_cast<FakeCore*>(const_cast<OSSL_CORE_HANDLE*>(handle));
  // The core's own keys first, as in provider_core.c.
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, "openssl-version"))
    if (!OSSL_PARAM_set_utf8_ptr(p, "3.0.19")) return 0;
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, "provider-name"))
    if (!OSSL_PARAM_set_utf8_ptr(p, "seedpool")) return 0;
  for (OSSL_PARAM* p = params; p->key != nullptr; ++p) {
    core->asked.insert(p->key);
    if (core->failing.count(p->key)) return 0;
  }
  for (const auto& [k, v] : core->keys) {
    OSSL_PARAM* p = OSSL_PARAM_locate(params, k.c_str());
    if (p != nullptr && !OSSL_PARAM_set_utf8_ptr(p, v.c_str())) return 0;
  }
  return 1;
}

// --- A model of README's configuration table --------------------------------

constexpr const char* kSourceNames[] = {"getrandom", "hwrng", "rdseed", "device"};
constexpr const char* kKnownKeys[] = {
    "sources",          "device",           "getrandom_credit",
    "hwrng_credit",     "rdseed_credit",    "device_credit",
    "pool_size",        "block_timeout_ms", "read_wakeup_threshold",
    "write_wakeup_threshold", "seed_file",  "seed_file_trusted",
    "async_timeout_ms", "check_unknown_keys"};

std::string_view trim(std::string_view v) {  // blanks: space and tab
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Unsigned decimal within [lo, hi], surrounding blanks allowed.
std::optional<std::uint64_t> number(std::string_view v, std::uint64_t lo,
                                    std::uint64_t hi) {
  v = trim(v);
  if (v.empty()) return std::nullopt;
  std::uint64_t n = 0;
  for (char ch : v) {
    if (ch < '0' || ch > '9') return std::nullopt;
    if (n > (UINT64_MAX - 9) / 10) return std::nullopt;  // far out of range
    n = n * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  if (n < lo || n > hi) return std::nullopt;
  return n;
}

std::optional<bool> boolean(std::string_view v) {
  std::string s(trim(v));
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (s == "yes" || s == "true" || s == "on" || s == "1") return true;
  if (s == "no" || s == "false" || s == "off" || s == "0") return false;
  return std::nullopt;
}

int source_index(std::string_view name) {
  for (int i = 0; i < 4; ++i)
    if (name == kSourceNames[i]) return i;
  return -1;
}

// The keys as the provider sees them: C strings (a NUL ends a value).
const char* get(const Keys& keys, const char* k) {
  auto it = keys.find(k);
  return it == keys.end() ? nullptr : it->second.c_str();
}

// Whether README's table allows this configuration, and what it means.
// Returns nullopt when some value (or combination) is documented as bad.
std::optional<pool::Config> model(const Keys& keys) {
  pool::Config cfg;
  std::uint32_t credit[4] = {8, 4, 4, 0};
  for (int i = 0; i < 4; ++i) {
    const std::string key = std::string(kSourceNames[i]) + "_credit";
    if (const char* v = get(keys, key.c_str())) {
      auto n = number(v, 0, 8);
      if (!n) return std::nullopt;
      credit[i] = static_cast<std::uint32_t>(*n);
    }
  }
  if (const char* v = get(keys, "device")) {
    if (trim(v).empty()) return std::nullopt;
    cfg.device_path = std::string(trim(v));
  }
  if (const char* v = get(keys, "sources")) {
    cfg.sources.clear();
    std::string_view rest = v;
    std::set<int> seen;
    for (;;) {
      const std::size_t comma = rest.find(',');
      const int i = source_index(trim(rest.substr(0, comma)));
      if (i < 0 || !seen.insert(i).second) return std::nullopt;
      cfg.sources.push_back({static_cast<pool::SourceKind>(i), credit[i]});
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  } else {
    // "those available", plus the device when a path is set.
    cfg.sources = pool::available_sources();
    for (auto& s : cfg.sources) s.credit_bits_per_byte = credit[static_cast<int>(s.kind)];
    if (!cfg.device_path.empty())
      cfg.sources.push_back({pool::SourceKind::device, credit[3]});
  }
  if (const char* v = get(keys, "block_timeout_ms")) {
    auto n = number(v, 0, 3600000);
    if (!n) return std::nullopt;
    cfg.block_timeout = std::chrono::milliseconds{*n};
  }
  if (const char* v = get(keys, "async_timeout_ms")) {
    auto n = number(v, 0, 3600000);
    if (!n) return std::nullopt;
    cfg.async_timeout = std::chrono::milliseconds{*n};
  }
  if (const char* v = get(keys, "pool_size")) {
    auto n = number(v, 1024, 65536);
    if (!n) return std::nullopt;
    cfg.pool_size_bits = static_cast<std::uint32_t>(*n);
  }
  if (const char* v = get(keys, "read_wakeup_threshold")) {
    auto n = number(v, 8, cfg.pool_size_bits);
    if (!n) return std::nullopt;
    cfg.read_wakeup_threshold_bits = static_cast<std::uint32_t>(*n);
  }
  if (const char* v = get(keys, "write_wakeup_threshold")) {
    auto n = number(v, 0, cfg.pool_size_bits);
    if (!n) return std::nullopt;
    cfg.write_wakeup_threshold_bits = static_cast<std::uint32_t>(*n);
  }
  // Defaults that a smaller pool_size puts out of range are a bad
  // combination too.
  if (cfg.read_wakeup_threshold_bits > cfg.pool_size_bits ||
      cfg.write_wakeup_threshold_bits > cfg.pool_size_bits)
    return std::nullopt;
  if (const char* v = get(keys, "seed_file")) {
    // An absolute path of a file whose name leaves room for
    // `<name>.tmp.<16 hex>` within NAME_MAX.
    const std::string_view p = trim(v);
    if (p.empty() || p.front() != '/' || p.size() >= PATH_MAX) return std::nullopt;
    const std::string_view name = p.substr(p.rfind('/') + 1);
    if (name.empty() || name == "." || name == ".." || name.size() > NAME_MAX - 21)
      return std::nullopt;
    cfg.seed_file = std::string(p);
  }
  if (const char* v = get(keys, "seed_file_trusted")) {
    auto b = boolean(v);
    if (!b) return std::nullopt;
    cfg.seed_file_trusted = *b;
  }
  // Read after the pool's keys (provider/config.cc: read_core_config);
  // the unknown-key check itself needs the core's provider name, which this
  // fake core does not give, so it never runs here (config_test covers it).
  if (const char* v = get(keys, "check_unknown_keys"))
    if (!boolean(v)) return std::nullopt;
  // Combinations: something credited; device listed iff a path is set;
  // trust needs a file.
  bool credited = false, has_device = false;
  for (const auto& s : cfg.sources) {
    credited = credited || s.credit_bits_per_byte > 0;
    has_device = has_device || s.kind == pool::SourceKind::device;
  }
  if (!credited || has_device != !cfg.device_path.empty()) return std::nullopt;
  if (cfg.seed_file_trusted && cfg.seed_file.empty()) return std::nullopt;
  return cfg;
}

std::string show(const Keys& keys) {
  std::string s;
  for (const auto& [k, v] : keys) s += "\n    " + k + "=\"" + v + "\"";
  return s;
}

// A refusal must name one of the keys of README's table that were set.
bool names_a_set_key(const std::string& error, const Keys& keys) {
  for (const char* k : kKnownKeys)
    if (keys.count(k) && error.find(k) != std::string::npos) return true;
  return false;
}

}  // namespace
}  // namespace seedpool::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace seedpool;
  using namespace seedpool::fuzz;
  if (size > 1 << 16) return -1;  // long values add nothing but time
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  FakeCore core;
  bool no_core = false;
  std::size_t pos = 0;
  bool first = true;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (first && line == "!nocore") no_core = true;
    first = false;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string key(line.substr(0, eq));
    // The value as a C string: a NUL ends it.
    std::string value(line.substr(eq + 1));
    value.resize(std::strlen(value.c_str()));
    if (key == "!fail") {
      core.failing.insert(value);
      continue;
    }
    if (key.empty() || key.find('\0') != std::string::npos) continue;
    core.keys[key] = value;
  }
  // A key whose lookup fails is, to the provider, not set.
  Keys effective = core.keys;
  for (const std::string& k : core.failing) effective.erase(k);
  if (no_core) effective.clear();

  pool::Config out;
  out.pool_size_bits = 1234;  // a refusal leaves `out` untouched
  std::string error;
  provider::Reason reason = provider::kReasonInternal;
  const bool ok = provider::read_core_config(
      no_core ? nullptr : fake_core_get_params,
      reinterpret_cast<const OSSL_CORE_HANDLE*>(&core), out, error, reason);
  const std::optional<pool::Config> want = model(effective);

  if (ok && no_core) {
    // No get_params at all (OpenSSL always passes one): defaults. Note:
    // read_core_config then returns pool::Config{} (getrandom only), not
    // "those available" as an empty section gives.
    FUZZ_CHECK(out.validate().empty(), "the defaults do not validate");
  } else if (ok) {
    const std::string why = out.validate();
    FUZZ_CHECK(why.empty(), "accepted a Config that validate() refuses: " + why +
                                show(effective));
    FUZZ_CHECK(want.has_value(),
               "accepted a configuration README documents as bad:" + show(effective));
    FUZZ_CHECK(out == *want, "the Config is not what the keys say:" + show(effective));
    FUZZ_CHECK(error.empty(), "an error message with success: " + error);
  } else {
    FUZZ_CHECK(!error.empty(), "refused without a message:" + show(effective));
    FUZZ_CHECK(reason == provider::kReasonBadConfig,
               "a bad value refused under another reason: " + error);
    FUZZ_CHECK(out.pool_size_bits == 1234, "a refusal changed the output Config");
    FUZZ_CHECK(!want.has_value(),
               "refused a configuration README allows: " + error + show(effective));
    // It names a key that was set, or the key whose absence is the fault
    // (`sources` lists device, but no `device` path).
    const bool names_missing_device =
        !effective.count("device") && error.rfind("invalid configuration: device:", 0) == 0;
    FUZZ_CHECK(names_a_set_key(error, effective) || names_missing_device,
               "the message names no key that was set: " + error + show(effective));
    // A bad value: `invalid value for <key>: "<value>" (...)`, naming a key
    // that was set and its value.
    constexpr std::string_view kBad = "invalid value for ";
    if (error.compare(0, kBad.size(), kBad) == 0) {
      const std::size_t colon = error.find(": \"", kBad.size());
      FUZZ_CHECK(colon != std::string::npos, "malformed message: " + error);
      const std::string key = error.substr(kBad.size(), colon - kBad.size());
      auto it = effective.find(key);
      FUZZ_CHECK(it != effective.end(),
                 "the message names a key that was not set: " + error + show(effective));
      FUZZ_CHECK(error.compare(colon + 3, it->second.size(), it->second) == 0 &&
                     error.compare(colon + 3 + it->second.size(), 1, "\"") == 0,
                 "the message does not quote the key's value: " + error);
    }
  }
  // Accepted: every key of README's table that was set was asked for (a key
  // the provider never reads would be ignored without a word).
  if (ok && !no_core)
    for (const char* k : kKnownKeys)
      FUZZ_CHECK(!effective.count(k) || core.asked.count(k),
                 std::string("a key that was set was never read: ") + k);
  return 0;
}
