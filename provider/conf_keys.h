// Unknown keys in seedpool's openssl.cnf section.
//
// OpenSSL gives a provider its section only key by key: the core's
// get_params fills in the names the provider asks for and nothing else
// (crypto/provider_core.c, core_get_params, 3.0.22 and 3.5.7; there is no
// way to list the keys). A misspelt key (`blok_timeout_ms = 0`) would be
// dropped without a word and the default used. So seedpool reads the
// default config file itself (CONF_get1_default_config_file: OPENSSL_CONF,
// else OPENSSLDIR/openssl.cnf, the file OpenSSL's own start-up loads),
// finds its section there the way crypto/conf/conf_mod.c and
// crypto/provider_conf.c do, and, when every key it knows has the same value
// there as the core handed over (so this file is the one that configured
// this instance), refuses the keys it does not know. A program that loads
// another file (OSSL_LIB_CTX_load_config, CONF_modules_load_file) is not
// checked: seedpool cannot see which file that was.
#pragma once

#include <openssl/conf.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "provider/config.h"

namespace seedpool::provider {

// Every key parse_config reads (config_test checks the two agree).
std::span<const char* const> known_config_keys() noexcept;

struct KeyCheck {
  enum class Outcome {
    no_section,     // the file configures no provider of this name
    not_this_file,  // it does, but not with the values this instance got
    checked,        // the values match: `unknown` lists the unknown keys
  };
  Outcome outcome = Outcome::no_section;
  std::string section;  // the provider's section, when found
  std::vector<std::string> unknown;
};

// Looks for provider `provider_name`'s section in `conf` (openssl_conf ->
// providers -> the entry named so, or whose `identity` says so), flattens
// nested sections into "a.b" keys as OpenSSL does, and compares the keys
// seedpool knows with what `lookup` returns. OpenSSL's own keys (module,
// activate, identity, soft_load) are never unknown.
KeyCheck check_config_keys(const CONF* conf, std::string_view provider_name,
                           ConfigLookup lookup, void* arg);

// check_config_keys on the default config file. False with `error` naming
// the keys, the section and the file when unknown keys were found; true
// otherwise (including when there is no file or it is not the one in use).
bool check_default_config_file(std::string_view provider_name,
                               ConfigLookup lookup, void* arg,
                               std::string& error);

}  // namespace seedpool::provider
