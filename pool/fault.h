// Fault injection for tests: named points on slow paths that a test arms to
// fail the next N times it is reached, to prove the failure is handled (the
// caller gets an error or falls back; nothing hangs, nothing leaks).
//
//   fault::arm(fault::Point::gatherer_start, 1);  // next thread start fails
//
// Nothing arms a point in production. Checking one is a relaxed atomic
// load, and no point sits on a hot path (thread start, ring set-up, eventfd
// creation happen once per pool, reactor or wait ctx; the hold point once
// per gatherer round, which is not per request). Process-wide; not
// reachable through seedpool.so's exported symbols, only by code linked
// with the static libraries (the unit tests).
#pragma once

#include <cstdint>

namespace seedpool::pool::fault {

enum class Point : std::uint8_t {
  io_uring_init,   // io_uring_queue_init fails with ENOMEM (poll fallback)
  gatherer_start,  // the gatherer thread cannot be started (EAGAIN)
  eventfd,         // async/: eventfd() fails with EMFILE inside a job
  // Not a failure: the gatherer thread, at the top of a round with the
  // pool's lock held, stays there for hold_duration() (hold() below), so a
  // test can fork() while the lock is taken by another thread.
  gatherer_hold_lock,
  // Likewise inside PrivateDefault::acquire_shared, its lock held.
  private_default_hold_lock,
  kCount,
};

// The next `times` passes through `p` fail (0 disarms it).
void arm(Point p, std::uint32_t times) noexcept;
void disarm_all() noexcept;
// True (and one armed failure consumed) when this pass must fail.
[[nodiscard]] bool hit(Point p) noexcept;

// For hold points (gatherer_hold_lock, private_default_hold_lock): the code at the point calls hold()
// when hit() says so. hold() sets holding() for its duration (default
// 300 ms), sleeping in between; a test waits for holding() to know the
// holder is inside its window.
void set_hold_duration(std::uint32_t milliseconds) noexcept;
void hold() noexcept;
[[nodiscard]] bool holding() noexcept;

}  // namespace seedpool::pool::fault
