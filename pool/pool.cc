#include "pool/pool.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <thread>

#include "pool/fork.h"
#include "pool/device_source.h"
#include "pool/getrandom_source.h"
#include "pool/hwrng_source.h"
#include "pool/rdseed_source.h"

namespace seedpool::pool {
namespace {

using Clock = std::chrono::steady_clock;

// Raw bytes read from a source per read(2)-like call.
constexpr std::size_t kReadChunkBytes = 512;
// Bytes mixed from a source credited 0 bits, per refill: it adds
// unpredictability for an attacker who does not control it, nothing more.
constexpr std::size_t kUncreditedMixBytes = 64;
// Pause between retries when no source offers a way to wait.
constexpr std::chrono::milliseconds kRetryPause{10};

std::unique_ptr<Source> make_source(SourceKind kind, const Config& config) {
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

Errc Pool::create(const Config& config, std::unique_ptr<Pool>& out) {
  if (!config.validate().empty()) return Errc::invalid_argument;
  std::vector<CustomSource> sources;
  for (const SourceConfig& sc : config.sources) {
    auto s = make_source(sc.kind, config);
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
  std::unique_ptr<Conditioner> conditioner;
  if (Errc rc = Conditioner::create(conditioner); rc != Errc::ok) return rc;
  std::unique_ptr<Pool> pool(new Pool(config, std::move(conditioner)));
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
  out = std::move(pool);
  return Errc::ok;
}

Pool::Pool(const Config& config, std::unique_ptr<Conditioner> conditioner)
    : config_(config),
      conditioner_(std::move(conditioner)),
      fork_generation_seen_(fork_generation()) {}

Pool::~Pool() { unregister_fork_lock(&mu_); }

std::uint64_t Pool::bits_needed(std::size_t out_len) noexcept {
  const std::size_t full = out_len / Conditioner::kBlockBytes;
  const std::size_t rest = out_len % Conditioner::kBlockBytes;
  std::uint64_t bits = full * (Conditioner::kBlockBytes * 8 + kMarginBits);
  if (rest) bits += rest * 8 + kMarginBits;
  return bits;
}

void Pool::credit_locked(std::uint64_t bits) {
  bits_credited_.fetch_add(bits, std::memory_order_relaxed);
  entropy_bits_ = std::min<std::uint64_t>(config_.pool_size_bits,
                                          entropy_bits_ + bits);
  entropy_available_.store(entropy_bits_, std::memory_order_relaxed);
  credited_since_epoch_ += bits;
  if (credited_since_epoch_ >= config_.pool_size_bits) {
    credited_since_epoch_ = 0;
    epoch_.fetch_add(1, std::memory_order_relaxed);
  }
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

Errc Pool::refill_locked(std::uint64_t want_bits, bool force) {
  want_bits = std::min<std::uint64_t>(want_bits, config_.pool_size_bits);
  std::uint64_t fresh_bits = 0;
  const std::uint64_t fresh_wanted = force ? want_bits : 0;
  std::array<std::uint8_t, kReadChunkBytes> buf;
  Errc rc = Errc::ok;
  for (auto& slot : sources_) {
    SourceStatus st = slot->status.load(std::memory_order_relaxed);
    if (st == SourceStatus::absent || st == SourceStatus::failed ||
        st == SourceStatus::exhausted || st == SourceStatus::unhealthy)
      continue;
    const std::uint32_t credit = slot->credit_bits_per_byte;
    bool again = true;
    while (again && (credit == 0 || entropy_bits_ < want_bits ||
                     fresh_bits < fresh_wanted)) {
      std::size_t len = kUncreditedMixBytes;
      if (credit > 0) {
        std::uint64_t missing =
            std::max(config_.pool_size_bits - entropy_bits_,
                     fresh_wanted - std::min(fresh_wanted, fresh_bits));
        len = std::clamp<std::size_t>((missing + credit - 1) / credit, 1,
                                      buf.size());
      }
      SourceRead r = slot->source->read({buf.data(), len});
      switch (r.kind) {
        case SourceRead::Kind::data: {
          // Health tests first, on the raw samples; mixing never changes
          // the estimate, only a block the tests call `ok` is credited.
          HealthTest::Verdict verdict = HealthTest::Verdict::ok;
          if (slot->health) {
            verdict = slot->health->feed({buf.data(), r.bytes});
            const HealthTest::Counters& hc = slot->health->counters();
            slot->health_failures.store(hc.rct_failures + hc.apt_failures,
                                        std::memory_order_relaxed);
          }
          slot->status.store(verdict == HealthTest::Verdict::permanent
                                 ? SourceStatus::unhealthy
                                 : SourceStatus::ok,
                             std::memory_order_relaxed);
          rc = conditioner_->absorb({buf.data(), r.bytes});
          if (rc != Errc::ok) {
            OPENSSL_cleanse(buf.data(), buf.size());
            health_.store(Health::failed, std::memory_order_relaxed);
            return rc;
          }
          std::uint64_t bits = std::uint64_t{r.bytes} * credit;
          if (verdict != HealthTest::Verdict::ok) {
            slot->bits_withheld.fetch_add(bits, std::memory_order_relaxed);
            bits = 0;
          }
          if (verdict == HealthTest::Verdict::permanent) {
            slot->bytes_read.fetch_add(r.bytes, std::memory_order_relaxed);
            again = false;
            break;
          }
          slot->bytes_read.fetch_add(r.bytes, std::memory_order_relaxed);
          slot->bits_credited.fetch_add(bits, std::memory_order_relaxed);
          fresh_bits += bits;
          credit_locked(bits);
          // A block held back by the start-up test is worth reading on for:
          // the next one may complete it.
          again = r.bytes > 0 && credit > 0 &&
                  verdict != HealthTest::Verdict::intermittent;
          break;
        }
        case SourceRead::Kind::would_block:
          slot->status.store(SourceStatus::not_ready, std::memory_order_relaxed);
          again = false;
          break;
        case SourceRead::Kind::absent:
          slot->status.store(SourceStatus::absent, std::memory_order_relaxed);
          slot->last_errno.store(r.sys_errno, std::memory_order_relaxed);
          again = false;
          break;
        case SourceRead::Kind::error:
          slot->status.store(SourceStatus::failed, std::memory_order_relaxed);
          slot->last_errno.store(r.sys_errno, std::memory_order_relaxed);
          again = false;
          break;
        case SourceRead::Kind::exhausted:
          // At its end (a regular file): not a failure, never read again.
          slot->status.store(SourceStatus::exhausted, std::memory_order_relaxed);
          again = false;
          break;
      }
    }
  }
  OPENSSL_cleanse(buf.data(), buf.size());
  update_health();
  if (health() == Health::failed) return Errc::no_usable_source;
  if (fresh_bits < fresh_wanted) return Errc::entropy_short;
  return Errc::ok;
}

void Pool::after_fork_locked() {
  // The child shares the parent's conditioner state: forget every credited
  // bit so the child's next output needs fresh source input the parent never
  // saw, and mix in what tells the two apart.
  fork_generation_seen_ = fork_generation();
  entropy_bits_ = 0;
  entropy_available_.store(0, std::memory_order_relaxed);
  const struct {
    pid_t pid;
    std::uint64_t generation;
  } ident{::getpid(), fork_generation_seen_};
  (void)conditioner_->absorb(
      {reinterpret_cast<const std::uint8_t*>(&ident), sizeof(ident)});
  epoch_.fetch_add(1, std::memory_order_relaxed);
}

Errc Pool::extract_locked(std::span<std::uint8_t> out) {
  // When the whole request fits in the pool, take it in one go or not at
  // all; a larger request refills between blocks.
  const std::uint64_t total = bits_needed(out.size());
  const bool fits = total <= config_.pool_size_bits;
  if (fits && entropy_bits_ < total) return Errc::entropy_short;
  for (std::size_t off = 0; off < out.size();
       off += Conditioner::kBlockBytes) {
    const std::size_t n =
        std::min(Conditioner::kBlockBytes, out.size() - off);
    const std::uint64_t need = bits_needed(n);
    if (entropy_bits_ < need) {
      Errc rc = refill_locked(config_.pool_size_bits, false);
      if (rc == Errc::ok && entropy_bits_ < need) rc = Errc::entropy_short;
      if (rc != Errc::ok) return rc;
    }
    if (Errc rc = conditioner_->extract(out.subspan(off, n)); rc != Errc::ok) {
      health_.store(Health::failed, std::memory_order_relaxed);
      return rc;
    }
    entropy_bits_ -= need;
    bits_debited_.fetch_add(need, std::memory_order_relaxed);
    entropy_available_.store(entropy_bits_, std::memory_order_relaxed);
  }
  return Errc::ok;
}

Errc Pool::derive_uncounted(std::span<std::uint8_t> out) noexcept {
  if (out.empty() || out.data() == nullptr) return Errc::invalid_argument;
  std::lock_guard<std::mutex> g(mu_);
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
  std::lock_guard<std::mutex> g(mu_);
  return conditioner_->absorb(data);
}

Errc Pool::add_entropy(std::span<const std::uint8_t> data,
                       std::uint64_t credited_bits) noexcept {
  std::lock_guard<std::mutex> g(mu_);
  if (Errc rc = conditioner_->absorb(data); rc != Errc::ok) return rc;
  credit_locked(std::min<std::uint64_t>(credited_bits, data.size() * 8));
  return Errc::ok;
}

Errc Pool::try_read(std::span<std::uint8_t> out,
                    std::span<const std::uint8_t> adin, bool fresh) noexcept {
  return read(out, adin, fresh, std::chrono::milliseconds{0});
}

Errc Pool::read(std::span<std::uint8_t> out, std::span<const std::uint8_t> adin,
                bool fresh, std::chrono::milliseconds timeout) noexcept {
  auto finish = [&](Errc rc) {
    if (rc == Errc::ok) {
      requests_served_.fetch_add(1, std::memory_order_relaxed);
      bytes_served_.fetch_add(out.size(), std::memory_order_relaxed);
    } else {
      if (!out.empty() && out.data() != nullptr)
        OPENSSL_cleanse(out.data(), out.size());
      requests_failed_.fetch_add(1, std::memory_order_relaxed);
      if (rc == Errc::timed_out)
        requests_timed_out_.fetch_add(1, std::memory_order_relaxed);
    }
    return rc;
  };
  if (out.empty() || out.data() == nullptr ||
      (adin.data() == nullptr && !adin.empty()))
    return finish(Errc::invalid_argument);
  if (out.size() > kMaxRequestBytes) return finish(Errc::request_too_large);
  if (timeout.count() < 0) return finish(Errc::invalid_argument);

  const auto deadline = Clock::now() + timeout;
  bool adin_mixed = false;
  for (;;) {
    Errc rc;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (fork_generation_seen_ != fork_generation()) after_fork_locked();
      rc = Errc::ok;
      if (!adin_mixed) {
        rc = conditioner_->absorb(adin);
        adin_mixed = true;
      }
      const std::uint64_t want =
          std::min<std::uint64_t>(bits_needed(out.size()), config_.pool_size_bits);
      if (rc == Errc::ok && (fresh || entropy_bits_ < want))
        rc = refill_locked(want, fresh);
      if (rc == Errc::ok) rc = extract_locked(out);
    }
    if (rc != Errc::entropy_short) return finish(rc);
    const auto now = Clock::now();
    if (now >= deadline) return finish(timeout.count() == 0 ? rc : Errc::timed_out);
    // Wait, without the lock, for the first source that is not ready.
    SourceSlot* slot = first_waitable_source();
    auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (remaining.count() == 0) remaining = std::chrono::milliseconds{1};
    if (slot == nullptr || !slot->source->wait_ready(remaining)) {
      if (Clock::now() >= deadline) return finish(Errc::timed_out);
      // Nothing to wait on (or the wait failed early): retry at a gentle
      // pace instead of spinning until the deadline.
      std::this_thread::sleep_for(
          std::min<Clock::duration>(deadline - Clock::now(), kRetryPause));
    }
  }
}

Pool::SourceSlot* Pool::first_waitable_source() noexcept {
  for (auto& s : sources_)
    if (s->status.load(std::memory_order_relaxed) == SourceStatus::not_ready)
      return s.get();
  return nullptr;
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
  s.epoch = epoch();
  s.health = health();
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
