#include "pool/health.h"

#include <algorithm>
#include <limits>

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

HealthTest::Verdict HealthTest::feed(
    std::span<const std::uint8_t> samples) noexcept {
  if (failed()) return Verdict::permanent;
  bool tripped = false;
  for (const std::uint8_t x : samples) {
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
    if (failed()) return Verdict::permanent;
    if (counters_.samples_tested == kStartupSamples)
      counters_.startup_passed = true;
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
