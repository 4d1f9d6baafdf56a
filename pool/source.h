// A noise source: something the pool reads raw samples from.
//
// Every read is non-blocking. Readiness comes from one of two places, fixed
// for the source's lifetime: an fd that polls readable (POLLIN) when read()
// may return data, or, for a source without a usable fd, a retry timer. The
// gatherer thread drives all sources that way (io_uring or poll()); the
// synchronous pool uses wait_ready(), whose default is built on the same two.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

namespace seedpool::pool {

enum class SourceStatus : std::uint8_t {
  ok,         // delivering
  not_ready,  // present, nothing to read yet (e.g. kernel CRNG not seeded)
  absent,     // not on this system (ENOSYS, ENOENT, ...)
  failed,     // returned an error; taken out
  exhausted,  // read through to its end (a regular file); never read again
  unhealthy,  // failed its SP 800-90B health tests for good; taken out
};
const char* source_status_name(SourceStatus s) noexcept;

struct SourceRead {
  // exhausted: the source has reached its end (a regular file at EOF) and
  // will never deliver again. Not an error, and nothing to wait for.
  enum class Kind : std::uint8_t { data, would_block, absent, error, exhausted };
  Kind kind;
  std::size_t bytes;  // valid for Kind::data
  int sys_errno;      // for absent/error
};

class Source {
 public:
  // Retry period of a source without a readiness fd, unless it says better.
  static constexpr std::chrono::milliseconds kDefaultRetryInterval{10};

  virtual ~Source() = default;
  Source() = default;
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  virtual const char* name() const noexcept = 0;
  // Reads up to out.size() raw bytes without blocking.
  virtual SourceRead read(std::span<std::uint8_t> out) noexcept = 0;
  // Waits (bounded) until read() may return data. Returns false on timeout.
  // Default: poll(2) poll_fd() for POLLIN; without an fd, sleep
  // retry_interval() and return true, or the whole timeout when that is
  // shorter and return false.
  virtual bool wait_ready(std::chrono::milliseconds timeout) noexcept;

  // An fd that polls readable (POLLIN) when read() may return data, or -1
  // when there is none: then the gatherer retries after retry_interval().
  // The same value for the source's whole life (opened at construction), so
  // a poll registered on it never goes stale. Only the source reads it.
  virtual int poll_fd() const noexcept { return -1; }
  // The retry period when poll_fd() is -1, and the back-off after a
  // would_block (some drivers poll readable and still say EAGAIN).
  virtual std::chrono::milliseconds retry_interval() const noexcept {
    return kDefaultRetryInterval;
  }
  // Whether a caller refilling inline (on its own thread, under the pool's
  // lock) may read this source. False for slow devices (/dev/hwrng: a read
  // may wait for the driver's fetch): only the gatherer thread reads those.
  virtual bool reads_inline() const noexcept { return true; }
  // Whether a read that returns fewer bytes than asked has emptied the
  // source, so that the next read would say would_block: a pipe or FIFO
  // (Linux's pipe_read copies until the request is met or the pipe is
  // empty). The pool then waits for poll_fd() to poll readable instead of
  // reading again only to hear EAGAIN. False (the default) where a short
  // read says nothing about the next one.
  virtual bool short_read_empties() const noexcept { return false; }
};

}  // namespace seedpool::pool
