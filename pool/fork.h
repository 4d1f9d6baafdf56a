// Fork safety without a system call per request: pthread_atfork handlers
// bump a process-wide generation in the child, and pools compare it (one
// relaxed atomic load) on each request, as BoringSSL compares a fork
// generation instead of calling getpid(). The prepare handler takes every
// registered pool's lock so that no child starts with a lock held by a
// thread that fork() did not copy.
#pragma once

#include <cstdint>
#include <mutex>

#include "pool/errc.h"

namespace seedpool::pool {

// 0 in the original process; incremented in each forked child. Counts only
// once the handlers are installed: by register_fork_lock or track_forks.
std::uint64_t fork_generation() noexcept;

// Registers `mu` to be held across fork(). Installs the atfork handlers on
// first use. Unregister before `mu` is destroyed.
void register_fork_lock(std::mutex* mu);
void unregister_fork_lock(std::mutex* mu);

// As register_fork_lock, for a lock that is held while register_fork_lock
// runs (pool/shared.cc's, held while a pool is created): the prepare
// handler takes these first, before its own registry's lock and the
// others, so that the order is the same everywhere. For locks that live as
// long as the process (never unregistered).
void register_fork_lock_first(std::mutex* mu);

// Installs the atfork handlers (idempotent), for fork_generation() users
// that register no lock. Errc::out_of_memory if pthread_atfork failed.
Errc track_forks() noexcept;

}  // namespace seedpool::pool
