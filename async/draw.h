// How a provider call gets bytes from the pool: the one place that decides
// between answering now, waiting with a bound, and pausing the caller's
// OpenSSL ASYNC job.
//
// Inside a job (ASYNC_get_current_job() != NULL), with pausing allowed, a
// request the pool cannot serve now is queued (pool::Request) and the job
// pauses instead of blocking its thread:
//  - the job's ASYNC_WAIT_CTX gets one eventfd under seedpool's key
//    (EFD_NONBLOCK|EFD_CLOEXEC), created at the first pause and reused for
//    every later one: ASYNC_WAIT_CTX_get_changed_fds reports it added once.
//    Its cleanup, run by ASYNC_WAIT_CTX_free (e.g. SSL_free, even while the
//    job is paused), withdraws a queued request, waits out a callback that
//    is running, closes the fd and cleanses the bytes it held;
//  - status ASYNC_STATUS_OK while queued (the callback will come),
//    ASYNC_STATUS_EAGAIN when the pool cannot queue now (its gatherer
//    thread could not start: the application should just resume the job;
//    the fd is made readable for applications that poll it), and
//    ASYNC_STATUS_ERR when the request ended in an error;
//  - the pool's gatherer thread copies the bytes (into the waiter's own
//    buffer, never the job's stack or the instance's state: several jobs
//    share one thread's instance, and a paused job may never run again),
//    sets the status, writes the eventfd and then calls the application's
//    callback (ASYNC_WAIT_CTX_get_callback) when one is set. At the deadline
//    (config async_timeout_ms) it does the same with timed_out: a paused
//    request always ends, and the fd always becomes readable (HAProxy,
//    closing a connection whose job is paused, waits for that);
//  - on resume the job drains the eventfd and re-checks (other events
//    resume jobs too; a job resumed early pauses again), takes the bytes
//    and returns.
// A job whose wait ctx already has a paused seedpool request (two jobs
// sharing one wait ctx), a job without a wait ctx, and a job whose pauses
// keep returning without the request moving (the application called
// ASYNC_block_pause) wait in the thread instead, bounded by the deadline.
//
// Outside a job, or with pausing forbidden, the caller's thread waits at
// most block_timeout_ms (0: fails at once). Never short output.
//
// Code here runs on a job's stack (32 KiB on OpenSSL 3.0 and 3.5, no guard
// page, a TLS 1.3 handshake already uses ~13 KiB of it): no large locals,
// no formatted logging.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "pool/errc.h"
#include "pool/pool.h"

namespace seedpool::async {

// Whether the caller may be paused. OpenSSL holds its primary DRBG's lock
// around a seed source's get_seed, and our own instance lock around any
// instance with locking enabled: those callers must never pause.
enum class Pausing : std::uint8_t { forbidden, allowed };

struct DrawRequest {
  std::span<std::uint8_t> out;  // 1..pool::Pool::kMaxRequestBytes
  std::span<const std::uint8_t> adin;
  bool prediction_resistance = false;
  Pausing pausing = Pausing::forbidden;
};

// Fills req.out with full-entropy pool output, or fails with the reason
// (nothing is left in req.out then). See above for when it pauses.
[[nodiscard]] pool::Errc draw(const std::shared_ptr<pool::Pool>& pool,
                              const DrawRequest& req) noexcept;

}  // namespace seedpool::async
