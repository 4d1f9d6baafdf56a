#pragma once

#include <openssl/core.h>

namespace seedpool::provider {

// SEEDPOOL (alias SEED-SRC): the pool's own full-entropy output, as a seed
// source under OpenSSL's DRBGs or as `random = SEEDPOOL`.
extern const OSSL_DISPATCH kSeedRandFunctions[];

}  // namespace seedpool::provider
