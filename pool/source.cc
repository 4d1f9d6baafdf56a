#include "pool/source.h"

#include <thread>

#include "pool/source_io.h"

namespace seedpool::pool {

const char* source_status_name(SourceStatus s) noexcept {
  switch (s) {
    case SourceStatus::ok: return "ok";
    case SourceStatus::not_ready: return "not_ready";
    case SourceStatus::absent: return "absent";
    case SourceStatus::failed: return "failed";
    case SourceStatus::exhausted: return "exhausted";
    case SourceStatus::unhealthy: return "unhealthy";
  }
  return "unknown";
}

bool Source::wait_ready(std::chrono::milliseconds timeout) noexcept {
  if (const int fd = poll_fd(); fd >= 0)
    return source_io::poll_readable(fd, timeout);
  // No readiness signal: the retry timer is all there is. "Ready" means
  // "worth another read", never a promise of data.
  const std::chrono::milliseconds pause = retry_interval();
  if (timeout < pause) {
    std::this_thread::sleep_for(timeout);
    return false;
  }
  std::this_thread::sleep_for(pause);
  return true;
}

}  // namespace seedpool::pool
