#include "pool/getrandom_source.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>

namespace seedpool::pool {

const char* source_status_name(SourceStatus s) noexcept {
  switch (s) {
    case SourceStatus::ok: return "ok";
    case SourceStatus::not_ready: return "not_ready";
    case SourceStatus::absent: return "absent";
    case SourceStatus::failed: return "failed";
  }
  return "unknown";
}

GetrandomSource::~GetrandomSource() {
  if (random_fd_ >= 0) (void)::close(random_fd_);
}

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
  std::call_once(open_once_, [this] {
    random_fd_ = ::open("/dev/random", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  });
  if (random_fd_ < 0) return false;
  pollfd p{random_fd_, POLLIN, 0};
  int ms = static_cast<int>(timeout.count());
  for (;;) {
    int r = ::poll(&p, 1, ms);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace seedpool::pool
