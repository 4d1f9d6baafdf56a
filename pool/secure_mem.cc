#include "pool/secure_mem.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <utility>

// Older C libraries lack the names; the kernel ABI values are fixed.
#ifndef MADV_DONTDUMP
#define MADV_DONTDUMP 16
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

namespace seedpool::pool {
namespace {

// The system calls themselves, not the libc wrappers: AddressSanitizer
// intercepts mlock as a no-op that returns 0, which would make a
// sanitizer build report memory as locked when it is not.
int sys_mlock(void* p, std::size_t n) noexcept {
  return ::syscall(SYS_mlock, p, n) == 0 ? 0 : errno;
}

}  // namespace

std::size_t SecureRegion::page_size() noexcept {
  static const std::size_t page = [] {
    const long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<std::size_t>(p) : std::size_t{4096};
  }();
  return page;
}

SecureRegion::~SecureRegion() { release(); }

SecureRegion::SecureRegion(SecureRegion&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      wipe_requested_(std::exchange(other.wipe_requested_, false)),
      mlock_errno_(std::exchange(other.mlock_errno_, 0)),
      dontdump_errno_(std::exchange(other.dontdump_errno_, 0)),
      wipeonfork_errno_(std::exchange(other.wipeonfork_errno_, 0)) {}

SecureRegion& SecureRegion::operator=(SecureRegion&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    wipe_requested_ = std::exchange(other.wipe_requested_, false);
    mlock_errno_ = std::exchange(other.mlock_errno_, 0);
    dontdump_errno_ = std::exchange(other.dontdump_errno_, 0);
    wipeonfork_errno_ = std::exchange(other.wipeonfork_errno_, 0);
  }
  return *this;
}

void SecureRegion::release() noexcept {
  if (data_ == nullptr) return;
  OPENSSL_cleanse(data_, size_);
  // No munlock first: munmap removes the lock with the pages (mlock(2)),
  // one system call fewer per region at teardown.
  (void)::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
  wipe_requested_ = false;
  mlock_errno_ = dontdump_errno_ = wipeonfork_errno_ = 0;
}

Errc SecureRegion::create(std::size_t bytes, Options options,
                          SecureRegion& out) noexcept {
  const Part part{bytes, options};
  SecureRegion* const target = &out;
  return create_parts({&part, 1}, {&target, 1});
}

Errc SecureRegion::create_parts(std::span<const Part> parts,
                                std::span<SecureRegion* const> out) noexcept {
  if (parts.empty() || parts.size() != out.size())
    return Errc::invalid_argument;
  const std::size_t page = page_size();
  const auto rounded = [page](std::size_t n) {
    return (n + page - 1) / page * page;
  };
  std::size_t total = 0;
  for (const Part& part : parts) {
    if (part.bytes == 0) return Errc::invalid_argument;
    if (part.bytes > std::numeric_limits<std::size_t>::max() - (page - 1))
      return Errc::out_of_memory;
    const std::size_t size = rounded(part.bytes);
    if (size > std::numeric_limits<std::size_t>::max() - total)
      return Errc::out_of_memory;
    total += size;
  }

  void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Errc::out_of_memory;
  auto* const base = static_cast<std::uint8_t*>(p);

  const int dontdump = ::madvise(p, total, MADV_DONTDUMP) == 0 ? 0 : errno;
  std::size_t offset = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    SecureRegion r;
    r.data_ = base + offset;
    r.size_ = rounded(parts[i].bytes);
    r.wipe_requested_ = parts[i].options.wipe_on_fork;
    r.dontdump_errno_ = dontdump;
    offset += r.size_;
    *out[i] = std::move(r);
  }
  // MADV_WIPEONFORK once for each run of adjacent parts that want it.
  for (std::size_t i = 0; i < parts.size();) {
    if (!parts[i].options.wipe_on_fork) {
      ++i;
      continue;
    }
    std::size_t j = i;
    std::size_t len = 0;
    while (j < parts.size() && parts[j].options.wipe_on_fork)
      len += out[j++]->size_;
    const int e =
        ::madvise(out[i]->data_, len, MADV_WIPEONFORK) == 0 ? 0 : errno;
    for (; i < j; ++i) out[i]->wipeonfork_errno_ = e;
  }
  // Last, so that the pages it faults in already carry the advice.
  const int locked = sys_mlock(p, total);
  if (locked == 0 || out.size() == 1) {
    for (SecureRegion* r : out) r->mlock_errno_ = locked;
    return Errc::ok;
  }
  // The whole mapping is more than RLIMIT_MEMLOCK allows (mlock locks all
  // of a range or none of it): lock part by part what fits, as separate
  // regions did, so that a small secret (the conditioner's state, first)
  // stays locked when a large one (the reservoir) cannot be.
  for (SecureRegion* r : out) r->mlock_errno_ = sys_mlock(r->data_, r->size_);
  return Errc::ok;
}

void SecureRegion::relock() noexcept {
  if (data_ == nullptr) return;
  mlock_errno_ = sys_mlock(data_, size_);
}

}  // namespace seedpool::pool
