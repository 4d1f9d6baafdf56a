// fuzz_health: pool/health.h's SP 800-90B 4.4 health tests fed arbitrary
// sample streams, cut into arbitrary blocks, at every valid credit H (1..8).
// Next to each HealthTest runs a model written from the header's promises
// (not from health.cc), and every feed() is checked against it:
//  - the cutoffs are the published ones (exact rational arithmetic, see
//    kCutoffs), and the free functions agree with HealthTest;
//  - the RCT / APT trip, count failure events, go permanent (stuck, biased,
//    recurring: 3 events within 65536 samples) exactly where the header
//    says; any trip within the first 1024 samples is a start-up failure;
//  - a block's verdict is the worst of its samples: `ok` only after the
//    start-up test passed and with no trip; `permanent` stays permanent
//    (every later feed() says so, and nothing moves any more);
//  - counters only grow, and match the model;
//  - create() refuses every credit outside 1..8.
// The free cutoff functions also get arbitrary doubles (NaN, infinities,
// denormals) and alphas: never UB, results within their documented range,
// monotone in alpha.
//
// Input: byte 0 is the claimed credit; then operations, each producing
// samples that are fed in blocks of a size the input picks:
//   0 literal bytes   1 a run of one value   2 pseudo-random (healthy) bytes
//   3 an empty feed   4 an APT window with a value `count` times
//   5 the free cutoff functions on arbitrary arguments
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "pool/health.h"
#include "test/fuzz/fuzz_util.h"

namespace seedpool::fuzz {
namespace {

using pool::HealthTest;
using Verdict = HealthTest::Verdict;
using Failure = HealthTest::Failure;

// Computed independently with exact integer arithmetic (Python's math.comb):
// rct = 1 + ceil(a/H); apt = min(512, 2 + CRITBINOM(511, 2^-H, 1 - 2^-a)),
// for a = 30 and a = 60.
struct CutoffRow {
  std::uint32_t rct, rct_permanent, apt, apt_permanent;
};
constexpr CutoffRow kCutoffs[9] = {
    {0, 0, 0, 0},      {31, 61, 325, 355}, {16, 31, 191, 221},
    {11, 21, 115, 140}, {9, 16, 71, 92},   {7, 13, 46, 63},
    {6, 11, 32, 45},   {6, 10, 23, 33},    {5, 9, 17, 26}};

constexpr std::size_t kMaxSamplesPerInput = std::size_t{1} << 21;

std::string str(const char* what, std::uint64_t a, std::uint64_t b) {
  return std::string(what) + ": implementation " + std::to_string(a) +
         ", model " + std::to_string(b);
}

// What health.h promises, sample by sample.
class Model {
 public:
  explicit Model(std::uint32_t h) : c_(kCutoffs[h]) {}

  // Feeds one block; returns the verdict the header promises. Sets
  // `reasons` to the Failure values that the failing sample justifies.
  Verdict feed(const std::vector<std::uint8_t>& block) {
    if (failed_) return Verdict::permanent;
    bool tripped = false;
    for (const std::uint8_t x : block) {
      const std::uint64_t i = n_++;  // index of this sample
      // 4.4.1: the length of the run of equal samples ending here.
      run_ = (i > 0 && x == last_) ? run_ + 1 : 1;
      last_ = x;
      bool trip = false, event = false, stuck = false, biased = false;
      if (run_ >= c_.rct) {
        trip = true;
        if (run_ == c_.rct) {
          event = true;
          ++rct_failures_;
        }
        stuck = run_ >= c_.rct_permanent;
      }
      // 4.4.2: windows of 512 at fixed positions 0, 512, ...; the first
      // sample is the reference and counts once.
      if (i % HealthTest::kAptWindow == 0) {
        ref_ = x;
        count_ = 1;
      } else if (x == ref_) {
        ++count_;
        if (count_ >= c_.apt) {
          trip = true;
          if (count_ == c_.apt) {
            event = true;
            ++apt_failures_;
          }
          biased = count_ >= c_.apt_permanent;
        }
      }
      bool recurring = false;
      if (event) {
        // Three failure events within 65536 samples.
        if (events_.size() >= 2 &&
            i - events_[events_.size() - 2] < HealthTest::kRecurrenceSamples)
          recurring = true;
        events_.push_back(i);
      }
      if (trip) tripped = true;
      reasons_.clear();
      if (trip && i < HealthTest::kStartupSamples) {
        reasons_.push_back(Failure::startup);
      } else {
        if (stuck) reasons_.push_back(Failure::stuck);
        if (biased) reasons_.push_back(Failure::biased);
        if (recurring) reasons_.push_back(Failure::recurring);
      }
      if (!reasons_.empty()) {
        failed_ = true;
        return Verdict::permanent;
      }
    }
    if (tripped) {
      ++intermittent_blocks_;
      return Verdict::intermittent;
    }
    return n_ >= HealthTest::kStartupSamples ? Verdict::ok : Verdict::pending;
  }

  void check(const HealthTest& t, Verdict got, Verdict want) const {
    const HealthTest::Counters& k = t.counters();
    FUZZ_CHECK(got == want,
               std::string("verdict: implementation ") +
                   pool::health_verdict_name(got) + ", model " +
                   pool::health_verdict_name(want) + " after " +
                   std::to_string(n_) + " samples");
    FUZZ_CHECK(k.samples_tested == n_, str("samples_tested", k.samples_tested, n_));
    FUZZ_CHECK(k.rct_failures == rct_failures_,
               str("rct_failures", k.rct_failures, rct_failures_));
    FUZZ_CHECK(k.apt_failures == apt_failures_,
               str("apt_failures", k.apt_failures, apt_failures_));
    FUZZ_CHECK(k.intermittent_blocks == intermittent_blocks_,
               str("intermittent_blocks", k.intermittent_blocks,
                   intermittent_blocks_));
    FUZZ_CHECK(t.failed() == failed_, str("failed()", t.failed(), failed_));
    FUZZ_CHECK((k.failure != Failure::none) == t.failed(),
               "failed() and counters().failure disagree");
    // start-up passed exactly when 1024 samples were tested without a
    // start-up failure.
    const bool startup = n_ >= HealthTest::kStartupSamples &&
                         !(failed_ && reasons_.size() == 1 &&
                           reasons_[0] == Failure::startup);
    FUZZ_CHECK(t.startup_passed() == startup,
               str("startup_passed", t.startup_passed(), startup));
    FUZZ_CHECK(k.startup_passed == t.startup_passed(), "startup_passed twice");
    if (failed_) {
      FUZZ_CHECK(std::find(reasons_.begin(), reasons_.end(), k.failure) !=
                     reasons_.end(),
                 std::string("failure reason ") +
                     pool::health_failure_name(k.failure) +
                     " is not one the failing sample justifies");
    }
  }

  std::uint64_t samples() const { return n_; }

 private:
  CutoffRow c_;
  std::uint64_t n_ = 0;
  std::uint8_t last_ = 0;
  std::uint64_t run_ = 0;
  std::uint8_t ref_ = 0;
  std::uint64_t count_ = 0;
  std::vector<std::uint64_t> events_;
  std::vector<Failure> reasons_;
  std::uint64_t rct_failures_ = 0, apt_failures_ = 0, intermittent_blocks_ = 0;
  bool failed_ = false;
};

double as_double(std::uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

// The free functions on anything: defined results in their ranges.
void fuzz_cutoff_functions(Reader& in) {
  // Raw doubles (NaN, infinities, denormals, negatives) or small values.
  const double h = in.flag() ? as_double(in.u64()) : in.u16() / 256.0;
  const double p = in.flag() ? as_double(in.u64()) : in.u16() / 65536.0;
  const std::uint32_t alpha = in.flag() ? in.u32() : in.u8();
  // binomial_critical_value walks down from `trials`: keep it small enough
  // to stay fast (its cost, not its correctness, grows with it).
  const std::uint32_t trials = in.u16() % 4097;
  const std::uint32_t window = in.u16() % 4097;

  const std::uint32_t rct = pool::rct_cutoff(h, alpha);
  if (!(h > 0.0) || !std::isfinite(h)) {
    FUZZ_CHECK(rct == 0, "rct_cutoff of a non-positive or non-finite H");
  } else {
    FUZZ_CHECK(rct >= 1, "rct_cutoff below 1");
    FUZZ_CHECK(pool::rct_cutoff(h, alpha + (alpha < UINT32_MAX ? 1 : 0)) >= rct,
               "rct_cutoff not monotone in alpha");
    if (rct < UINT32_MAX && alpha < (1u << 20)) {
      // A run of rct identical samples: probability 2^-(H (rct-1)) <= alpha,
      // and rct - 1 is the least such count: H (rct - 2) < a.
      const long double hh = h;
      FUZZ_CHECK(hh * (rct - 1) >= alpha * (1 - 1e-12L),
                 "rct_cutoff too small for alpha");
      FUZZ_CHECK(rct < 2 || hh * (rct - 2) < alpha * (1 + 1e-12L) + 1e-300L,
                 "rct_cutoff not the least cutoff");
    }
  }

  const std::uint32_t b = pool::binomial_critical_value(trials, p, alpha);
  FUZZ_CHECK(b <= trials, "binomial_critical_value above trials");
  if (!(p > 0.0)) FUZZ_CHECK(b == 0, "CRITBINOM with p <= 0 or NaN");
  if (p >= 1.0) FUZZ_CHECK(b == trials, "CRITBINOM with p >= 1");
  if (alpha < UINT32_MAX)
    FUZZ_CHECK(pool::binomial_critical_value(trials, p, alpha + 1) >= b,
               "binomial_critical_value not monotone in alpha");

  const std::uint32_t apt = pool::apt_cutoff(h, window, alpha);
  if (!(h > 0.0) || window < 2) {
    FUZZ_CHECK(apt == 0, "apt_cutoff of a non-positive H or a window below 2");
  } else {
    FUZZ_CHECK(apt >= 2 && apt <= window, "apt_cutoff outside 2..window");
  }
}

std::vector<std::uint8_t> samples_for(Reader& in, int op) {
  std::vector<std::uint8_t> s;
  switch (op) {
    case 0: {  // literal
      const auto b = in.bytes(in.u16() % 4097);
      s.assign(b.begin(), b.end());
      break;
    }
    case 1: {  // a run
      const std::uint8_t v = in.u8();
      s.assign(in.u16(), v);
      break;
    }
    case 2: {  // healthy-looking bytes: xorshift64*
      std::uint64_t x = in.u32() | 1;
      s.resize(in.u16() + (static_cast<std::size_t>(in.u8() % 4) << 16));
      for (auto& b : s) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        b = static_cast<std::uint8_t>((x * 0x2545F4914F6CDD1DULL) >> 56);
      }
      break;
    }
    case 4: {  // one APT window: `v` count times, spread out, distinct filler
      const std::uint8_t v = in.u8();
      const std::uint32_t count = in.u16() % (HealthTest::kAptWindow + 1);
      s.resize(HealthTest::kAptWindow);
      for (std::size_t i = 0; i < s.size(); ++i)
        s[i] = static_cast<std::uint8_t>(v + 1 + i % 200);
      for (std::uint32_t i = 0; i < count; ++i)
        s[std::size_t{i} * HealthTest::kAptWindow / count] = v;
      break;
    }
    default:  // 3: nothing (an empty feed)
      break;
  }
  return s;
}

}  // namespace
}  // namespace seedpool::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace seedpool::fuzz;
  Reader in(data, size);

  // The credit: create() takes 1..8 only.
  const std::uint8_t raw = in.u8();
  std::optional<HealthTest> t;
  const seedpool::pool::Errc rc = HealthTest::create(raw, t);
  if (raw < 1 || raw > 8) {
    FUZZ_CHECK(rc == seedpool::pool::Errc::invalid_argument && !t,
               "create() accepted credit " + std::to_string(raw));
    FUZZ_CHECK(HealthTest::create(1u + raw % 8u, t) == seedpool::pool::Errc::ok,
               "create() refused a credit of 1..8");
  } else {
    FUZZ_CHECK(rc == seedpool::pool::Errc::ok && t, "create() refused a credit of 1..8");
  }
  const std::uint32_t h = t->claimed_bits_per_byte();
  FUZZ_CHECK(h >= 1 && h <= 8 && (raw < 1 || raw > 8 || h == raw), "claimed_bits_per_byte");

  // The cutoffs: the published values, and what the free functions say.
  const auto& c = t->cutoffs();
  const CutoffRow& want = kCutoffs[h];
  FUZZ_CHECK(c.rct == want.rct && c.rct_permanent == want.rct_permanent &&
                 c.apt == want.apt && c.apt_permanent == want.apt_permanent,
             "cutoffs differ from the published ones at H = " + std::to_string(h));
  FUZZ_CHECK(c.rct == seedpool::pool::rct_cutoff(h, HealthTest::kAlphaLog2) &&
                 c.apt == seedpool::pool::apt_cutoff(h, HealthTest::kAptWindow,
                                                     HealthTest::kAlphaLog2),
             "HealthTest and the free cutoff functions disagree");

  Model model(h);
  bool was_failed = false;
  while (!in.empty() && model.samples() < kMaxSamplesPerInput) {
    const int op = in.u8() % 6;
    if (op == 5) {
      fuzz_cutoff_functions(in);
      continue;
    }
    const std::vector<std::uint8_t> s = samples_for(in, op);
    // Block size: 0 feeds the whole lot at once.
    const std::size_t chunk = in.u16();
    std::size_t off = 0;
    do {
      const std::size_t n = chunk == 0 ? s.size() : std::min(chunk, s.size() - off);
      const std::vector<std::uint8_t> block(s.begin() + static_cast<std::ptrdiff_t>(off),
                                            s.begin() + static_cast<std::ptrdiff_t>(off + n));
      off += n;
      const HealthTest::Counters before = t->counters();
      const Verdict got = t->feed(block);
      const Verdict expect = model.feed(block);
      model.check(*t, got, expect);
      // Once failed, always failed, and nothing moves any more.
      if (was_failed) {
        const HealthTest::Counters& after = t->counters();
        FUZZ_CHECK(got == Verdict::permanent &&
                       after.samples_tested == before.samples_tested &&
                       after.failure == before.failure,
                   "a failed HealthTest came back");
      }
      was_failed = was_failed || t->failed();
      // Counters only grow.
      const HealthTest::Counters& after = t->counters();
      FUZZ_CHECK(after.samples_tested >= before.samples_tested &&
                     after.rct_failures >= before.rct_failures &&
                     after.apt_failures >= before.apt_failures &&
                     after.intermittent_blocks >= before.intermittent_blocks &&
                     (after.startup_passed || !before.startup_passed),
                 "a counter went backwards");
    } while (off < s.size());
  }
  return 0;
}
