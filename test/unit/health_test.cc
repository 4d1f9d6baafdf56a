// Known-answer tests of the SP 800-90B 4.4 health tests: the cutoffs against
// published tables, each test at the edge of its cutoff, the start-up test,
// and when a source is taken out for good.
#include "pool/health.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace seedpool {
namespace {

using pool::HealthTest;
using Verdict = HealthTest::Verdict;
using Failure = HealthTest::Failure;
using Bytes = std::vector<std::uint8_t>;

constexpr std::uint8_t kV = 0xA5;  // the value a test repeats

HealthTest make(std::uint32_t bits_per_byte) {
  std::optional<HealthTest> t;
  EXPECT_EQ(HealthTest::create(bits_per_byte, t), pool::Errc::ok);
  return t.value();
}

std::string trace(std::uint32_t h) { return "claimed H = " + std::to_string(h); }

// Good data: full entropy as far as these tests can tell.
Bytes random_bytes(std::size_t n, std::uint32_t seed = 1) {
  std::mt19937 gen(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(gen() >> 24);
  return b;
}

// Deterministic data that passes both tests for every H: 200 values in turn,
// never `avoid`, never two equal neighbours, at most 3 of a value per window.
Bytes filler(std::size_t n, std::uint8_t avoid = kV) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(avoid + 1 + i % 200);
  return b;
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// One APT window of 512 samples: the first is kV, kV occurs `count` times in
// all, spread out (never three in a row), filler elsewhere.
Bytes apt_window(std::uint32_t count) {
  Bytes w = filler(HealthTest::kAptWindow);
  for (std::uint32_t i = 0; i < count; ++i)
    w[std::size_t{i} * HealthTest::kAptWindow / count] = kV;
  return w;
}

// Runs the start-up test on filler, so that the next sample starts a new APT
// window (1024 = 2 * 512) and does not continue a run of kV.
void pass_startup(HealthTest& t) {
  ASSERT_EQ(t.feed(filler(HealthTest::kStartupSamples)), Verdict::ok);
  ASSERT_TRUE(t.startup_passed());
}

// --- Cutoffs ---------------------------------------------------------------

TEST(HealthCutoffs, RctMatchesPublishedValues) {
  // SP 800-90B 4.4.1's own example: alpha = 2^-20, H = 2 -> C = 11.
  EXPECT_EQ(pool::rct_cutoff(2.0, 20), 11u);
  // OpenSSL providers/implementations/rands/crngt.c, alpha = 2^-20.
  const std::pair<double, std::uint32_t> openssl[] = {
      {0.5, 41}, {1, 21}, {2, 11}, {3, 8}, {4, 6},
      {5, 5},    {6, 5},  {7, 4},  {8, 4}};
  for (auto [h, c] : openssl) EXPECT_EQ(pool::rct_cutoff(h, 20), c) << h;
  // jitterentropy (and Linux crypto/jitterentropy.c), H = 1: 31 for
  // alpha = 2^-30, 61 for its permanent alpha = 2^-60.
  EXPECT_EQ(pool::rct_cutoff(1.0, 30), 31u);
  EXPECT_EQ(pool::rct_cutoff(1.0, 60), 61u);
  EXPECT_EQ(pool::rct_cutoff(0.0, 30), 0u);
}

TEST(HealthCutoffs, SpreadsheetFormulaReproducesSp80090bTable2) {
  // 4.4.2 footnote: C = 1 + CRITBINOM(W, 2^-H, 1 - alpha); Table 2 is for
  // alpha = 2^-20. This checks the binomial arithmetic itself.
  auto c = [](std::uint32_t w, double h) {
    return 1 + pool::binomial_critical_value(w, std::exp2(-h), 20);
  };
  // Table 2, non-binary (W = 512).
  EXPECT_EQ(c(512, 0.5), 410u);
  EXPECT_EQ(c(512, 1), 311u);
  EXPECT_EQ(c(512, 2), 177u);
  EXPECT_EQ(c(512, 4), 62u);
  EXPECT_EQ(c(512, 8), 13u);
  // Table 2, binary (W = 1024).
  EXPECT_EQ(c(1024, 0.2), 941u);
  EXPECT_EQ(c(1024, 0.4), 840u);
  EXPECT_EQ(c(1024, 0.6), 748u);
  EXPECT_EQ(c(1024, 0.8), 664u);
  EXPECT_EQ(c(1024, 1), 589u);
  // The rows OpenSSL's crngt.c adds for the H that Table 2 leaves out.
  EXPECT_EQ(c(512, 3), 103u);
  EXPECT_EQ(c(512, 5), 39u);
  EXPECT_EQ(c(512, 6), 25u);
  EXPECT_EQ(c(512, 7), 18u);
}

TEST(HealthCutoffs, AptMatchesJitterentropyTables) {
  // jitterentropy-library / Linux crypto/jitterentropy.c, W = 512,
  // H = 1/osr for osr = 1..15, C = 2 + qbinom(1 - alpha, 511, 2^-H) capped
  // at 512: jent_apt_cutoff_lookup (alpha = 2^-30) and
  // jent_apt_cutoff_permanent_lookup (alpha = 2^-60).
  const std::uint32_t intermittent[15] = {325, 422, 459, 477, 488, 494, 499, 502,
                                          505, 507, 508, 509, 510, 511, 512};
  const std::uint32_t permanent[15] = {355, 447, 479, 494, 502, 507, 510, 512,
                                       512, 512, 512, 512, 512, 512, 512};
  for (int osr = 1; osr <= 15; ++osr) {
    const double h = 1.0 / osr;
    EXPECT_EQ(pool::apt_cutoff(h, 512, 30), intermittent[osr - 1]) << osr;
    EXPECT_EQ(pool::apt_cutoff(h, 512, 60), permanent[osr - 1]) << osr;
  }
}

// HealthTest takes its cutoffs from a table written out to spare start-up
// the binomial sums; every entry must be what the functions compute.
TEST(HealthCutoffs, TheTableHealthTestUsesEqualsTheComputedCutoffs) {
  for (std::uint32_t bits = 1; bits <= 8; ++bits) {
    const double h = bits;
    std::optional<pool::HealthTest> t;
    ASSERT_EQ(pool::HealthTest::create(bits, t), pool::Errc::ok);
    const auto& c = t->cutoffs();
    EXPECT_EQ(c.rct, pool::rct_cutoff(h, pool::HealthTest::kAlphaLog2)) << bits;
    EXPECT_EQ(c.rct_permanent,
              pool::rct_cutoff(h, pool::HealthTest::kPermanentAlphaLog2))
        << bits;
    EXPECT_EQ(c.apt, pool::apt_cutoff(h, pool::HealthTest::kAptWindow,
                                      pool::HealthTest::kAlphaLog2))
        << bits;
    EXPECT_EQ(c.apt_permanent,
              pool::apt_cutoff(h, pool::HealthTest::kAptWindow,
                               pool::HealthTest::kPermanentAlphaLog2))
        << bits;
  }
  EXPECT_EQ(pool::HealthTest::cutoffs_for(0).apt, 0u);
  EXPECT_EQ(pool::HealthTest::cutoffs_for(9).rct, 0u);
}

TEST(HealthCutoffs, CorrectedAptIsTheSpreadsheetValueOrOneMore) {
  for (std::uint32_t h = 1; h <= 8; ++h) {
    for (std::uint32_t a : {20u, 30u, 60u}) {
      const auto sheet =
          1 + pool::binomial_critical_value(512, std::exp2(-double(h)), a);
      const auto ours = pool::apt_cutoff(h, 512, a);
      EXPECT_TRUE(ours == sheet || ours == sheet + 1)
          << "H=" << h << " alpha=2^-" << a << ": " << ours << " vs " << sheet;
    }
  }
}

TEST(HealthCutoffs, HealthTestUsesAlpha2ToMinus30And60) {
  // Computed independently with exact rational arithmetic (Python
  // fractions): 1 + ceil(a/H) and 2 + CRITBINOM(511, 2^-H, 1 - 2^-a).
  struct Row {
    std::uint32_t rct, rct_permanent, apt, apt_permanent;
  };
  const Row rows[8] = {{31, 61, 325, 355}, {16, 31, 191, 221},
                       {11, 21, 115, 140}, {9, 16, 71, 92},
                       {7, 13, 46, 63},    {6, 11, 32, 45},
                       {6, 10, 23, 33},    {5, 9, 17, 26}};
  for (std::uint32_t h = 1; h <= 8; ++h) {
    SCOPED_TRACE(trace(h));
    const auto t = make(h);
    EXPECT_EQ(t.claimed_bits_per_byte(), h);
    EXPECT_EQ(t.cutoffs().rct, rows[h - 1].rct);
    EXPECT_EQ(t.cutoffs().rct_permanent, rows[h - 1].rct_permanent);
    EXPECT_EQ(t.cutoffs().apt, rows[h - 1].apt);
    EXPECT_EQ(t.cutoffs().apt_permanent, rows[h - 1].apt_permanent);
  }
}

TEST(HealthCutoffs, CreditOutsideOneToEightIsRejected) {
  for (std::uint32_t bad : {0u, 9u, 64u}) {
    std::optional<HealthTest> t;
    EXPECT_EQ(HealthTest::create(bad, t), pool::Errc::invalid_argument) << bad;
    EXPECT_FALSE(t.has_value());
  }
}

// --- Start-up ---------------------------------------------------------------

TEST(HealthStartup, NothingIsOkBefore1024Samples) {
  for (std::uint32_t h : {8u, 4u}) {
    SCOPED_TRACE(trace(h));
    auto t = make(h);
    const Bytes data = random_bytes(HealthTest::kStartupSamples);
    for (std::size_t i = 0; i + 1 < data.size(); ++i) {
      ASSERT_EQ(t.feed({&data[i], 1}), Verdict::pending) << i;
      ASSERT_FALSE(t.startup_passed());
    }
    EXPECT_EQ(t.feed({&data.back(), 1}), Verdict::ok);
    EXPECT_TRUE(t.startup_passed());
    EXPECT_EQ(t.counters().samples_tested, HealthTest::kStartupSamples);
  }
}

TEST(HealthStartup, BlockThatCompletesStartupIsOk) {
  auto t = make(8);
  const Bytes data = random_bytes(4096);
  const std::span<const std::uint8_t> s(data);
  EXPECT_EQ(t.feed(s.first(1000)), Verdict::pending);
  EXPECT_EQ(t.feed(s.subspan(1000, 23)), Verdict::pending);
  EXPECT_EQ(t.feed(s.subspan(1023, 2)), Verdict::ok);  // samples 1024, 1025
  auto u = make(8);
  EXPECT_EQ(u.feed(s), Verdict::ok);  // one block of 4096
  EXPECT_EQ(u.feed({}), Verdict::ok);
}

TEST(HealthStartup, StuckSourceIsPermanentAtOnce) {
  for (std::uint32_t h = 1; h <= 8; ++h) {
    SCOPED_TRACE(trace(h));
    auto t = make(h);
    EXPECT_EQ(t.feed(Bytes(HealthTest::kStartupSamples, 0x00)),
              Verdict::permanent);
    EXPECT_EQ(t.counters().failure, Failure::startup);
    EXPECT_FALSE(t.startup_passed());
    // Stops at the sample that completes a run of C.
    EXPECT_EQ(t.counters().samples_tested, t.cutoffs().rct);
  }
}

TEST(HealthStartup, BiasedSourceIsPermanent) {
  // Every other byte is kV: half the samples, far over any APT cutoff.
  Bytes biased = filler(HealthTest::kStartupSamples);
  for (std::size_t i = 0; i < biased.size(); i += 2) biased[i] = kV;
  auto t = make(8);
  EXPECT_EQ(t.feed(biased), Verdict::permanent);
  EXPECT_EQ(t.counters().failure, Failure::startup);
  EXPECT_EQ(t.counters().apt_failures, 1u);
  EXPECT_EQ(t.counters().rct_failures, 0u);
}

TEST(HealthStartup, FailureInSample1024IsPermanentInSample1025IsNot) {
  for (std::uint32_t h : {1u, 4u, 8u}) {
    SCOPED_TRACE(trace(h));
    const std::size_t c = make(h).cutoffs().rct;
    // The run's C-th sample is the 1024th sample: start-up failed.
    auto t = make(h);
    EXPECT_EQ(t.feed(filler(HealthTest::kStartupSamples - c) + Bytes(c, kV)),
              Verdict::permanent);
    EXPECT_EQ(t.counters().failure, Failure::startup);
    // One sample later start-up has passed: an intermittent failure.
    auto u = make(h);
    EXPECT_EQ(
        u.feed(filler(HealthTest::kStartupSamples + 1 - c) + Bytes(c, kV)),
        Verdict::intermittent);
    EXPECT_TRUE(u.startup_passed());
    EXPECT_FALSE(u.failed());
  }
}

// --- Repetition Count Test (4.4.1) -----------------------------------------

TEST(HealthRct, RunOfCutoffMinusOnePassesRunOfCutoffFails) {
  for (std::uint32_t h = 1; h <= 8; ++h) {
    SCOPED_TRACE(trace(h));
    auto t = make(h);
    pass_startup(t);
    const std::size_t c = t.cutoffs().rct;
    EXPECT_EQ(t.feed(Bytes(c - 1, kV) + filler(8)), Verdict::ok);
    EXPECT_EQ(t.counters().rct_failures, 0u);
    EXPECT_EQ(t.feed(Bytes(c, kV) + filler(8)), Verdict::intermittent);
    EXPECT_EQ(t.counters().rct_failures, 1u);
    EXPECT_EQ(t.counters().apt_failures, 0u);
    EXPECT_FALSE(t.failed());
    // Testing goes on: the next good block is creditable again.
    EXPECT_EQ(t.feed(filler(600)), Verdict::ok);
  }
}

TEST(HealthRct, RunIsCountedAcrossBlocks) {
  auto t = make(8);
  pass_startup(t);
  const std::size_t c = t.cutoffs().rct;  // 5
  EXPECT_EQ(t.feed(Bytes(c - 1, kV)), Verdict::ok);
  EXPECT_EQ(t.feed(Bytes(1, kV)), Verdict::intermittent);
  // A run that goes on fails in every block it reaches, without counting
  // as a new failure.
  EXPECT_EQ(t.feed(Bytes(1, kV)), Verdict::intermittent);
  EXPECT_EQ(t.counters().rct_failures, 1u);
  EXPECT_EQ(t.counters().intermittent_blocks, 2u);
  EXPECT_EQ(t.feed(filler(1)), Verdict::ok);
}

TEST(HealthRct, StuckAfterStartupIsPermanentAtThe2ToMinus60Cutoff) {
  for (std::uint32_t h = 1; h <= 8; ++h) {
    SCOPED_TRACE(trace(h));
    auto t = make(h);
    pass_startup(t);
    const std::size_t c = t.cutoffs().rct;
    const std::size_t cp = t.cutoffs().rct_permanent;
    EXPECT_EQ(t.feed(Bytes(c, kV)), Verdict::intermittent);
    EXPECT_EQ(t.feed(Bytes(cp - 1 - c, kV)), Verdict::intermittent);
    EXPECT_FALSE(t.failed());
    EXPECT_EQ(t.feed(Bytes(1, kV)), Verdict::permanent);
    EXPECT_EQ(t.counters().failure, Failure::stuck);
    EXPECT_EQ(t.counters().samples_tested, HealthTest::kStartupSamples + cp);
  }
}

// --- Adaptive Proportion Test (4.4.2) --------------------------------------

TEST(HealthApt, ReferenceCutoffMinusOneTimesPassesCutoffTimesFails) {
  for (std::uint32_t h = 1; h <= 8; ++h) {
    SCOPED_TRACE(trace(h));
    auto t = make(h);
    pass_startup(t);
    const std::uint32_t c = t.cutoffs().apt;
    EXPECT_EQ(t.feed(apt_window(c - 1)), Verdict::ok);
    EXPECT_EQ(t.counters().apt_failures, 0u);
    EXPECT_EQ(t.feed(apt_window(c)), Verdict::intermittent);
    EXPECT_EQ(t.counters().apt_failures, 1u);
    EXPECT_EQ(t.counters().rct_failures, 0u);
    EXPECT_FALSE(t.failed());
    EXPECT_EQ(t.feed(filler(HealthTest::kAptWindow)), Verdict::ok);
  }
}

TEST(HealthApt, WindowIsExactly512Samples) {
  auto t = make(8);
  pass_startup(t);
  const std::uint32_t c = t.cutoffs().apt;
  // kV c times within 513 samples, but the c-th is the 513th: it starts
  // (and is the reference of) the next window.
  EXPECT_EQ(t.feed(apt_window(c - 1) + Bytes{kV} + filler(511)), Verdict::ok);
  EXPECT_EQ(t.counters().apt_failures, 0u);
}

TEST(HealthApt, FailedWindowFailsEveryBlockWithAFurtherMatch) {
  auto t = make(8);
  pass_startup(t);
  const std::uint32_t c = t.cutoffs().apt;  // 17, permanent at 26
  // kV at 0, 2, 4, ...: the c-th occurrence is sample 2(c - 1).
  Bytes w = filler(HealthTest::kAptWindow);
  for (std::uint32_t i = 0; i < c + 1; ++i) w[2 * i] = kV;
  const std::span<const std::uint8_t> s(w);
  EXPECT_EQ(t.feed(s.first(2 * (c - 1))), Verdict::ok);  // c - 1 matches
  EXPECT_EQ(t.feed(s.subspan(2 * (c - 1), 2)), Verdict::intermittent);
  EXPECT_EQ(t.feed(s.subspan(2 * c, 2)), Verdict::intermittent);  // one more
  EXPECT_EQ(t.feed(s.subspan(2 * c + 2)), Verdict::ok);  // no more kV
  EXPECT_EQ(t.counters().apt_failures, 1u);
  EXPECT_FALSE(t.failed());
}

TEST(HealthApt, BiasedAfterStartupIsPermanentAtThe2ToMinus60Cutoff) {
  for (std::uint32_t h = 1; h <= 8; ++h) {
    SCOPED_TRACE(trace(h));
    auto t = make(h);
    pass_startup(t);
    const std::uint32_t cp = t.cutoffs().apt_permanent;
    EXPECT_EQ(t.feed(apt_window(cp - 1)), Verdict::intermittent);
    EXPECT_FALSE(t.failed());
    EXPECT_EQ(t.feed(apt_window(cp)), Verdict::permanent);
    EXPECT_EQ(t.counters().failure, Failure::biased);
  }
}

TEST(HealthApt, ShortPeriodPatternIsPermanent) {
  // period p puts 512/p copies of the reference in each window.
  const std::pair<std::uint32_t, std::size_t> cases[] = {
      {8, 16}, {4, 4}, {2, 2}};
  for (auto [h, period] : cases) {
    SCOPED_TRACE(trace(h) + ", period " + std::to_string(period));
    Bytes pattern(4096);
    for (std::size_t i = 0; i < pattern.size(); ++i)
      pattern[i] = static_cast<std::uint8_t>(i % period);
    auto t = make(h);
    EXPECT_EQ(t.feed(pattern), Verdict::permanent);
    EXPECT_EQ(t.counters().failure, Failure::startup);
    // The same pattern after a good start-up.
    auto u = make(h);
    pass_startup(u);
    EXPECT_EQ(u.feed(pattern), Verdict::permanent);
    EXPECT_EQ(u.counters().failure, Failure::biased);
  }
}

// --- Good data and the permanent rule ---------------------------------------

TEST(HealthContinuous, GoodDataIsOkInBlocksOfAnySize) {
  for (std::uint32_t h : {8u, 4u, 1u}) {
    SCOPED_TRACE(trace(h));
    auto t = make(h);
    const Bytes data = random_bytes(std::size_t{1} << 20, 7);
    std::mt19937 sizes(11);
    std::size_t at = 0;
    while (at < data.size()) {
      const std::size_t n =
          std::min<std::size_t>(1 + sizes() % 4096, data.size() - at);
      const Verdict v = t.feed({&data[at], n});
      at += n;
      ASSERT_EQ(v, at < HealthTest::kStartupSamples ? Verdict::pending
                                                     : Verdict::ok)
          << "at " << at;
    }
    EXPECT_EQ(t.counters().samples_tested, data.size());
    EXPECT_EQ(t.counters().rct_failures + t.counters().apt_failures, 0u);
    EXPECT_EQ(t.counters().intermittent_blocks, 0u);
  }
}

// feed() takes 16 samples at a time where it can prove that none reaches a
// cutoff (pool/health.cc). Random data with runs and window counts planted
// at, below and above the cutoffs, fed in blocks, must give the same
// verdicts and counters as the same samples fed one at a time (which never
// takes that path).
TEST(HealthContinuous, BlocksAndSingleSamplesAgreeNearTheCutoffs) {
  for (std::uint32_t h : {8u, 6u, 3u, 1u}) {
    SCOPED_TRACE(trace(h));
    auto whole = make(h);
    auto single = make(h);
    std::mt19937 gen(h);
    Bytes data = random_bytes(std::size_t{1} << 20, h);
    const std::uint32_t rct = whole.cutoffs().rct;
    const std::uint32_t apt = whole.cutoffs().apt;
    // Far enough apart that the source is not taken out (3 failures within
    // 65536 samples) before both tests have tripped.
    bool run = true;
    for (std::size_t at = 2048; at + 2048 < data.size();
         at += 20000 + gen() % 20000, run = !run) {
      if (run) {
        // A run of rct - 1, rct or rct + 1 samples.
        const std::size_t len = rct - 1 + gen() % 3;
        for (std::size_t k = 0; k < len; ++k) data[at + k] = kV;
      } else {
        // A window (they start every 512 samples) whose reference occurs
        // apt - 2 .. apt times, spread out.
        const std::size_t start = at / HealthTest::kAptWindow * HealthTest::kAptWindow;
        const std::uint8_t v = data[start];
        const auto count = static_cast<std::uint32_t>(apt - 2 + gen() % 3);
        for (std::uint32_t k = 0; k < count; ++k)
          data[start + std::size_t{k} * 500 / count] = v;
      }
    }
    std::size_t at = 0;
    while (at < data.size() && !whole.failed()) {
      const std::size_t n =
          std::min<std::size_t>(1 + gen() % 700, data.size() - at);
      const Verdict got = whole.feed({&data[at], n});
      Verdict want = Verdict::ok;
      for (std::size_t k = 0; k < n; ++k) {
        const Verdict v = single.feed({&data[at + k], 1});
        if (v == Verdict::permanent) want = v;
        else if (v == Verdict::intermittent && want != Verdict::permanent) want = v;
      }
      if (want == Verdict::ok && !single.startup_passed()) want = Verdict::pending;
      at += n;
      ASSERT_EQ(got, want) << "block ending at " << at;
      ASSERT_EQ(whole.counters().samples_tested, single.counters().samples_tested);
      ASSERT_EQ(whole.counters().rct_failures, single.counters().rct_failures);
      ASSERT_EQ(whole.counters().apt_failures, single.counters().apt_failures);
      ASSERT_EQ(whole.counters().failure, single.counters().failure);
    }
    // The planted data trips both tests: the comparison covered failures.
    EXPECT_GT(whole.counters().rct_failures, 0u);
    EXPECT_GT(whole.counters().apt_failures, 0u);
  }
}

// The same at every position within feed()'s 16-sample chunks: a run of
// exactly the RCT cutoff, and a window whose reference reaches the APT
// cutoff, each trips once wherever it falls; one sample less passes.
TEST(HealthContinuous, CutoffsAreFoundAtEveryChunkPosition) {
  for (std::uint32_t h : {8u, 4u}) {
    for (std::size_t offset = 0; offset < 40; ++offset) {
      SCOPED_TRACE(trace(h) + ", offset " + std::to_string(offset));
      for (std::uint32_t extra : {0u, 1u}) {
        auto t = make(h);
        pass_startup(t);
        const std::uint32_t c = t.cutoffs().rct;
        const Bytes block =
            filler(offset + 100) + Bytes(c - 1 + extra, kV) + filler(200);
        EXPECT_EQ(t.feed(block), extra == 1 ? Verdict::intermittent : Verdict::ok);
        EXPECT_EQ(t.counters().rct_failures, extra);
      }
      for (std::uint32_t extra : {0u, 1u}) {
        auto t = make(h);
        pass_startup(t);
        const Bytes w = apt_window(t.cutoffs().apt - 1 + extra);
        // The window split where the offset says: the chunks fall elsewhere.
        const Verdict a = t.feed({w.data(), offset + 1});
        const Verdict b = t.feed({w.data() + offset + 1, w.size() - offset - 1});
        EXPECT_EQ(a, Verdict::ok);
        EXPECT_EQ(b, extra == 1 ? Verdict::intermittent : Verdict::ok);
        EXPECT_EQ(t.counters().apt_failures, extra);
      }
    }
  }
}

// Feeds filler, then a run of exactly C of kV whose last sample has index
// `index`: one RCT failure there.
Verdict fail_at(HealthTest& t, std::uint64_t index) {
  const std::uint64_t c = t.cutoffs().rct;
  const std::uint64_t gap = index + 1 - c - t.counters().samples_tested;
  const Verdict v = t.feed(filler(gap) + Bytes(c, kV));
  EXPECT_EQ(t.counters().samples_tested, index + 1);
  return v;
}

TEST(HealthPermanent, ThirdFailureWithin65536SamplesIsPermanent) {
  auto t = make(8);
  pass_startup(t);
  const std::uint64_t first = 2000;
  EXPECT_EQ(fail_at(t, first), Verdict::intermittent);
  EXPECT_EQ(fail_at(t, first + 1000), Verdict::intermittent);
  EXPECT_FALSE(t.failed());
  EXPECT_EQ(fail_at(t, first + HealthTest::kRecurrenceSamples - 1),
            Verdict::permanent);
  EXPECT_EQ(t.counters().failure, Failure::recurring);
  EXPECT_EQ(t.counters().rct_failures, 3u);
}

TEST(HealthPermanent, FailuresFurtherApartStayIntermittent) {
  auto t = make(8);
  pass_startup(t);
  const std::uint64_t first = 2000;
  const std::uint64_t span = HealthTest::kRecurrenceSamples;
  EXPECT_EQ(fail_at(t, first), Verdict::intermittent);
  EXPECT_EQ(fail_at(t, first + 1000), Verdict::intermittent);
  EXPECT_EQ(fail_at(t, first + span), Verdict::intermittent);
  EXPECT_FALSE(t.failed());
  // ... but the window slides: this one is the third within 65536 of the
  // second.
  EXPECT_EQ(fail_at(t, first + 1000 + span - 1), Verdict::permanent);
  EXPECT_EQ(t.counters().failure, Failure::recurring);
}

TEST(HealthPermanent, PermanentIsLatched) {
  auto t = make(8);
  EXPECT_EQ(t.feed(Bytes(64, 0xFF)), Verdict::permanent);
  const auto tested = t.counters().samples_tested;
  EXPECT_EQ(t.feed(random_bytes(4096)), Verdict::permanent);
  EXPECT_EQ(t.feed({}), Verdict::permanent);
  EXPECT_EQ(t.counters().samples_tested, tested);
  EXPECT_TRUE(t.failed());
}

}  // namespace
}  // namespace seedpool
