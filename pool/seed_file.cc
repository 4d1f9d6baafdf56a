#include "pool/seed_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <new>
#include <utility>

namespace seedpool::pool {

// ---------------------------------------------------------------------------
// SeedBytes

SeedBytes::SeedBytes(SeedBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_len_(std::exchange(other.size_len_, 0)),
      capacity_len_(std::exchange(other.capacity_len_, 0)) {}

SeedBytes& SeedBytes::operator=(SeedBytes&& other) noexcept {
  if (this != &other) {
    clear();
    data_ = std::exchange(other.data_, nullptr);
    size_len_ = std::exchange(other.size_len_, 0);
    capacity_len_ = std::exchange(other.capacity_len_, 0);
  }
  return *this;
}

bool SeedBytes::allocate(std::size_t len, SeedBytes& out) noexcept {
  out.clear();
  if (len == 0) return true;
  auto* p = new (std::nothrow) std::uint8_t[len];
  if (p == nullptr) return false;
  std::memset(p, 0, len);
  out.data_ = p;
  out.size_len_ = len;
  out.capacity_len_ = len;
  return true;
}

void SeedBytes::truncate(std::size_t len) noexcept {
  if (len >= size_len_) return;
  OPENSSL_cleanse(data_ + len, size_len_ - len);
  size_len_ = len;
}

void SeedBytes::clear() noexcept {
  if (data_ != nullptr) {
    OPENSSL_cleanse(data_, capacity_len_);
    delete[] data_;
  }
  data_ = nullptr;
  size_len_ = 0;
  capacity_len_ = 0;
}

// ---------------------------------------------------------------------------
// Names

const char* describe(SeedFileErrc e) noexcept {
  switch (e) {
    case SeedFileErrc::ok: return "ok";
    case SeedFileErrc::invalid_argument:
      return "invalid seed file path or replacement size";
    case SeedFileErrc::out_of_memory: return "out of memory";
    case SeedFileErrc::dir_open_failed:
      return "cannot open the seed file's directory";
    case SeedFileErrc::lock_failed: return "cannot lock the seed file";
    case SeedFileErrc::lock_timed_out:
      return "timed out waiting for the seed file lock";
    case SeedFileErrc::temp_create_failed:
      return "cannot create a temporary seed file";
    case SeedFileErrc::write_failed: return "cannot write the seed file";
    case SeedFileErrc::sync_failed: return "cannot fsync the seed file";
    case SeedFileErrc::rename_failed: return "cannot rename over the seed file";
    case SeedFileErrc::dir_sync_failed:
      return "seed file replaced but its directory could not be fsynced";
  }
  return "unknown error";
}

const char* seed_load_status_name(SeedLoadStatus s) noexcept {
  switch (s) {
    case SeedLoadStatus::loaded: return "loaded";
    case SeedLoadStatus::oversized: return "oversized";
    case SeedLoadStatus::short_file: return "short_file";
    case SeedLoadStatus::missing: return "missing";
    case SeedLoadStatus::symlink: return "symlink";
    case SeedLoadStatus::not_regular: return "not_regular";
    case SeedLoadStatus::unreadable: return "unreadable";
  }
  return "unknown";
}

const char* seed_credit_name(SeedCredit c) noexcept {
  switch (c) {
    case SeedCredit::allowed: return "allowed";
    case SeedCredit::no_content: return "no_content";
    case SeedCredit::too_short: return "too_short";
    case SeedCredit::not_trusted: return "not_trusted";
    case SeedCredit::not_locked: return "not_locked";
    case SeedCredit::wrong_owner: return "wrong_owner";
    case SeedCredit::writable_by_others: return "writable_by_others";
    case SeedCredit::hard_linked: return "hard_linked";
    case SeedCredit::unsafe_directory: return "unsafe_directory";
  }
  return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;

constexpr char kLockSuffix[] = ".lock";
constexpr char kTempInfix[] = ".tmp.";
constexpr std::size_t kTempRandomHexLen = 16;
// Longest file name that still leaves room for the temporary file's suffix
// (the lock file's is shorter).
constexpr std::size_t kMaxNameLen =
    NAME_MAX - (sizeof(kTempInfix) - 1) - kTempRandomHexLen;
constexpr int kMaxTempAttempts = 32;
constexpr mode_t kSeedMode = 0600;

// Runs a system call until it does not fail with EINTR.
template <typename F>
auto retry_eintr(F f) noexcept {
  for (;;) {
    auto r = f();
    if (r != -1 || errno != EINTR) return r;
  }
}

// Linux closes the descriptor even when close() fails with EINTR, so it is
// never retried. Returns 0 or the errno.
int close_fd(int fd) noexcept {
  if (::close(fd) == 0) return 0;
  return errno == EINTR ? 0 : errno;
}

// "dir/name" -> a heap "dir" and a heap "name" (both NUL-terminated). No
// std::string: this may run inside an ASYNC job and must not throw.
struct PathParts {
  char* dir = nullptr;
  char* name = nullptr;
  ~PathParts() {
    delete[] dir;
    delete[] name;
  }
};

SeedFileResult split_path(std::string_view path, PathParts& out) noexcept {
  if (path.empty() || path.find('\0') != std::string_view::npos)
    return {SeedFileErrc::invalid_argument, EINVAL};
  const std::size_t slash = path.rfind('/');
  std::string_view dir;
  std::string_view name;
  if (slash == std::string_view::npos) {
    dir = ".";
    name = path;
  } else {
    dir = slash == 0 ? std::string_view("/") : path.substr(0, slash);
    name = path.substr(slash + 1);
  }
  if (name.empty() || name == "." || name == "..")
    return {SeedFileErrc::invalid_argument, EINVAL};
  if (name.size() > kMaxNameLen || path.size() >= PATH_MAX)
    return {SeedFileErrc::invalid_argument, ENAMETOOLONG};
  out.dir = new (std::nothrow) char[dir.size() + 1];
  out.name = new (std::nothrow) char[name.size() + 1];
  if (out.dir == nullptr || out.name == nullptr)
    return {SeedFileErrc::out_of_memory, ENOMEM};
  std::memcpy(out.dir, dir.data(), dir.size());
  out.dir[dir.size()] = '\0';
  std::memcpy(out.name, name.data(), name.size());
  out.name[name.size()] = '\0';
  return {};
}

// name + suffix into a NAME_MAX buffer; split_path bounded the name's length.
void join_name(char (&out)[NAME_MAX + 1], const char* name,
               const char* suffix) noexcept {
  const std::size_t name_len = std::strlen(name);
  const std::size_t suffix_len = std::strlen(suffix);
  std::memcpy(out, name, name_len);
  std::memcpy(out + name_len, suffix, suffix_len);
  out[name_len + suffix_len] = '\0';
}

// Opens (creating 0600 if needed) `<name>.lock` and flocks it, waiting at
// most `timeout`. Polls with LOCK_NB because flock() has no timeout.
SeedFileResult take_lock(int dir_fd, const char* name,
                         std::chrono::milliseconds timeout,
                         int& lock_fd) noexcept {
  char lock_name[NAME_MAX + 1];
  join_name(lock_name, name, kLockSuffix);
  // O_NOFOLLOW: a root process must not create or open a file through a link
  // planted in a shared directory. O_NONBLOCK: a FIFO there must not hang us.
  constexpr int kOpenFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
                             O_NOCTTY;
  int fd = -1;
  bool created = false;
  // Create-or-open, retried a few times in case another process deletes the
  // file between our two opens (seedpool never does).
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    fd = retry_eintr([&] {
      return ::openat(dir_fd, lock_name, kOpenFlags | O_CREAT | O_EXCL,
                      kSeedMode);
    });
    if (fd >= 0) {
      created = true;
      break;
    }
    if (errno != EEXIST) return {SeedFileErrc::lock_failed, errno};
    fd = retry_eintr([&] { return ::openat(dir_fd, lock_name, kOpenFlags); });
    if (fd < 0 && errno != ENOENT) return {SeedFileErrc::lock_failed, errno};
  }
  if (fd < 0) return {SeedFileErrc::lock_failed, ENOENT};

  // The umask may have taken bits from a new file's mode; make it exactly
  // 0600, like the seed file.
  if (created && ::fchmod(fd, kSeedMode) != 0) {
    const int e = errno;
    (void)close_fd(fd);  // the fchmod error is the one to report
    return {SeedFileErrc::lock_failed, e};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    (void)close_fd(fd);
    return {SeedFileErrc::lock_failed, e};
  }
  if (!S_ISREG(st.st_mode)) {
    (void)close_fd(fd);
    return {SeedFileErrc::lock_failed, EINVAL};
  }

  const auto deadline = Clock::now() + timeout;
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      lock_fd = fd;
      return {};
    }
    const int e = errno;
    if (e == EINTR) continue;
    if (e != EWOULDBLOCK) {
      (void)close_fd(fd);
      return {SeedFileErrc::lock_failed, e};
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      (void)close_fd(fd);
      return {SeedFileErrc::lock_timed_out, EWOULDBLOCK};
    }
    auto nap = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::min<Clock::duration>(backoff, deadline - now));
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(nap.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(nap.count() % 1'000'000'000);
    // A signal only shortens the nap; the deadline still holds.
    if (::nanosleep(&ts, nullptr) != 0 && errno != EINTR) {
      const int ne = errno;
      (void)close_fd(fd);
      return {SeedFileErrc::lock_failed, ne};
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

// Reads the seed file into load.content and fills load.status; `st` receives
// the open file's metadata for the credit rules.
void read_seed(int dir_fd, const char* name, SeedLoad& load,
               struct stat& st) noexcept {
  const int fd = retry_eintr([&] {
    return ::openat(dir_fd, name,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  });
  if (fd < 0) {
    load.sys_errno = errno;
    // With O_NOFOLLOW, ELOOP on a single component means "it is a link".
    load.status = load.sys_errno == ENOENT  ? SeedLoadStatus::missing
                  : load.sys_errno == ELOOP ? SeedLoadStatus::symlink
                                            : SeedLoadStatus::unreadable;
    return;
  }
  // Read-only descriptor: a close() error cannot lose data, so it is
  // deliberately ignored from here on.
  if (::fstat(fd, &st) != 0) {
    load.sys_errno = errno;
    load.status = SeedLoadStatus::unreadable;
    (void)close_fd(fd);
    return;
  }
  // A FIFO or device would feed or block forever, a directory is no seed.
  if (!S_ISREG(st.st_mode)) {
    load.status = SeedLoadStatus::not_regular;
    (void)close_fd(fd);
    return;
  }
  if (!SeedBytes::allocate(SeedFile::kMaxBytes, load.content)) {
    load.sys_errno = ENOMEM;
    load.status = SeedLoadStatus::unreadable;
    (void)close_fd(fd);
    return;
  }
  std::uint8_t* const buf = load.content.mutable_bytes().data();
  std::size_t got_len = 0;
  while (got_len < SeedFile::kMaxBytes) {
    const ssize_t n = retry_eintr([&] {
      return ::read(fd, buf + got_len, SeedFile::kMaxBytes - got_len);
    });
    if (n < 0) {
      load.sys_errno = errno;
      load.status = SeedLoadStatus::unreadable;
      load.content.clear();
      (void)close_fd(fd);
      return;
    }
    if (n == 0) break;
    got_len += static_cast<std::size_t>(n);
  }
  bool oversized = false;
  if (got_len == SeedFile::kMaxBytes) {
    // One byte more tells a file of exactly kMaxBytes from a longer one.
    // Heap, not stack: it is a seed byte and is wiped with the rest.
    SeedBytes probe;
    if (!SeedBytes::allocate(1, probe)) {
      load.sys_errno = ENOMEM;
      load.status = SeedLoadStatus::unreadable;
      load.content.clear();
      (void)close_fd(fd);
      return;
    }
    const ssize_t n = retry_eintr(
        [&] { return ::read(fd, probe.mutable_bytes().data(), 1); });
    if (n < 0) {
      load.sys_errno = errno;
      load.status = SeedLoadStatus::unreadable;
      load.content.clear();
      (void)close_fd(fd);
      return;
    }
    oversized = n > 0;
  }
  (void)close_fd(fd);
  load.content.truncate(got_len);
  load.status = got_len < SeedFile::kMinBytes ? SeedLoadStatus::short_file
                : oversized                    ? SeedLoadStatus::oversized
                                               : SeedLoadStatus::loaded;
}

SeedCredit decide_credit(const SeedLoad& load, SeedTrust trust, bool locked,
                         const struct stat& st, int dir_fd) noexcept {
  switch (load.status) {
    case SeedLoadStatus::loaded:
    case SeedLoadStatus::oversized: break;
    case SeedLoadStatus::short_file: return SeedCredit::too_short;
    case SeedLoadStatus::missing:
    case SeedLoadStatus::symlink:
    case SeedLoadStatus::not_regular:
    case SeedLoadStatus::unreadable: return SeedCredit::no_content;
  }
  if (trust != SeedTrust::trusted) return SeedCredit::not_trusted;
  if (!locked) return SeedCredit::not_locked;
  // The effective uid is the one we write the file as, and the one whose
  // files this process may trust; a setuid program's real uid is its caller.
  const uid_t euid = ::geteuid();
  if (st.st_uid != euid) return SeedCredit::wrong_owner;
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return SeedCredit::writable_by_others;
  // Another name for the same inode has another lock file, so two processes
  // could both read it under "their" lock.
  if (st.st_nlink != 1) return SeedCredit::hard_linked;
  struct stat dir_st {};
  if (::fstat(dir_fd, &dir_st) != 0) return SeedCredit::unsafe_directory;
  // Whoever can write the directory can swap the file for their own (unless
  // the sticky bit stops them from renaming or unlinking ours), and a
  // directory's owner can make it writable.
  if (dir_st.st_uid != euid && dir_st.st_uid != 0)
    return SeedCredit::unsafe_directory;
  if ((dir_st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
      (dir_st.st_mode & S_ISVTX) == 0)
    return SeedCredit::unsafe_directory;
  return SeedCredit::allowed;
}

// 64 bits for the temporary file's name. The name only needs to be hard to
// guess (so nobody can block us by pre-creating it); O_EXCL is what keeps us
// from ever writing into someone else's file. So getrandom() must not block:
// a seed file matters most at early boot, before the kernel CRNG is ready.
std::uint64_t temp_name_bits() noexcept {
  std::uint64_t bits = 0;
  const ssize_t n =
      retry_eintr([&] { return ::getrandom(&bits, sizeof bits, GRND_NONBLOCK); });
  if (n == static_cast<ssize_t>(sizeof bits)) return bits;
  // Fallback (EAGAIN before the CRNG is ready, ENOSYS): unique, not secret.
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x =
      static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) ^
      (static_cast<std::uint64_t>(::getpid()) << 32) ^
      (counter.fetch_add(1, std::memory_order_relaxed) *
       0x9e3779b97f4a7c15ULL);
  // splitmix64 finalizer: spreads the bits over the whole name.
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void make_temp_name(char (&out)[NAME_MAX + 1], const char* name) noexcept {
  char suffix[sizeof(kTempInfix) + kTempRandomHexLen];
  std::memcpy(suffix, kTempInfix, sizeof(kTempInfix) - 1);
  std::uint64_t bits = temp_name_bits();
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < kTempRandomHexLen; ++i) {
    suffix[sizeof(kTempInfix) - 1 + i] = kHex[bits & 0xf];
    bits >>= 4;
  }
  suffix[sizeof(suffix) - 1] = '\0';
  join_name(out, name, suffix);
}

// On a failed write the temporary file goes: it holds a partial or
// unrenamed seed. If even the unlink fails there is nothing more to do, and
// the error the caller needs is the one that brought us here.
SeedFileResult discard_temp(int dir_fd, const char* temp_name, int fd,
                            SeedFileResult why) noexcept {
  if (fd >= 0) (void)close_fd(fd);
  (void)::unlinkat(dir_fd, temp_name, 0);
  return why;
}

SeedFileResult write_atomically(int dir_fd, const char* name,
                                std::span<const std::uint8_t> bytes) noexcept {
  char temp_name[NAME_MAX + 1];
  int fd = -1;
  for (int attempt = 0; attempt < kMaxTempAttempts && fd < 0; ++attempt) {
    make_temp_name(temp_name, name);
    fd = retry_eintr([&] {
      return ::openat(dir_fd, temp_name,
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
                          O_NOCTTY,
                      kSeedMode);
    });
    if (fd < 0 && errno != EEXIST)
      return {SeedFileErrc::temp_create_failed, errno};
  }
  if (fd < 0) return {SeedFileErrc::temp_create_failed, EEXIST};

  // open()'s mode went through the umask; the seed file is 0600 whatever
  // the umask says.
  if (::fchmod(fd, kSeedMode) != 0)
    return discard_temp(dir_fd, temp_name, fd,
                        {SeedFileErrc::write_failed, errno});
  std::size_t done_len = 0;
  while (done_len < bytes.size()) {
    const ssize_t n = retry_eintr([&] {
      return ::write(fd, bytes.data() + done_len, bytes.size() - done_len);
    });
    if (n < 0)
      return discard_temp(dir_fd, temp_name, fd,
                          {SeedFileErrc::write_failed, errno});
    if (n == 0)  // no progress and no error: never loop forever
      return discard_temp(dir_fd, temp_name, fd,
                          {SeedFileErrc::write_failed, EIO});
    done_len += static_cast<std::size_t>(n);
  }
  // The data must be on disk before the rename makes it the seed file, or a
  // crash could leave an empty seed file behind the new name.
  if (retry_eintr([&] { return ::fsync(fd); }) != 0)
    return discard_temp(dir_fd, temp_name, fd,
                        {SeedFileErrc::sync_failed, errno});
  // NFS and friends may report a deferred write error only here.
  if (const int e = close_fd(fd); e != 0)
    return discard_temp(dir_fd, temp_name, -1, {SeedFileErrc::write_failed, e});
  if (::renameat(dir_fd, temp_name, dir_fd, name) != 0)
    return discard_temp(dir_fd, temp_name, -1,
                        {SeedFileErrc::rename_failed, errno});
  // The rename itself is durable only once the directory is.
  if (retry_eintr([&] { return ::fsync(dir_fd); }) != 0)
    return {SeedFileErrc::dir_sync_failed, errno};
  return {};
}

bool valid_replacement(std::span<const std::uint8_t> bytes) noexcept {
  return bytes.data() != nullptr && bytes.size() >= SeedFile::kMinBytes &&
         bytes.size() <= SeedFile::kMaxBytes;
}

}  // namespace

// ---------------------------------------------------------------------------
// SeedFile

SeedFile::SeedFile(SeedFile&& other) noexcept
    : dir_fd_(std::exchange(other.dir_fd_, -1)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      name_(std::exchange(other.name_, nullptr)),
      lock_result_(std::exchange(
          other.lock_result_,
          SeedFileResult{SeedFileErrc::invalid_argument, EBADF})),
      load_(std::move(other.load_)) {}

SeedFile& SeedFile::operator=(SeedFile&& other) noexcept {
  if (this != &other) {
    reset();
    dir_fd_ = std::exchange(other.dir_fd_, -1);
    lock_fd_ = std::exchange(other.lock_fd_, -1);
    name_ = std::exchange(other.name_, nullptr);
    lock_result_ = std::exchange(
        other.lock_result_,
        SeedFileResult{SeedFileErrc::invalid_argument, EBADF});
    load_ = std::move(other.load_);
  }
  return *this;
}

SeedFile::~SeedFile() { reset(); }

void SeedFile::reset() noexcept {
  // Closing the last descriptor of the lock file releases the flock. Nothing
  // was written through either descriptor, so close errors lose nothing.
  if (lock_fd_ >= 0) (void)close_fd(lock_fd_);
  if (dir_fd_ >= 0) (void)close_fd(dir_fd_);
  lock_fd_ = -1;
  dir_fd_ = -1;
  delete[] name_;
  name_ = nullptr;
  load_.content.clear();
}

SeedFile SeedFile::open_locked(std::string_view path,
                               std::chrono::milliseconds lock_timeout) noexcept {
  SeedFile s;
  PathParts parts;
  if (SeedFileResult r = split_path(path, parts); !r.ok()) {
    s.lock_result_ = r;
    return s;
  }
  const int dir_fd = retry_eintr([&] {
    return ::open(parts.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  });
  if (dir_fd < 0) {
    s.lock_result_ = {SeedFileErrc::dir_open_failed, errno};
    return s;
  }
  s.dir_fd_ = dir_fd;
  s.name_ = std::exchange(parts.name, nullptr);
  if (lock_timeout.count() < 0) lock_timeout = std::chrono::milliseconds(0);
  s.lock_result_ = take_lock(s.dir_fd_, s.name_, lock_timeout, s.lock_fd_);
  return s;
}

SeedFile SeedFile::open_and_lock(std::string_view path, SeedTrust trust,
                                 std::chrono::milliseconds lock_timeout) noexcept {
  SeedFile s = open_locked(path, lock_timeout);
  if (s.dir_fd_ < 0) {
    // No directory: the file is missing if the directory is, otherwise it
    // cannot be read (ENOTDIR, EACCES, a bad path).
    const int e = s.lock_result_.sys_errno;
    s.load_.status =
        e == ENOENT ? SeedLoadStatus::missing : SeedLoadStatus::unreadable;
    s.load_.sys_errno = e;
    s.load_.credit = SeedCredit::no_content;
    return s;
  }
  struct stat st {};
  read_seed(s.dir_fd_, s.name_, s.load_, st);
  s.load_.credit = decide_credit(s.load_, trust, s.locked(), st, s.dir_fd_);
  return s;
}

SeedFileResult SeedFile::replace(std::span<const std::uint8_t> bytes) noexcept {
  if (dir_fd_ < 0)
    return lock_result_.ok()
               ? SeedFileResult{SeedFileErrc::invalid_argument, EBADF}
               : lock_result_;
  if (!valid_replacement(bytes)) return {SeedFileErrc::invalid_argument, EINVAL};
  return write_atomically(dir_fd_, name_, bytes);
}

SeedFileResult SeedFile::save(std::string_view path,
                              std::span<const std::uint8_t> bytes,
                              std::chrono::milliseconds lock_timeout) noexcept {
  if (!valid_replacement(bytes)) return {SeedFileErrc::invalid_argument, EINVAL};
  SeedFile s = open_locked(path, lock_timeout);
  if (!s.locked()) return s.lock_result_;
  return s.replace(bytes);
}

}  // namespace seedpool::pool
