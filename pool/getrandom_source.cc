#include "pool/getrandom_source.h"

#include <fcntl.h>
#include <sys/random.h>

#include <cerrno>

namespace seedpool::pool {

GetrandomSource::GetrandomSource() noexcept
    : random_fd_(source_io::open_fd("/dev/random", O_RDONLY | O_NONBLOCK)) {}

SourceRead GetrandomSource::read(std::span<std::uint8_t> out) noexcept {
  for (;;) {
    ssize_t n = ::getrandom(out.data(), out.size(), GRND_NONBLOCK);
    if (n >= 0) return {SourceRead::Kind::data, static_cast<std::size_t>(n), 0};
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN) return {SourceRead::Kind::would_block, 0, e};
    if (e == ENOSYS) return {SourceRead::Kind::absent, 0, e};
    return {SourceRead::Kind::error, 0, e};
  }
}

bool GetrandomSource::wait_ready(std::chrono::milliseconds timeout) noexcept {
  if (!random_fd_.valid()) return false;
  return source_io::poll_readable(random_fd_.get(), timeout);
}

}  // namespace seedpool::pool
