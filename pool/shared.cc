#include "pool/shared.h"

#include <mutex>

namespace seedpool::pool {
namespace {
std::mutex g_mu;
std::weak_ptr<Pool> g_pool;  // guarded by g_mu
}  // namespace

Errc acquire_shared(const Config& config, std::shared_ptr<Pool>& out) {
  std::lock_guard<std::mutex> g(g_mu);
  if (std::shared_ptr<Pool> p = g_pool.lock()) {
    if (!(p->config() == config)) return Errc::config_conflict;
    out = std::move(p);
    return Errc::ok;
  }
  std::unique_ptr<Pool> fresh;
  if (Errc rc = Pool::create(config, fresh); rc != Errc::ok) return rc;
  std::shared_ptr<Pool> p(std::move(fresh));
  g_pool = p;
  out = std::move(p);
  return Errc::ok;
}

}  // namespace seedpool::pool
