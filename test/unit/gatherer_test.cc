// The gatherer thread, rndsink-style requests, streaming reads and the
// wake-up thresholds. Every test runs twice: on io_uring and on the poll()
// fallback (SEEDPOOL_NO_IO_URING=1), which must behave the same. A source
// that fails, goes away or runs dry: source_faults_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "fake_source.h"
#include "pool/pool.h"
#include "pool/request.h"

namespace seedpool {
namespace {

using namespace std::chrono_literals;
using pool::Errc;
using pool::Request;
using testing::FakeSource;
using Clock = std::chrono::steady_clock;

// A source fed through a pipe: readable (POLLIN) exactly when the test has
// written to it, so the gatherer waits on its fd (POLL_ADD or poll()).
class PipeSource final : public pool::Source {
 public:
  PipeSource() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      rd_ = fds[0];
      wr_ = fds[1];
    }
  }
  ~PipeSource() override {
    ::close(rd_);
    ::close(wr_);
  }
  const char* name() const noexcept override { return "pipe"; }
  pool::SourceRead read(std::span<std::uint8_t> out) noexcept override {
    reads.fetch_add(1);
    const ssize_t n = ::read(rd_, out.data(), out.size());
    if (n > 0) return {pool::SourceRead::Kind::data, static_cast<std::size_t>(n), 0};
    if (n < 0 && errno == EAGAIN) return {pool::SourceRead::Kind::would_block, 0, EAGAIN};
    return {pool::SourceRead::Kind::error, 0, n < 0 ? errno : EIO};
  }
  int poll_fd() const noexcept override { return rd_; }
  std::chrono::milliseconds retry_interval() const noexcept override { return retry; }
  // A pipe: a short read emptied it (as DeviceSource says for a FIFO).
  bool short_read_empties() const noexcept override { return empties; }
  // Writes `n` varied bytes (they pass the health tests' start-up).
  void feed(std::size_t n) {
    std::vector<std::uint8_t> b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng_());
    ASSERT_EQ(::write(wr_, b.data(), b.size()), static_cast<ssize_t>(n));
  }
  // For producers that outpace the pool: false when the pipe is full.
  bool try_feed(std::size_t n) {
    std::vector<std::uint8_t> b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng_());
    return ::write(wr_, b.data(), b.size()) == static_cast<ssize_t>(n);
  }
  std::atomic<int> reads{0};
  std::chrono::milliseconds retry = pool::Source::kDefaultRetryInterval;
  bool empties = true;

 private:
  int rd_ = -1;
  int wr_ = -1;
  std::mt19937 rng_{12345};
};

class Gatherer : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam())
      ::setenv("SEEDPOOL_NO_IO_URING", "1", 1);
    else
      ::unsetenv("SEEDPOOL_NO_IO_URING");
  }
  void TearDown() override { ::unsetenv("SEEDPOOL_NO_IO_URING"); }
  const char* expected_path() const { return GetParam() ? "poll" : "io_uring"; }

  // A pool over one pipe source credited 8 bits/byte, plus optional fakes.
  std::unique_ptr<pool::Pool> make(pool::Config cfg, PipeSource*& pipe,
                                   FakeSource** fake = nullptr,
                                   FakeSource::Mode fake_mode = FakeSource::Mode::would_block,
                                   std::uint32_t fake_credit = 8) {
    std::vector<pool::Pool::CustomSource> srcs;
    auto p = std::make_unique<PipeSource>();
    pipe = p.get();
    // Credit 8 with health tests: the start-up test holds back the first
    // 1024 samples, which the tests feed first (prime()).
    srcs.push_back({std::move(p), 8});
    if (fake != nullptr) {
      auto f = std::make_unique<FakeSource>(fake_mode);
      *fake = f.get();
      srcs.push_back({std::move(f), fake_credit});
    }
    std::unique_ptr<pool::Pool> out;
    EXPECT_EQ(pool::Pool::create(cfg, std::move(srcs), out), Errc::ok);
    return out;
  }
  // Gets the pipe source past its SP 800-90B start-up test (the first 512
  // of its 1024 samples are withheld), then drains the pool: tests start
  // with (almost) nothing credited.
  static void prime(pool::Pool& p, PipeSource& pipe) {
    pipe.feed(1024);
    std::array<std::uint8_t, 64> b{};
    std::size_t got = 0;
    for (int i = 0; i < 100 && p.read_some(b, got) == Errc::ok; ++i) {
    }
    for (int i = 0; i < 100 && p.read_some({b.data(), 1}, got) == Errc::ok; ++i) {
    }
    EXPECT_LT(p.entropy_available_bits(), 72u);
    const pool::Stats s = p.stats();
    EXPECT_EQ(s.sources[0].bits_withheld + s.sources[0].bits_credited, 8192u);
    EXPECT_GT(s.sources[0].bits_withheld, 0u);
  }
  // Until the gatherer has not woken for `quiet`: then it is asleep in the
  // wait it planned (its wake-up count moves at the end of every wait).
  // A fixed sleep would do on an idle machine, not under a loaded CI.
  static void wait_asleep(const pool::Pool& p, std::chrono::milliseconds quiet = 50ms) {
    const auto end = Clock::now() + 5s;
    std::uint64_t last = p.stats().gatherer_wakeups;
    auto since = Clock::now();
    while (Clock::now() < end) {
      std::this_thread::sleep_for(5ms);
      const std::uint64_t now = p.stats().gatherer_wakeups;
      if (now != last) {
        last = now;
        since = Clock::now();
      } else if (Clock::now() - since >= quiet) {
        return;
      }
    }
  }
  // A pool over one pipe, primed (nearly empty), its gatherer asleep on
  // the pipe with no timer: the state the wake-rule tests start from.
  std::unique_ptr<pool::Pool> make_asleep(PipeSource*& pipe) {
    auto p = make({}, pipe);
    prime(*p, *pipe);
    wait_asleep(*p);
    return p;
  }
  template <typename F>
  static bool eventually(F f, std::chrono::milliseconds bound = 5s) {
    const auto end = Clock::now() + bound;
    while (Clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(2ms);
    }
    return f();
  }
};

INSTANTIATE_TEST_SUITE_P(Paths, Gatherer, ::testing::Values(false, true),
                         [](const auto& param_info) {
                           return std::string(param_info.param ? "poll" : "io_uring");
                         });

bool all_zero(std::span<const std::uint8_t> b) {
  for (auto x : b)
    if (x != 0) return false;
  return true;
}

// A callback recorder: what came, in which order, with which bytes.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<int, Errc>> calls;  // (tag, rc)
  std::vector<std::vector<std::uint8_t>> bytes;
  Request::Callback make(int tag) {
    return [this, tag](Errc rc, std::span<const std::uint8_t> b) {
      std::lock_guard<std::mutex> g(mu);
      calls.emplace_back(tag, rc);
      bytes.emplace_back(b.begin(), b.end());
      cv.notify_all();
    };
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds bound = 5s) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, bound, [&] { return calls.size() >= n; });
  }
  std::size_t count() {
    std::lock_guard<std::mutex> g(mu);
    return calls.size();
  }
};

TEST_P(Gatherer, RequestServedNowReturnsOkWithoutCallback) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  pipe->feed(512);
  Recorder rec;
  Request r(*p, 32, rec.make(1));
  std::array<std::uint8_t, 32> out{};
  ASSERT_EQ(r.request(out), Errc::ok);
  EXPECT_FALSE(all_zero(out));
  EXPECT_FALSE(r.pending());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rec.count(), 0u);
}

TEST_P(Gatherer, StarvedRequestIsCalledBackWithTheBytesOnTheGathererThread) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  const pool::Stats s0 = p->stats();
  Recorder rec;
  std::thread::id cb_thread;
  Request r(*p, 48, [&](Errc rc, std::span<const std::uint8_t> b) {
    cb_thread = std::this_thread::get_id();
    rec.make(7)(rc, b);
  });
  std::array<std::uint8_t, 48> out{};
  ASSERT_EQ(r.request(out), Errc::pending);
  EXPECT_TRUE(all_zero(out)) << "no short or unseeded output";
  EXPECT_TRUE(r.pending());
  EXPECT_EQ(p->stats().requests_queued, 1u);
  EXPECT_EQ(p->stats().gatherer, expected_path());
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(rec.count(), 0u);
  pipe->feed(100);  // 800 bits: enough for 48 bytes (448 bits)
  ASSERT_TRUE(rec.wait_for(1));
  EXPECT_EQ(rec.calls[0].second, Errc::ok);
  ASSERT_EQ(rec.bytes[0].size(), 48u);
  EXPECT_FALSE(all_zero(rec.bytes[0]));
  EXPECT_NE(cb_thread, std::this_thread::get_id());
  EXPECT_TRUE(eventually([&] { return !r.pending(); }));
  const pool::Stats s = p->stats();
  EXPECT_EQ(s.requests_queued, 0u);
  EXPECT_EQ(s.requests_served - s0.requests_served, 1u);
  EXPECT_EQ(s.bytes_served - s0.bytes_served, 48u);
}

TEST_P(Gatherer, WaitersAreServedInOrderAndNobodyOvertakesTheHead) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  Recorder rec;
  // A large request first, then small ones: the small ones must not starve
  // it by taking each trickle of entropy.
  Request big(*p, 400, rec.make(1));
  Request small1(*p, 8, rec.make(2));
  Request small2(*p, 8, rec.make(3));
  ASSERT_EQ(big.schedule(), Errc::pending);
  ASSERT_EQ(small1.schedule(), Errc::pending);
  ASSERT_EQ(small2.schedule(), Errc::pending);
  // Enough for a small one, not the big one: nobody is served, and an
  // inline reader does not jump the queue either.
  pipe->feed(40);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rec.count(), 0u);
  std::array<std::uint8_t, 8> x{};
  EXPECT_EQ(p->try_read(x, {}, false), Errc::entropy_short);
  std::size_t got = 1;
  EXPECT_EQ(p->read_some(x, got), Errc::entropy_short);
  EXPECT_EQ(got, 0u);
  // Trickle in the rest.
  for (int i = 0; i < 30; ++i) {
    pipe->feed(32);
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(rec.wait_for(3));
  EXPECT_EQ(rec.calls[0].first, 1);
  EXPECT_EQ(rec.calls[1].first, 2);
  EXPECT_EQ(rec.calls[2].first, 3);
  for (const auto& c : rec.calls) EXPECT_EQ(c.second, Errc::ok);
}

TEST_P(Gatherer, DeadlineEndsAWaitWithTimedOut) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  Recorder rec;
  Request r(*p, 32, rec.make(1));
  const auto t0 = Clock::now();
  ASSERT_EQ(r.schedule(t0 + 100ms), Errc::pending);
  ASSERT_TRUE(rec.wait_for(1));
  EXPECT_GE(Clock::now() - t0, 100ms);
  EXPECT_EQ(rec.calls[0].second, Errc::timed_out);
  EXPECT_TRUE(rec.bytes[0].empty());
  EXPECT_EQ(p->stats().requests_timed_out, 1u);
}

TEST_P(Gatherer, BlockingReadWaitsInLineAndIsServedWhenFed) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  const pool::Stats s0 = p->stats();
  std::array<std::uint8_t, 32> out{};
  std::thread feeder([&] {
    std::this_thread::sleep_for(100ms);
    pipe->feed(64);
  });
  const auto t0 = Clock::now();
  EXPECT_EQ(p->read(out, {}, false, 3000ms), Errc::ok);
  EXPECT_GE(Clock::now() - t0, 90ms);
  feeder.join();
  EXPECT_FALSE(all_zero(out));
  const pool::Stats s = p->stats();
  EXPECT_EQ(s.requests_served - s0.requests_served, 1u);
  EXPECT_EQ(s.requests_failed - s0.requests_failed, 0u);
}

TEST_P(Gatherer, CancelledRequestIsNeverCalledBack) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  Recorder rec;
  {
    Request r(*p, 32, rec.make(1));
    ASSERT_EQ(r.schedule(), Errc::pending);
    r.cancel();
    EXPECT_FALSE(r.pending());
    Request gone(*p, 32, rec.make(2));
    ASSERT_EQ(gone.schedule(), Errc::pending);
  }  // destroyed while queued
  EXPECT_EQ(p->stats().requests_queued, 0u);
  pipe->feed(512);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(rec.count(), 0u);
  // The entropy is still there for the next one.
  std::array<std::uint8_t, 32> out{};
  EXPECT_EQ(p->try_read(out, {}, false), Errc::ok);
}

TEST_P(Gatherer, CancelWaitsForARunningCallback) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  std::atomic<bool> entered{false}, finished{false};
  Request r(*p, 16, [&](Errc, std::span<const std::uint8_t>) {
    entered = true;
    std::this_thread::sleep_for(150ms);
    finished = true;
  });
  ASSERT_EQ(r.schedule(), Errc::pending);
  pipe->feed(64);
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  r.cancel();
  EXPECT_TRUE(finished.load()) << "cancel returned while the callback ran";
  EXPECT_FALSE(r.pending());
}

TEST_P(Gatherer, CallbackMayDestroyItsOwnRequestAndAskAgain) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  std::atomic<int> calls{0};
  Request* self = nullptr;
  self = new Request(*p, 16, [&](Errc rc, std::span<const std::uint8_t>) {
    EXPECT_EQ(rc, Errc::ok);
    if (calls.fetch_add(1) == 0) {
      EXPECT_EQ(self->schedule(), Errc::pending);  // again, from inside
    } else {
      delete self;  // and then destroy it, from inside
    }
  });
  ASSERT_EQ(self->schedule(), Errc::pending);
  pipe->feed(256);
  ASSERT_TRUE(eventually([&] { return calls.load() == 2; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(p->stats().requests_queued, 0u);
}

TEST_P(Gatherer, SlowSourcesAreReadOnlyByTheGatherer) {
  // Like /dev/hwrng: never read on the caller's thread; a starved request
  // waits for the gatherer, which reads it on its timer.
  pool::Config cfg;
  std::vector<pool::Pool::CustomSource> srcs;
  auto f = std::make_unique<FakeSource>(FakeSource::Mode::data);
  FakeSource* slow = f.get();
  slow->inline_reads = false;
  srcs.push_back({std::move(f), 8});
  std::unique_ptr<pool::Pool> p;
  ASSERT_EQ(pool::Pool::create(cfg, std::move(srcs), p), Errc::ok);
  std::array<std::uint8_t, 32> out{};
  EXPECT_EQ(p->try_read(out, {}, false), Errc::entropy_short);
  EXPECT_EQ(slow->reads.load(), 0);
  // Past the start-up test (1024 samples), through the gatherer alone.
  EXPECT_EQ(p->read(out, {}, false, std::chrono::milliseconds(5000)), Errc::ok);
  EXPECT_GT(slow->reads.load(), 0);
  EXPECT_EQ(p->stats().gatherer, expected_path());
}

TEST_P(Gatherer, RequestBadArgumentsAreRefusedAndNothingIsQueued) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  Recorder rec;
  std::array<std::uint8_t, 16> out{};
  Request zero(*p, 0, rec.make(1));
  EXPECT_EQ(zero.request(out), Errc::invalid_argument);
  EXPECT_EQ(zero.schedule(), Errc::invalid_argument);
  Request huge(*p, pool::Pool::kMaxRequestBytes + 1, rec.make(2));
  EXPECT_EQ(huge.schedule(), Errc::request_too_large);
  Request no_callback(*p, 16, nullptr);
  EXPECT_EQ(no_callback.schedule(), Errc::invalid_argument);
  Request r(*p, 16, rec.make(3));
  std::array<std::uint8_t, 8> wrong{};
  EXPECT_EQ(r.request(wrong), Errc::invalid_argument);
  EXPECT_EQ(r.request({static_cast<std::uint8_t*>(nullptr), 16}), Errc::invalid_argument);
  EXPECT_EQ(p->stats().requests_queued, 0u);
  std::size_t got = 7;
  EXPECT_EQ(p->read_some({}, got), Errc::invalid_argument);
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(p->wait_for_entropy(8, std::chrono::milliseconds(-1)), Errc::invalid_argument);
  EXPECT_EQ(rec.count(), 0u);
}

TEST_P(Gatherer, IdleWhilePoolIsFull) {
  PipeSource* pipe;
  FakeSource* timer;  // a timer-driven source, like /dev/hwrng
  auto p = make({}, pipe, &timer, FakeSource::Mode::data, 4);
  pipe->feed(2048);
  // Start the gatherer with one waiter, then let the pool fill up.
  Recorder rec;
  Request r(*p, 32, rec.make(1));
  (void)r.schedule();
  ASSERT_TRUE(rec.wait_for(1));
  ASSERT_TRUE(eventually([&] {
    return p->entropy_available_bits() == p->config().pool_size_bits;
  }));
  std::this_thread::sleep_for(20ms);
  const pool::Stats before = p->stats();
  const int timer_reads = timer->reads.load();
  std::this_thread::sleep_for(300ms);
  const pool::Stats after = p->stats();
  EXPECT_EQ(after.gatherer, expected_path());
  EXPECT_EQ(after.gatherer_wakeups, before.gatherer_wakeups)
      << "the gatherer woke up while the pool was full";
  EXPECT_EQ(timer->reads.load(), timer_reads);
}

// Queueing while the gatherer sleeps on its sources (hungry, the pipe's fd
// armed) does not wake it (pool.h, gatherer_planned_): the wait it planned
// already ends when the pipe is fed. What must not be lost then: the
// request is served once fed, and its deadline still ends it (the deadline
// timer), each with exactly one wake-up of the gatherer.
TEST_P(Gatherer, QueueingWhileAsleepOnTheSourceWakesOnlyWhenFed) {
  PipeSource* pipe;
  auto p = make_asleep(pipe);
  Recorder rec;
  Request r(*p, 32, rec.make(1));
  const std::uint64_t w0 = p->stats().gatherer_wakeups;
  ASSERT_EQ(r.schedule(Clock::now() + 10s), Errc::pending);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(p->stats().gatherer_wakeups, w0) << "woken to look at the queue";
  EXPECT_EQ(rec.count(), 0u);
  pipe->feed(40);  // 320 bits: one 32-byte block
  ASSERT_TRUE(rec.wait_for(1)) << "fed, but the queued request was not served";
  EXPECT_EQ(rec.calls[0].second, Errc::ok);
  EXPECT_EQ(p->stats().gatherer_wakeups, w0 + 1);
}

TEST_P(Gatherer, DeadlineEndsAWaitQueuedWhileAsleepOnTheSource) {
  PipeSource* pipe;
  auto p = make_asleep(pipe);
  Recorder rec;
  Request r(*p, 32, rec.make(1));
  const std::uint64_t w0 = p->stats().gatherer_wakeups;
  const auto t0 = Clock::now();
  ASSERT_EQ(r.schedule(t0 + 100ms), Errc::pending);
  // Without the deadline timer nothing would end this wait: the pipe stays
  // silent.
  ASSERT_TRUE(rec.wait_for(1)) << "the deadline was lost";
  EXPECT_GE(Clock::now() - t0, 100ms);
  EXPECT_EQ(rec.calls[0].second, Errc::timed_out);
  EXPECT_EQ(p->stats().gatherer_wakeups, w0 + 1) << "one wake-up: the timer";
}

TEST_P(Gatherer, AnEarlierDeadlineRearmsTheDeadlineTimer) {
  PipeSource* pipe;
  auto p = make_asleep(pipe);
  Recorder rec;
  {
    // Arms the timer 30 s out; withdrawn without waking the gatherer.
    Request late(*p, 32, rec.make(1));
    ASSERT_EQ(late.schedule(Clock::now() + 30s), Errc::pending);
  }
  Request r(*p, 32, rec.make(2));
  ASSERT_EQ(r.schedule(Clock::now() + 100ms), Errc::pending);
  ASSERT_TRUE(rec.wait_for(1)) << "the earlier deadline was lost";
  EXPECT_EQ(rec.calls[0].first, 2);
  EXPECT_EQ(rec.calls[0].second, Errc::timed_out);
}

TEST_P(Gatherer, AddEntropyServesAQueuedRequestWhileAsleepOnTheSource) {
  PipeSource* pipe;
  auto p = make_asleep(pipe);
  Recorder rec;
  Request r(*p, 32, rec.make(1));
  ASSERT_EQ(r.schedule(), Errc::pending);  // no deadline: only entropy ends it
  std::this_thread::sleep_for(20ms);
  std::array<std::uint8_t, 64> in{};
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::uint8_t>(i * 37 + 1);
  ASSERT_EQ(p->add_entropy(in, 512), Errc::ok);
  ASSERT_TRUE(rec.wait_for(1)) << "credited, but the queued request was not served";
  EXPECT_EQ(rec.calls[0].second, Errc::ok);
}

TEST_P(Gatherer, QueuedWhileTheOnlyFeederIsBackedOffIsServedAfterTheBackOff) {
  PipeSource* pipe;
  FakeSource* fake;
  auto p = make({}, pipe, &fake, FakeSource::Mode::error);
  prime(*p, *pipe);  // the fake errs: backed off 1 s, no fd to poll
  wait_asleep(*p);
  Recorder rec;
  Request r(*p, 32, rec.make(1));
  ASSERT_EQ(r.schedule(), Errc::pending);
  fake->mode = FakeSource::Mode::data;  // nothing tells the gatherer
  ASSERT_TRUE(rec.wait_for(1, 10s)) << "not served after the back-off";
  EXPECT_EQ(rec.calls[0].second, Errc::ok);
}

TEST_P(Gatherer, AStaleDeadlineTimerDoesNotWakeAFullPool) {
  PipeSource* pipe;
  auto p = make_asleep(pipe);
  Recorder rec;
  Request r(*p, 32, rec.make(1));
  const auto t0 = Clock::now();
  ASSERT_EQ(r.schedule(t0 + 250ms), Errc::pending);  // arms the timer
  pipe->feed(1024);  // served, then the pool fills up
  ASSERT_TRUE(rec.wait_for(1));
  EXPECT_EQ(rec.calls[0].second, Errc::ok);
  ASSERT_TRUE(eventually([&] {
    return p->entropy_available_bits() == p->config().pool_size_bits;
  }));
  std::this_thread::sleep_for(20ms);
  const std::uint64_t w0 = p->stats().gatherer_wakeups;
  std::this_thread::sleep_until(t0 + 500ms);  // past the timer's expiry
  EXPECT_EQ(p->stats().gatherer_wakeups, w0) << "a full pool's gatherer woke up";
}

TEST_P(Gatherer, RefillsInTheBackgroundBelowWriteWakeupThreshold) {
  PipeSource* pipe;
  pool::Config cfg;
  cfg.pool_size_bits = 2048;
  cfg.write_wakeup_threshold_bits = 1500;
  auto p = make(cfg, pipe);
  prime(*p, *pipe);
  pipe->feed(256);  // fills the pool (2048 bits)
  // The gatherer reads the pipe in its own time: wait for all of it, or a
  // read below would race it (and find less than a full pool).
  ASSERT_TRUE(eventually([&] { return p->entropy_available_bits() == 2048u; }));
  std::array<std::uint8_t, 32> out{};
  ASSERT_EQ(p->try_read(out, {}, false), Errc::ok);
  ASSERT_EQ(p->entropy_available_bits(), 2048u - 320u);  // above 1500: idle
  ASSERT_EQ(p->try_read(out, {}, false), Errc::ok);    // 1408 < 1500
  EXPECT_LT(p->entropy_available_bits(), 1500u);
  // Nobody asks; the gatherer refills to full from what the pipe delivers.
  pipe->feed(256);
  EXPECT_TRUE(eventually([&] { return p->entropy_available_bits() == 2048u; }));
  EXPECT_EQ(p->stats().gatherer, expected_path());
}

TEST_P(Gatherer, ReadWakeupThresholdHoldsWaitersUntilReached) {
  PipeSource* pipe;
  pool::Config cfg;
  cfg.read_wakeup_threshold_bits = 1024;
  auto p = make(cfg, pipe);
  prime(*p, *pipe);
  Recorder rec;
  Request r(*p, 8, rec.make(1));  // needs only 128 bits
  ASSERT_EQ(r.schedule(), Errc::pending);
  std::array<std::uint8_t, 64> junk{};
  ASSERT_EQ(p->add_entropy(junk, 512), Errc::ok);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(rec.count(), 0u) << "woken below read_wakeup_threshold";
  ASSERT_EQ(p->add_entropy(junk, 512), Errc::ok);
  pipe->feed(1);  // wakes the gatherer (add_entropy does not)
  ASSERT_TRUE(rec.wait_for(1));
  EXPECT_EQ(rec.calls[0].second, Errc::ok);
}

TEST_P(Gatherer, StreamingReadGivesWholeBlocksAndAccountsEveryByte) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  // 2048 bits: three whole 64-byte blocks (3 x 576 = 1728), not four.
  pipe->feed(256);
  std::vector<std::uint8_t> out(4096);
  std::size_t got = 0;
  ASSERT_EQ(p->read_some(out, got), Errc::ok);
  EXPECT_EQ(got, 3u * 64u + 0u) << "whole blocks only";
  // A short buffer gets all of it, if covered.
  std::array<std::uint8_t, 10> small{};
  pipe->feed(32);
  ASSERT_EQ(p->read_some(small, got), Errc::ok);
  EXPECT_EQ(got, 10u);
}

TEST_P(Gatherer, StreamingConsumersAndTheGathererTogetherBalance) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  const pool::Stats s0 = p->stats();
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    while (!stop) {
      (void)pipe->try_feed(96);
      std::this_thread::sleep_for(1ms);
    }
  });
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> debited{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < 3; ++c)
    consumers.emplace_back([&] {
      std::vector<std::uint8_t> buf(200);
      std::uint64_t mine = 0;
      while (mine < 20000) {
        std::size_t got = 0;
        const Errc rc = p->read_some(buf, got);
        if (rc == Errc::entropy_short) {
          EXPECT_EQ(got, 0u);
          EXPECT_NE(p->wait_for_entropy(576, 2000ms), Errc::no_usable_source);
          continue;
        }
        ASSERT_EQ(rc, Errc::ok);
        ASSERT_GT(got, 0u);
        ASSERT_TRUE(got == 200 || got % 64 == 0) << got;
        mine += got;
        debited += got * 8 + (got + 63) / 64 * 64;
      }
      received += mine;
    });
  for (auto& t : consumers) t.join();
  stop = true;
  producer.join();
  const pool::Stats s = p->stats();
  EXPECT_EQ(s.bytes_served - s0.bytes_served, received.load());
  EXPECT_EQ(s.bits_debited - s0.bits_debited, debited.load())
      << "every block debits 8 bits per byte plus 64";
}

// A request queued just after the source said "would block" (here the
// caller's own inline try read the empty pipe) is served as soon as the
// pipe is fed: the gatherer polls the fd at once, it does not wait out the
// retry interval first (that cost every paused job its 20 ms on a FIFO).
TEST_P(Gatherer, WouldBlockThenFedIsReadAtOnceNotAfterTheRetryInterval) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  pipe->retry = 10s;
  Recorder rec;
  std::array<std::uint8_t, 32> out{};
  Request r(*p, 32, rec.make(1));
  ASSERT_EQ(r.request(out), Errc::pending);  // tried inline: would block
  std::this_thread::sleep_for(20ms);
  const auto fed = Clock::now();
  pipe->feed(100);
  ASSERT_TRUE(rec.wait_for(1, 8s));
  EXPECT_EQ(rec.calls[0].second, Errc::ok);
  // Far below the 10 s retry interval on any machine, loaded or not.
  EXPECT_LT(Clock::now() - fed, 3s);
}

// The other side of it: an fd that polls readable while read() still says
// would block (some drivers) is read again only after the retry interval,
// never in a loop.
TEST_P(Gatherer, AShortReadThatServesAWaiterIsTheOnlyReadOfThePipe) {
  // The gatherer wakes on the pipe, reads less than it asked (it asks up
  // to 64 bytes), serves the waiter and goes back to waiting on the pipe's
  // fd: no second read that finds the pipe empty (EAGAIN).
  PipeSource* pipe;
  auto p = make_asleep(pipe);
  Recorder rec;
  Request r(*p, 32, rec.make(1));
  ASSERT_EQ(r.schedule(), Errc::pending);  // schedule() reads nothing
  const int reads0 = pipe->reads.load();
  pipe->feed(48);  // 384 bits: 32 bytes need 320
  ASSERT_TRUE(rec.wait_for(1));
  EXPECT_EQ(rec.calls[0].second, Errc::ok);
  wait_asleep(*p);
  EXPECT_EQ(pipe->reads.load() - reads0, 1);
  // Still watched: more bytes are read when they come.
  pipe->feed(48);
  EXPECT_TRUE(eventually([&] { return pipe->reads.load() - reads0 == 2; }));
}

TEST_P(Gatherer, ReadableFdThatStillWouldBlockIsRetriedOnlyAfterTheInterval) {
  class Quirk final : public pool::Source {
   public:
    Quirk() {
      int fds[2];
      if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
        rd_ = fds[0];
        wr_ = fds[1];
        (void)!::write(wr_, "x", 1);  // readable for good
      }
    }
    ~Quirk() override {
      ::close(rd_);
      ::close(wr_);
    }
    const char* name() const noexcept override { return "quirk"; }
    pool::SourceRead read(std::span<std::uint8_t>) noexcept override {
      reads.fetch_add(1);
      return {pool::SourceRead::Kind::would_block, 0, EAGAIN};
    }
    int poll_fd() const noexcept override { return rd_; }
    std::chrono::milliseconds retry_interval() const noexcept override { return 100ms; }
    std::atomic<int> reads{0};

   private:
    int rd_ = -1;
    int wr_ = -1;
  };
  std::vector<pool::Pool::CustomSource> srcs;
  auto q = std::make_unique<Quirk>();
  Quirk* quirk = q.get();
  srcs.push_back({std::move(q), 8});
  std::unique_ptr<pool::Pool> p;
  ASSERT_EQ(pool::Pool::create({}, std::move(srcs), p), Errc::ok);
  Recorder rec;
  Request r(*p, 32, rec.make(1));
  ASSERT_EQ(r.schedule(Clock::now() + 1s), Errc::pending);
  ASSERT_TRUE(rec.wait_for(1, 5s));
  EXPECT_EQ(rec.calls[0].second, Errc::timed_out);
  // One read per 100 ms and the first two, give or take a late timer: a
  // loop would be thousands.
  EXPECT_LE(quirk->reads.load(), 25);
  EXPECT_GE(quirk->reads.load(), 2);
}

TEST_P(Gatherer, ForkedChildRestartsTheGathererAndServesItsOwnWaiters) {
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  Recorder rec;
  Request parent_req(*p, 32, rec.make(1));
  ASSERT_EQ(parent_req.schedule(), Errc::pending);  // gatherer running
  ASSERT_EQ(p->stats().gatherer, expected_path());
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: the parent's queued request is idle here; a new one is served
    // by a new gatherer thread.
    int rc = 0;
    if (parent_req.pending()) rc |= 1;
    if (p->stats().requests_queued != 0) rc |= 2;
    std::atomic<bool> got{false};
    Request child_req(*p, 32, [&](Errc e, std::span<const std::uint8_t>) {
      if (e == Errc::ok) got = true;
    });
    if (child_req.schedule() != Errc::pending) rc |= 4;
    // The parent's gatherer polls the same pipe (the fd is shared across
    // fork) and may take some of what we write: keep writing.
    const auto end = Clock::now() + 5s;
    while (!got && Clock::now() < end) {
      (void)pipe->try_feed(64);
      std::this_thread::sleep_for(5ms);
    }
    if (!got) {
      rc |= 8;
      const pool::Stats st = p->stats();
      std::fprintf(stderr,
                   "child: gatherer=%s wakeups=%llu queued=%llu entropy=%llu "
                   "source=%s bytes_read=%llu withheld=%llu credited=%llu reads=%d\n",
                   st.gatherer.c_str(),
                   static_cast<unsigned long long>(st.gatherer_wakeups),
                   static_cast<unsigned long long>(st.requests_queued),
                   static_cast<unsigned long long>(st.entropy_available_bits),
                   pool::source_status_name(st.sources[0].status),
                   static_cast<unsigned long long>(st.sources[0].bytes_read),
                   static_cast<unsigned long long>(st.sources[0].bits_withheld),
                   static_cast<unsigned long long>(st.sources[0].bits_credited),
                   pipe->reads.load());
    }
    if (p->stats().gatherer != std::string(GetParam() ? "poll" : "io_uring")) rc |= 16;
    _exit(rc);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The parent's own request is still served in the parent.
  pipe->feed(64);
  ASSERT_TRUE(rec.wait_for(1));
  EXPECT_EQ(rec.calls[0].second, Errc::ok);
}

TEST_P(Gatherer, CancellationRacesLeaveNothingBehind) {
  // For ThreadSanitizer and ASan: requests scheduled, served, cancelled and
  // destroyed concurrently from several threads while the pool is fed.
  PipeSource* pipe;
  auto p = make({}, pipe);
  prime(*p, *pipe);
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    while (!stop) {
      (void)pipe->try_feed(64);
      std::this_thread::sleep_for(200us);
    }
  });
  std::atomic<int> callbacks{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 150; ++i) {
        auto r = std::make_unique<Request>(
            *p, 1 + rng() % 64, [&](Errc, std::span<const std::uint8_t>) {
              callbacks.fetch_add(1);
            });
        (void)r->schedule(Clock::now() + 1s);
        switch (rng() % 3) {
          case 0: break;  // destroy at once
          case 1: std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500)); break;
          case 2: r->cancel(); (void)r->schedule(); break;
        }
      }
    });
  for (auto& t : threads) t.join();
  stop = true;
  producer.join();
  EXPECT_EQ(p->stats().requests_queued, 0u);
  const int seen = callbacks.load();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(callbacks.load(), seen) << "a callback after its request was gone";
}

}  // namespace
}  // namespace seedpool
