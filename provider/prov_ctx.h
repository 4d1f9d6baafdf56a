// The provider context: one per library context that loads seedpool. All of
// them share the process-wide pool.
#pragma once

#include <openssl/core.h>

#include <memory>

#include "pool/pool.h"

namespace seedpool::provider {

struct ProvCtx {
  const OSSL_CORE_HANDLE* handle = nullptr;
  std::shared_ptr<pool::Pool> pool;
};

}  // namespace seedpool::provider
