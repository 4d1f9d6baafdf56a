#include "async/draw.h"

#include <openssl/async.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>

#include "pool/fault.h"
#include "pool/request.h"

// What this relies on in OpenSSL's ASYNC code (crypto/async/async.c and
// async_wait.c, identical in what matters in 3.0.22 and 3.5.7):
//  - ASYNC_WAIT_CTX_get_fd/set_wait_fd find and add entries by key; the
//    cleanup runs only at ASYNC_WAIT_CTX_free (not at clear_fd), so an
//    entry we never clear is ours until the wait ctx goes;
//  - ASYNC_pause_job resets the wait ctx's added/deleted counts after each
//    real pause, so a reused fd is reported added once;
//  - ASYNC_pause_job returns 1 without pausing when pauses are blocked
//    (ASYNC_block_pause), and there is no way to ask whether they are;
//  - ASYNC_WAIT_CTX_set_status and get_callback only store and load fields,
//    so the gatherer thread may call them (QAT_Engine does the same);
//  - SSL_free frees the wait ctx of a connection whose job is paused and
//    never resumes that job (ssl/ssl_lib.c): nothing after our pause may be
//    needed to release what the pause holds.
namespace seedpool::async {
namespace {

using Clock = std::chrono::steady_clock;

// Its address is seedpool's key in every ASYNC_WAIT_CTX.
const char kWaitKey = 0;

// Pauses in a row that returned at once (within kInstantResume) with the
// request still queued, after which pauses are taken to be blocked
// (ASYNC_block_pause): the job then waits in its thread. A real pause goes
// through the application's event loop and takes longer.
constexpr int kMaxInstantResumes = 16;
constexpr auto kInstantResume = std::chrono::microseconds(20);
// The gatherer ends a queued request at its deadline; a job still waiting
// this long after it gives up by itself.
constexpr auto kBackstop = std::chrono::seconds(1);

// One per ASYNC_WAIT_CTX (per SSL object): the eventfd, the queued request
// and the bytes it brought, owned by the wait ctx through its cleanup.
class Waiter {
 public:
  // The wait ctx's waiter, created (eventfd, wait ctx entry) if it has none.
  static pool::Errc get(ASYNC_WAIT_CTX* ctx, Waiter*& out) noexcept;

  // Draws req.out, pausing the current job until the pool serves it, the
  // deadline passes or it fails. Arguments already checked.
  pool::Errc draw(const std::shared_ptr<pool::Pool>& pool,
                  const DrawRequest& req, Clock::time_point deadline) noexcept;

  bool busy() const noexcept { return busy_; }

 private:
  Waiter(ASYNC_WAIT_CTX* ctx, int fd) noexcept : ctx_(ctx), fd_(fd) {}
  ~Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  static void cleanup(ASYNC_WAIT_CTX*, const void*, OSSL_ASYNC_FD,
                      void* data) noexcept {
    delete static_cast<Waiter*>(data);
  }
  // A Request of this size for this pool, and a buffer to hold its bytes.
  pool::Errc prepare(const std::shared_ptr<pool::Pool>& pool, std::size_t len,
                     bool fresh) noexcept;
  // On the gatherer thread, without the pool's lock.
  void on_done(pool::Errc rc, std::span<const std::uint8_t> bytes) noexcept;
  void signal() noexcept;
  void drain() noexcept;
  // Waits in this thread for the fd to become readable, up to `deadline`.
  void wait_fd(Clock::time_point deadline) noexcept;
  void release_buffer() noexcept;

  ASYNC_WAIT_CTX* const ctx_;
  const int fd_;
  std::shared_ptr<pool::Pool> pool_;
  std::unique_ptr<pool::Request> request_;
  bool fresh_ = false;
  bool busy_ = false;  // a job is inside draw() (the job's thread only)
  // The request's bytes, between the callback and the job taking them.
  std::uint8_t* buf_ = nullptr;
  std::size_t buf_len_ = 0;
  // Written by on_done before done_ (release), read after it (acquire).
  pool::Errc result_ = pool::Errc::ok;
  std::atomic<bool> done_{false};
};

pool::Errc Waiter::get(ASYNC_WAIT_CTX* ctx, Waiter*& out) noexcept {
  OSSL_ASYNC_FD fd = -1;
  void* data = nullptr;
  if (ASYNC_WAIT_CTX_get_fd(ctx, &kWaitKey, &fd, &data) == 1 &&
      data != nullptr) {
    out = static_cast<Waiter*>(data);
    return pool::Errc::ok;
  }
  const int efd = pool::fault::hit(pool::fault::Point::eventfd)
                      ? (errno = EMFILE, -1)
                      : ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return pool::Errc::wait_fd_failed;
  auto* w = new (std::nothrow) Waiter(ctx, efd);
  if (w == nullptr) {
    (void)::close(efd);
    return pool::Errc::out_of_memory;
  }
  if (ASYNC_WAIT_CTX_set_wait_fd(ctx, &kWaitKey, efd, w, &Waiter::cleanup) != 1) {
    delete w;  // closes the fd: the wait ctx never had it
    return pool::Errc::wait_fd_failed;
  }
  out = w;
  return pool::Errc::ok;
}

Waiter::~Waiter() {
  // Withdraws a queued request and waits out a callback that is running
  // (unless this runs inside that callback): no callback after this.
  request_.reset();
  release_buffer();
  (void)::close(fd_);
}

void Waiter::release_buffer() noexcept {
  if (buf_ != nullptr) OPENSSL_secure_clear_free(buf_, buf_len_);
  buf_ = nullptr;
  buf_len_ = 0;
}

pool::Errc Waiter::prepare(const std::shared_ptr<pool::Pool>& pool,
                           std::size_t len, bool fresh) noexcept {
  if (request_ &&
      (pool_ != pool || request_->size() != len || fresh_ != fresh))
    request_.reset();  // idle: not busy, so nothing is queued
  if (buf_len_ < len) {
    release_buffer();
    // The secure heap when the application set one up, else the heap; in
    // both cases cleansed when freed, and cleansed after each use.
    buf_ = static_cast<std::uint8_t*>(OPENSSL_secure_zalloc(len));
    if (buf_ == nullptr) return pool::Errc::out_of_memory;
    buf_len_ = len;
  }
  if (!request_) {
    pool_ = pool;
    fresh_ = fresh;
    try {
      request_ = std::make_unique<pool::Request>(
          *pool, len,
          [this](pool::Errc rc, std::span<const std::uint8_t> bytes) {
            on_done(rc, bytes);
          },
          fresh);
    } catch (...) {
      return pool::Errc::out_of_memory;
    }
  }
  return pool::Errc::ok;
}

void Waiter::on_done(pool::Errc rc, std::span<const std::uint8_t> bytes) noexcept {
  if (rc == pool::Errc::ok) std::memcpy(buf_, bytes.data(), bytes.size());
  result_ = rc;
  (void)ASYNC_WAIT_CTX_set_status(
      ctx_, rc == pool::Errc::ok ? ASYNC_STATUS_OK : ASYNC_STATUS_ERR);
  if (rc == pool::Errc::timed_out)
    pool_->count_async(pool::Pool::AsyncEvent::timed_out);
  done_.store(true, std::memory_order_release);
  // The fd first: an application woken by its callback may poll it.
  signal();
  ASYNC_callback_fn callback = nullptr;
  void* arg = nullptr;
  if (ASYNC_WAIT_CTX_get_callback(ctx_, &callback, &arg) == 1 &&
      callback != nullptr) {
    pool_->count_async(pool::Pool::AsyncEvent::callback);
    // Nothing of `this` is touched after this call: the callback may free
    // the SSL object, and with it the wait ctx and this waiter.
    (void)callback(arg);
  }
}

void Waiter::signal() noexcept {
  const std::uint64_t one = 1;
  // Cannot fail short of a counter at 2^64-2 (EAGAIN): then it is readable.
  while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void Waiter::drain() noexcept {
  std::uint64_t v = 0;
  // EAGAIN: nothing written, the job was resumed for another reason.
  while (::read(fd_, &v, sizeof v) < 0 && errno == EINTR) {
  }
}

void Waiter::wait_fd(Clock::time_point deadline) noexcept {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(
      deadline - Clock::now());
  pollfd p{fd_, POLLIN, 0};
  (void)::poll(&p, 1, static_cast<int>(std::clamp<std::int64_t>(
                          left.count(), 0, 3'600'000)));
}

pool::Errc Waiter::draw(const std::shared_ptr<pool::Pool>& pool,
                        const DrawRequest& req,
                        Clock::time_point deadline) noexcept {
  pool::Errc rc = prepare(pool, req.out.size(), req.prediction_resistance);
  if (rc != pool::Errc::ok) {
    pool->count_result(rc, 0);
    return rc;
  }
  busy_ = true;
  int instant_resumes = 0;
  bool queued = false;
  // The caller has just found the pool short (read_before_queueing): queue
  // without reading the sources again (one system call less per pause,
  // e.g. an empty FIFO's EAGAIN). Entropy that came in between is not
  // missed: queueing wakes the gatherer when the head can be served now.
  bool just_tried = true;
  for (;;) {
    if (!queued) {
      done_.store(false, std::memory_order_relaxed);
      drain();  // a wake-up left from an earlier request means nothing now
      rc = just_tried ? request_->schedule(deadline)
                      : request_->request({buf_, req.out.size()}, deadline);
      just_tried = false;
      if (rc == pool::Errc::ok) {
        done_.store(true, std::memory_order_relaxed);
        result_ = rc;
        break;
      }
      if (rc == pool::Errc::pending) {
        queued = true;
        (void)ASYNC_WAIT_CTX_set_status(ctx_, ASYNC_STATUS_OK);
      } else if (rc == pool::Errc::gatherer_failed && Clock::now() < deadline) {
        // The pool cannot queue now: ask to be resumed and try again (not
        // a failed request yet: the pool does not count it).
        (void)ASYNC_WAIT_CTX_set_status(ctx_, ASYNC_STATUS_EAGAIN);
        signal();
      } else {
        // Final: no usable source, out of memory, ... (counted by the
        // pool), or the gatherer still not started at the deadline.
        if (rc == pool::Errc::gatherer_failed) pool->count_result(rc, 0);
        break;
      }
    }
    pool->count_async(pool::Pool::AsyncEvent::paused);
    const Clock::time_point paused_at = Clock::now();
    if (ASYNC_pause_job() != 1) {
      rc = pool::Errc::wait_fd_failed;  // could not switch back: give up
      pool->count_result(rc, 0);
      break;
    }
    const bool instant = Clock::now() - paused_at < kInstantResume;
    pool->count_async(pool::Pool::AsyncEvent::resumed);
    drain();
    if (queued && done_.load(std::memory_order_acquire)) {
      rc = result_;
      break;
    }
    if (!queued) continue;  // EAGAIN: try again
    if (Clock::now() >= deadline + kBackstop) {
      // The gatherer ends a request at its deadline; this is the backstop.
      rc = pool::Errc::timed_out;
      pool->count_result(rc, 0);
      break;
    }
    instant_resumes = instant ? instant_resumes + 1 : 0;
    if (instant_resumes >= kMaxInstantResumes) {
      // Pauses return at once (blocked): wait in the thread, bounded.
      wait_fd(deadline + kBackstop);
    }
  }
  if (queued && !done_.load(std::memory_order_acquire)) request_->cancel();
  if (rc == pool::Errc::ok)
    std::memcpy(req.out.data(), buf_, req.out.size());
  OPENSSL_cleanse(buf_, buf_len_);
  busy_ = false;
  return rc;
}

// `adin_mixed`: read_before_queueing already mixed it in.
pool::Errc draw_in_thread(pool::Pool& pool, const DrawRequest& req,
                          bool adin_mixed) noexcept {
  return pool.read(req.out, adin_mixed ? std::span<const std::uint8_t>{} : req.adin,
                   req.prediction_resistance, pool.config().block_timeout);
}

}  // namespace

pool::Errc draw(const std::shared_ptr<pool::Pool>& pool,
                const DrawRequest& req) noexcept {
  ASYNC_JOB* job = req.pausing == Pausing::allowed ? ASYNC_get_current_job()
                                                    : nullptr;
  if (job == nullptr) return draw_in_thread(*pool, req, false);
  // Now, if the pool can serve it: no fd, no wait ctx entry, nothing to
  // count twice (the common case costs what it costs outside a job).
  pool::Errc rc = pool->read_before_queueing(req.out, req.adin,
                                             req.prediction_resistance);
  if (rc != pool::Errc::entropy_short) return rc;
  const auto timeout = pool->config().async_timeout;
  if (timeout.count() == 0) {
    // async_timeout_ms = 0: never pause, fail at once.
    return pool->read(req.out, {}, req.prediction_resistance,
                      std::chrono::milliseconds{0});
  }
  ASYNC_WAIT_CTX* ctx = ASYNC_get_wait_ctx(job);
  Waiter* w = nullptr;
  if (ctx == nullptr) return draw_in_thread(*pool, req, true);  // no fd to signal
  if (rc = Waiter::get(ctx, w); rc != pool::Errc::ok) {
    pool->count_result(rc, 0);
    return rc;
  }
  // Two jobs paused on one wait ctx cannot share its fd: the second waits.
  if (w->busy()) return draw_in_thread(*pool, req, true);
  // adin was mixed in by read_before_queueing; a queued request takes fresh
  // output only.
  return w->draw(pool, req, Clock::now() + timeout);
}

}  // namespace seedpool::async
