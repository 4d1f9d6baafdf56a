// The gatherer thread, the request queue, and Request (pool/request.h).
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "pool/fault.h"
#include "pool/pool.h"
#include "pool/request.h"

namespace seedpool::pool {
namespace {

// Bytes read from one source per gathering round: every source with data
// gets its turn in a round before any gets a second one.
constexpr std::size_t kGatherChunkBytes = 64;
// Bytes mixed per round from a source credited 0 bits.
constexpr std::size_t kUncreditedChunkBytes = 64;
// Pause after a failed reactor wait, so that an unexpected error is no loop.
constexpr std::chrono::milliseconds kReactorErrorPause{10};

}  // namespace

// ---------------------------------------------------------------- Request

Request::Request(Pool& pool, std::size_t bytes, Callback callback, bool fresh)
    : pool_(pool), len_(bytes), callback_(std::move(callback)), fresh_(fresh) {
  if (len_ > 0 && len_ <= Pool::kMaxRequestBytes) buf_.resize(len_);
}

Request::~Request() {
  cancel();
  if (!buf_.empty()) OPENSSL_cleanse(buf_.data(), buf_.size());
}

namespace {
Errc check_request(std::size_t len, bool has_callback) {
  if (len == 0 || !has_callback) return Errc::invalid_argument;
  if (len > Pool::kMaxRequestBytes) return Errc::request_too_large;
  return Errc::ok;
}
}  // namespace

bool Request::settle_locked(std::unique_lock<std::mutex>& lk) {
  pool_.check_fork_locked();
  // A callback running on another thread finishes first; from inside its
  // own callback a request may ask again at once.
  if (state_ == State::running && pool_.done_cv_ != nullptr &&
      std::this_thread::get_id() != pool_.gatherer_id_)
    pool_.done_cv_->wait(lk, [&] { return state_ != State::running; });
  return state_ != State::queued;
}

Errc Request::request(std::span<std::uint8_t> out, Clock::time_point deadline) {
  if (Errc rc = check_request(len_, static_cast<bool>(callback_)); rc != Errc::ok)
    return rc;
  if (out.size() != len_ || out.data() == nullptr) return Errc::invalid_argument;
  std::unique_lock<std::mutex> lk(pool_.mu_);
  if (!settle_locked(lk)) return Errc::pending;
  Errc rc = pool_.inline_read_locked(out, fresh_);
  if (rc != Errc::entropy_short) {
    pool_.count_result(rc, out.size());
    return rc;
  }
  deadline_ = deadline;
  return pool_.enqueue_locked(this);
}

Errc Request::schedule(Clock::time_point deadline) {
  if (Errc rc = check_request(len_, static_cast<bool>(callback_)); rc != Errc::ok)
    return rc;
  std::unique_lock<std::mutex> lk(pool_.mu_);
  if (!settle_locked(lk)) return Errc::pending;
  deadline_ = deadline;
  return pool_.enqueue_locked(this);
}

void Request::cancel() noexcept { pool_.cancel(this); }

bool Request::pending() const noexcept {
  std::lock_guard<std::mutex> g(pool_.mu_);
  pool_.check_fork_locked();
  return state_ != State::idle;
}

// ------------------------------------------------------------------ queue

Errc Pool::enqueue_locked(Request* r) {
  update_health();
  if (health() == Health::failed) {
    count_result(Errc::no_usable_source, 0);
    return Errc::no_usable_source;
  }
  // Not counted: the caller may try again (an ASYNC job asks to be resumed
  // and does); it counts the failure once it gives up (request.h).
  if (Errc rc = ensure_gatherer_locked(); rc != Errc::ok) return rc;
  r->state_ = Request::State::queued;
  r->filled_ = 0;
  r->credited_mark_ = bits_credited_.load(std::memory_order_relaxed);
  r->next_ = nullptr;
  r->prev_ = queue_tail_;
  if (queue_tail_ != nullptr)
    queue_tail_->next_ = r;
  else
    queue_head_ = r;
  queue_tail_ = r;
  requests_queued_.store(++queue_len_, std::memory_order_relaxed);
  wake_for_request_locked(r);
  return Errc::pending;
}

bool Pool::head_servable_locked() const noexcept {
  // serve_queue_locked's tests for the head, without serving it.
  const Request* r = queue_head_;
  if (r == nullptr) return false;
  if (health() == Health::failed || Clock::now() >= r->deadline_) return true;
  if (fresh_deficit_locked() > 0) return false;
  const std::size_t n = std::min(Conditioner::kBlockBytes, r->len_ - r->filled_);
  return entropy_bits_ >= std::max<std::uint64_t>(
                              bits_needed(n), config_.read_wakeup_threshold_bits);
}

void Pool::wake_for_request_locked(const Request* r) noexcept {
  if (gatherer_ == nullptr || std::this_thread::get_id() == gatherer_id_) return;
  // Awake: it plans its next wait from the queue, under mu_, so it sees r.
  if (!gatherer_planned_) return;
  // Asleep on every credited source (fds and retry timers) and on the
  // deadline timer: it wakes when entropy can come, as a wake() would have
  // it look again now and find nothing to do. Only r's deadline may need
  // an earlier end of that wait: arm the timer for it rather than wake.
  if (sleep_watches_sources_ && deadline_timer_fd_ >= 0 &&
      !head_servable_locked()) {
    const Clock::time_point d = r->deadline_;
    if (d >= sleep_until_ || d >= timer_at_) return;
    if (d > Clock::now()) {
      // steady_clock is CLOCK_MONOTONIC (libstdc++/libc++ on Linux);
      // TFD_TIMER_ABSTIME with a past or zero value would disarm or fire.
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          d.time_since_epoch())
                          .count();
      itimerspec its{};
      its.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
      its.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
      if (::timerfd_settime(deadline_timer_fd_, TFD_TIMER_ABSTIME, &its,
                            nullptr) == 0) {
        timer_at_ = d;
        return;
      }
    }
  }
  wake_gatherer_locked();
}

void Pool::unlink_locked(Request* r) noexcept {
  if (r->prev_ != nullptr)
    r->prev_->next_ = r->next_;
  else
    queue_head_ = r->next_;
  if (r->next_ != nullptr)
    r->next_->prev_ = r->prev_;
  else
    queue_tail_ = r->prev_;
  r->prev_ = r->next_ = nullptr;
  requests_queued_.store(--queue_len_, std::memory_order_relaxed);
}

void Pool::cancel(Request* r) noexcept {
  std::unique_lock<std::mutex> lk(mu_);
  check_fork_locked();
  if (r->state_ == Request::State::queued) {
    unlink_locked(r);
    r->state_ = Request::State::idle;
    if (r->filled_ > 0) OPENSSL_cleanse(r->buf_.data(), r->filled_);
    r->filled_ = 0;
    return;
  }
  if (r->state_ != Request::State::running) return;
  if (std::this_thread::get_id() == gatherer_id_) {
    // From inside its own callback (only one runs at a time): do not wait
    // for ourselves; tell the gatherer not to touch it afterwards, as the
    // callback may be about to destroy it.
    if (running_ == r) running_ = nullptr;
    r->state_ = Request::State::idle;
    return;
  }
  if (done_cv_ == nullptr) return;
  done_cv_->wait(lk, [&] { return r->state_ != Request::State::running; });
  // It may have re-queued itself from its callback.
  if (r->state_ == Request::State::queued) {
    unlink_locked(r);
    r->state_ = Request::State::idle;
    r->filled_ = 0;
  }
}

void Pool::complete_locked(std::unique_lock<std::mutex>& lk, Request* r,
                           Errc rc) {
  unlink_locked(r);
  r->state_ = Request::State::running;
  running_ = r;
  count_result(rc, rc == Errc::ok ? r->len_ : 0);
  std::span<const std::uint8_t> bytes;
  if (rc == Errc::ok) bytes = {r->buf_.data(), r->len_};
  lk.unlock();
  try {
    r->callback_(rc, bytes);
  } catch (...) {
    // A callback that throws has lost its bytes; the gatherer goes on.
  }
  lk.lock();
  if (running_ == r) {
    // Not cancelled or destroyed from inside the callback.
    OPENSSL_cleanse(r->buf_.data(), r->buf_.size());
    r->filled_ = 0;
    if (r->state_ == Request::State::running) r->state_ = Request::State::idle;
  }
  running_ = nullptr;
  if (done_cv_ != nullptr) done_cv_->notify_all();
}

bool Pool::serve_queue_locked(std::unique_lock<std::mutex>& lk) {
  bool served = false;
  update_health();
  while (Request* r = queue_head_) {
    const Clock::time_point now = Clock::now();
    Errc rc = Errc::pending;
    if (health() == Health::failed) {
      rc = Errc::no_usable_source;
    } else if (now >= r->deadline_) {
      rc = Errc::timed_out;
    } else if (r->fresh_ && bits_credited_.load(std::memory_order_relaxed) -
                                    r->credited_mark_ <
                                bits_needed(r->len_)) {
      // Prediction resistance: only entropy credited since it was queued.
    } else {
      while (r->filled_ < r->len_) {
        const std::size_t n =
            std::min(Conditioner::kBlockBytes, r->len_ - r->filled_);
        const std::uint64_t need = std::max<std::uint64_t>(
            bits_needed(n), config_.read_wakeup_threshold_bits);
        if (entropy_bits_ < need) break;
        if (Errc e = extract_block_locked({r->buf_.data() + r->filled_, n},
                                          r->fresh_);
            e != Errc::ok) {
          rc = e;
          break;
        }
        r->filled_ += n;
      }
      if (rc == Errc::pending && r->filled_ == r->len_) rc = Errc::ok;
    }
    if (rc == Errc::pending) break;  // the head waits; nobody overtakes it
    complete_locked(lk, r, rc);
    served = true;
    if (stop_) break;
  }
  return served;
}

// --------------------------------------------------------------- gatherer

Errc Pool::ensure_gatherer_locked() {
  if (is_shut_down()) return Errc::cancelled;  // for good: see shutdown()
  if (gatherer_ != nullptr) return Errc::ok;
  if (!reactor_) {
    std::string why;
    if (Reactor::create(Reactor::io_uring_disabled_by_env(), reactor_, why) !=
        Errc::ok)
      return Errc::gatherer_failed;
    gatherer_fallback_reason_ = std::move(why);
  }
  if (deadline_timer_fd_ < 0) {
    // -1 (no timerfd): every enqueue then wakes the gatherer instead.
    deadline_timer_fd_ =
        ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    timer_at_ = Clock::time_point::max();
  }
  gatherer_planned_ = false;
  stop_ = false;
  // The thread starts with every signal blocked: the application's signal
  // handlers must not run on a library's thread.
  sigset_t all, old;
  sigfillset(&all);
  if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0) return Errc::gatherer_failed;
  try {
    if (!fault::hit(fault::Point::gatherer_start))
      gatherer_ = new std::thread([this] { gatherer_main(); });
  } catch (...) {
    gatherer_ = nullptr;
  }
  (void)pthread_sigmask(SIG_SETMASK, &old, nullptr);  // restores; cannot fail
  if (gatherer_ == nullptr) return Errc::gatherer_failed;
  // Best effort: shows in top -H, ps -L and /proc/<pid>/task/*/comm.
  (void)pthread_setname_np(gatherer_->native_handle(), "seedpool-gather");
  gatherer_id_ = gatherer_->get_id();
  gatherer_kind_.store(1 + static_cast<std::uint8_t>(reactor_->kind()),
                       std::memory_order_relaxed);
  return Errc::ok;
}

void Pool::wake_gatherer_locked() noexcept {
  asleep_full_ = false;
  if (reactor_ && gatherer_ != nullptr &&
      std::this_thread::get_id() != gatherer_id_) {
    reactor_->wake();
    // The eventfd stays readable until its wait drains it, and it plans
    // again after that: later callers need no second write.
    gatherer_planned_ = false;
  }
}

void Pool::note_drained_locked() noexcept {
  if (entropy_bits_ >= config_.write_wakeup_threshold_bits || refilling_)
    return;
  refilling_ = true;
  if (gatherer_ == nullptr) {
    // Started lazily, the first time the pool runs low. Should it fail,
    // callers still refill inline; queued requests report the failure.
    (void)ensure_gatherer_locked();
    return;
  }
  if (asleep_full_) wake_gatherer_locked();
}

void Pool::cancel_queue_locked(std::unique_lock<std::mutex>& lk) {
  // A callback that asks again is refused (ensure_gatherer_locked says
  // cancelled once shut down), so this ends.
  while (Request* r = queue_head_) complete_locked(lk, r, Errc::cancelled);
}

void Pool::shutdown() noexcept {
  std::thread* t = nullptr;
  bool on_gatherer = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    check_fork_locked();
    shut_down_.store(true, std::memory_order_release);
    stop_ = true;
    on_gatherer = gatherer_id_ != std::thread::id{} &&
                  gatherer_id_ == std::this_thread::get_id();
    // From a callback (the gatherer's own thread): it cannot join itself.
    // gatherer_main ends the queue and returns when the callback does, and
    // needs its reactor until then; the thread stays in gatherer_ for a
    // later shutdown on another thread (the destructor) to join.
    if (!on_gatherer) {
      t = gatherer_;
      gatherer_ = nullptr;
    }
    if (reactor_) reactor_->wake();
    // wait_for_entropy() callers: their predicate sees shut_down_.
    if (entropy_cv_ != nullptr) entropy_cv_->notify_all();
  }
  if (on_gatherer) return;
  if (t != nullptr) {
    t->join();  // it ends the queue with cancelled as it leaves
    delete t;
  }
  std::unique_lock<std::mutex> lk(mu_);
  // Still queued: there was no gatherer thread to end it. End it here, as
  // the gatherer would; a callback that cancels or destroys its own
  // Request must see itself as on the gatherer thread (Pool::cancel).
  gatherer_id_ = std::this_thread::get_id();
  cancel_queue_locked(lk);
  gatherer_id_ = {};
  reactor_.reset();
  gatherer_planned_ = false;
  if (deadline_timer_fd_ >= 0) (void)::close(deadline_timer_fd_);
  deadline_timer_fd_ = -1;
  gatherer_kind_.store(0, std::memory_order_relaxed);
}

bool Pool::hungry_locked() const noexcept {
  return queue_head_ != nullptr || entropy_waiters_ > 0 || gather_only_due_ ||
         (refilling_ && entropy_bits_ < config_.pool_size_bits);
}

std::uint64_t Pool::fresh_deficit_locked() const noexcept {
  if (queue_head_ == nullptr || !queue_head_->fresh_) return 0;
  const std::uint64_t since =
      bits_credited_.load(std::memory_order_relaxed) -
      queue_head_->credited_mark_;
  const std::uint64_t need = bits_needed(queue_head_->len_);
  return since < need ? need - since : 0;
}

void Pool::gather_round_locked(Clock::time_point now) {
  // Bits wanted: up to a full pool, or what a prediction-resistant head
  // still needs from new input even when the pool is full.
  std::uint64_t fresh_deficit = fresh_deficit_locked();
  // A gather-only round (note_inline_refill_locked) reads each source only
  // the gatherer reads once, even with the pool full: when its timer or fd
  // says so, within kGatherOnlyInterval.
  bool gather_only_waiting = false;
  for (auto& slot : sources_) {
    const bool gather_only = gather_only_due_ && gather_only_source(*slot);
    if (!source_readable_locked(*slot, now, false)) {
      gather_only_waiting = gather_only_waiting || gather_only;
      continue;
    }
    const std::uint32_t credit = slot->credit_bits_per_byte;
    const std::uint64_t want =
        std::max<std::uint64_t>(config_.pool_size_bits - entropy_bits_,
                                fresh_deficit);
    std::size_t len = kUncreditedChunkBytes;
    if (credit > 0) {
      if (want == 0 && !gather_only) continue;
      len = want == 0 ? kGatherChunkBytes
                      : std::min<std::size_t>(kGatherChunkBytes,
                                              (want + credit - 1) / credit);
    }
    bool more = false;
    Errc rc = Errc::ok;
    const std::uint64_t got = read_source_locked(*slot, len, now, more, rc);
    if (rc != Errc::ok) break;
    if (fresh_deficit > 0) fresh_deficit -= std::min(fresh_deficit, got);
  }
  // Each read once (whatever it gave), or the round's time is up.
  if (!gather_only_waiting || now >= gather_only_until_) gather_only_due_ = false;
  update_health();
}

void Pool::gatherer_main() noexcept {
  std::vector<int> fds;
  std::vector<int> ready;
  std::unique_lock<std::mutex> lk(mu_);
  try {
    fds.reserve(sources_.size());
    ready.reserve(sources_.size());
  } catch (...) {
    // push_back below may still allocate; a failure there ends the round.
  }
  while (!stop_) {
    // Test-only (pool/fault.h): stay here, holding the pool's lock, so that
    // a test can fork() while another thread holds it.
    if (fault::hit(fault::Point::gatherer_hold_lock)) fault::hold();
    Clock::time_point now = Clock::now();
    for (auto& slot : sources_)
      if (slot->wait_poll &&
          std::find(ready.begin(), ready.end(), slot->source->poll_fd()) !=
              ready.end()) {
        slot->wait_poll = false;
        slot->polled_ready = true;
      }
    ready.clear();
    if (hungry_locked()) gather_round_locked(now);
    if (serve_queue_locked(lk)) continue;  // things changed: look again
    if (stop_) break;
    if (entropy_waiters_ > 0 && entropy_cv_) entropy_cv_->notify_all();

    // Plan the wait. While the pool is full and nobody waits: no fd, no
    // timer -- only wake() ends the sleep.
    now = Clock::now();
    fds.clear();
    Clock::time_point wake_at = Clock::time_point::max();
    const bool hungry = hungry_locked();
    // The same rule as gather_round_locked: a credited source is read only
    // while bits are wanted.
    const bool want_credit = entropy_bits_ < config_.pool_size_bits ||
                             fresh_deficit_locked() > 0;
    if (hungry) {
      for (auto& slot : sources_) {
        const SourceStatus st = slot->status.load(std::memory_order_relaxed);
        if (st == SourceStatus::absent || st == SourceStatus::exhausted ||
            st == SourceStatus::unhealthy)
          continue;
        if (slot->credit_bits_per_byte > 0 && !want_credit &&
            !(gather_only_due_ && gather_only_source(*slot)))
          continue;
        if (st != SourceStatus::failed && slot->wait_poll &&
            now >= slot->next_read) {
          try {
            fds.push_back(slot->source->poll_fd());
          } catch (...) {
            wake_at = std::min(wake_at, now + slot->source->retry_interval());
          }
        } else {
          wake_at = std::min(wake_at, slot->next_read);
        }
      }
    }
    // While hungry, the deadline timer too (queueing callers arm it; see
    // wake_for_request_locked); not while full: a timer armed for a
    // request served long ago must not wake a full pool's gatherer.
    int timer_fd = hungry ? deadline_timer_fd_ : -1;
    if (timer_fd >= 0) {
      try {
        fds.push_back(timer_fd);
      } catch (...) {
        timer_fd = -1;  // unwatched: every enqueue wakes this wait
      }
    }
    for (Request* r = queue_head_; r != nullptr; r = r->next_)
      wake_at = std::min(wake_at, r->deadline_);
    asleep_full_ = !hungry;
    gatherer_planned_ = true;
    sleep_watches_sources_ = hungry && want_credit && timer_fd >= 0;
    sleep_until_ = wake_at;
    std::optional<std::chrono::nanoseconds> timeout;
    if (wake_at != Clock::time_point::max())
      timeout = std::max<Clock::duration>(wake_at - now, Clock::duration::zero());
    // A zero timeout (a source is due now) still goes through the reactor:
    // it lets other threads take the lock between rounds, and collects fds
    // that became readable meanwhile.
    lk.unlock();
    const Errc rc = reactor_->wait(fds, timeout, ready);
    if (rc != Errc::ok) {
      ready.clear();
      std::this_thread::sleep_for(kReactorErrorPause);
    }
    // A timerfd stays readable until read (timerfd_create(2)).
    const bool timer_fired =
        timer_fd >= 0 &&
        std::find(ready.begin(), ready.end(), timer_fd) != ready.end();
    if (timer_fired) {
      std::uint64_t expirations = 0;
      while (::read(timer_fd, &expirations, sizeof expirations) < 0 &&
             errno == EINTR) {
      }
    }
    lk.lock();
    gatherer_wakeups_.fetch_add(1, std::memory_order_relaxed);
    asleep_full_ = false;
    gatherer_planned_ = false;
    // Re-armed meanwhile for a later deadline? Then it is only forgotten:
    // this thread plans from the queue's deadlines now.
    if (timer_fired) timer_at_ = Clock::time_point::max();
  }
  // Shut down: nobody will serve what is still queued, so end it now
  // rather than leave its owner waiting for its deadline (a paused ASYNC
  // job, a blocked read()).
  if (is_shut_down()) cancel_queue_locked(lk);
}

}  // namespace seedpool::pool
