#include "pool/pool.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <array>
#include <optional>
#include <thread>

#include "pool/fork.h"
#include "pool/device_source.h"
#include "pool/getrandom_source.h"
#include "pool/hwrng_source.h"
#include "pool/rdseed_source.h"
#include "pool/request.h"

namespace seedpool::pool {
namespace {

// Back-off of a source that returned an error: 1 s, doubling, at most 64 s.
constexpr std::chrono::milliseconds kFirstBackoff{1000};
constexpr std::chrono::milliseconds kMaxBackoff{64000};
// How long a blocking read() waits past its deadline for the gatherer to
// end its request, before it withdraws the request itself.
constexpr std::chrono::milliseconds kDeadlineGrace{50};
// Bytes mixed from a source credited 0 bits, per refill: it adds
// unpredictability for an attacker who does not control it, nothing more.
constexpr std::size_t kUncreditedMixBytes = 64;

std::unique_ptr<Source> make_source(SourceKind kind, const Config& config,
                                    ProbedSources* probed) {
  if (probed != nullptr)
    if (std::unique_ptr<Source> s = probed->take(kind)) return s;
  switch (kind) {
    case SourceKind::getrandom: return std::make_unique<GetrandomSource>();
    case SourceKind::hwrng: return std::make_unique<HwrngSource>();
    case SourceKind::rdseed: return std::make_unique<RdseedSource>();
    case SourceKind::device:
      return std::make_unique<DeviceSource>(config.device_path);
  }
  return nullptr;
}

}  // namespace

const char* health_name(Health h) noexcept {
  switch (h) {
    case Health::ok: return "ok";
    case Health::degraded: return "degraded";
    case Health::failed: return "failed";
  }
  return "unknown";
}

std::string format_sources(const Stats& s) {
  std::string out;
  for (const SourceStats& src : s.sources) {
    if (!out.empty()) out += ',';
    out += src.name;
    out += ':';
    out += source_status_name(src.status);
    out += ':';
    out += std::to_string(src.bits_credited);
  }
  return out;
}

Errc Pool::create(const Config& config, std::unique_ptr<Pool>& out,
                  ProbedSources* probed) {
  if (!config.validate().empty()) return Errc::invalid_argument;
  std::vector<CustomSource> sources;
  for (const SourceConfig& sc : config.sources) {
    auto s = make_source(sc.kind, config, probed);
    if (!s) return Errc::invalid_argument;
    sources.push_back({std::move(s), sc.credit_bits_per_byte});
  }
  return create(config, std::move(sources), out);
}

Errc Pool::create(const Config& config, std::vector<CustomSource> sources,
                  std::unique_ptr<Pool>& out) {
  Config checked = config;
  checked.device_path.clear();  // custom sources: config.sources is ignored
  checked.sources = {SourceConfig{}};
  if (!checked.validate().empty() || sources.empty())
    return Errc::invalid_argument;
  for (const CustomSource& cs : sources)
    if (!cs.source || cs.credit_bits_per_byte > 8) return Errc::invalid_argument;
  // Room for a full pool at 1 credited bit per byte, the lowest whole-bit
  // credit a source can have, plus the largest request's input at 8 bits
  // per byte: a request reads its own input ahead, in one read, on top of
  // what the pool holds (read_ahead_locked), and leaves the pool at least
  // at write_wakeup_threshold. The bits above the pool size are there only
  // while that request holds the lock.
  const std::uint64_t read_ahead_bits = bits_needed(kMaxRequestBytes);
  const std::size_t reservoir_bytes =
      config.pool_size_bits + static_cast<std::size_t>(read_ahead_bits / 8);
  // The conditioner's state, the reservoir and the scratch buffer: three
  // regions of one locked, dump-excluded mapping, made with 4 system calls
  // instead of 11. The state is not wiped on fork (the child re-keys it,
  // see after_fork_locked); the raw input and the scratch buffer are.
  SecureRegion state_memory;
  SecureRegion reservoir_memory;
  SecureRegion scratch_memory;
  const SecureRegion::Part parts[] = {
      {Conditioner::kMemoryBytes, {}},
      {reservoir_bytes, {.wipe_on_fork = true}},
      {kScratchBytes, {.wipe_on_fork = true}}};
  SecureRegion* const memory[] = {&state_memory, &reservoir_memory,
                                  &scratch_memory};
  if (Errc rc = SecureRegion::create_parts(parts, memory); rc != Errc::ok)
    return rc;
  std::unique_ptr<Conditioner> conditioner;
  if (Errc rc = Conditioner::create(conditioner, std::move(state_memory));
      rc != Errc::ok)
    return rc;
  std::unique_ptr<Pool> pool(new Pool(config, std::move(conditioner)));
  if (Errc rc = Reservoir::create(reservoir_bytes,
                                  config.pool_size_bits + read_ahead_bits,
                                  std::move(reservoir_memory), pool->reservoir_);
      rc != Errc::ok)
    return rc;
  pool->scratch_ = std::move(scratch_memory);
  pool->credit_limit_bits_ = config.pool_size_bits;
  // The first gather-only round comes an interval after start: a process
  // that lives less (openssl rand) starts no thread for it.
  pool->next_gather_only_ = Clock::now() + kGatherOnlyInterval;
  for (CustomSource& cs : sources) {
    auto slot = std::make_unique<SourceSlot>();
    slot->source = std::move(cs.source);
    slot->credit_bits_per_byte = cs.credit_bits_per_byte;
    if (cs.credit_bits_per_byte > 0) {
      if (Errc rc = HealthTest::create(cs.credit_bits_per_byte, slot->health);
          rc != Errc::ok)
        return rc;
    }
    pool->sources_.push_back(std::move(slot));
  }
  // Distinguish this process and pool instance even before any source is
  // read; credited 0 bits.
  const struct {
    pid_t pid;
    const void* self;
    Clock::rep now;
  } ident{::getpid(), pool.get(), Clock::now().time_since_epoch().count()};
  if (Errc rc = pool->conditioner_->absorb(
          {reinterpret_cast<const std::uint8_t*>(&ident), sizeof(ident)});
      rc != Errc::ok)
    return rc;
  register_fork_lock(&pool->mu_);
  // The seed file goes in before anyone can draw (it is credited only
  // when trusted and safe; see seed_keeper.h). Its problems are statistics,
  // not failures: the pool runs on its sources alone.
  if (!config.seed_file.empty()) {
    if (Errc rc = SeedKeeper::create(config.seed_file, config.seed_file_trusted,
                                     pool->seed_keeper_);
        rc != Errc::ok)
      return rc;
    pool->seed_keeper_->start(*pool);
  }
  out = std::move(pool);
  return Errc::ok;
}

Pool::Pool(const Config& config, std::unique_ptr<Conditioner> conditioner)
    : config_(config),
      conditioner_(std::move(conditioner)),
      fork_generation_seen_(fork_generation()),
      done_cv_(std::make_unique<std::condition_variable>()),
      entropy_cv_(std::make_unique<std::condition_variable>()) {}

void Pool::save_seed_file() noexcept {
  if (seed_keeper_) seed_keeper_->finish(*this);
}

Pool::~Pool() {
  // Saved while the sources still run, so the new seed may be full-entropy
  // output; a forked child does not save (the keeper checks). Already done
  // when the last user released it (release_shared).
  save_seed_file();
  // Queued requests end with cancelled (a Request must not outlive its
  // pool, but its owner may be waiting for the callback).
  shutdown();
  unregister_fork_lock(&mu_);
}

std::uint64_t Pool::bits_needed(std::size_t out_len) noexcept {
  const std::size_t full = out_len / Conditioner::kBlockBytes;
  const std::size_t rest = out_len % Conditioner::kBlockBytes;
  std::uint64_t bits = full * (Conditioner::kBlockBytes * 8 + kMarginBits);
  if (rest) bits += rest * 8 + kMarginBits;
  return bits;
}

std::uint64_t Pool::credit_input_locked(std::span<const std::uint8_t> data,
                                        std::uint64_t bits, Errc& rc) {
  std::size_t stored_bytes = 0;
  std::uint64_t stored_bits = 0;
  if (bits > 0)
    reservoir_.append(data, bits, credit_limit_bits_, stored_bytes, stored_bits);
  rc = conditioner_->absorb(data.subspan(stored_bytes));
  credit_locked(stored_bits);
  return stored_bits;
}

void Pool::credit_locked(std::uint64_t bits) {
  bits_credited_.fetch_add(bits, std::memory_order_relaxed);
  // The reservoir holds what was credited (above the pool size only while
  // a request reads ahead, under the lock: never published above it).
  entropy_bits_ = reservoir_.bits();
  entropy_available_.store(
      std::min<std::uint64_t>(entropy_bits_, config_.pool_size_bits),
      std::memory_order_relaxed);
  credited_since_epoch_ += bits;
  if (credited_since_epoch_ >= config_.pool_size_bits) {
    credited_since_epoch_ = 0;
    epoch_.fetch_add(1, std::memory_order_relaxed);
  }
  if (entropy_bits_ >= config_.pool_size_bits) refilling_ = false;
  // No system call unless somebody waits in wait_for_entropy().
  if (bits > 0 && entropy_waiters_ > 0) entropy_cv_->notify_all();
}

void Pool::update_health() noexcept {
  std::size_t usable = 0;
  std::size_t exhausted = 0;
  for (const auto& s : sources_) {
    SourceStatus st = s->status.load(std::memory_order_relaxed);
    if ((st == SourceStatus::ok || st == SourceStatus::not_ready) &&
        s->credit_bits_per_byte > 0)
      ++usable;
    else if (st == SourceStatus::exhausted && s->credit_bits_per_byte > 0)
      ++exhausted;
  }
  // A source read to its end degrades the pool but does not fail it: what it
  // delivered was credited and may still be served.
  Health h = usable + exhausted == 0     ? Health::failed
             : usable < sources_.size() ? Health::degraded
                                         : Health::ok;
  health_.store(h, std::memory_order_relaxed);
}

std::uint64_t Pool::fill_level(std::uint64_t request_bits) const noexcept {
  return std::max<std::uint64_t>(
      config_.pool_size_bits,
      request_bits + config_.write_wakeup_threshold_bits);
}

bool Pool::source_readable_locked(const SourceSlot& slot, Clock::time_point now,
                                  bool inline_read) const noexcept {
  switch (slot.status.load(std::memory_order_relaxed)) {
    case SourceStatus::absent:
    case SourceStatus::exhausted:
    case SourceStatus::unhealthy:
      return false;  // out for good
    case SourceStatus::failed:
      return now >= slot.next_read;  // backed off, then tried again
    case SourceStatus::ok:
    case SourceStatus::not_ready:
      break;
  }
  // A caller refilling inline tries every live source once (a non-blocking
  // read costs no wait), except slow devices that only the gatherer reads;
  // the timers and POLLIN are the gatherer's pacing.
  if (inline_read) return slot.source->reads_inline();
  return !slot.wait_poll && now >= slot.next_read;
}

std::uint64_t Pool::read_source_locked(SourceSlot& slot, std::size_t max_bytes,
                                       Clock::time_point now, bool& more,
                                       Errc& rc) {
  more = false;
  rc = Errc::ok;
  const std::uint32_t credit = slot.credit_bits_per_byte;
  std::uint8_t* const scratch = scratch_.bytes().data();
  const std::size_t len = std::clamp<std::size_t>(max_bytes, 1, kScratchBytes);
  SourceRead r = slot.source->read({scratch, len});
  const int poll_fd = slot.source->poll_fd();
  // The next read of a source without a readiness fd, or of one we do not
  // credit, waits for its retry interval: no loop on a source that always
  // has bytes but adds nothing to the estimate.
  slot.next_read = (poll_fd < 0 || credit == 0)
                       ? now + slot.source->retry_interval()
                       : now;
  slot.wait_poll = false;
  const bool polled_ready = std::exchange(slot.polled_ready, false);
  std::uint64_t bits = 0;
  switch (r.kind) {
    case SourceRead::Kind::data: {
      slot.errors_in_a_row = 0;
      // Health tests first, on the raw samples; mixing never changes the
      // estimate, only a block the tests call `ok` is credited.
      HealthTest::Verdict verdict = HealthTest::Verdict::ok;
      if (slot.health) {
        verdict = slot.health->feed({scratch, r.bytes});
        const HealthTest::Counters& hc = slot.health->counters();
        slot.health_failures.store(hc.rct_failures + hc.apt_failures,
                                   std::memory_order_relaxed);
      }
      slot.status.store(verdict == HealthTest::Verdict::permanent
                            ? SourceStatus::unhealthy
                            : SourceStatus::ok,
                        std::memory_order_relaxed);
      slot.bytes_read.fetch_add(r.bytes, std::memory_order_relaxed);
      bits = std::uint64_t{r.bytes} * credit;
      if (verdict != HealthTest::Verdict::ok) {
        slot.bits_withheld.fetch_add(bits, std::memory_order_relaxed);
        bits = 0;
      }
      // Credited bytes wait raw in the reservoir; the rest (withheld, or
      // beyond a full pool) is mixed in uncredited.
      bits = credit_input_locked({scratch, r.bytes}, bits, rc);
      OPENSSL_cleanse(scratch, len);
      if (rc != Errc::ok) {
        health_.store(Health::failed, std::memory_order_relaxed);
        return 0;
      }
      if (verdict == HealthTest::Verdict::permanent) return 0;
      slot.bits_credited.fetch_add(bits, std::memory_order_relaxed);
      // A short read of a FIFO emptied it: wait for POLLIN rather than
      // read again to hear EAGAIN (one system call less each time the
      // gatherer serves a waiter from a FIFO: it used to look again after
      // serving and find it empty). POLLIN is level-triggered, so bytes
      // that came after this read wake the wait at once.
      if (r.bytes < len && poll_fd >= 0 && credit > 0 &&
          slot.source->short_read_empties()) {
        slot.wait_poll = true;
        return bits;
      }
      // A block held back by the start-up test is worth reading on for:
      // the next one may complete it.
      more = r.bytes > 0 && credit > 0 &&
             verdict != HealthTest::Verdict::intermittent;
      return bits;
    }
    case SourceRead::Kind::would_block:
      slot.status.store(SourceStatus::not_ready, std::memory_order_relaxed);
      // Wait for POLLIN where there is an fd, from now on: bytes written a
      // moment later wake the gatherer at once (a FIFO fed while a paused
      // job waits). Some drivers poll readable and still say EAGAIN: after
      // such a readiness, the retry interval too, so that is no busy loop.
      // Without an fd, the retry timer (set above).
      if (poll_fd >= 0) {
        slot.wait_poll = true;
        slot.next_read = polled_ready ? now + slot.source->retry_interval() : now;
      }
      return 0;
    case SourceRead::Kind::absent:
      slot.status.store(SourceStatus::absent, std::memory_order_relaxed);
      slot.last_errno.store(r.sys_errno, std::memory_order_relaxed);
      return 0;
    case SourceRead::Kind::error: {
      // Backed off, not dropped: 1 s, doubling to kMaxBackoff, then tried
      // again (a flaky device may come back); never polled in a loop.
      slot.status.store(SourceStatus::failed, std::memory_order_relaxed);
      slot.last_errno.store(r.sys_errno, std::memory_order_relaxed);
      const std::uint32_t shift = std::min<std::uint32_t>(slot.errors_in_a_row, 6);
      slot.errors_in_a_row++;
      slot.next_read = now + std::min(kFirstBackoff * (1u << shift), kMaxBackoff);
      return 0;
    }
    case SourceRead::Kind::exhausted:
      // At its end (a regular file): not a failure, never read again.
      slot.status.store(SourceStatus::exhausted, std::memory_order_relaxed);
      return 0;
  }
  return 0;
}

Errc Pool::refill_locked(std::uint64_t want_bits, std::uint64_t fresh_wanted,
                         std::uint64_t fill_to_bits) {
  const std::uint64_t size = config_.pool_size_bits;
  // What the reservoir may hold during this refill: the pool size, or more
  // for a request that reads its own input ahead (it spends that before the
  // lock is released, or trim_read_ahead_locked() does).
  const std::uint64_t limit =
      std::clamp<std::uint64_t>(fill_to_bits, size, reservoir_.max_bits());
  struct LimitScope {
    std::uint64_t& v;
    std::uint64_t old;
    ~LimitScope() { v = old; }
  } scope{credit_limit_bits_, credit_limit_bits_};
  credit_limit_bits_ = limit;
  want_bits = std::min(want_bits, limit);
  fresh_wanted = std::min(fresh_wanted, limit);
  std::uint64_t fresh_bits = 0;
  // Prediction resistance needs `fresh_wanted` bits read now and kept in the
  // reservoir. Where it has less room than that, spend its oldest input into
  // the conditioner first (mixed in, credited to no output): else the reads
  // below store nothing, `fresh_bits` never grows, and the loop spins with
  // the lock held until a health test happens to misfire. Room counts free
  // bytes as bits (the lowest credit, 1 bit per byte): conservative.
  if (const std::uint64_t room = std::min<std::uint64_t>(
          limit - std::min(limit, entropy_bits_), reservoir_.free_bytes());
      fresh_wanted > room) {
    if (Errc rc = spend_oldest_locked(std::min(fresh_wanted - room, reservoir_.bits()));
        rc != Errc::ok)
      return rc;
  }
  const Clock::time_point now = Clock::now();
  for (auto& slot : sources_) {
    if (!source_readable_locked(*slot, now, true)) continue;
    const std::uint32_t credit = slot->credit_bits_per_byte;
    bool more = true;
    while (more && (credit == 0 || entropy_bits_ < want_bits ||
                    fresh_bits < fresh_wanted)) {
      std::size_t len = kUncreditedMixBytes;
      if (credit > 0) {
        // One read for all of it where the source gives it (getrandom
        // does): up to `limit`, within the reservoir's free bytes.
        const std::uint64_t missing =
            std::max(limit - std::min(limit, entropy_bits_),
                     fresh_wanted - std::min(fresh_wanted, fresh_bits));
        len = static_cast<std::size_t>(std::min<std::uint64_t>(
            (missing + credit - 1) / credit, reservoir_.free_bytes()));
        if (len == 0) break;  // no room: reading would only be mixed
      }
      Errc rc = Errc::ok;
      const std::uint64_t got = read_source_locked(*slot, len, now, more, rc);
      fresh_bits += got;
      if (rc != Errc::ok) return rc;
      if (credit == 0) break;
      // A full reservoir stores nothing more: reading on would only spin.
      if (got == 0 &&
          (entropy_bits_ >= limit || reservoir_.free_bytes() == 0))
        break;
    }
  }
  update_health();
  if (health() == Health::failed) return Errc::no_usable_source;
  if (fresh_bits < fresh_wanted) return Errc::entropy_short;
  return Errc::ok;
}

Errc Pool::read_ahead_locked(std::uint64_t total_bits, bool fresh) {
  const std::uint64_t size = config_.pool_size_bits;
  const std::uint64_t want = std::min(total_bits, size);
  // Needed: the request cannot be served (or not the first pool-size of
  // it) from what is held, or it asks for fresh input.
  const bool needed = fresh || entropy_bits_ < want;
  // Else worth it when the request is not covered in full (a large one),
  // or when serving it leaves the pool below write_wakeup_threshold: top
  // up now, on this thread, in one read, rather than wake the gatherer --
  // unless the gatherer is refilling already (an inline source had nothing
  // the last time).
  const bool top_up =
      entropy_bits_ < total_bits ||
      (entropy_bits_ - total_bits < config_.write_wakeup_threshold_bits &&
       !refilling_);
  if (!needed && !top_up) return Errc::ok;
  const std::uint64_t fill = fill_level(total_bits);
  // A top-up reads until the fill level (one read from getrandom); a
  // needed read stops as soon as the request is covered.
  const Errc rc = refill_locked(needed ? want : fill, fresh ? want : 0, fill);
  note_inline_refill_locked(Clock::now());
  if (needed || rc == Errc::ok) return rc;
  // An optional top-up that found nothing is no failure; a conditioner
  // that failed is.
  return rc == Errc::entropy_short || rc == Errc::no_usable_source ? Errc::ok
                                                                    : rc;
}

bool Pool::gather_only_source(const SourceSlot& slot) const noexcept {
  if (slot.credit_bits_per_byte == 0 || slot.source->reads_inline()) return false;
  const SourceStatus st = slot.status.load(std::memory_order_relaxed);
  return st == SourceStatus::ok || st == SourceStatus::not_ready ||
         st == SourceStatus::failed;  // failed: backed off, tried again
}

void Pool::note_inline_refill_locked(Clock::time_point now) noexcept {
  if (gather_only_due_ || now < next_gather_only_) return;
  bool any = false;
  for (const auto& slot : sources_) any = any || gather_only_source(*slot);
  if (!any) return;
  next_gather_only_ = now + kGatherOnlyInterval;
  gather_only_until_ = now + kGatherOnlyInterval;
  gather_only_due_ = true;
  if (gatherer_ == nullptr) {
    (void)ensure_gatherer_locked();  // should it fail, nothing is lost here
    return;
  }
  wake_gatherer_locked();
}

Errc Pool::trim_read_ahead_locked() noexcept {
  const std::uint64_t size = config_.pool_size_bits;
  if (entropy_bits_ <= size) return Errc::ok;
  return spend_oldest_locked(entropy_bits_ - size);
}

Errc Pool::spend_oldest_locked(std::uint64_t bits) noexcept {
  std::uint64_t taken = 0;
  const Errc rc = reservoir_.take(
      bits, /*newest_first=*/false,
      [](void* c, std::span<const std::uint8_t> b) {
        return static_cast<Conditioner*>(c)->absorb(b);
      },
      conditioner_.get(), taken);
  entropy_bits_ = reservoir_.bits();
  entropy_available_.store(std::min<std::uint64_t>(entropy_bits_, config_.pool_size_bits),
                           std::memory_order_relaxed);
  bits_debited_.fetch_add(taken, std::memory_order_relaxed);
  if (rc != Errc::ok) health_.store(Health::failed, std::memory_order_relaxed);
  return rc;
}

void Pool::after_fork_locked() {
  // The child shares the parent's conditioner state: forget every credited
  // bit so the child's next output needs fresh source input the parent never
  // saw, and mix in what tells the two apart.
  fork_generation_seen_ = fork_generation();
  reservoir_.clear();  // the parent may spend the same raw input
  reservoir_.relock();
  scratch_.relock();
  credit_limit_bits_ = config_.pool_size_bits;
  entropy_bits_ = 0;
  entropy_available_.store(0, std::memory_order_relaxed);
  const struct {
    pid_t pid;
    std::uint64_t generation;
  } ident{::getpid(), fork_generation_seen_};
  (void)conditioner_->absorb(
      {reinterpret_cast<const std::uint8_t*>(&ident), sizeof(ident)});
  epoch_.fetch_add(1, std::memory_order_relaxed);
  // Memory locks are not inherited across fork: lock the state again.
  conditioner_->after_fork();
  // Only the forking thread exists here. The parent's gatherer thread is
  // gone: forget it (its std::thread must be neither joined nor destroyed)
  // and its reactor, whose ring the child must not drive; the next need
  // starts a new one. Condition variables others waited on are unusable
  // after fork: leak them, make new ones. Requests queued in the parent go
  // back to idle (their owners, if they exist here, ask again).
  gatherer_ = nullptr;  // leaked on purpose
  gatherer_id_ = {};
  if (reactor_) reactor_->abandon_after_fork();
  reactor_.reset();
  gatherer_kind_.store(0, std::memory_order_relaxed);
  stop_ = false;
  refilling_ = false;
  asleep_full_ = false;
  gatherer_planned_ = false;
  sleep_watches_sources_ = false;
  sleep_until_ = Clock::time_point::max();
  // The child's copy shares the parent's timer (one open file description):
  // close it, never arm it; a new gatherer makes its own.
  if (deadline_timer_fd_ >= 0) (void)::close(deadline_timer_fd_);
  deadline_timer_fd_ = -1;
  timer_at_ = Clock::time_point::max();
  (void)done_cv_.release();
  (void)entropy_cv_.release();
  done_cv_.reset(new (std::nothrow) std::condition_variable());
  entropy_cv_.reset(new (std::nothrow) std::condition_variable());
  entropy_waiters_ = 0;
  while (queue_head_ != nullptr) {
    Request* r = queue_head_;
    unlink_locked(r);
    r->state_ = Request::State::idle;
  }
  if (running_ != nullptr) running_->state_ = Request::State::idle;
  running_ = nullptr;
  for (auto& slot : sources_) {
    slot->wait_poll = false;
    slot->next_read = {};
  }
}

Errc Pool::extract_block_locked(std::span<std::uint8_t> out, bool fresh) {
  const std::uint64_t need = bits_needed(out.size());
  if (reservoir_.bits() < need) return Errc::entropy_short;
  // The block is the hash of the chain and raw input worth `need` bits,
  // spent here (oldest first; newest first for prediction resistance,
  // which has just read it).
  std::uint64_t taken = 0;
  Errc rc = reservoir_.take(
      need, fresh,
      [](void* c, std::span<const std::uint8_t> b) {
        return static_cast<Conditioner*>(c)->absorb(b);
      },
      conditioner_.get(), taken);
  if (rc == Errc::ok) rc = conditioner_->extract(out);
  entropy_bits_ = reservoir_.bits();
  entropy_available_.store(
      std::min<std::uint64_t>(entropy_bits_, config_.pool_size_bits),
      std::memory_order_relaxed);
  bits_debited_.fetch_add(taken, std::memory_order_relaxed);
  if (rc != Errc::ok) {
    health_.store(Health::failed, std::memory_order_relaxed);
    return rc;
  }
  note_drained_locked();
  return Errc::ok;
}

Errc Pool::extract_locked(std::span<std::uint8_t> out, bool fresh) {
  // When the whole request fits in the pool, take it in one go or not at
  // all; a larger request that could not read all of its input ahead
  // (read_ahead_locked) refills between blocks.
  const std::uint64_t total = bits_needed(out.size());
  const bool fits = total <= config_.pool_size_bits;
  if (fits && entropy_bits_ < total) return Errc::entropy_short;
  const Conditioner::Batch batch(*conditioner_);  // one hash context
  std::uint64_t left = total;
  for (std::size_t off = 0; off < out.size();
       off += Conditioner::kBlockBytes) {
    const std::size_t n =
        std::min(Conditioner::kBlockBytes, out.size() - off);
    const std::uint64_t need = bits_needed(n);
    if (entropy_bits_ < need) {
      Errc rc = refill_locked(need, 0, fill_level(left));
      if (rc == Errc::ok && entropy_bits_ < need) rc = Errc::entropy_short;
      if (rc != Errc::ok) return rc;
    }
    if (Errc rc = extract_block_locked(out.subspan(off, n), fresh); rc != Errc::ok)
      return rc;
    left -= need;
  }
  return Errc::ok;
}

Errc Pool::derive_uncounted(std::span<std::uint8_t> out) noexcept {
  if (out.empty() || out.data() == nullptr) return Errc::invalid_argument;
  std::lock_guard<std::mutex> g(mu_);
  check_fork_locked();
  const Conditioner::Batch batch(*conditioner_);  // one hash context
  for (std::size_t off = 0; off < out.size(); off += Conditioner::kBlockBytes) {
    const std::size_t n = std::min(Conditioner::kBlockBytes, out.size() - off);
    if (Errc rc = conditioner_->extract(out.subspan(off, n)); rc != Errc::ok) {
      OPENSSL_cleanse(out.data(), out.size());
      return rc;
    }
  }
  return Errc::ok;
}

Errc Pool::mix(std::span<const std::uint8_t> data) noexcept {
  if (data.data() == nullptr && !data.empty()) return Errc::invalid_argument;
  std::lock_guard<std::mutex> g(mu_);
  check_fork_locked();
  return conditioner_->absorb(data);
}

Errc Pool::add_entropy(std::span<const std::uint8_t> data,
                       std::uint64_t credited_bits) noexcept {
  if (data.data() == nullptr && !data.empty()) return Errc::invalid_argument;
  std::lock_guard<std::mutex> g(mu_);
  check_fork_locked();
  Errc rc = Errc::ok;
  const std::uint64_t bits = credit_input_locked(
      data, std::min<std::uint64_t>(credited_bits, data.size() * 8), rc);
  // A queued request may be served now: the gatherer may be asleep on its
  // sources alone (wake_for_request_locked), so tell it.
  if (bits > 0 && queue_head_ != nullptr) wake_gatherer_locked();
  return rc;
}

void Pool::count_async(AsyncEvent e) noexcept {
  std::atomic<std::uint64_t>* c = &requests_paused_;
  switch (e) {
    case AsyncEvent::paused: c = &requests_paused_; break;
    case AsyncEvent::resumed: c = &requests_resumed_; break;
    case AsyncEvent::timed_out: c = &paused_timed_out_; break;
    case AsyncEvent::callback: c = &async_callbacks_; break;
  }
  c->fetch_add(1, std::memory_order_relaxed);
}

void Pool::count_result(Errc rc, std::size_t bytes) noexcept {
  if (rc == Errc::ok) {
    requests_served_.fetch_add(1, std::memory_order_relaxed);
    bytes_served_.fetch_add(bytes, std::memory_order_relaxed);
    return;
  }
  requests_failed_.fetch_add(1, std::memory_order_relaxed);
  if (rc == Errc::timed_out)
    requests_timed_out_.fetch_add(1, std::memory_order_relaxed);
}

Errc Pool::try_read(std::span<std::uint8_t> out,
                    std::span<const std::uint8_t> adin, bool fresh) noexcept {
  return read(out, adin, fresh, std::chrono::milliseconds{0});
}

Errc Pool::inline_read_locked(std::span<std::uint8_t> out, bool fresh) {
  if (queue_head_ != nullptr) return Errc::entropy_short;  // they come first
  Errc rc = read_ahead_locked(bits_needed(out.size()), fresh);
  if (rc == Errc::ok) rc = extract_locked(out, fresh);
  // Unserved read-ahead (a failure half-way) does not stay above the size.
  if (const Errc t = trim_read_ahead_locked(); rc == Errc::ok) rc = t;
  if (rc == Errc::ok) return rc;
  OPENSSL_cleanse(out.data(), out.size());
  // No usable source left: say so rather than "short".
  update_health();
  if (rc == Errc::entropy_short && health() == Health::failed)
    rc = Errc::no_usable_source;
  return rc;
}

Errc Pool::read_now_uncounted(std::span<std::uint8_t> out,
                              std::span<const std::uint8_t> adin,
                              bool fresh) noexcept {
  if (out.empty() || out.data() == nullptr ||
      (adin.data() == nullptr && !adin.empty()))
    return Errc::invalid_argument;
  if (out.size() > kMaxRequestBytes) return Errc::request_too_large;
  std::lock_guard<std::mutex> g(mu_);
  check_fork_locked();
  Errc rc = conditioner_->absorb(adin);
  if (rc == Errc::ok) rc = inline_read_locked(out, fresh);
  return rc;
}

Errc Pool::read_before_queueing(std::span<std::uint8_t> out,
                                std::span<const std::uint8_t> adin,
                                bool fresh) noexcept {
  const Errc rc = read_now_uncounted(out, adin, fresh);
  if (rc == Errc::entropy_short) return rc;  // the caller queues
  if (rc != Errc::ok && !out.empty() && out.data() != nullptr)
    OPENSSL_cleanse(out.data(), out.size());
  count_result(rc, out.size());
  return rc;
}

Errc Pool::read(std::span<std::uint8_t> out, std::span<const std::uint8_t> adin,
                bool fresh, std::chrono::milliseconds timeout) noexcept {
  auto finish = [&](Errc rc) {
    if (rc != Errc::ok && !out.empty() && out.data() != nullptr)
      OPENSSL_cleanse(out.data(), out.size());
    count_result(rc, out.size());
    return rc;
  };
  if (timeout.count() < 0) return finish(Errc::invalid_argument);
  timeout = std::min(timeout, Config::kMaxTimeout);  // at most an hour
  const auto deadline = Clock::now() + timeout;
  if (Errc rc = read_now_uncounted(out, adin, fresh);
      rc != Errc::entropy_short || timeout.count() == 0)
    return finish(rc);

  // Wait in line: a Request whose callback copies the bytes out. The
  // gatherer ends it at the deadline; our own bounded wait is the backstop
  // (e.g. no gatherer thread could be started).
  struct Outcome {
    bool done = false;
    Errc rc = Errc::timed_out;
  } outcome;
  std::optional<Request> waiter;
  try {
    waiter.emplace(*this, out.size(),
                   [&outcome, out](Errc rc, std::span<const std::uint8_t> b) {
                     if (rc == Errc::ok)
                       std::copy(b.begin(), b.end(), out.begin());
                     outcome.rc = rc;
                     outcome.done = true;
                   },
                   fresh);
  } catch (...) {
    return finish(Errc::out_of_memory);
  }
  Errc rc = waiter->schedule(deadline);
  if (rc != Errc::pending) {  // counted where it was refused
    OPENSSL_cleanse(out.data(), out.size());
    return rc;
  }
  bool done = false;
  {
    std::unique_lock<std::mutex> lk(mu_);
    // The gatherer runs the callback without the lock, then retakes it,
    // sets the request idle and notifies done_cv_: `outcome` is read only
    // once the state (guarded by mu_) says idle.
    for (;;) {
      done = waiter->state_ == Request::State::idle;
      if (done || done_cv_ == nullptr ||
          done_cv_->wait_until(lk, deadline + kDeadlineGrace) ==
              std::cv_status::timeout)
        break;
    }
    done = waiter->state_ == Request::State::idle && outcome.done;
  }
  waiter->cancel();  // no-op when done; else withdraws it
  if (!done) {
    OPENSSL_cleanse(out.data(), out.size());
    count_result(Errc::timed_out, 0);
    return Errc::timed_out;
  }
  // Counted by the gatherer when it completed the request.
  if (outcome.rc != Errc::ok) OPENSSL_cleanse(out.data(), out.size());
  return outcome.rc;
}

Errc Pool::read_some(std::span<std::uint8_t> out, std::size_t& got) noexcept {
  got = 0;
  if (out.empty() || out.data() == nullptr) return Errc::invalid_argument;
  std::lock_guard<std::mutex> g(mu_);
  check_fork_locked();
  if (queue_head_ != nullptr) return Errc::entropy_short;
  const std::size_t blocks =
      (out.size() + Conditioner::kBlockBytes - 1) / Conditioner::kBlockBytes;
  Errc rc = read_ahead_locked(
      bits_needed(std::min(out.size(), kMaxRequestBytes)), false);
  if (rc == Errc::entropy_short) rc = Errc::ok;
  for (std::size_t i = 0; rc == Errc::ok && i < blocks; ++i) {
    const std::size_t n =
        std::min(Conditioner::kBlockBytes, out.size() - got);
    rc = extract_block_locked(out.subspan(got, n), false);
    if (rc == Errc::ok) got += n;
  }
  if (rc == Errc::entropy_short) rc = Errc::ok;  // what there was
  if (const Errc t = trim_read_ahead_locked(); rc == Errc::ok) rc = t;
  if (rc != Errc::ok) {
    OPENSSL_cleanse(out.data(), got);
    got = 0;
    count_result(rc, 0);
    return rc;
  }
  if (got == 0) {
    // Nothing now: make sure the gatherer works on it.
    refilling_ = true;
    if (rc = ensure_gatherer_locked(); rc != Errc::ok) return rc;
    wake_gatherer_locked();
    update_health();
    return health() == Health::failed ? Errc::no_usable_source
                                      : Errc::entropy_short;
  }
  count_result(Errc::ok, got);
  return Errc::ok;
}

Errc Pool::wait_for_entropy(std::uint64_t bits,
                            std::chrono::milliseconds timeout) noexcept {
  if (timeout.count() < 0) return Errc::invalid_argument;
  bits = std::min<std::uint64_t>(bits, config_.pool_size_bits);
  const auto deadline = Clock::now() + timeout;
  std::unique_lock<std::mutex> lk(mu_);
  check_fork_locked();
  if (entropy_bits_ >= bits) return Errc::ok;
  refilling_ = true;
  if (Errc rc = ensure_gatherer_locked(); rc != Errc::ok) return rc;
  wake_gatherer_locked();
  if (entropy_cv_ == nullptr) return Errc::out_of_memory;
  ++entropy_waiters_;
  std::condition_variable& cv = *entropy_cv_;
  const bool ok = cv.wait_until(lk, deadline, [&] {
    return entropy_bits_ >= bits || health() == Health::failed ||
           is_shut_down();
  });
  --entropy_waiters_;
  if (entropy_bits_ >= bits) return Errc::ok;
  if (health() == Health::failed) return Errc::no_usable_source;
  if (is_shut_down()) return Errc::cancelled;
  return ok ? Errc::ok : Errc::timed_out;
}

Stats Pool::stats() const {
  Stats s;
  s.entropy_available_bits = entropy_available_bits();
  s.pool_size_bits = config_.pool_size_bits;
  s.bits_credited = bits_credited_.load(std::memory_order_relaxed);
  s.bits_debited = bits_debited_.load(std::memory_order_relaxed);
  s.bytes_served = bytes_served_.load(std::memory_order_relaxed);
  s.requests_served = requests_served_.load(std::memory_order_relaxed);
  s.requests_failed = requests_failed_.load(std::memory_order_relaxed);
  s.requests_timed_out = requests_timed_out_.load(std::memory_order_relaxed);
  s.requests_paused = requests_paused_.load(std::memory_order_relaxed);
  s.requests_resumed = requests_resumed_.load(std::memory_order_relaxed);
  s.paused_timed_out = paused_timed_out_.load(std::memory_order_relaxed);
  s.async_callbacks = async_callbacks_.load(std::memory_order_relaxed);
  s.epoch = epoch();
  s.health = health();
  s.read_wakeup_threshold_bits = config_.read_wakeup_threshold_bits;
  s.write_wakeup_threshold_bits = config_.write_wakeup_threshold_bits;
  s.requests_queued = requests_queued_.load(std::memory_order_relaxed);
  s.gatherer_wakeups = gatherer_wakeups_.load(std::memory_order_relaxed);
  const std::uint8_t kind = gatherer_kind_.load(std::memory_order_relaxed);
  s.gatherer = kind == 0 ? "stopped"
                         : reactor_kind_name(static_cast<Reactor::Kind>(kind - 1));
  {
    std::lock_guard<std::mutex> g(mu_);
    s.gatherer_fallback_reason = gatherer_fallback_reason_;
  }
  if (seed_keeper_) s.seed_file = seed_keeper_->stats();
  {
    std::lock_guard<std::mutex> g(mu_);
    s.memory_locked = conditioner_->memory_locked() && reservoir_.locked() &&
                      scratch_.locked();
    s.dump_excluded = conditioner_->dump_excluded() &&
                      reservoir_.dump_excluded() && scratch_.dump_excluded();
  }
  for (const auto& slot : sources_) {
    SourceStats ss;
    ss.name = slot->source->name();
    ss.status = slot->status.load(std::memory_order_relaxed);
    ss.bytes_read = slot->bytes_read.load(std::memory_order_relaxed);
    ss.bits_credited = slot->bits_credited.load(std::memory_order_relaxed);
    ss.bits_withheld = slot->bits_withheld.load(std::memory_order_relaxed);
    ss.credit_bits_per_byte = slot->credit_bits_per_byte;
    ss.health_failures = slot->health_failures.load(std::memory_order_relaxed);
    ss.last_errno = slot->last_errno.load(std::memory_order_relaxed);
    s.sources.push_back(std::move(ss));
  }
  return s;
}

}  // namespace seedpool::pool
