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
// A pool that was shut down (release_shared) is never returned: a new one
// is made, even while the old one still has holders.
// `probed` (available_sources' kept sources) is used only when a new pool
// is made.
Errc acquire_shared(const Config& config, std::shared_ptr<Pool>& out,
                    ProbedSources* probed = nullptr);

// Gives back a reference from acquire_shared (and resets `pool`). The last
// acquirer to give back shuts the pool down (Pool::shutdown: queued
// requests end with cancelled, the gatherer thread is joined) even when
// others still hold it -- a paused ASYNC job's waiter holds it until its
// wait ctx is freed, which may be never, or after OPENSSL_cleanup. The
// provider calls this from its teardown. Acquirers that never give back
// (plain C++ users) keep the old rule: the pool lives while it is held.
// The last one also saves the seed file first (Pool::save_seed_file).
// `report`, if given, is called with the pool after that save and before
// the shutdown (a statistics line then shows both the save's outcome and
// the gatherer as it ran), for every release, the last or not.
void release_shared(std::shared_ptr<Pool>& pool,
                    void (*report)(const Pool&) noexcept = nullptr) noexcept;

}  // namespace seedpool::pool
