// Unit tests of the pool: accounting, conditioning margin, statistics,
// concurrency, fork, bad arguments. What it does when a source fails or has
// nothing to give: source_faults_test.cc.
#include "pool/pool.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <set>
#include <thread>
#include <vector>

#include "fake_source.h"
#include "pool/conditioner.h"
#include "pool/shared.h"

namespace seedpool {
namespace {

using namespace std::chrono_literals;
using pool::Errc;
using testing::FakeSource;

struct Fixture {
  std::unique_ptr<pool::Pool> pool;
  std::vector<FakeSource*> sources;  // owned by the pool
};

Fixture make_pool(std::vector<std::pair<FakeSource::Mode, std::uint32_t>> specs,
                  std::uint32_t pool_size_bits = 4096) {
  pool::Config cfg;
  cfg.pool_size_bits = pool_size_bits;
  std::vector<pool::Pool::CustomSource> srcs;
  Fixture f;
  for (auto [mode, credit] : specs) {
    auto s = std::make_unique<FakeSource>(mode);
    f.sources.push_back(s.get());
    srcs.push_back({std::move(s), credit});
  }
  EXPECT_EQ(pool::Pool::create(cfg, std::move(srcs), f.pool), Errc::ok);
  return f;
}

bool all_zero(std::span<const std::uint8_t> b) {
  for (auto x : b)
    if (x != 0) return false;
  return true;
}

TEST(PoolAccounting, EachBlockDebitsItsBitsPlus64Margin) {
  auto f = make_pool({{FakeSource::Mode::data, 8}});
  std::array<std::uint8_t, 130> out{};
  // 32 bytes: one partial block, 256 + 64 bits.
  ASSERT_EQ(f.pool->try_read({out.data(), 32}, {}, false), Errc::ok);
  EXPECT_EQ(f.pool->stats().bits_debited, 320u);
  // 64 bytes: one full block, 512 + 64.
  ASSERT_EQ(f.pool->try_read({out.data(), 64}, {}, false), Errc::ok);
  EXPECT_EQ(f.pool->stats().bits_debited, 320u + 576u);
  // 130 bytes: 64 + 64 + 2 -> 576 + 576 + (16 + 64).
  ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
  EXPECT_EQ(f.pool->stats().bits_debited, 320u + 576u + 576u + 576u + 80u);
}

TEST(PoolAccounting, AvailableIsCreditedMinusDebitedCappedAtPoolSize) {
  auto f = make_pool({{FakeSource::Mode::data, 8}});
  std::array<std::uint8_t, 48> out{};
  ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
  const pool::Stats s = f.pool->stats();
  EXPECT_LE(s.entropy_available_bits, s.pool_size_bits);
  EXPECT_EQ(s.entropy_available_bits, s.bits_credited - s.bits_debited);
  EXPECT_EQ(s.bits_debited, 48u * 8 + 64);
  ASSERT_EQ(s.sources.size(), 1u);
  // Every byte read is either credited at the source's rate or withheld by
  // the health tests (the first 1024 samples: the start-up test).
  EXPECT_EQ(s.sources[0].bits_credited + s.sources[0].bits_withheld,
            s.sources[0].bytes_read * 8);
  EXPECT_GT(s.sources[0].bits_withheld, 0u);
  EXPECT_LE(s.sources[0].bits_withheld, 1024u * 8);
}

TEST(PoolAccounting, CreditFollowsTheSourceRate) {
  auto f = make_pool({{FakeSource::Mode::data, 2}});
  std::array<std::uint8_t, 32> out{};
  ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
  const pool::Stats s = f.pool->stats();
  EXPECT_EQ(s.sources[0].bits_credited + s.sources[0].bits_withheld,
            s.sources[0].bytes_read * 2);
  // Nothing is credited before the start-up test has seen 1024 bytes.
  EXPECT_GE(s.sources[0].bytes_read, 1024u);
  EXPECT_GE(s.sources[0].bits_credited, 320u);
}

TEST(PoolAccounting, UncreditedInputNeverServes) {
  // A source credited 0 bits is mixed but cannot make output full-entropy.
  auto f = make_pool({{FakeSource::Mode::data, 0}});
  std::array<std::uint8_t, 32> out;
  out.fill(0xAA);
  EXPECT_EQ(f.pool->try_read(out, {}, false), Errc::no_usable_source);
  EXPECT_TRUE(all_zero(out)) << "failed request must not leave output behind";
  EXPECT_EQ(f.pool->health(), pool::Health::failed);
}

TEST(PoolAccounting, MixCreditsNothingAddEntropyCreditsCapped) {
  auto f = make_pool({{FakeSource::Mode::would_block, 8}});
  std::array<std::uint8_t, 48> out{};
  std::array<std::uint8_t, 256> input{};
  input.fill(0x5c);
  ASSERT_EQ(f.pool->mix(input), Errc::ok);
  EXPECT_EQ(f.pool->entropy_available_bits(), 0u);
  EXPECT_EQ(f.pool->try_read(out, {}, false), Errc::entropy_short);

  // 8 bytes can carry at most 64 bits, whatever the caller claims.
  ASSERT_EQ(f.pool->add_entropy({input.data(), 8}, 1000), Errc::ok);
  EXPECT_EQ(f.pool->entropy_available_bits(), 64u);
  // 448 bits are needed for 48 bytes: 64 + 384 = 448 exactly.
  ASSERT_EQ(f.pool->add_entropy({input.data(), 48}, 384), Errc::ok);
  EXPECT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
  EXPECT_EQ(f.pool->entropy_available_bits(), 0u);
  EXPECT_EQ(f.pool->try_read(out, {}, false), Errc::entropy_short);
}

TEST(PoolAccounting, OneBitShortIsNotServed) {
  auto f = make_pool({{FakeSource::Mode::would_block, 8}});
  std::array<std::uint8_t, 64> input{};
  std::array<std::uint8_t, 32> out{};
  ASSERT_EQ(f.pool->add_entropy(input, 319), Errc::ok);
  EXPECT_EQ(f.pool->try_read(out, {}, false), Errc::entropy_short);
  ASSERT_EQ(f.pool->add_entropy(input, 1), Errc::ok);
  EXPECT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
}

TEST(PoolAccounting, LargeRequestBeyondPoolSizeRefillsBetweenBlocks) {
  auto f = make_pool({{FakeSource::Mode::data, 8}}, 1024);
  std::vector<std::uint8_t> out(pool::Pool::kMaxRequestBytes);
  ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
  EXPECT_EQ(f.pool->stats().bits_debited, 64u * 576u);
  EXPECT_FALSE(all_zero(out));
}

TEST(PoolAccounting, EpochAdvancesPerPoolSizeOfNewCredit) {
  auto f = make_pool({{FakeSource::Mode::would_block, 8}}, 1024);
  std::array<std::uint8_t, 128> input{};
  const std::uint32_t e0 = f.pool->epoch();
  ASSERT_EQ(f.pool->add_entropy(input, 1000), Errc::ok);
  EXPECT_EQ(f.pool->epoch(), e0);
  ASSERT_EQ(f.pool->add_entropy(input, 24), Errc::ok);
  EXPECT_EQ(f.pool->epoch(), e0 + 1);
}

TEST(PoolRequests, PredictionResistanceReadsTheSourcesEvenWhenFull) {
  auto f = make_pool({{FakeSource::Mode::data, 8}});
  std::array<std::uint8_t, 32> out{};
  ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
  const int reads = f.sources[0]->reads.load();
  ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
  EXPECT_EQ(f.sources[0]->reads.load(), reads) << "pool was full: no read";
  ASSERT_EQ(f.pool->try_read(out, {}, true), Errc::ok);
  EXPECT_GT(f.sources[0]->reads.load(), reads) << "fresh entropy was asked for";
}

// A prediction-resistant block that needs more fresh bits than the full
// reservoir has room for: the oldest input is spent into the conditioner to
// make room, instead of reading the source forever with the lock held (a
// fuzzer found that livelock: 32 bytes, then 59 with prediction resistance).
TEST(PoolRequests, PredictionResistanceOnAFullPoolMakesRoomAndDoesNotSpin) {
  auto f = make_pool({{FakeSource::Mode::data, 8}});
  std::array<std::uint8_t, 32> first{};
  ASSERT_EQ(f.pool->try_read(first, {}, false), Errc::ok);
  for (std::size_t n : {59u, 64u, 1000u, 4096u}) {
    std::vector<std::uint8_t> out(n);
    const int reads = f.sources[0]->reads.load();
    ASSERT_EQ(f.pool->try_read(out, {}, true), Errc::ok) << n << " bytes";
    const int delta = f.sources[0]->reads.load() - reads;
    EXPECT_GT(delta, 0) << "fresh input was read";
    EXPECT_LT(delta, 200) << "the source was read in a loop for " << n << " bytes";
    EXPECT_FALSE(all_zero(out));
  }
  EXPECT_LE(f.pool->entropy_available_bits(), 4096u);
}

TEST(PoolRequests, PredictionResistanceFailsWithoutFreshInput) {
  auto f = make_pool({{FakeSource::Mode::data, 8}});
  std::array<std::uint8_t, 32> out{};
  ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
  f.sources[0]->mode = FakeSource::Mode::would_block;
  // The pool still holds credit, but not fresh: pr must not be served.
  EXPECT_EQ(f.pool->try_read(out, {}, true), Errc::entropy_short);
  EXPECT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
}

TEST(PoolRequests, NoBusyLoopWhenTheSourceCannotBeWaitedOn) {
  auto f = make_pool({{FakeSource::Mode::would_block, 8}});
  f.sources[0]->wait_fails = true;
  std::array<std::uint8_t, 32> out{};
  EXPECT_EQ(f.pool->read(out, {}, false, 200ms), Errc::timed_out);
  // A pause between retries: about 20 in 200 ms, never thousands.
  EXPECT_LT(f.sources[0]->reads.load(), 60);
}

TEST(PoolRequests, ZeroTimeoutFailsAtOnce) {
  auto f = make_pool({{FakeSource::Mode::would_block, 8}});
  std::array<std::uint8_t, 32> out{};
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(f.pool->read(out, {}, false, 0ms), Errc::entropy_short);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(f.sources[0]->waits.load(), 0);
}

TEST(PoolRequests, BadArguments) {
  auto f = make_pool({{FakeSource::Mode::data, 8}});
  std::array<std::uint8_t, 8> out{};
  EXPECT_EQ(f.pool->try_read({}, {}, false), Errc::invalid_argument);
  EXPECT_EQ(f.pool->try_read({static_cast<std::uint8_t*>(nullptr), 8}, {}, false),
            Errc::invalid_argument);
  EXPECT_EQ(f.pool->try_read(out, {static_cast<const std::uint8_t*>(nullptr), 4},
                             false),
            Errc::invalid_argument);
  std::vector<std::uint8_t> big(pool::Pool::kMaxRequestBytes + 1);
  EXPECT_EQ(f.pool->try_read(big, {}, false), Errc::request_too_large);
  EXPECT_EQ(f.pool->read(out, {}, false, -1ms), Errc::invalid_argument);
  // Failures are counted, and the pool keeps working.
  EXPECT_EQ(f.pool->stats().requests_failed, 5u);
  EXPECT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
}

TEST(PoolRequests, BadCreateArguments) {
  std::unique_ptr<pool::Pool> p;
  pool::Config cfg;
  std::vector<pool::Pool::CustomSource> none;
  EXPECT_EQ(pool::Pool::create(cfg, std::move(none), p), Errc::invalid_argument);
  std::vector<pool::Pool::CustomSource> too_much;
  too_much.push_back({std::make_unique<FakeSource>(), 9});
  EXPECT_EQ(pool::Pool::create(cfg, std::move(too_much), p), Errc::invalid_argument);
  cfg.pool_size_bits = 512;
  EXPECT_EQ(pool::Pool::create(cfg, p), Errc::invalid_argument);
  EXPECT_EQ(p, nullptr);
}

TEST(PoolHealth, StuckSourceIsRefusedByTheHealthTestsAndNeverCredited) {
  class Stuck final : public pool::Source {
   public:
    const char* name() const noexcept override { return "stuck"; }
    pool::SourceRead read(std::span<std::uint8_t> out) noexcept override {
      std::fill(out.begin(), out.end(), std::uint8_t{0x42});
      return {pool::SourceRead::Kind::data, out.size(), 0};
    }
  };
  pool::Config cfg;
  std::vector<pool::Pool::CustomSource> srcs;
  srcs.push_back({std::make_unique<Stuck>(), 8});
  std::unique_ptr<pool::Pool> p;
  ASSERT_EQ(pool::Pool::create(cfg, std::move(srcs), p), Errc::ok);
  std::array<std::uint8_t, 32> out;
  out.fill(1);
  EXPECT_EQ(p->read(out, {}, false, 100ms), Errc::no_usable_source);
  EXPECT_TRUE(all_zero(out));
  const pool::Stats s = p->stats();
  EXPECT_EQ(s.health, pool::Health::failed);
  EXPECT_EQ(pool::format_sources(s), "stuck:unhealthy:0");
  EXPECT_EQ(s.entropy_available_bits, 0u);
  EXPECT_GT(s.sources[0].health_failures, 0u);
}

TEST(PoolOutput, SuccessiveOutputsDifferEvenFromIdenticalInput) {
  // Two pools fed the same deterministic stream still differ (each mixes its
  // identity at creation), and one pool never repeats a block.
  auto a = make_pool({{FakeSource::Mode::data, 8}});
  auto b = make_pool({{FakeSource::Mode::data, 8}});
  std::set<std::array<std::uint8_t, 32>> seen;
  for (int i = 0; i < 200; ++i) {
    std::array<std::uint8_t, 32> x{}, y{};
    ASSERT_EQ(a.pool->try_read(x, {}, false), Errc::ok);
    ASSERT_EQ(b.pool->try_read(y, {}, false), Errc::ok);
    EXPECT_NE(x, y);
    EXPECT_TRUE(seen.insert(x).second);
    EXPECT_TRUE(seen.insert(y).second);
  }
}

TEST(PoolConcurrency, ManyThreadsEveryRequestServedAndCounted) {
  auto f = make_pool({{FakeSource::Mode::data, 8}});
  constexpr int kThreads = 4, kPerThread = 500;
  std::vector<std::vector<std::array<std::uint8_t, 48>>> got(kThreads);
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      got[t].resize(kPerThread);
      for (auto& o : got[t])
        if (f.pool->read(o, {}, false, 5s) != Errc::ok) failures++;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::array<std::uint8_t, 48>> all;
  for (auto& v : got) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), std::size_t{kThreads * kPerThread}) << "no repeats";
  const pool::Stats s = f.pool->stats();
  EXPECT_EQ(s.requests_served, std::uint64_t{kThreads * kPerThread});
  EXPECT_EQ(s.bytes_served, std::uint64_t{kThreads * kPerThread * 48});
  EXPECT_EQ(s.bits_debited, std::uint64_t{kThreads * kPerThread * (384 + 64)});
}

TEST(PoolFork, ChildNeverRepeatsTheParent) {
  // Deterministic source: parent and child get the same raw input after the
  // fork, so only the pool's fork handling can make them differ.
  auto f = make_pool({{FakeSource::Mode::data, 8}});
  std::array<std::uint8_t, 32> warm{};
  ASSERT_EQ(f.pool->try_read(warm, {}, false), Errc::ok);  // used before fork
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::uint32_t epoch_before = f.pool->epoch();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::array<std::uint8_t, 32> c{};
    int ok = f.pool->try_read(c, {}, false) == Errc::ok &&
             f.pool->epoch() != epoch_before;
    ssize_t w = write(fds[1], c.data(), c.size());
    w += write(fds[1], &ok, sizeof(ok));
    _exit(w == static_cast<ssize_t>(c.size() + sizeof(ok)) ? 0 : 1);
  }
  close(fds[1]);
  std::array<std::uint8_t, 32> p{};
  ASSERT_EQ(f.pool->try_read(p, {}, false), Errc::ok);
  std::array<std::uint8_t, 32> c{};
  int ok = 0;
  ASSERT_EQ(read(fds[0], c.data(), c.size()), static_cast<ssize_t>(c.size()));
  ASSERT_EQ(read(fds[0], &ok, sizeof(ok)), static_cast<ssize_t>(sizeof(ok)));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(ok, 1) << "child served, with a new epoch";
  EXPECT_NE(p, c);
  EXPECT_EQ(f.pool->epoch(), epoch_before) << "parent's epoch unchanged";
}

TEST(PoolFork, ForkWhileAnotherThreadHammersThePool) {
  // The atfork prepare handler holds the pool lock across fork(), so the
  // child never inherits it locked.
  auto f = make_pool({{FakeSource::Mode::data, 8}});
  std::atomic<bool> stop{false};
  std::thread hammer([&] {
    std::array<std::uint8_t, 32> o{};
    while (!stop) (void)f.pool->try_read(o, {}, false);
  });
  for (int i = 0; i < 20; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      alarm(10);  // a deadlock fails the test instead of hanging it
      std::array<std::uint8_t, 32> o{};
      _exit(f.pool->try_read(o, {}, false) == Errc::ok ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed (deadlock?)";
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  stop = true;
  hammer.join();
}

TEST(Conditioner, BlockBoundsAndDistinctOutputs) {
  std::unique_ptr<pool::Conditioner> c;
  ASSERT_EQ(pool::Conditioner::create(c), Errc::ok);
  std::array<std::uint8_t, 65> big{};
  EXPECT_EQ(c->extract({big.data(), 65}), Errc::invalid_argument);
  EXPECT_EQ(c->extract({big.data(), 0}), Errc::invalid_argument);
  std::array<std::uint8_t, 64> a{}, b{};
  ASSERT_EQ(c->extract(a), Errc::ok);
  ASSERT_EQ(c->extract(b), Errc::ok);
  EXPECT_NE(a, b) << "the chain moves on after each extraction";
}

TEST(SharedPool, OnePoolPerProcessAndConflictingConfigRefused) {
  std::shared_ptr<pool::Pool> a, b, c;
  pool::Config cfg;
  ASSERT_EQ(pool::acquire_shared(cfg, a), Errc::ok);
  ASSERT_EQ(pool::acquire_shared(cfg, b), Errc::ok);
  EXPECT_EQ(a.get(), b.get());
  pool::Config other = cfg;
  other.pool_size_bits = 2048;
  EXPECT_EQ(pool::acquire_shared(other, c), Errc::config_conflict);
  EXPECT_EQ(c, nullptr);
  a.reset();
  b.reset();  // last reference: torn down
  ASSERT_EQ(pool::acquire_shared(other, c), Errc::ok);
  EXPECT_EQ(c->config().pool_size_bits, 2048u);
  std::array<std::uint8_t, 32> out{};
  EXPECT_EQ(c->try_read(out, {}, false), Errc::ok);
  EXPECT_EQ(pool::format_sources(c->stats()).rfind("getrandom:ok:", 0), 0u);
}

}  // namespace
}  // namespace seedpool
