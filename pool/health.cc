#include "pool/health.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace seedpool::pool {

std::uint32_t rct_cutoff(double entropy_bits_per_sample,
                         std::uint32_t alpha_log2) noexcept {
  const double h = entropy_bits_per_sample;
  if (!(h > 0.0) || !std::isfinite(h)) return 0;
  // Exact for the H we use (integers, halves): the quotient is computed
  // exactly whenever it is an integer, so ceil() cannot round up past it.
  const double repeats = std::ceil(static_cast<double>(alpha_log2) / h);
  constexpr auto kMax = std::numeric_limits<std::uint32_t>::max();
  if (repeats >= static_cast<double>(kMax)) return kMax;
  return 1 + static_cast<std::uint32_t>(repeats);
}

std::uint32_t binomial_critical_value(std::uint32_t trials,
                                      double success_probability,
                                      std::uint32_t alpha_log2) noexcept {
  const double p = success_probability;
  if (!(p > 0.0)) return 0;        // X is always 0 (also NaN)
  if (!(p < 1.0)) return trials;   // X is always `trials`
  // 2^-2000 is 0 in a double: a tail of 0 is as small as it gets anyway.
  const int exponent = static_cast<int>(std::min(alpha_log2, 2000u));
  const double alpha = std::ldexp(1.0, -exponent);
  const double log_p = std::log(p);
  const double log_q = std::log1p(-p);
  const double log_odds = log_q - log_p;
  // Walk down from X = trials, adding P(X = j) to the upper tail until the
  // tail P(X >= j) exceeds alpha: then P(X > j) <= alpha < P(X > j - 1), so j
  // is the answer. Summing from the top keeps tiny tails exact (1 - CDF would
  // cancel to 0 below 2^-53). P(X = j - 1) / P(X = j) = j / (n - j + 1) * q/p.
  double log_pmf = static_cast<double>(trials) * log_p;  // P(X = trials)
  double tail = 0.0;
  for (std::uint32_t j = trials;; --j) {
    tail += std::exp(log_pmf);
    if (tail > alpha || j == 0) return j;
    log_pmf += std::log(static_cast<double>(j)) -
               std::log(static_cast<double>(trials - j + 1)) + log_odds;
  }
}

std::uint32_t apt_cutoff(double entropy_bits_per_sample, std::uint32_t window,
                         std::uint32_t alpha_log2) noexcept {
  const double h = entropy_bits_per_sample;
  if (!(h > 0.0) || window < 2) return 0;
  // B = 1 (the reference) + Binomial(W - 1, p) matches; the smallest C with
  // P(B >= C) <= alpha is 1 + (1 + CRITBINOM(W - 1, p, 1 - alpha)).
  const std::uint32_t c =
      2 + binomial_critical_value(window - 1, std::exp2(-h), alpha_log2);
  return std::min(c, window);
}

Errc HealthTest::create(std::uint32_t claimed_bits_per_byte,
                        std::optional<HealthTest>& out) noexcept {
  if (claimed_bits_per_byte < 1 || claimed_bits_per_byte > 8)
    return Errc::invalid_argument;
  out.emplace(HealthTest(claimed_bits_per_byte));
  return Errc::ok;
}

HealthTest::HealthTest(std::uint32_t claimed_bits_per_byte) noexcept
    : bits_(claimed_bits_per_byte) {
  const auto h = static_cast<double>(bits_);
  cutoffs_.rct = rct_cutoff(h, kAlphaLog2);
  cutoffs_.rct_permanent = rct_cutoff(h, kPermanentAlphaLog2);
  cutoffs_.apt = apt_cutoff(h, kAptWindow, kAlphaLog2);
  cutoffs_.apt_permanent = apt_cutoff(h, kAptWindow, kPermanentAlphaLog2);
}

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
