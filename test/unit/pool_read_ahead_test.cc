// A request refills inline and reads its own input ahead (pool/pool.h):
// while the inline sources keep up, the pool stays at or above
// write_wakeup_threshold, no other thread is woken, a large request is one
// source read, nothing above the pool size is ever visible, and every block
// still debits 8n + 64 bits of raw credited input.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include "fake_source.h"
#include "pool/pool.h"
#include "pool/request.h"

namespace seedpool {
namespace {

using pool::Errc;
using testing::FakeSource;

struct Fixture {
  std::unique_ptr<pool::Pool> pool;
  FakeSource* source = nullptr;  // owned by the pool
};

Fixture make_pool(std::uint32_t pool_size_bits = 4096,
                  std::uint32_t write_wakeup_bits = 896) {
  pool::Config cfg;
  cfg.pool_size_bits = pool_size_bits;
  cfg.write_wakeup_threshold_bits = write_wakeup_bits;
  std::vector<pool::Pool::CustomSource> srcs;
  auto s = std::make_unique<FakeSource>(FakeSource::Mode::data);
  Fixture f;
  f.source = s.get();
  srcs.push_back({std::move(s), 8});
  EXPECT_EQ(pool::Pool::create(cfg, std::move(srcs), f.pool), Errc::ok);
  return f;
}

// Past the source's start-up test, pool full.
void warm_up(Fixture& f) {
  std::array<std::uint8_t, 32> out{};
  ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
}

TEST(PoolReadAhead, SmallRequestsTopUpInlineAndNeverWakeTheGatherer) {
  auto f = make_pool();
  warm_up(f);
  const pool::Stats s0 = f.pool->stats();
  const int reads0 = f.source->reads.load();
  constexpr int kCalls = 400;
  std::array<std::uint8_t, 32> out{};
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok) << i;
    // Served, and the pool is not left below write_wakeup_threshold.
    ASSERT_GE(f.pool->entropy_available_bits(), 896u) << i;
    ASSERT_LE(f.pool->entropy_available_bits(), 4096u) << i;
  }
  const pool::Stats s = f.pool->stats();
  EXPECT_EQ(s.gatherer, "stopped") << "the hot path woke another thread";
  EXPECT_EQ(s.gatherer_wakeups, 0u);
  // 32 bytes debit 320 bits; a top-up brings 3200+ bits: one source read
  // per ten requests or so, never one per request.
  const int reads = f.source->reads.load() - reads0;
  EXPECT_GE(reads, kCalls / 11);
  EXPECT_LE(reads, kCalls / 9 + 1);
  // The accounting rule holds: 8n + 64 per block.
  EXPECT_EQ(s.bits_debited - s0.bits_debited, std::uint64_t{kCalls} * 320u);
  EXPECT_EQ(s.bytes_served - s0.bytes_served, std::uint64_t{kCalls} * 32u);
  EXPECT_EQ(s.entropy_available_bits, s.bits_credited - s.bits_debited);
}

TEST(PoolReadAhead, LargeRequestIsOneSourceReadAndDebitsEveryBlock) {
  for (std::uint32_t size : {1024u, 4096u, 65536u}) {
    SCOPED_TRACE(size);
    auto f = make_pool(size, size / 4);
    warm_up(f);
    std::vector<std::uint8_t> out(pool::Pool::kMaxRequestBytes);
    for (int i = 0; i < 5; ++i) {
      const pool::Stats s0 = f.pool->stats();
      const int reads0 = f.source->reads.load();
      std::fill(out.begin(), out.end(), std::uint8_t{0});
      ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
      // Served from what the pool holds when that stays above the
      // threshold (a 65536-bit pool); else its input is read ahead, in one
      // read.
      const bool covered = s0.entropy_available_bits >= 64u * 576u + size / 4;
      EXPECT_EQ(f.source->reads.load() - reads0, covered ? 0 : 1);
      const pool::Stats s = f.pool->stats();
      // 64 full blocks of 512 + 64 bits, each hashed with raw input worth
      // that.
      EXPECT_EQ(s.bits_debited - s0.bits_debited, 64u * 576u);
      if (!covered) {
        EXPECT_GE(s.bits_credited - s0.bits_credited,
                  64u * 576u - s0.entropy_available_bits);
      }
      EXPECT_EQ(s.entropy_available_bits, s.bits_credited - s.bits_debited);
      // Left at least at the threshold, never above the size.
      EXPECT_GE(s.entropy_available_bits, size / 4);
      EXPECT_LE(s.entropy_available_bits, size);
      EXPECT_EQ(s.gatherer, "stopped");
      EXPECT_LT(std::count(out.begin(), out.end(), std::uint8_t{0}), 64);
    }
  }
}

TEST(PoolReadAhead, ReadAheadIsNeverVisibleAboveThePoolSize) {
  auto f = make_pool();
  warm_up(f);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> seen_max{0};
  std::thread watcher([&] {
    while (!stop.load()) {
      const std::uint64_t v = f.pool->entropy_available_bits();
      if (v > seen_max.load()) seen_max.store(v);
      const pool::Stats s = f.pool->stats();
      if (s.entropy_available_bits > seen_max.load())
        seen_max.store(s.entropy_available_bits);
    }
  });
  std::vector<std::uint8_t> out(pool::Pool::kMaxRequestBytes);
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(f.pool->try_read(out, {}, i % 3 == 0), Errc::ok) << i;
    std::size_t got = 0;
    ASSERT_EQ(f.pool->read_some(out, got), Errc::ok) << i;
    EXPECT_EQ(got, out.size()) << "a whole 4 KiB stream read, read ahead";
  }
  stop.store(true);
  watcher.join();
  EXPECT_LE(seen_max.load(), 4096u);
  EXPECT_GT(seen_max.load(), 0u);
}

TEST(PoolReadAhead, RequestServedNowDoesNotWakeTheGatherer) {
  // The rndsink path: a Request served at once refills inline as well.
  auto f = make_pool();
  warm_up(f);
  int callbacks = 0;
  pool::Request r(*f.pool, 48,
                  [&](Errc, std::span<const std::uint8_t>) { ++callbacks; });
  std::array<std::uint8_t, 48> out{};
  for (int i = 0; i < 200; ++i) ASSERT_EQ(r.request(out), Errc::ok) << i;
  EXPECT_EQ(callbacks, 0);
  const pool::Stats s = f.pool->stats();
  EXPECT_EQ(s.gatherer, "stopped");
  EXPECT_EQ(s.gatherer_wakeups, 0u);
  EXPECT_GE(s.entropy_available_bits, 896u);
}

TEST(PoolReadAhead, DrySourceStillHandsOverToTheGatherer) {
  // When the inline read brings nothing, the pool falls below the
  // threshold and the gatherer takes over (as before).
  auto f = make_pool();
  warm_up(f);
  f.source->mode = FakeSource::Mode::would_block;
  std::array<std::uint8_t, 32> out{};
  while (f.pool->entropy_available_bits() >= 896 + 320)
    ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
  EXPECT_EQ(f.pool->stats().gatherer, "stopped");
  ASSERT_EQ(f.pool->try_read(out, {}, false), Errc::ok);
  EXPECT_LT(f.pool->entropy_available_bits(), 896u);
  EXPECT_NE(f.pool->stats().gatherer, "stopped");
}

}  // namespace
}  // namespace seedpool

namespace seedpool {
namespace {

// A source only the gatherer reads (as /dev/hwrng) is still read while the
// callers keep the pool up inline: after an inline refill, at most once per
// kGatherOnlyInterval (the first an interval after start) while they draw;
// never while nothing draws, and not in a process's first interval.
TEST(PoolReadAhead, GatherOnlySourcesAreStillReadWhileCallersKeepThePoolUp) {
  pool::Config cfg;
  std::vector<pool::Pool::CustomSource> srcs;
  auto fast = std::make_unique<FakeSource>(FakeSource::Mode::data);
  auto slow = std::make_unique<FakeSource>(FakeSource::Mode::data);
  slow->inline_reads = false;
  FakeSource* gather_only = slow.get();
  srcs.push_back({std::move(fast), 8});
  srcs.push_back({std::move(slow), 4});
  std::unique_ptr<pool::Pool> p;
  ASSERT_EQ(pool::Pool::create(cfg, std::move(srcs), p), Errc::ok);

  std::array<std::uint8_t, 32> out{};
  ASSERT_EQ(p->try_read(out, {}, false), Errc::ok);
  EXPECT_EQ(p->stats().gatherer, "stopped") << "no thread in the first interval";
  const auto draw_for = [&](std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      ASSERT_EQ(p->try_read(out, {}, false), Errc::ok);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  draw_for(pool::Pool::kGatherOnlyInterval * 7 / 2);
  // Give a late gatherer round its chance before counting.
  const auto settle = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (gather_only->reads.load() < 2 && std::chrono::steady_clock::now() < settle)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int reads = gather_only->reads.load();
  EXPECT_GE(reads, 2) << "read once per interval while callers draw";
  EXPECT_LE(reads, 8) << "at most once per interval, not per request";
  EXPECT_GT(p->stats().sources[1].bytes_read, 0u);

  // Nothing draws: no more reads of it, no gatherer wake-ups.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int idle_reads = gather_only->reads.load();
  const std::uint64_t wakeups = p->stats().gatherer_wakeups;
  std::this_thread::sleep_for(pool::Pool::kGatherOnlyInterval * 3 / 2);
  EXPECT_EQ(gather_only->reads.load(), idle_reads);
  EXPECT_EQ(p->stats().gatherer_wakeups, wakeups);
}

}  // namespace
}  // namespace seedpool
