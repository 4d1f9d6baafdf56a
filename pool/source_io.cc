#include "pool/source_io.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>

namespace seedpool::pool::source_io {

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) (void)::close(fd_);
  fd_ = fd;
}

UniqueFd open_fd(const char* path, int flags) noexcept {
  for (;;) {
    int fd = ::open(path, flags | O_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != EINTR) return UniqueFd();
  }
}

SourceRead read_once(int fd, std::span<std::uint8_t> out,
                     SourceRead::Kind on_eof) noexcept {
  if (out.empty()) return {SourceRead::Kind::data, 0, 0};
  for (;;) {
    ssize_t n = ::read(fd, out.data(), out.size());
    if (n > 0) return {SourceRead::Kind::data, static_cast<std::size_t>(n), 0};
    if (n == 0) return {on_eof, 0, 0};
    const int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK)
      return {SourceRead::Kind::would_block, 0, e};
    if (e == ENODEV || e == ENXIO) return {SourceRead::Kind::absent, 0, e};
    return {SourceRead::Kind::error, 0, e};
  }
}

bool poll_readable(int fd, std::chrono::milliseconds timeout) noexcept {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        std::max(deadline - Clock::now(), Clock::duration::zero()));
    const int ms = static_cast<int>(
        std::min<std::chrono::milliseconds::rep>(left.count(), 0x7fffffff));
    int r = ::poll(&p, 1, ms);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

bool read_small_file(const char* path, std::size_t max_len,
                     std::string& out) noexcept {
  UniqueFd fd = open_fd(path, O_RDONLY | O_NOCTTY);
  if (!fd.valid()) return false;
  try {
    out.assign(max_len, '\0');
  } catch (const std::bad_alloc&) {
    errno = ENOMEM;
    return false;
  }
  std::size_t got = 0;
  while (got < max_len) {
    ssize_t n = ::read(fd.get(), out.data() + got, max_len - got);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      out.clear();
      return false;
    }
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return true;
}

}  // namespace seedpool::pool::source_io
