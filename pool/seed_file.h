// The seed file's file-system side (random(4)'s seed file, done right): load
// it under a lock, say whether its content may be credited and why not, and
// replace it atomically. Bytes in, bytes out: the pool mixes the content,
// decides the credit and produces the replacement; this file only handles
// files.
//
// The rules, and what each protects:
//
// - One content is credited at most once. Loading takes an exclusive flock on
//   the companion `<path>.lock` and holds it until the session ends, so the
//   caller can read, mix, and replace() before any other seedpool process
//   reads: the next one reads the replacement. Only a session that holds the
//   lock may credit. The lock belongs to the session, not the process (flock
//   is per open file): a second session on the same path waits, even in the
//   same process, so end one before opening the next. The lock file is never deleted: unlinking it would let a
//   waiter lock the old inode while a newcomer locks a new one.
// - Writes are atomic and durable: a temporary file `<name>.tmp.<16 hex>` in
//   the same directory (O_CREAT|O_EXCL|O_NOFOLLOW, random name), fchmod 0600
//   (so the umask cannot change it), write all, fsync, rename over the target,
//   fsync the directory. A reader sees the old content or the new, never a
//   mix; a failed write leaves no temporary file behind (a crash between
//   create and rename does, and nothing removes it: it was never a seed).
// - Symbolic links: the last component of the path is never followed, for
//   reading (O_NOFOLLOW) or writing (rename replaces the link itself with a
//   regular 0600 file, and the link's target is never written). A link there
//   loads as SeedLoadStatus::symlink: not read, not credited. Otherwise a
//   planted link could make a root process write through it to any file, or
//   read a file it does not own as "its" seed. Directory components are
//   followed: they are the administrator's path.
// - Credit needs all of: `seed_file_trusted`; the lock held; a regular file,
//   at least kMinBytes, owned by the effective uid (the uid the file was
//   written as), not writable by group or others, with one link (a hard link
//   under another name would have another lock file); and its directory owned
//   by the effective uid or root and not writable by group or others unless
//   sticky (in a sticky directory such as /tmp only the owner can rename or
//   unlink the file). Only the file's own directory is checked, not its
//   ancestors. Every check is on the open descriptors (fstat), not on names.
// - A missing, short, oversized, unreadable or odd file is a load status, not
//   a failure: the pool starts anyway. Only kMaxBytes are read; a longer file
//   reports SeedLoadStatus::oversized and its first kMaxBytes are still
//   credited under the rules above (who can write a file does not depend on
//   its length, and it is replaced at once).
// - Secrets: content lives in SeedBytes, which wipes itself
//   (OPENSSL_cleanse); no seed byte is ever copied to the stack, which matters
//   when this runs inside an ASYNC job (32 KiB stack, no guard page).
// - No exceptions, no logging: results carry a code and the errno.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace seedpool::pool {

// A heap byte buffer for secrets: wiped with OPENSSL_cleanse when cleared,
// truncated, moved from or destroyed. Move-only.
class SeedBytes {
 public:
  SeedBytes() noexcept = default;
  ~SeedBytes() { clear(); }
  SeedBytes(SeedBytes&& other) noexcept;
  SeedBytes& operator=(SeedBytes&& other) noexcept;
  SeedBytes(const SeedBytes&) = delete;
  SeedBytes& operator=(const SeedBytes&) = delete;

  // `len` zero bytes. False (and `out` left empty) when out of memory.
  [[nodiscard]] static bool allocate(std::size_t len, SeedBytes& out) noexcept;

  std::span<const std::uint8_t> bytes() const noexcept {
    return {data_, size_len_};
  }
  std::span<std::uint8_t> mutable_bytes() noexcept { return {data_, size_len_}; }
  std::size_t size() const noexcept { return size_len_; }
  bool empty() const noexcept { return size_len_ == 0; }

  // Keeps the first `len` bytes and wipes the rest (no-op if len >= size()).
  void truncate(std::size_t len) noexcept;
  // Wipes and frees.
  void clear() noexcept;

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_len_ = 0;
  std::size_t capacity_len_ = 0;  // what clear() wipes and frees
};

enum class [[nodiscard]] SeedFileErrc : std::uint8_t {
  ok = 0,
  invalid_argument,    // path without a file name, name too long, replacement
                       // outside kMinBytes..kMaxBytes, moved-from session
  out_of_memory,
  dir_open_failed,     // the file's directory cannot be opened (missing,
                       // not a directory, no permission)
  lock_failed,         // `<path>.lock` cannot be created, opened or locked
  lock_timed_out,      // another holder kept the lock past the bound
  temp_create_failed,  // no temporary file (EACCES, EROFS, ENOSPC, ...)
  write_failed,        // fchmod, write or close of the temporary file
  sync_failed,         // fsync of the temporary file
  rename_failed,       // rename over the target (e.g. it is a directory)
  dir_sync_failed,     // renamed -- the new content is in place -- but the
                       // directory fsync failed: it may not survive a crash
};
const char* describe(SeedFileErrc e) noexcept;

struct [[nodiscard]] SeedFileResult {
  SeedFileErrc errc = SeedFileErrc::ok;
  int sys_errno = 0;  // the failing call's errno; 0 when ok
  bool ok() const noexcept { return errc == SeedFileErrc::ok; }
};

// What loading found. Everything but `loaded` is a warning for statistics.
enum class SeedLoadStatus : std::uint8_t {
  loaded,       // kMinBytes..kMaxBytes read
  oversized,    // longer than kMaxBytes: the first kMaxBytes read
  short_file,   // fewer than kMinBytes (maybe 0): returned, never credited
  missing,      // no such file (or no such directory): nothing read
  symlink,      // the last path component is a symbolic link: not read
  not_regular,  // a directory, FIFO, device or socket: not read
  unreadable,   // open, fstat or read failed (sys_errno says why)
};
// Stable lower-case names ("loaded", "short_file", ...) for statistics.
const char* seed_load_status_name(SeedLoadStatus s) noexcept;

// Whether the content may be credited; otherwise the first rule it breaks,
// checked in this order.
enum class SeedCredit : std::uint8_t {
  allowed,
  no_content,          // missing, symlink, not_regular or unreadable
  too_short,           // short_file
  not_trusted,         // seed_file_trusted is off (the default)
  not_locked,          // the lock could not be taken: another process may
                       // read the same content
  wrong_owner,         // not owned by the effective uid
  writable_by_others,  // group- or other-writable
  hard_linked,         // more than one link
  unsafe_directory,    // directory owned by another non-root user, or
                       // group/other-writable and not sticky
};
const char* seed_credit_name(SeedCredit c) noexcept;

enum class SeedTrust : std::uint8_t { untrusted, trusted };

struct SeedLoad {
  SeedLoadStatus status = SeedLoadStatus::missing;
  int sys_errno = 0;  // for missing and unreadable
  SeedCredit credit = SeedCredit::no_content;
  SeedBytes content;  // empty unless loaded, oversized or short_file

  bool credit_allowed() const noexcept { return credit == SeedCredit::allowed; }
};

// A locked load-and-replace session:
//
//   auto session = SeedFile::open_and_lock(path, SeedTrust::trusted);
//   pool.mix(session.load().content.bytes());        // credit only if
//   ... session.load().credit_allowed() ...          // replace() succeeds
//   SeedFileResult r = session.replace(fresh_bytes);  // fresh pool output
//   // the lock is released when `session` is destroyed
//
// If replace() fails (other than dir_sync_failed), the file still holds the
// content just loaded and the next start will read it again: the caller must
// then not credit it. A session has one owner; it is not thread-safe.
class SeedFile {
 public:
  // Below this a file is short: never credited; replacements must be larger.
  static constexpr std::size_t kMinBytes = 32;
  // At most this much is read; replacements must not be larger.
  static constexpr std::size_t kMaxBytes = 4096;
  // Another seedpool process holds the lock only for a read, a write and two
  // fsyncs; a holder that never lets go (a stopped process) must not hang
  // our start, so the wait is bounded.
  static constexpr std::chrono::milliseconds kDefaultLockTimeout{5000};

  // Locks `<path>.lock` (waiting at most `lock_timeout`), then reads `path`.
  // Never fails as a whole: a lock failure is lock_result() (the content is
  // still read, for mixing, and not credited), a read problem is
  // load().status.
  [[nodiscard]] static SeedFile open_and_lock(
      std::string_view path, SeedTrust trust,
      std::chrono::milliseconds lock_timeout = kDefaultLockTimeout) noexcept;

  // Teardown: takes the same lock, then replaces `path` with `bytes`. A lock
  // that cannot be taken is the error: nothing is written.
  [[nodiscard]] static SeedFileResult save(
      std::string_view path, std::span<const std::uint8_t> bytes,
      std::chrono::milliseconds lock_timeout = kDefaultLockTimeout) noexcept;

  SeedFile(SeedFile&& other) noexcept;
  SeedFile& operator=(SeedFile&& other) noexcept;
  SeedFile(const SeedFile&) = delete;
  SeedFile& operator=(const SeedFile&) = delete;
  ~SeedFile();  // releases the lock; content is wiped

  bool locked() const noexcept { return lock_fd_ >= 0; }
  // ok when locked; otherwise why not (dir_open_failed, lock_failed, ...).
  SeedFileResult lock_result() const noexcept { return lock_result_; }
  const SeedLoad& load() const noexcept { return load_; }
  // Wipes the loaded content early (e.g. as soon as it is mixed).
  void clear_content() noexcept { load_.content.clear(); }

  // Atomically replaces the file with `bytes` (kMinBytes..kMaxBytes), mode
  // 0600. Allowed without the lock too: a write can never make two sessions
  // credit one content, because only lock holders credit and each replaces
  // before unlocking.
  SeedFileResult replace(std::span<const std::uint8_t> bytes) noexcept;

 private:
  SeedFile() noexcept = default;
  // Splits the path, opens the directory and takes the lock; reads nothing.
  static SeedFile open_locked(std::string_view path,
                              std::chrono::milliseconds lock_timeout) noexcept;
  void reset() noexcept;

  int dir_fd_ = -1;
  int lock_fd_ = -1;
  char* name_ = nullptr;  // the last path component, heap, NUL-terminated
  SeedFileResult lock_result_{SeedFileErrc::invalid_argument, 0};
  SeedLoad load_;
};

}  // namespace seedpool::pool
