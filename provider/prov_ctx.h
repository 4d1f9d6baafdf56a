// The provider context: one per library context that loads seedpool. All of
// them share the process-wide pool.
#pragma once

#include <openssl/core.h>

#include <cstdint>
#include <memory>
#include <string>

#include "pool/generator.h"
#include "pool/pool.h"

namespace seedpool::provider {

struct ProvCtx {
  const OSSL_CORE_HANDLE* handle = nullptr;
  // Null when the provider could not start its pool (bad configuration, a
  // conflicting configuration, libcrypto failure). It then stays loaded but
  // fails every request with `error_reason` / `error_detail`: OpenSSL 3.0
  // treats a provider whose init fails during config loading as a non-fatal
  // error, discards the error queue (crypto/provider_conf.c returns
  // `ok >= 0`; CONF_modules_load_file_ex pops to its mark) and then seeds
  // from the OS without a word. Failing closed is the only way a
  // misconfiguration reaches the user.
  std::shared_ptr<pool::Pool> pool;
  std::uint32_t error_reason = 0;
  std::string error_detail;
  // AES-256-CTR for SEEDPOOL-DRBG's generators, from a private library
  // context shared process-wide. Null if libcrypto could not provide it: SEEDPOOL-DRBG instances
  // then fail to be created, with the reason; SEEDPOOL is unaffected.
  std::shared_ptr<pool::GeneratorCipher> cipher;
};

// Raises the provider's start-up error; returns false. For use when
// `pc.pool` is null.
bool raise_not_running(const ProvCtx& pc);

}  // namespace seedpool::provider
