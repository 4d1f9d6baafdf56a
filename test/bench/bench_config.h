// The configurations rand_bench compares. Each is an openssl.cnf loaded into
// its own OSSL_LIB_CTX, exactly as an application would load it, and
// checked before it is measured: the generator RAND_bytes really runs
// through, and (for the seedpool configurations) that seedpool served.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <vector>

namespace seedpool::bench {

struct ConfigSpec {
  std::string name;       // the row label: default, seed, direct, drbg, noop
  std::string conf_path;  // the openssl.cnf to load
  // The algorithm of the per-thread public instance RAND_bytes_ex uses.
  std::string generator;
  // May be missing or not fetchable yet (SEEDPOOL-DRBG is being written):
  // then the row reads "n/a (not available)" and nothing fails.
  bool optional = false;
  // The first RAND_bytes must move seedpool's bytes_served. OpenSSL drops a
  // seed source it cannot fetch or instantiate and seeds from the OS
  // silently: without this check `seed` could be measuring `default`.
  bool draws_from_seedpool = false;
};

// default, seed, direct, drbg, noop: the table's row order. `drbg` is the
// optional one.
std::vector<ConfigSpec> standard_configs();

enum class ConfigStatus { ready, not_available, failed };

struct LibCtxFree {
  void operator()(OSSL_LIB_CTX* ctx) const;
};
using LibCtxPtr = std::unique_ptr<OSSL_LIB_CTX, LibCtxFree>;

struct LoadedConfig {
  ConfigSpec spec;
  ConfigStatus status = ConfigStatus::failed;
  std::string detail;  // why it is not ready, or a warning
  LibCtxPtr libctx;    // set when ready
};

// Loads spec.conf_path into a new library context and checks it with a
// first RAND_bytes_ex. Never throws for OpenSSL failures: they end up in
// status and detail.
LoadedConfig load_config(const ConfigSpec& spec);

// Empties the calling thread's OpenSSL error queue into one line.
std::string take_openssl_errors();

}  // namespace seedpool::bench
