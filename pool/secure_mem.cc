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
// intercepts mlock/munlock as no-ops that return 0, which would make a
// sanitizer build report memory as locked when it is not.
int sys_mlock(void* p, std::size_t n) noexcept {
  return ::syscall(SYS_mlock, p, n) == 0 ? 0 : errno;
}
void sys_munlock(void* p, std::size_t n) noexcept {
  (void)::syscall(SYS_munlock, p, n);
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
  if (mlock_errno_ == 0) sys_munlock(data_, size_);
  (void)::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
  wipe_requested_ = false;
  mlock_errno_ = dontdump_errno_ = wipeonfork_errno_ = 0;
}

Errc SecureRegion::create(std::size_t bytes, Options options,
                          SecureRegion& out) noexcept {
  if (bytes == 0) return Errc::invalid_argument;
  const std::size_t page = page_size();
  if (bytes > std::numeric_limits<std::size_t>::max() - (page - 1))
    return Errc::out_of_memory;
  const std::size_t size = (bytes + page - 1) / page * page;

  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Errc::out_of_memory;

  SecureRegion r;
  r.data_ = static_cast<std::uint8_t*>(p);
  r.size_ = size;
  r.wipe_requested_ = options.wipe_on_fork;
  r.dontdump_errno_ = ::madvise(p, size, MADV_DONTDUMP) == 0 ? 0 : errno;
  if (options.wipe_on_fork)
    r.wipeonfork_errno_ = ::madvise(p, size, MADV_WIPEONFORK) == 0 ? 0 : errno;
  // Last, so that the pages it faults in already carry the advice.
  r.mlock_errno_ = sys_mlock(p, size);
  out = std::move(r);
  return Errc::ok;
}

void SecureRegion::relock() noexcept {
  if (data_ == nullptr) return;
  mlock_errno_ = sys_mlock(data_, size_);
}

}  // namespace seedpool::pool
