// Health tests on the raw 8-bit samples of one noise source, as SP 800-90B
// 4.4 approves them: the Repetition Count Test (4.4.1) and the Adaptive
// Proportion Test (4.4.2), run as a start-up test over the first 1024 samples
// (4.3) and continuously after that. The pool keeps one HealthTest per
// credited source and credits a block only when feed() calls it `ok`.
//
// Both tests are sized by the entropy the source claims, H bits per byte
// (its configured credit, 1..8), and by a false-positive probability
// alpha = 2^-30 per sample (4.3 recommends 2^-20 .. 2^-40; jitterentropy and
// the Linux kernel's copy of it use 2^-30 as well).
//
// Plain statistics: no allocation, no syscalls, no cryptography.
// Not thread-safe: the pool calls it under the lock that guards the source.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "pool/errc.h"

namespace seedpool::pool {

// --- Cutoffs ---------------------------------------------------------------
// Free functions so that tests can check them against published values for
// H, W and alpha other than the ones HealthTest uses.

// SP 800-90B 4.4.1: C = 1 + ceil(-log2(alpha) / H), with alpha = 2^-alpha_log2.
// A run of C identical samples has probability at most 2^(-H (C - 1)) <= alpha.
// 0 when H is not a positive finite number.
[[nodiscard]] std::uint32_t rct_cutoff(double entropy_bits_per_sample,
                                       std::uint32_t alpha_log2) noexcept;

// The smallest k with P(X > k) <= 2^-alpha_log2 for X ~ Binomial(trials, p):
// the spreadsheet's CRITBINOM(trials, p, 1 - alpha), R's qbinom(1 - alpha,
// trials, p). Works in log space and sums the upper tail directly, so alpha
// down to 2^-1000 is exact enough (1 - alpha would round to 1).
[[nodiscard]] std::uint32_t binomial_critical_value(
    std::uint32_t trials, double success_probability,
    std::uint32_t alpha_log2) noexcept;

// SP 800-90B 4.4.2 cutoff, in the corrected form
//   C = 2 + CRITBINOM(W - 1, 2^-H, 1 - alpha),  capped at W.
// 4.4.2 counts the window's first sample (the reference) in B, so
// B = 1 + Binomial(W - 1, p) and P(B >= C) <= alpha needs exactly this C.
// 4.4.2's own footnote formula, 1 + CRITBINOM(W, 2^-H, 1 - alpha), which
// produced its Table 2, treats the reference as one more random trial; for
// the test as 4.4.2 specifies it that cutoff is up to one lower and then
// fires ~3.5 times as often as alpha promises (H = 8, alpha = 2^-30). The correction is UL's
// public comment #10b on 90B; jitterentropy and Linux crypto/jitterentropy.c
// use it (325 for W = 512, H = 1, alpha = 2^-30). The cap keeps the test able
// to fail. 0 when H is not positive or W < 2.
[[nodiscard]] std::uint32_t apt_cutoff(double entropy_bits_per_sample,
                                       std::uint32_t window,
                                       std::uint32_t alpha_log2) noexcept;

// --- The tests for one source ---------------------------------------------

class HealthTest {
 public:
  // SP 800-90B 4.3: the start-up test runs the continuous tests over at
  // least 1024 consecutive samples before anything is used.
  static constexpr std::size_t kStartupSamples = 1024;
  // SP 800-90B 4.4.2: W = 512 for non-binary samples (ours are bytes).
  static constexpr std::uint32_t kAptWindow = 512;
  // False-positive probability of an intermittent failure: 2^-30.
  static constexpr std::uint32_t kAlphaLog2 = 30;
  // A run or window count this improbable (2^-60, the square of alpha, as
  // jitterentropy's permanent cutoffs) is not bad luck: the source is stuck.
  static constexpr std::uint32_t kPermanentAlphaLog2 = 60;
  // Three failures within 65536 samples are permanent. A healthy source
  // fails at most ~2^-30 per sample; the chance that two more failures follow
  // one within 2^16 samples is ~(2^-30 * 2^16)^2 / 2 = 2^-29, so this rule
  // misfires ~2^-59 per sample, as rarely as the 2^-60 cutoffs above.
  static constexpr std::uint32_t kRecurrenceFailures = 3;
  static constexpr std::uint64_t kRecurrenceSamples = 65536;

  enum class Verdict : std::uint8_t {
    ok,            // every sample passed and start-up is done: creditable
    pending,       // passed, but the start-up test is still running: not
                   // creditable (mixing it is harmless)
    intermittent,  // a sample tripped a test: do not credit this block;
                   // testing goes on with the next block
    permanent,     // take the source out; every later feed() says so too
  };

  // Why the source is out (Counters::failure).
  enum class Failure : std::uint8_t {
    none,
    startup,    // a test tripped within the first kStartupSamples samples
    stuck,      // an RCT run reached the 2^-60 cutoff
    biased,     // an APT count reached the 2^-60 cutoff
    recurring,  // kRecurrenceFailures failures within kRecurrenceSamples
  };

  struct Cutoffs {
    std::uint32_t rct = 0;            // 1 + ceil(30 / H)
    std::uint32_t rct_permanent = 0;  // 1 + ceil(60 / H)
    std::uint32_t apt = 0;            // apt_cutoff(H, 512, 30)
    std::uint32_t apt_permanent = 0;  // apt_cutoff(H, 512, 60)
  };

  // For statistics.
  struct Counters {
    std::uint64_t samples_tested = 0;
    // Failure events: a run reaching the RCT cutoff, a window's count
    // reaching the APT cutoff (one each, however long the run goes on).
    std::uint64_t rct_failures = 0;
    std::uint64_t apt_failures = 0;
    std::uint64_t intermittent_blocks = 0;  // blocks judged `intermittent`
    bool startup_passed = false;
    Failure failure = Failure::none;
  };

  // Errc::invalid_argument unless 1 <= claimed_bits_per_byte <= 8. A source
  // credited 0 bits is never credited, so it gets no HealthTest at all.
  static Errc create(std::uint32_t claimed_bits_per_byte,
                     std::optional<HealthTest>& out) noexcept;

  // Tests every sample of the block, in order, continuing the state of the
  // previous blocks; the block gets the worst verdict of its samples. Any
  // size, including empty (which only reports the current state).
  [[nodiscard]] Verdict feed(std::span<const std::uint8_t> samples) noexcept;

  // The cutoffs a HealthTest for H = claimed_bits_per_byte uses: a table
  // equal to rct_cutoff / apt_cutoff for H = 1..8 (checked by a test); all
  // zero outside 1..8.
  static Cutoffs cutoffs_for(std::uint32_t claimed_bits_per_byte) noexcept;

  std::uint32_t claimed_bits_per_byte() const noexcept { return bits_; }
  const Cutoffs& cutoffs() const noexcept { return cutoffs_; }
  const Counters& counters() const noexcept { return counters_; }
  bool startup_passed() const noexcept { return counters_.startup_passed; }
  bool failed() const noexcept { return counters_.failure != Failure::none; }

 private:
  explicit HealthTest(std::uint32_t claimed_bits_per_byte) noexcept;
  // One sample through both tests (feed() without its fast path); true when
  // the source has failed for good.
  bool step(std::uint8_t x, bool& tripped) noexcept;
  // A test just crossed its cutoff at the current sample.
  void note_failure() noexcept;

  std::uint32_t bits_;
  Cutoffs cutoffs_;
  Counters counters_;

  // SP 800-90B 4.4.1 state: the current run's value and length (0: none yet).
  std::uint8_t rct_value_ = 0;
  std::uint32_t rct_count_ = 0;
  // SP 800-90B 4.4.2 state: the window's reference value, how often it has
  // occurred (reference included) and how many samples the window has seen
  // (0: the next sample starts a new window).
  std::uint8_t apt_value_ = 0;
  std::uint32_t apt_count_ = 0;
  std::uint32_t apt_seen_ = 0;

  // Sample indices of the most recent failures, for the recurrence rule.
  std::array<std::uint64_t, kRecurrenceFailures - 1> recent_failures_{};
  std::size_t recent_next_ = 0;  // the oldest entry, overwritten next
  std::uint64_t failures_ = 0;
};

const char* health_verdict_name(HealthTest::Verdict v) noexcept;
const char* health_failure_name(HealthTest::Failure f) noexcept;

}  // namespace seedpool::pool
