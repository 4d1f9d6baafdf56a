// Memory for secrets: a page-aligned private anonymous mapping that is
// locked into RAM (mlock) and excluded from core dumps (MADV_DONTDUMP) where
// the system allows, optionally wiped in forked children (MADV_WIPEONFORK),
// and cleansed before it is unmapped.
//
// "Where the system allows": mlock fails with EPERM or ENOMEM when the
// process lacks CAP_IPC_LOCK and RLIMIT_MEMLOCK is too small; older kernels
// answer EINVAL to MADV_DONTDUMP (< 3.4) or MADV_WIPEONFORK (< 4.14). None of
// that fails creation: each outcome is recorded (0 or the errno) so that the
// owner can report it in its statistics. Only a failing mmap fails creation.
//
// Fork: memory locks are not inherited by a child (fork(2)), so the child's
// copy of the region is not locked until its owner calls relock(); locked()
// reports what the last create()/relock() achieved in the process that made
// the call. MADV_DONTDUMP and MADV_WIPEONFORK are per-mapping and carried
// into the child.
//
// Move-only; not thread-safe (callers serialise, as for any buffer).
// No exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "pool/errc.h"

namespace seedpool::pool {

class SecureRegion {
 public:
  struct Options {
    // MADV_WIPEONFORK: a forked child sees the region as zero-filled, so it
    // can never reuse what the parent buffered there.
    bool wipe_on_fork = false;
  };

  // An empty region: bytes() is empty, nothing is mapped.
  SecureRegion() noexcept = default;
  // Cleanses the whole mapping (OPENSSL_cleanse), then munmap (which also
  // unlocks it).
  ~SecureRegion();
  SecureRegion(SecureRegion&& other) noexcept;
  SecureRegion& operator=(SecureRegion&& other) noexcept;
  SecureRegion(const SecureRegion&) = delete;
  SecureRegion& operator=(const SecureRegion&) = delete;

  // Maps `bytes` rounded up to whole pages (zero-filled), then applies
  // MADV_DONTDUMP, MADV_WIPEONFORK if asked, and mlock, recording each
  // outcome. Replaces (and cleanses) whatever `out` held, on success only.
  //   Errc::invalid_argument  bytes == 0
  //   Errc::out_of_memory     mmap failed, or the rounded size overflows
  static Errc create(std::size_t bytes, Options options,
                     SecureRegion& out) noexcept;

  // Several regions from one mapping: one mmap, one MADV_DONTDUMP, one
  // MADV_WIPEONFORK per run of adjacent parts that ask for it and one mlock
  // for all of them, instead of that for each (the pool's three regions:
  // 4 system calls instead of 11). *out[i] gets parts[i].bytes rounded up
  // to whole pages, the parts in order; each region owns its own pages
  // from then on (cleansed and unmapped when it goes, relock() locks its
  // own) and records the outcomes that apply to it, as create() does. When
  // the one mlock fails (RLIMIT_MEMLOCK), each part is locked on its own,
  // so the parts that fit the limit are locked as separate regions were.
  //   Errc::invalid_argument  no parts, a part of 0 bytes, or the sizes of
  //                           `parts` and `out` differ
  //   Errc::out_of_memory     mmap failed, or the rounded sizes overflow
  // On failure no `out` is touched.
  struct Part {
    std::size_t bytes = 0;
    Options options;
  };
  static Errc create_parts(std::span<const Part> parts,
                           std::span<SecureRegion* const> out) noexcept;

  // Re-applies mlock (e.g. in a forked child, which does not inherit memory
  // locks) and records the new outcome. A no-op on an empty region.
  void relock() noexcept;

  // The whole mapping: size() bytes, page-aligned, a multiple of page_size().
  std::span<std::uint8_t> bytes() const noexcept { return {data_, size_}; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return data_ == nullptr; }

  bool locked() const noexcept { return data_ != nullptr && mlock_errno_ == 0; }
  bool dump_excluded() const noexcept {
    return data_ != nullptr && dontdump_errno_ == 0;
  }
  // True only when wipe-on-fork was asked for and the kernel accepted it.
  bool wipe_on_fork() const noexcept {
    return data_ != nullptr && wipe_requested_ && wipeonfork_errno_ == 0;
  }
  // 0 on success, else the errno of the failed call (mlock, madvise).
  // wipe_on_fork_errno() is 0 also when wipe-on-fork was not asked for.
  int mlock_errno() const noexcept { return mlock_errno_; }
  int dontdump_errno() const noexcept { return dontdump_errno_; }
  int wipe_on_fork_errno() const noexcept { return wipeonfork_errno_; }

  static std::size_t page_size() noexcept;

 private:
  void release() noexcept;

  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool wipe_requested_ = false;
  int mlock_errno_ = 0;
  int dontdump_errno_ = 0;
  int wipeonfork_errno_ = 0;
};

}  // namespace seedpool::pool
