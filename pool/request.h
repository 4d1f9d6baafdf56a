// A request for full-entropy bytes, after NetBSD's rndsink(9):
//
//   Request r(pool, 32, [](Errc rc, std::span<const std::uint8_t> bytes) {
//     // on the gatherer thread: rc == ok and `bytes` holds 32 bytes (valid
//     // only during the call, wiped after it), or rc says why not
//   });
//   Errc rc = r.request(buf);   // ok: `buf` filled now, no callback
//                               // pending: the callback will run
//   r.schedule();               // no attempt now: just queue the callback
//   // destroying `r` (or r.cancel()) withdraws a queued request and waits
//   // for a callback that is running, unless called from that callback
//
// Waiters are served strictly in the order they were queued; while any is
// queued, the pool serves nobody inline. Only full-entropy bytes are ever
// handed over: a request that cannot be served gets an error, never short
// or unseeded output.
//
// Callbacks run on the gatherer thread without the pool's lock: they should
// be short (copy the bytes, write an eventfd). They may call request(),
// schedule() or cancel() on any Request, destroy their own Request, and
// use the Pool; they must not wait for another callback.
//
// A Request must not outlive its Pool. After fork() the child's copy of a
// request queued in the parent is idle: the child re-asks if it wants.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "pool/errc.h"

namespace seedpool::pool {

class Pool;

class Request {
 public:
  using Clock = std::chrono::steady_clock;
  // rc: ok (bytes valid for the call), timed_out (the deadline passed),
  // no_usable_source (every source failed), cancelled (fork, teardown) or
  // conditioner_failed. `bytes` is empty unless rc == ok.
  using Callback = std::function<void(Errc rc, std::span<const std::uint8_t> bytes)>;

  // `bytes`: 1..Pool::kMaxRequestBytes (else every call says
  // invalid_argument / request_too_large). `fresh` is prediction
  // resistance: bytes only from entropy credited after the request.
  Request(Pool& pool, std::size_t bytes, Callback callback, bool fresh = false);
  ~Request();
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  std::size_t size() const noexcept { return len_; }

  // rndsink_request: `out` (exactly size() bytes) is filled now with full
  // entropy (Errc::ok; no callback), or the request is queued
  // (Errc::pending; the callback will run, with `deadline` bounding the
  // wait: then timed_out). Already queued: pending, nothing changes. Other
  // errors are final (nothing queued), and counted in the pool's
  // requests_failed, except gatherer_failed (the gatherer thread could not
  // be started now): the caller may try again, and counts it
  // (Pool::count_result) when it gives up.
  Errc request(std::span<std::uint8_t> out,
               Clock::time_point deadline = Clock::time_point::max());
  // rndsink_schedule: queue the callback without trying now.
  Errc schedule(Clock::time_point deadline = Clock::time_point::max());
  // Withdraws a queued request; waits for a running callback to return
  // (except from inside that callback). Afterwards no callback runs.
  void cancel() noexcept;
  // True while queued or while its callback runs.
  bool pending() const noexcept;

 private:
  friend class Pool;
  enum class State : std::uint8_t { idle, queued, running };
  // Under the pool's lock: false if already queued (nothing to do), after
  // waiting out a callback running on another thread.
  bool settle_locked(std::unique_lock<std::mutex>& lk);

  Pool& pool_;
  const std::size_t len_;
  const Callback callback_;
  const bool fresh_;
  // All below guarded by the pool's mutex.
  State state_ = State::idle;
  Clock::time_point deadline_ = Clock::time_point::max();
  std::uint64_t credited_mark_ = 0;  // pool's bits_credited when queued
  Request* prev_ = nullptr;
  Request* next_ = nullptr;
  std::vector<std::uint8_t> buf_;  // filled block by block; wiped
  std::size_t filled_ = 0;
};

}  // namespace seedpool::pool
