#include "provider/stats_file.h"

#include "provider/random_bytes.h"
#include "provider/stats_params.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace seedpool::provider {

std::string format_stats_line(const pool::Pool& pool) {
  const pool::Stats s = pool.stats();
  std::string line = "seedpool pid=" + std::to_string(::getpid());
  auto add = [&line](const char* k, const std::string& v) {
    line += ' ';
    line += k;
    line += '=';
    line += v;
  };
  add("entropy_available", std::to_string(s.entropy_available_bits));
  add("pool_size", std::to_string(s.pool_size_bits));
  add("bytes_served", std::to_string(s.bytes_served));
  add("requests_served", std::to_string(s.requests_served));
  add("requests_failed", std::to_string(s.requests_failed));
  add("requests_timed_out", std::to_string(s.requests_timed_out));
  add("requests_paused", std::to_string(s.requests_paused));
  add("requests_resumed", std::to_string(s.requests_resumed));
  add("paused_timed_out", std::to_string(s.paused_timed_out));
  add("async_callbacks", std::to_string(s.async_callbacks));
  add("bits_credited", std::to_string(s.bits_credited));
  add("epoch", std::to_string(s.epoch));
  add("health", pool::health_name(s.health));
  add("sources", pool::format_sources(s));
  add("source_bytes", format_source_bytes(s));
  add("requests_queued", std::to_string(s.requests_queued));
  add("gatherer", s.gatherer);  // no blanks: one word per value here
  add("gatherer_wakeups", std::to_string(s.gatherer_wakeups));
  add("memory", format_memory(s));
  add("seed_file", format_seed_file(s));
  // OpenSSL 3.5's random_provider: what proves it served RAND_bytes.
  const RandomProviderStats rs = random_provider_stats();
  add("random_provider_calls", std::to_string(rs.calls));
  add("random_provider_bytes", std::to_string(rs.bytes));
  add("random_provider_failed", std::to_string(rs.failed));
  line += '\n';
  return line;
}

void write_stats_file(const pool::Pool& pool) noexcept {
  const char* path = secure_getenv("SEEDPOOL_STATS_FILE");
  if (path == nullptr || *path == '\0') return;
  try {
    const std::string line = format_stats_line(pool);
    int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return;
    // One write(2) per line: with O_APPEND, lines of concurrent processes
    // do not interleave.
    (void)!::write(fd, line.data(), line.size());
    (void)::close(fd);
  } catch (...) {
  }
}

}  // namespace seedpool::provider
