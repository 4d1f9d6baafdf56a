// The configurations rand_bench compares. Each is an openssl.cnf loaded into
// its own OSSL_LIB_CTX, exactly as an application would load it, and
// checked before it is measured: the generator RAND_bytes really runs
// through, and (for the seedpool configurations) that seedpool served.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace seedpool::bench {

// How a configuration proves, at its first RAND_bytes, that seedpool served.
// OpenSSL drops a seed source it cannot fetch or instantiate, and ignores a
// random_provider that is not loaded, and carries on with its own DRBGs
// without a word: without a proof `seed` or `rp` could be measuring `default`.
enum class Proof {
  none,
  // seedpool's bytes_served (the pool's output) moves.
  bytes_served,
  // seedpool's random_provider_calls moves by the call made (OpenSSL 3.5's
  // random_provider hands RAND_bytes straight to seedpool); it must move
  // again over the timed rounds.
  random_provider_calls,
};

struct ConfigSpec {
  std::string name;       // the row label: default, seed, direct, drbg, rp, noop
  std::string label;      // what it is, for reports: "random = SEEDPOOL-DRBG"
  std::string conf_path;  // the openssl.cnf to load
  // The algorithm of the per-thread public instance RAND_bytes_ex uses;
  // empty when RAND_bytes goes through no EVP_RAND (random_provider).
  std::string generator;
  // May be missing or not fetchable yet (SEEDPOOL-DRBG is being written):
  // then the row reads "n/a (not available)" and nothing fails.
  bool optional = false;
  Proof proof = Proof::none;
  // The OpenSSL it needs (OpenSSL_version_num() of the library run), 0 for
  // any; on an older one the row reads "n/a (not available)", no failure.
  unsigned long min_openssl = 0;
  std::string min_openssl_why;  // why not, after the version: "no random_provider (...)"
};

// default, seed, direct, drbg, rp, noop: the table's row order. `drbg` is
// optional; `rp` needs OpenSSL 3.5.
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
  // Proof::random_provider_calls: the counter after the first call.
  std::uint64_t proof_count = 0;
};

// Loads spec.conf_path into a new library context and checks it with a
// first RAND_bytes_ex. Never throws for OpenSSL failures: they end up in
// status and detail.
LoadedConfig load_config(const ConfigSpec& spec);

// Empties the calling thread's OpenSSL error queue into one line.
std::string take_openssl_errors();

// One of seedpool's uint64 statistics (bytes_served, random_provider_calls,
// ...), read from a fresh SEEDPOOL instance in `libctx`: every instance
// reports the process-wide pool. nullopt when seedpool is not loaded there.
std::optional<std::uint64_t> seedpool_counter(OSSL_LIB_CTX* libctx, const char* name);

}  // namespace seedpool::bench
