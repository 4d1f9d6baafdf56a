#include "pool/shared.h"

#include <mutex>

#include "pool/fork.h"

namespace seedpool::pool {
namespace {

struct Registry {
  std::mutex mu;
  std::weak_ptr<Pool> pool;  // guarded by mu
  std::size_t users = 0;     // acquisitions of `pool` not given back; mu
};

// Leaked on purpose, as pool/fork.cc's registry: release_shared runs from
// the provider's teardown, which OPENSSL_cleanup runs as an atexit handler
// registered before this module was loaded -- that is, after this
// module's static destructors at exit().
//
// Its lock is held across fork() (taken first: Pool::create registers the
// new pool's lock while this one is held), so that a child forked while
// another thread creates or gives back the pool does not inherit it taken
// and hang at its first provider load. Throws (std::bad_alloc) when the
// handlers cannot be installed; acquire_shared is the first to call this.
Registry& registry() {
  static Registry* r = [] {
    auto* fresh = new Registry;
    register_fork_lock_first(&fresh->mu);
    return fresh;
  }();
  return *r;
}

}  // namespace

Errc acquire_shared(const Config& config, std::shared_ptr<Pool>& out,
                    ProbedSources* probed) {
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  if (std::shared_ptr<Pool> p = r.pool.lock(); p && !p->is_shut_down()) {
    if (!(p->config() == config)) return Errc::config_conflict;
    ++r.users;
    out = std::move(p);
    return Errc::ok;
  }
  std::unique_ptr<Pool> fresh;
  if (Errc rc = Pool::create(config, fresh, probed); rc != Errc::ok) return rc;
  std::shared_ptr<Pool> p(std::move(fresh));
  r.pool = p;
  r.users = 1;
  out = std::move(p);
  return Errc::ok;
}

void release_shared(std::shared_ptr<Pool>& pool,
                    void (*report)(const Pool&) noexcept) noexcept {
  if (!pool) return;
  std::shared_ptr<Pool> last;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> g(r.mu);
    // Only the current pool is counted; a stale one (replaced after its
    // shutdown) is simply dropped.
    if (r.pool.lock() == pool && r.users > 0 && --r.users == 0) {
      r.pool.reset();  // the next acquire_shared makes a new pool
      last = pool;
    }
  }
  // Outside the lock: callbacks run here (see Pool::shutdown). The seed
  // file first, while the sources still run (as ~Pool would).
  if (last) last->save_seed_file();
  if (report != nullptr) report(*pool);
  if (last) last->shutdown();
  pool.reset();
}

}  // namespace seedpool::pool
