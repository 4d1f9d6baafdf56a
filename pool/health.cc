#include "pool/health.h"

#include <algorithm>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace seedpool::pool {

Errc HealthTest::create(std::uint32_t claimed_bits_per_byte,
                        std::optional<HealthTest>& out) noexcept {
  if (claimed_bits_per_byte < 1 || claimed_bits_per_byte > 8)
    return Errc::invalid_argument;
  out.emplace(HealthTest(claimed_bits_per_byte));
  return Errc::ok;
}

namespace {

// HealthTest's cutoffs for H = 1..8 bits per byte, as rct_cutoff and
// apt_cutoff compute them (W = 512; alpha = 2^-30 and 2^-60), written out so
// that start-up does not pay for the binomial sums: they cost ~50 us per
// source, a sixth of what loading seedpool added to `openssl rand`.
// health_test.cc checks every entry against the functions.
constexpr std::array<HealthTest::Cutoffs, 8> kCutoffs = {{
    {31, 61, 325, 355},  // 1
    {16, 31, 191, 221},  // 2
    {11, 21, 115, 140},  // 3
    {9, 16, 71, 92},     // 4
    {7, 13, 46, 63},     // 5
    {6, 11, 32, 45},     // 6
    {6, 10, 23, 33},     // 7
    {5, 9, 17, 26},      // 8
}};

}  // namespace

HealthTest::Cutoffs HealthTest::cutoffs_for(std::uint32_t claimed_bits_per_byte) noexcept {
  if (claimed_bits_per_byte < 1 || claimed_bits_per_byte > kCutoffs.size()) return {};
  return kCutoffs[claimed_bits_per_byte - 1];
}

HealthTest::HealthTest(std::uint32_t claimed_bits_per_byte) noexcept
    : bits_(claimed_bits_per_byte), cutoffs_(cutoffs_for(claimed_bits_per_byte)) {}

void HealthTest::note_failure() noexcept {
  // counters_.samples_tested is the index of the failing sample.
  const std::uint64_t now = counters_.samples_tested;
  if (failures_ >= recent_failures_.size() &&
      now - recent_failures_[recent_next_] < kRecurrenceSamples &&
      counters_.failure == Failure::none)
    counters_.failure = Failure::recurring;
  recent_failures_[recent_next_] = now;
  recent_next_ = (recent_next_ + 1) % recent_failures_.size();
  ++failures_;
}

// One sample through both tests, the general path: the start-up samples,
// and any sample that reaches a cutoff. True when the source has failed for
// good.
bool HealthTest::step(std::uint8_t x, bool& tripped) noexcept {
  bool fails = false;    // this sample trips a test
  bool crosses = false;  // ... and is the first to reach a cutoff
  // SP 800-90B 4.4.1. A failure does not end the run: every further repeat
  // of a stuck value fails too, and only a different value starts over.
  if (rct_count_ != 0 && x == rct_value_) {
    ++rct_count_;
    if (rct_count_ >= cutoffs_.rct) {
      fails = true;
      if (rct_count_ == cutoffs_.rct) {
        crosses = true;
        ++counters_.rct_failures;
      }
      if (rct_count_ >= cutoffs_.rct_permanent)
        counters_.failure = Failure::stuck;
    }
  } else {
    rct_value_ = x;
    rct_count_ = 1;
  }
  // SP 800-90B 4.4.2: the first sample of each window of W is the
  // reference and counts once; each later sample equal to it counts. A
  // failure does not end the window either: it ends after W samples.
  if (apt_seen_ == 0) {
    apt_value_ = x;
    apt_count_ = 1;
  } else if (x == apt_value_) {
    ++apt_count_;
    if (apt_count_ >= cutoffs_.apt) {
      fails = true;
      if (apt_count_ == cutoffs_.apt) {
        crosses = true;
        ++counters_.apt_failures;
      }
      if (apt_count_ >= cutoffs_.apt_permanent)
        counters_.failure = Failure::biased;
    }
  }
  if (++apt_seen_ == kAptWindow) apt_seen_ = 0;

  if (crosses) note_failure();
  if (fails) {
    tripped = true;
    // The start-up test gets no second chance (SP 800-90B 4.3): a source
    // that fails before it ever delivered is not used at all.
    if (!counters_.startup_passed) counters_.failure = Failure::startup;
  }
  ++counters_.samples_tested;
  if (failed()) return true;
  if (counters_.samples_tested == kStartupSamples)
    counters_.startup_passed = true;
  return false;
}

HealthTest::Verdict HealthTest::feed(
    std::span<const std::uint8_t> samples) noexcept {
  if (failed()) return Verdict::permanent;
  bool tripped = false;
  const std::uint8_t* const p = samples.data();
  const std::size_t n = samples.size();
  std::size_t i = 0;
  while (i < n) {
    if (counters_.startup_passed) {
      // The common case, in registers: after the start-up test, every
      // sample that reaches no cutoff only moves the run and the window.
      // The loop stops before a sample that would reach one (the RCT's or
      // the APT's intermittent cutoff; the permanent ones are higher), and
      // step() takes that sample with all the bookkeeping. Same results as
      // step() on every sample (fuzz_health checks feed() against a model).
      std::uint8_t rv = rct_value_;
      std::uint32_t rc = rct_count_;
      std::uint8_t av = apt_value_;
      std::uint32_t ac = apt_count_;
      std::uint32_t seen = apt_seen_;
      const std::uint32_t rct_cut = cutoffs_.rct;
      const std::uint32_t apt_cut = cutoffs_.apt;
      std::size_t j = i;
      for (; j < n; ++j) {
#if defined(__SSE2__)
        // 16 samples at a time (SSE2 is part of x86-64): a chunk inside one
        // window whose reference is set, in which no sample equals the one
        // before it and the reference's count stays below the APT cutoff,
        // reaches no cutoff, and after it the run is 1 long (its last
        // sample) and the count has grown by its matches. Any other chunk
        // goes through the loop below, sample by sample. Random input takes
        // this path ~94 % of the time (P(no equal neighbours in 16) =
        // (255/256)^16): ~0.3 ns a sample instead of ~1.5 (measured on an
        // Intel Xeon VM, 4608-byte blocks at H = 8).
        while (j != 0 && seen != 0 && seen + 16 <= kAptWindow && n - j >= 16) {
          const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j));
          const __m128i before =
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j - 1));
          const int repeats = _mm_movemask_epi8(_mm_cmpeq_epi8(v, before));
          if (repeats != 0) break;
          const auto hits = static_cast<unsigned>(_mm_movemask_epi8(
              _mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(av)))));
          // Most chunks hold no match; __builtin_popcount is a libgcc call
          // without -mpopcnt.
          const auto matches =
              hits == 0 ? 0u : static_cast<std::uint32_t>(__builtin_popcount(hits));
          if (ac + matches >= apt_cut) break;
          ac += matches;
          rv = p[j + 15];
          rc = 1;
          seen += 16;
          if (seen == kAptWindow) seen = 0;
          j += 16;
        }
        if (j == n) break;
#endif
        const std::uint8_t x = p[j];
        // rc == 0 (no run yet) counts as a new run of 1 either way.
        const bool same_run = x == rv;
        const bool same_ref = seen != 0 && x == av;
        if ((same_run && rc + 1 >= rct_cut) || (same_ref && ac + 1 >= apt_cut))
          break;
        rc = same_run ? rc + 1 : 1;
        rv = x;
        if (seen == 0) {
          av = x;
          ac = 1;
        } else if (same_ref) {
          ++ac;
        }
        if (++seen == kAptWindow) seen = 0;
      }
      rct_value_ = rv;
      rct_count_ = rc;
      apt_value_ = av;
      apt_count_ = ac;
      apt_seen_ = seen;
      counters_.samples_tested += j - i;
      i = j;
      if (i == n) break;
    }
    if (step(p[i], tripped)) return Verdict::permanent;
    ++i;
  }
  if (tripped) {
    ++counters_.intermittent_blocks;
    return Verdict::intermittent;
  }
  // A block that completes the start-up test is creditable: the pool credits
  // only after feed() returns, i.e. after all 1024 samples passed.
  return counters_.startup_passed ? Verdict::ok : Verdict::pending;
}

const char* health_verdict_name(HealthTest::Verdict v) noexcept {
  switch (v) {
    case HealthTest::Verdict::ok: return "ok";
    case HealthTest::Verdict::pending: return "start-up pending";
    case HealthTest::Verdict::intermittent: return "intermittent failure";
    case HealthTest::Verdict::permanent: return "permanent failure";
  }
  return "unknown";
}

const char* health_failure_name(HealthTest::Failure f) noexcept {
  switch (f) {
    case HealthTest::Failure::none: return "none";
    case HealthTest::Failure::startup: return "start-up test failed";
    case HealthTest::Failure::stuck: return "stuck (repetition count)";
    case HealthTest::Failure::biased: return "biased (adaptive proportion)";
    case HealthTest::Failure::recurring: return "recurring failures";
  }
  return "unknown";
}

}  // namespace seedpool::pool
