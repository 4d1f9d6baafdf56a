// The gatherer thread's event loop: wait until one of a set of fds polls
// readable, a timeout passes, or another thread calls wake().
//
// Two implementations with one contract, so the pool runs the same code on
// both and the same tests cover both:
//  - io_uring (liburing): one IORING_OP_POLL_ADD per watched fd, kept armed
//    across waits and removed (IORING_OP_POLL_REMOVE) when the fd is no
//    longer watched; the timeout is the wait's own (io_uring_submit_and_
//    wait_timeout: IORING_ENTER_EXT_ARG where the kernel has it, otherwise
//    liburing queues an IORING_OP_TIMEOUT); the wake-up is an eventfd polled
//    the same way. A wait with nothing to do costs one io_uring_enter.
//  - poll(2), where io_uring is unavailable: the kernel lacks it (ENOSYS), a
//    seccomp filter or the kernel.io_uring_disabled sysctl refuses it
//    (EPERM), or the limits say no (ENOMEM, EMFILE). SEEDPOOL_NO_IO_URING=1
//    in the environment forces it. The reason is kept for the statistics.
//
// Sources are read with their own non-blocking read() once their fd polls
// readable (or their timer is due), not with IORING_OP_READ. On /dev/hwrng,
// whose driver has neither a poll method nor FMODE_NOWAIT, a READ on the
// O_NONBLOCK fd ends at once with -EAGAIN (io_uring/rw.c sets REQ_F_NOWAIT
// for O_NONBLOCK files that lack FMODE_NOWAIT), and a READ on a blocking fd
// parks an io-wq kernel worker inside the driver, holding the hw_random
// core's reading mutex, for a read the pool cannot withdraw quickly at
// teardown: a 64-byte non-blocking read on a timer is what works there. For
// FIFOs and devices that poll, POLL_ADD then read(2) costs the same as a
// READ and keeps each source's EOF/EAGAIN rules in one place (its read()).
//
// One thread calls wait(); wake() may be called from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pool/errc.h"

namespace seedpool::pool {

class Reactor {
 public:
  enum class Kind : std::uint8_t { io_uring, poll };

  // io_uring unless `force_poll` or it is unavailable; then poll(), with
  // the reason in `fallback_reason`. Errc::out_of_memory when not even the
  // wake-up eventfd can be made.
  static Errc create(bool force_poll, std::unique_ptr<Reactor>& out,
                     std::string& fallback_reason);
  // The environment's say: true when SEEDPOOL_NO_IO_URING is set to
  // something other than "" or "0".
  static bool io_uring_disabled_by_env() noexcept;

  virtual ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  virtual Kind kind() const noexcept = 0;
  // Waits until an fd in `fds` polls readable (or reports an error or hang
  // up: the source's read() then says what happened), wake() is called, or
  // `timeout` passes (std::nullopt: no timeout). `ready` receives the fds
  // that are readable. Spurious returns are allowed; callers re-check.
  virtual Errc wait(std::span<const int> fds,
                    std::optional<std::chrono::nanoseconds> timeout,
                    std::vector<int>& ready) noexcept = 0;
  // Makes the current or next wait() return. Thread-safe; one write(2).
  void wake() noexcept;

  // In a forked child: the ring and fds are shared with the parent's, which
  // the child must never drive. Closes this process's copies without
  // touching the parent's state; the object is then unusable.
  virtual void abandon_after_fork() noexcept;

 protected:
  explicit Reactor(int wake_fd) noexcept : wake_fd_(wake_fd) {}
  // Reads the eventfd dry (non-blocking).
  void drain_wake() noexcept;
  int wake_fd_;
};

const char* reactor_kind_name(Reactor::Kind k) noexcept;

}  // namespace seedpool::pool
