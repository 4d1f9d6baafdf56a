// Fork safety without a system call per request: pthread_atfork handlers
// bump a process-wide generation in the child, and pools compare it (one
// relaxed atomic load) on each request, as BoringSSL compares a fork
// generation instead of calling getpid(). The prepare handler takes every
// registered pool's lock so that no child starts with a lock held by a
// thread that fork() did not copy.
#pragma once

#include <cstdint>
#include <mutex>

namespace seedpool::pool {

// 0 in the original process; incremented in each forked child.
std::uint64_t fork_generation() noexcept;

// Registers `mu` to be held across fork(). Installs the atfork handlers on
// first use. Unregister before `mu` is destroyed.
void register_fork_lock(std::mutex* mu);
void unregister_fork_lock(std::mutex* mu);

}  // namespace seedpool::pool
