// The process-wide pool. OpenSSL creates one provider instance per library
// context that loads seedpool; they all share one pool, which lives while
// any of them holds a reference and is torn down with the last.
#pragma once

#include <memory>

#include "pool/config.h"
#include "pool/errc.h"
#include "pool/pool.h"

namespace seedpool::pool {

// Returns the running pool, or creates it from `config`. A second caller
// with a different config gets Errc::config_conflict: one process, one pool.
Errc acquire_shared(const Config& config, std::shared_ptr<Pool>& out);

}  // namespace seedpool::pool
