#include "pool/fork.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <vector>

namespace seedpool::pool {
namespace {

std::atomic<std::uint64_t> g_generation{0};

// The prepare handler's lock order: first_mu, the `first` locks, mu, the
// `locks` (a thread holding a `first` lock may register a lock; nobody
// holding a pool's lock takes a `first` one).
struct Registry {
  std::mutex mu;
  std::vector<std::mutex*> locks;  // guarded by mu
  std::mutex first_mu;
  std::vector<std::mutex*> first;  // guarded by first_mu
};

Registry& registry() {
  // Leaked on purpose: atfork handlers cannot be removed and may run during
  // or after static destruction.
  static Registry* r = new Registry;
  return *r;
}

void prepare() noexcept {
  Registry& r = registry();
  r.first_mu.lock();
  for (std::mutex* m : r.first) m->lock();
  r.mu.lock();
  for (std::mutex* m : r.locks) m->lock();
}

void release() noexcept {
  Registry& r = registry();
  for (auto it = r.locks.rbegin(); it != r.locks.rend(); ++it) (*it)->unlock();
  r.mu.unlock();
  for (auto it = r.first.rbegin(); it != r.first.rend(); ++it) (*it)->unlock();
  r.first_mu.unlock();
}

void child() noexcept {
  g_generation.fetch_add(1, std::memory_order_relaxed);
  release();
}

void install_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    (void)registry();
    // pthread_atfork only fails with ENOMEM; without the handlers a child
    // would still be safe for requests made after the parent's lock is free,
    // but we cannot detect the fork, so treat failure as fatal to creation.
    if (pthread_atfork(prepare, release, child) != 0) throw std::bad_alloc();
  });
}

}  // namespace

std::uint64_t fork_generation() noexcept {
  return g_generation.load(std::memory_order_relaxed);
}

void register_fork_lock(std::mutex* mu) {
  install_once();
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  r.locks.push_back(mu);
}

void register_fork_lock_first(std::mutex* mu) {
  install_once();
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.first_mu);
  r.first.push_back(mu);
}

void unregister_fork_lock(std::mutex* mu) {
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  r.locks.erase(std::remove(r.locks.begin(), r.locks.end(), mu), r.locks.end());
}

Errc track_forks() noexcept {
  try {
    install_once();
  } catch (...) {
    return Errc::out_of_memory;
  }
  return Errc::ok;
}

}  // namespace seedpool::pool
