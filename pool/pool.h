// The entropy pool: mixes raw input through the conditioner, keeps an
// entropy estimate (credit only ever comes from a source's configured rate or
// an explicit add_entropy), and serves full-entropy output.
//
// Accounting rule (SP 800-90C full entropy): every output block of n bytes
// (n <= 64) debits 8n + 64 bits, so no block leaves the conditioner with less
// than 64 bits of margin. The estimate is backed by raw credited input held
// in the Reservoir (pool/reservoir.h), not by the conditioner's 512-bit
// state: each block hashes the chain with raw input worth its 8n + 64 bits,
// spent there and then, so a 4096-bit pool really holds 4096 bits. A
// request that the estimate cannot cover is not served at all: output is
// all or nothing, never short, never unseeded.
//
// Three ways to ask (random(4), NetBSD rndsink(9), libkcapi's stream reads):
//  - read()/try_read(): all now, or wait (bounded) in this thread;
//  - Request (pool/request.h): all now, or a callback on the gatherer thread
//    when the pool can serve it; waiters are served first come, first served;
//  - read_some(): what is there now, in whole blocks, to be called in a loop.
// A request is served inline (the caller refills from the sources without
// waiting, then extracts) only while nobody is queued: a queued waiter is
// never overtaken, so a large request cannot be starved by small ones.
// Inline, the caller reads ahead, in one read per source where the source
// gives it (getrandom does): when the estimate does not cover the request,
// or serving it would take the pool below write_wakeup_threshold, it reads
// what the request needs plus what brings the pool to full (at least back
// to the threshold once served). The reservoir holds more than the pool
// size only during that request, under the lock; nobody sees it above.
// So while the inline sources keep up, no other thread is involved: no
// wake-up, no lock contention, one system call per refill.
//
// The gatherer thread (started lazily, one per pool, joined at teardown)
// reads the sources through a Reactor (io_uring, or poll()) when the pool
// is below write_wakeup_threshold after the callers' own reads (an inline
// source had nothing, or only the gatherer may read the sources, as
// /dev/hwrng), or somebody waits, and until the pool is full; then it
// sleeps with no timer at all. Sources only the gatherer reads add to the
// pool while it runs, and once per kGatherOnlyInterval while callers draw
// and keep the pool up inline (note_inline_refill_locked). It serves queued requests once the
// pool holds read_wakeup_threshold bits and what the head needs. Queueing
// a request wakes it only when the wait it planned would not end in time
// (it sleeps on none of the sources, or the head can be served now); a
// deadline earlier than that wait's end arms a timerfd it watches instead.
//
// Thread-safe. One mutex guards the conditioner, the estimate, the queue and
// the gatherer's bookkeeping; counters that readers poll on every OpenSSL
// call are atomics, read without the lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <optional>
#include <span>
#include <vector>
#include <array>

#include "pool/conditioner.h"
#include "pool/config.h"
#include "pool/errc.h"
#include "pool/fork.h"
#include "pool/health.h"
#include "pool/reactor.h"
#include "pool/reservoir.h"
#include "pool/secure_mem.h"
#include "pool/seed_keeper.h"
#include "pool/source.h"
#include "pool/stats.h"

namespace seedpool::pool {

class Request;
class SeedKeeper;

class Pool {
 public:
  // Largest single request, in bytes. OpenSSL asks a seed source for up to
  // 48 bytes; `random = SEEDPOOL` splits by max_request.
  static constexpr std::size_t kMaxRequestBytes = 4096;
  static constexpr std::uint32_t kMarginBits = 64;
  // How often, at most, callers that refill inline have the gatherer read
  // the sources only it reads (hwrng), once each.
  static constexpr std::chrono::milliseconds kGatherOnlyInterval{1000};

  // Builds the pool and its sources. Validates config first. A source of
  // config.sources that `probed` holds (available_sources found it) is taken
  // from there instead of being opened and checked again.
  static Errc create(const Config& config, std::unique_ptr<Pool>& out,
                     ProbedSources* probed = nullptr);
  // For tests and C++ users who bring their own sources: config.sources is
  // ignored, each source comes with its own credit (0..8 bits per byte).
  struct CustomSource {
    std::unique_ptr<Source> source;
    std::uint32_t credit_bits_per_byte = 0;
  };
  static Errc create(const Config& config, std::vector<CustomSource> sources,
                     std::unique_ptr<Pool>& out);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  const Config& config() const noexcept { return config_; }

  // Mixes bytes in, credits nothing (like writing to /dev/random).
  Errc mix(std::span<const std::uint8_t> data) noexcept;
  // Mixes and credits up to `credited_bits` (random(4)'s RNDADDENTROPY);
  // the credit is capped at 8 bits per byte and at the pool size.
  Errc add_entropy(std::span<const std::uint8_t> data,
                   std::uint64_t credited_bits) noexcept;

  // Full-entropy output now, refilling from the sources without waiting.
  // `adin` is mixed in first (credited 0). `fresh` (prediction resistance)
  // reads the sources even when the estimate would cover the request.
  // Errc::entropy_short when the sources have nothing right now.
  Errc try_read(std::span<std::uint8_t> out, std::span<const std::uint8_t> adin,
                bool fresh) noexcept;
  // As try_read, waiting up to `timeout` for a source to become ready.
  // Errc::timed_out at the bound; 0 ms means "do not wait".
  Errc read(std::span<std::uint8_t> out, std::span<const std::uint8_t> adin,
            bool fresh, std::chrono::milliseconds timeout) noexcept;

  // As try_read, for a caller that queues a Request for the same bytes when
  // the pool is short (async/): entropy_short is returned but not counted
  // as a failed request, since the Request is counted when it ends.
  Errc read_before_queueing(std::span<std::uint8_t> out,
                            std::span<const std::uint8_t> adin,
                            bool fresh) noexcept;

  // Streaming read (libkcapi's stream ops): what the pool can serve now,
  // possibly less than asked, in whole 64-byte blocks (or all of `out` when
  // it is shorter than a block), refilling from the sources without
  // waiting. `got` says how much was written; Errc::entropy_short with
  // got == 0 when nothing can be served now (call again later, e.g. after
  // wait_for_entropy). Nothing is served while a Request or a blocking
  // read() is queued: they come first.
  Errc read_some(std::span<std::uint8_t> out, std::size_t& got) noexcept;
  // Blocks until the pool holds at least `bits` (capped at the pool size)
  // or `timeout` passes (Errc::timed_out); wakes the gatherer. For stream
  // consumers between read_some calls.
  Errc wait_for_entropy(std::uint64_t bits,
                        std::chrono::milliseconds timeout) noexcept;

  // Lock-free, for params polled on every OpenSSL call.
  std::uint64_t entropy_available_bits() const noexcept {
    return entropy_available_.load(std::memory_order_relaxed);
  }
  // Advances each time pool_size bits of new entropy have been credited, and
  // in a forked child: consumers above (OpenSSL's primary DRBG reads it as
  // reseed_counter) reseed when it moves. Starts at 1.
  std::uint32_t epoch() const noexcept {
    return epoch_.load(std::memory_order_relaxed);
  }
  Health health() const noexcept {
    return health_.load(std::memory_order_relaxed);
  }
  Stats stats() const;

  // Events of requests that pause OpenSSL ASYNC jobs (async/), kept with the
  // pool's statistics. Lock-free.
  enum class AsyncEvent : std::uint8_t {
    paused,     // a job paused waiting for this pool
    resumed,    // a paused job ran again (for any reason)
    timed_out,  // a paused request reached async_timeout
    callback,   // the application's ASYNC callback was called
  };
  void count_async(AsyncEvent e) noexcept;
  // Counts a request's outcome (served with `bytes`, or failed, timed out)
  // for one that failed outside the pool's own calls (async/ could not set
  // up its wait). Every request is counted once.
  void count_result(Errc rc, std::size_t bytes) noexcept;

  // Ends the pool's service for good (pool::release_shared calls it when
  // the last provider object lets go; the destructor calls it too): every
  // queued Request ends now with Errc::cancelled (its callback runs, on the
  // gatherer thread as it leaves, or on this thread when there is none),
  // so blocked read() and wait_for_entropy() callers return cancelled and
  // paused ASYNC jobs are woken; the gatherer thread is joined and never
  // started again. Afterwards a request that would have to wait fails at
  // once with cancelled (one the pool can serve now, inline, still is).
  // Idempotent. Not from a Request's callback (it cannot join its own
  // thread then: the gatherer ends the queue and exits on its own).
  void shutdown() noexcept;
  // Saves the seed file now (seed_file; see seed_keeper.h) rather than when
  // the pool is destroyed, so that a statistics line written after it
  // shows the outcome. Once: later calls, and the destructor's, do
  // nothing.
  void save_seed_file() noexcept;
  bool is_shut_down() const noexcept {
    return shut_down_.load(std::memory_order_acquire);
  }

 private:
  friend class Request;
  friend class SeedKeeper;
  // Conditioner output that neither needs nor debits the entropy estimate.
  // Only for the seed file's replacement (random(4)'s advice: save a new
  // seed at once, derived from a state that already holds the old one);
  // never for anything handed to a caller.
  Errc derive_uncounted(std::span<std::uint8_t> out) noexcept;

  using Clock = std::chrono::steady_clock;

  struct SourceSlot {
    std::unique_ptr<Source> source;
    std::uint32_t credit_bits_per_byte = 0;
    // Gatherer/refill bookkeeping, guarded by mu_. `wait_poll`: the last
    // read said would_block and poll_fd() >= 0, so wait for POLLIN before
    // reading again. `next_read`: not before this time (timer sources,
    // uncredited sources, back-off after errors).
    bool wait_poll = false;
    // wait_poll ended because the fd polled readable: a read that still says
    // would_block now is a driver quirk, and backs off (read_source_locked).
    bool polled_ready = false;
    Clock::time_point next_read{};
    std::uint32_t errors_in_a_row = 0;
    // SP 800-90B 4.4 tests on this source's raw bytes; none when credited 0.
    std::optional<HealthTest> health;  // guarded by mu_
    std::atomic<std::uint64_t> bits_withheld{0};  // read, not credited
    std::atomic<std::uint64_t> health_failures{0};  // RCT + APT events
    std::atomic<SourceStatus> status{SourceStatus::ok};
    std::atomic<std::uint64_t> bytes_read{0};
    std::atomic<std::uint64_t> bits_credited{0};
    std::atomic<int> last_errno{0};
  };

  Pool(const Config& config, std::unique_ptr<Conditioner> conditioner);

  static std::uint64_t bits_needed(std::size_t out_len) noexcept;
  // Arguments checked, adin absorbed, then inline_read_locked; counts
  // nothing.
  Errc read_now_uncounted(std::span<std::uint8_t> out,
                          std::span<const std::uint8_t> adin,
                          bool fresh) noexcept;
  void credit_locked(std::uint64_t bits);
  // One non-blocking read of up to `max_bytes` from `slot`: health tests,
  // mixing, crediting, status and back-off. Returns the bits credited;
  // `more` says whether reading again right away may give more.
  std::uint64_t read_source_locked(SourceSlot& slot, std::size_t max_bytes,
                                   Clock::time_point now, bool& more,
                                   Errc& rc);
  bool source_readable_locked(const SourceSlot& slot, Clock::time_point now,
                              bool inline_read) const noexcept;
  // Reads the inline sources until the estimate covers `want_bits` and
  // `fresh_bits` were newly credited, or every source has nothing more right
  // now. Each read asks for what brings the estimate to `fill_to_bits` (at
  // least the pool size): a request that reads ahead passes its own need
  // plus a full pool, and the reservoir may then hold more than the pool
  // size until trim_read_ahead_locked(), before the lock is released.
  Errc refill_locked(std::uint64_t want_bits, std::uint64_t fresh_bits,
                     std::uint64_t fill_to_bits);
  // Before a request for `total_bits` is served inline: reads ahead what it
  // needs plus what keeps the pool up (fill_level()), when the
  // estimate does not cover it, or serving it would leave the pool below
  // write_wakeup_threshold and the gatherer is not refilling already. So
  // the gatherer is not woken while inline sources keep the pool up. An
  // error only when the request cannot be served because of it.
  Errc read_ahead_locked(std::uint64_t total_bits, bool fresh);
  // The level a refill for a request of `request_bits` reads up to: a full
  // pool, or the request plus write_wakeup_threshold when that is more, so
  // that the pool is not left below the threshold once it is served.
  std::uint64_t fill_level(std::uint64_t request_bits) const noexcept;
  // Brings the reservoir back to at most the pool size after a request
  // read ahead and was not served in full: the oldest input is spent into
  // the conditioner (mixed, debited, credited to no output).
  Errc trim_read_ahead_locked() noexcept;
  // After an inline refill: asks the gatherer to read the sources only it
  // reads, at most once per kGatherOnlyInterval (see gather_only_due_).
  void note_inline_refill_locked(Clock::time_point now) noexcept;
  bool gather_only_source(const SourceSlot& slot) const noexcept;
  // Spends the oldest `bits` of raw reservoir input into the conditioner
  // (mixed in, debited, credited to no output); the estimate follows. A
  // failure marks the pool failed.
  Errc spend_oldest_locked(std::uint64_t bits) noexcept;
  Errc extract_locked(std::span<std::uint8_t> out, bool fresh);
  // One block (<= 64 bytes), spending raw reservoir input worth 8n + 64
  // bits; entropy_short if not covered.
  Errc extract_block_locked(std::span<std::uint8_t> out, bool fresh);
  // Credited input into the reservoir (what fits), the rest mixed in
  // uncredited. Returns the bits credited.
  std::uint64_t credit_input_locked(std::span<const std::uint8_t> data,
                                    std::uint64_t bits, Errc& rc);
  // Refill without waiting and extract, unless somebody is queued.
  Errc inline_read_locked(std::span<std::uint8_t> out, bool fresh);
  void check_fork_locked() {
    if (fork_generation_seen_ != fork_generation()) after_fork_locked();
  }
  void after_fork_locked();
  void update_health() noexcept;

  // The gatherer and the queue (pool/gatherer.cc).
  Errc ensure_gatherer_locked();
  void wake_gatherer_locked() noexcept;
  // Wakes a gatherer asleep on a full pool once the pool falls below
  // write_wakeup_threshold: one write(2) per refill cycle, not per request.
  void note_drained_locked() noexcept;
  void gatherer_main() noexcept;
  // Ends every queued request with cancelled (shutdown), callbacks run
  // without the lock by this thread.
  void cancel_queue_locked(std::unique_lock<std::mutex>& lk);
  bool hungry_locked() const noexcept;
  // Bits a prediction-resistant queue head still needs from new input.
  std::uint64_t fresh_deficit_locked() const noexcept;
  void gather_round_locked(Clock::time_point now);
  // Serves the queue head(s); runs their callbacks without the lock.
  bool serve_queue_locked(std::unique_lock<std::mutex>& lk);
  void complete_locked(std::unique_lock<std::mutex>& lk, Request* r, Errc rc);
  Errc enqueue_locked(Request* r);
  // After `r` was queued: wakes the gatherer unless the wait it planned
  // already ends in time for `r` (see gatherer_planned_); may arm the
  // deadline timer instead of waking it.
  void wake_for_request_locked(const Request* r) noexcept;
  // Whether the queue head can be served with what the pool holds now.
  bool head_servable_locked() const noexcept;
  void unlink_locked(Request* r) noexcept;
  void cancel(Request* r) noexcept;

  const Config config_;
  mutable std::mutex mu_;
  std::unique_ptr<Conditioner> conditioner_;  // guarded by mu_
  Reservoir reservoir_;                       // guarded by mu_
  std::uint64_t entropy_bits_ = 0;            // guarded by mu_
  std::uint64_t credited_since_epoch_ = 0;    // guarded by mu_
  std::uint64_t fork_generation_seen_ = 0;    // guarded by mu_
  std::vector<std::unique_ptr<SourceSlot>> sources_;
  // The seed file, when configured: loaded at creation, saved at teardown.
  std::unique_ptr<SeedKeeper> seed_keeper_;
  // Raw source bytes pass through here (not the stack: this may run inside
  // an ASYNC job's 32 KiB stack): kScratchBytes of SecureRegion memory, so
  // that a request's whole read-ahead (a 4 KiB request needs 4608 bytes at
  // 8 bits per byte) is one read. Guarded by mu_, cleansed after each use.
  static constexpr std::size_t kScratchBytes = 8192;
  SecureRegion scratch_;
  // The reservoir's bit limit for credited input now: the pool size, raised
  // by refill_locked while a request reads ahead. Guarded by mu_.
  std::uint64_t credit_limit_bits_ = 0;

  // The queue: an intrusive FIFO of Requests, guarded by mu_.
  Request* queue_head_ = nullptr;
  Request* queue_tail_ = nullptr;
  std::size_t queue_len_ = 0;
  Request* running_ = nullptr;  // whose callback runs now (gatherer thread)
  // Heap-held so that a forked child can drop (leak) the parent's: a
  // condition variable other threads waited on is unusable after fork.
  std::unique_ptr<std::condition_variable> done_cv_;     // callback ended
  std::unique_ptr<std::condition_variable> entropy_cv_;  // credit arrived
  std::size_t entropy_waiters_ = 0;

  // The gatherer. `gatherer_` is a raw pointer so that a forked child can
  // forget the parent's thread (joining or destroying it would be wrong).
  std::thread* gatherer_ = nullptr;
  std::thread::id gatherer_id_{};
  std::unique_ptr<Reactor> reactor_;
  bool stop_ = false;
  // Set once by shutdown() (under mu_), never cleared, not even in a forked
  // child: no gatherer starts and nothing is queued afterwards.
  std::atomic<bool> shut_down_{false};
  bool refilling_ = false;   // below write threshold: fill up to the size
  // Sources only the gatherer reads (hwrng) while callers keep the pool up
  // inline: at most once per kGatherOnlyInterval after an inline refill
  // (the first an interval after start), the gatherer reads each of them
  // once (mixed in, credited up to the pool size), so that a configured
  // source is not left out. Guarded by mu_.
  bool gather_only_due_ = false;
  Clock::time_point gather_only_until_{};
  Clock::time_point next_gather_only_{};
  bool asleep_full_ = false;  // waiting with no timer: needs a wake()
  // The gatherer's wait as planned under mu_ before it unlocks to wait, so
  // that enqueue_locked needs no wake() (a cross-thread wake-up costs the
  // caller ~10 us here) when that wait ends in time anyway. False while it
  // is awake: it looks at the queue again before it sleeps.
  bool gatherer_planned_ = false;
  // The planned wait ends when any live credited source may deliver (its
  // fd or its retry timer is in it) and watches deadline_timer_fd_.
  bool sleep_watches_sources_ = false;
  Clock::time_point sleep_until_ = Clock::time_point::max();  // its timeout
  // A timerfd (CLOCK_MONOTONIC, absolute) that a queueing caller arms for
  // a deadline earlier than the planned wait's end, instead of waking the
  // gatherer; -1 when none could be made (then every enqueue wakes it).
  // timer_at_: when it fires, max when disarmed or drained.
  int deadline_timer_fd_ = -1;
  Clock::time_point timer_at_ = Clock::time_point::max();
  std::string gatherer_fallback_reason_;
  std::atomic<std::uint8_t> gatherer_kind_{0};  // 0 stopped, 1+Reactor::Kind
  std::atomic<std::uint64_t> gatherer_wakeups_{0};
  std::atomic<std::uint64_t> requests_queued_{0};

  std::atomic<std::uint64_t> entropy_available_{0};
  std::atomic<std::uint32_t> epoch_{1};
  std::atomic<Health> health_{Health::ok};
  std::atomic<std::uint64_t> bits_credited_{0};
  std::atomic<std::uint64_t> bits_debited_{0};
  std::atomic<std::uint64_t> bytes_served_{0};
  std::atomic<std::uint64_t> requests_served_{0};
  std::atomic<std::uint64_t> requests_failed_{0};
  std::atomic<std::uint64_t> requests_timed_out_{0};
  std::atomic<std::uint64_t> requests_paused_{0};   // moved by async/
  std::atomic<std::uint64_t> requests_resumed_{0};  // moved by async/
  std::atomic<std::uint64_t> paused_timed_out_{0};  // moved by async/
  std::atomic<std::uint64_t> async_callbacks_{0};   // moved by async/
};

}  // namespace seedpool::pool
