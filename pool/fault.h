// Fault injection for tests: named points on slow paths that a test arms to
// fail the next N times it is reached, to prove the failure is handled (the
// caller gets an error or falls back; nothing hangs, nothing leaks).
//
//   fault::arm(fault::Point::gatherer_start, 1);  // next thread start fails
//
// Nothing arms a point in production. Checking one is a relaxed atomic
// load, and no point sits on a hot path (thread start, ring set-up, eventfd
// creation happen once per pool, reactor or wait ctx). Process-wide; not
// reachable through seedpool.so's exported symbols, only by code linked
// with the static libraries (the unit tests).
#pragma once

#include <cstdint>

namespace seedpool::pool::fault {

enum class Point : std::uint8_t {
  io_uring_init,   // io_uring_queue_init fails with ENOMEM (poll fallback)
  gatherer_start,  // the gatherer thread cannot be started (EAGAIN)
  eventfd,         // async/: eventfd() fails with EMFILE inside a job
  kCount,
};

// The next `times` passes through `p` fail (0 disarms it).
void arm(Point p, std::uint32_t times) noexcept;
void disarm_all() noexcept;
// True (and one armed failure consumed) when this pass must fail.
[[nodiscard]] bool hit(Point p) noexcept;

}  // namespace seedpool::pool::fault
