// The seed file in the pool's life (random(4)'s advice, with seed_file.h's
// rules): at start, load the file, mix it in, replace it at once with output
// derived from a state that already holds it, and only then credit it (when
// trusted and safe); at clean teardown, save fresh output for the next start.
// seed_file.* handles the files; this class decides the order, the sizes and
// the credit, and keeps the story for statistics.
//
// The pool owns one SeedKeeper when `seed_file` is configured and calls
// start() once, right after it is built and before anyone draws from it, and
// finish() once, at clean teardown, before its sources stop. Neither ever
// fails the pool: a missing, short, unsafe or unwritable seed file is a
// status in stats(), and the pool runs on its sources alone.
//
// No exceptions (except std::bad_alloc from stats(), like Pool::stats()), no
// logging; every buffer that held a seed is wiped (SeedBytes).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "pool/errc.h"
#include "pool/seed_file.h"
#include "pool/stats.h"

namespace seedpool::pool {

class Pool;

class SeedKeeper {
 public:
  // Size of a replacement when the old file gives none to keep (missing,
  // short, oversized or unreadable): 512 bytes, what Linux's boot scripts
  // have saved since random(4) had a 4096-bit pool.
  static constexpr std::size_t kDefaultSeedBytes = 512;
  static_assert(kDefaultSeedBytes >= SeedFile::kMinBytes &&
                kDefaultSeedBytes <= SeedFile::kMaxBytes);
  // Most a seed file is ever credited: the 512-bit state its writer
  // derived it from (see start()).
  static constexpr std::uint64_t kMaxCreditBits = 512;

  // `path` must be absolute: finish() runs long after start(), and a
  // relative path would follow the process's current directory in between.
  // Errc::invalid_argument for an empty or relative path, out_of_memory.
  // Touches no file.
  static Errc create(std::string path, bool trusted,
                     std::unique_ptr<SeedKeeper>& out) noexcept;

  ~SeedKeeper() = default;
  SeedKeeper(const SeedKeeper&) = delete;
  SeedKeeper& operator=(const SeedKeeper&) = delete;

  // Loads the file under its lock, mixes the content into `pool` (credited
  // 0), replaces the file with pool output derived from the new state, and,
  // only if the replacement is in place and seed_file.h's rules allow it,
  // credits the content. Ends the file session (releases the lock) before it
  // returns. May wait up to SeedFile::kDefaultLockTimeout for another
  // process's session. Only the first call does anything.
  void start(Pool& pool) noexcept;

  // Saves fresh pool output (full-entropy if the pool can serve it now,
  // otherwise derived like start()'s replacement) over the file, under its
  // lock. Does nothing in a process other than the one that ran start() (a
  // forked child), nor before start(), nor a second time.
  void finish(Pool& pool) noexcept;

  // What happened so far; all empty before start(). Thread-safe, lock-free.
  SeedFileStats stats() const;

  const std::string& path() const noexcept { return path_; }
  bool trusted() const noexcept { return trusted_; }

 private:
  SeedKeeper(std::string path, bool trusted) noexcept;

  const std::string path_;
  const bool trusted_;

  // Written by start() and finish() only (the pool calls them once each, on
  // one thread); read by finish() and by stats() from any thread.
  std::atomic<bool> started_{false};
  std::atomic<pid_t> start_pid_{0};
  std::atomic<std::uint64_t> start_fork_generation_{0};
  // Bytes finish() saves: the size start() chose for its replacement.
  std::atomic<std::size_t> seed_bytes_{kDefaultSeedBytes};

  // The story, as static strings (seed_load_status_name(), describe(), ...)
  // so that recording never allocates and stats() needs no lock. Not a
  // mutex on purpose: a fork while another thread held it would leave the
  // child's copy locked forever, and the child still calls stats() and
  // finish(). Each field is written at most once per start()/finish(); a
  // reader racing start() may see some fields set and others not yet, which
  // is the truth at that instant.
  std::atomic<const char*> load_{nullptr};
  std::atomic<const char*> credit_{nullptr};
  std::atomic<std::uint64_t> bits_credited_{0};
  std::atomic<const char*> replace_{nullptr};
  std::atomic<const char*> save_{nullptr};
  std::atomic<bool> finished_{false};
};

}  // namespace seedpool::pool
