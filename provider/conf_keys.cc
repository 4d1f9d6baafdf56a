#include "provider/conf_keys.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>

namespace seedpool::provider {
namespace {

constexpr std::array<const char*, 14> kKnownKeys = {
    "sources",          "device",
    "getrandom_credit", "hwrng_credit",
    "rdseed_credit",    "device_credit",
    "block_timeout_ms", "async_timeout_ms",
    "pool_size",        "read_wakeup_threshold",
    "write_wakeup_threshold", "seed_file",
    "seed_file_trusted",
    // Not a pool key: OpenSSL reads `activate` etc. itself (below); this
    // one is seedpool's spelling check switch, read by OSSL_provider_init.
    "check_unknown_keys",
};

// Keys of a provider section that OpenSSL itself acts on (and also hands
// to the provider): crypto/provider_conf.c, provider_conf_load, compares
// the part after the first '.' (skip_dot) with these. 3.0.22 and 3.5.7.
constexpr std::array<std::string_view, 4> kOpenSslKeys = {
    "identity", "soft_load", "module", "activate"};

std::string_view skip_dot(std::string_view name) {
  const std::size_t dot = name.find('.');
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

bool is_known(std::string_view key) {
  for (const char* k : kKnownKeys)
    if (key == k) return true;
  const std::string_view bare = skip_dot(key);
  return std::find(kOpenSslKeys.begin(), kOpenSslKeys.end(), bare) !=
         kOpenSslKeys.end();
}

// A section's values flattened as provider_conf_params does: a value that
// names a section stands for that section's keys, prefixed "name.".
// Recursion stops at a section already on the path (OpenSSL refuses such a
// file) and at a depth no real file has.
void flatten(const CONF* conf, const std::string& prefix, const char* section,
             std::vector<std::string>& path,
             std::map<std::string, std::string>& out) {
  STACK_OF(CONF_VALUE)* values = NCONF_get_section(conf, section);
  if (values == nullptr) return;
  if (path.size() >= 16 ||
      std::find(path.begin(), path.end(), section) != path.end())
    return;
  path.emplace_back(section);
  for (int i = 0; i < sk_CONF_VALUE_num(values); ++i) {
    const CONF_VALUE* v = sk_CONF_VALUE_value(values, i);
    if (v == nullptr || v->name == nullptr || v->value == nullptr) continue;
    std::string key = prefix + v->name;
    if (NCONF_get_section(conf, v->value) != nullptr)
      flatten(conf, key + ".", v->value, path, out);
    else
      out[key] = v->value;
  }
  path.pop_back();
}

// The name a `providers` entry gives its provider: the entry's name after
// the first '.', unless the section says `identity = ...`.
std::string entry_provider_name(const CONF* conf, const CONF_VALUE* entry) {
  std::string name(skip_dot(entry->name));
  if (STACK_OF(CONF_VALUE)* cmds = NCONF_get_section(conf, entry->value)) {
    for (int i = 0; i < sk_CONF_VALUE_num(cmds); ++i) {
      const CONF_VALUE* c = sk_CONF_VALUE_value(cmds, i);
      if (c != nullptr && c->name != nullptr && c->value != nullptr &&
          skip_dot(c->name) == "identity")
        name = c->value;
    }
  }
  return name;
}

}  // namespace

std::span<const char* const> known_config_keys() noexcept {
  return {kKnownKeys.data(), kKnownKeys.size()};
}

KeyCheck check_config_keys(const CONF* conf, std::string_view provider_name,
                           ConfigLookup lookup, void* arg) {
  KeyCheck result;
  if (conf == nullptr) return result;
  // NCONF_get_string raises CONF_R_NO_VALUE for a missing key: keep the
  // caller's error queue as it was.
  ERR_set_mark();
  // The application section: CONF_modules_load with no appname reads
  // `openssl_conf` from the default section (crypto/conf/conf_mod.c).
  const char* app = NCONF_get_string(conf, nullptr, "openssl_conf");
  STACK_OF(CONF_VALUE)* modules =
      app != nullptr ? NCONF_get_section(conf, app) : nullptr;
  ERR_pop_to_mark();
  if (modules == nullptr) return result;

  bool found = false;
  for (int m = 0; m < sk_CONF_VALUE_num(modules); ++m) {
    const CONF_VALUE* mod = sk_CONF_VALUE_value(modules, m);
    if (mod == nullptr || mod->name == nullptr || mod->value == nullptr) continue;
    // module_find: the module's name is the entry's up to its last '.'.
    std::string_view mod_name = mod->name;
    if (const std::size_t dot = mod_name.rfind('.'); dot != std::string_view::npos)
      mod_name = mod_name.substr(0, dot);
    if (mod_name != "providers") continue;
    STACK_OF(CONF_VALUE)* providers = NCONF_get_section(conf, mod->value);
    if (providers == nullptr) continue;
    for (int p = 0; p < sk_CONF_VALUE_num(providers); ++p) {
      const CONF_VALUE* entry = sk_CONF_VALUE_value(providers, p);
      if (entry == nullptr || entry->name == nullptr || entry->value == nullptr)
        continue;
      if (entry_provider_name(conf, entry) != provider_name) continue;
      found = true;
      std::map<std::string, std::string> keys;
      std::vector<std::string> path;
      flatten(conf, "", entry->value, path, keys);
      bool same = true;
      for (const char* k : kKnownKeys) {
        const char* got = lookup(arg, k);
        auto it = keys.find(k);
        if ((got == nullptr) != (it == keys.end()) ||
            (got != nullptr && it->second != got)) {
          same = false;
          break;
        }
      }
      if (!same) continue;
      result.outcome = KeyCheck::Outcome::checked;
      result.section = entry->value;
      for (const auto& [key, value] : keys)
        if (!is_known(key)) result.unknown.push_back(key);
      return result;
    }
  }
  if (found) result.outcome = KeyCheck::Outcome::not_this_file;
  return result;
}

bool check_default_config_file(std::string_view provider_name,
                               ConfigLookup lookup, void* arg,
                               std::string& error) {
  std::unique_ptr<char, void (*)(char*)> file(
      CONF_get1_default_config_file(), [](char* p) { OPENSSL_free(p); });
  if (file == nullptr || *file == '\0') return true;
  std::unique_ptr<CONF, void (*)(CONF*)> conf(NCONF_new(nullptr), NCONF_free);
  if (conf == nullptr) return true;
  // A file OpenSSL could not load configured nothing: not ours to report.
  ERR_set_mark();
  const int loaded = NCONF_load(conf.get(), file.get(), nullptr);
  ERR_pop_to_mark();
  if (loaded <= 0) return true;
  const KeyCheck check = check_config_keys(conf.get(), provider_name, lookup, arg);
  if (check.outcome != KeyCheck::Outcome::checked || check.unknown.empty())
    return true;
  error = "unknown key";
  if (check.unknown.size() > 1) error += "s";
  for (std::size_t i = 0; i < check.unknown.size(); ++i) {
    error += i == 0 ? " \"" : ", \"";
    error += check.unknown[i];
    error += "\"";
  }
  error += " in [" + check.section + "] of " + file.get() + "; seedpool's keys:";
  for (std::size_t i = 0; i + 1 < kKnownKeys.size(); ++i) {
    error += i == 0 ? " " : ", ";
    error += kKnownKeys[i];
  }
  error += " (and check_unknown_keys = no to skip this check)";
  return false;
}

}  // namespace seedpool::provider
