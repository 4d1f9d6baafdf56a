// System-call helpers shared by the fd-based sources: one owner per fd,
// EINTR handled once, read(2) results mapped to SourceRead once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "pool/source.h"

namespace seedpool::pool::source_io {

// Owns one fd and closes it in the destructor.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the held fd (close(2)'s result is ignored: on Linux the fd is
  // gone even when close reports EINTR or EIO, and it must not be retried).
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// open(2), restarted on EINTR. O_CLOEXEC is always added. Returns the fd, or
// an invalid UniqueFd with errno set.
UniqueFd open_fd(const char* path, int flags) noexcept;

// One read(2) into `out`, restarted on EINTR, as a SourceRead: EAGAIN ->
// would_block; ENODEV/ENXIO (the device went away) -> absent; other errors
// -> error; 0 bytes for a non-empty buffer -> `on_eof`. An empty `out` is
// data of 0 bytes without a system call (read(2) would say 0, i.e. EOF).
SourceRead read_once(int fd, std::span<std::uint8_t> out,
                     SourceRead::Kind on_eof) noexcept;

// poll(2) for POLLIN for up to `timeout` (restarted on EINTR with the time
// left). True when poll reports any event (POLLIN, or POLLHUP/POLLERR, which
// the next read() turns into a status); false on timeout or poll failure.
bool poll_readable(int fd, std::chrono::milliseconds timeout) noexcept;

// Reads at most `max_len` bytes of a small text file (sysfs, procfs) into
// `out`. False, with errno set, when it cannot be opened or read.
bool read_small_file(const char* path, std::size_t max_len,
                     std::string& out) noexcept;

}  // namespace seedpool::pool::source_io
