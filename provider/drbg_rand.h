#pragma once

#include <openssl/core.h>

namespace seedpool::provider {

// SEEDPOOL-DRBG: a per-instance fast-key-erasure generator (AES-256-CTR)
// seeded straight from the pool, for `random = SEEDPOOL-DRBG`.
extern const OSSL_DISPATCH kDrbgRandFunctions[];

}  // namespace seedpool::provider
