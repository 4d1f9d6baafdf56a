// async::draw inside real OpenSSL ASYNC jobs, over a pool whose only source
// is a FIFO (the `device` source): a starved pool pauses the job, the wait
// fd stays quiet until the FIFO is fed, then becomes readable (and the
// application's callback runs), and the resumed job gets its bytes. Also
// the deadline, EAGAIN and ERR, fd reuse, the wait ctx freed while paused,
// blocked pauses, and the rules for callers that must not pause.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/async.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <dirent.h>
#include <memory>
#include <random>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "async/draw.h"
#include "async_test_util.h"
#include "fake_source.h"
#include "pool/fault.h"
#include "pool/pool.h"

namespace seedpool {
namespace {

using namespace std::chrono_literals;
using pool::Errc;
using Clock = std::chrono::steady_clock;
using testing::open_fds;
using testing::readable;
using testing::wait_fds;


// What a job does: one draw, its outcome kept for the test.
struct Job {
  std::shared_ptr<pool::Pool> pool;
  std::array<std::uint8_t, 32> out{};
  std::size_t len = 32;
  bool pr = false;
  async::Pausing pausing = async::Pausing::allowed;
  bool block_pauses = false;  // ASYNC_block_pause() first
  Errc rc = Errc::pending;
  ASYNC_JOB* job = nullptr;
  int ret = 0;
};

int run_draw(void* arg) {
  Job* j = *static_cast<Job**>(arg);
  if (j->block_pauses) ASYNC_block_pause();
  async::DrawRequest req;
  req.out = {j->out.data(), j->len};
  req.prediction_resistance = j->pr;
  req.pausing = j->pausing;
  j->rc = async::draw(j->pool, req);
  if (j->block_pauses) ASYNC_unblock_pause();
  return j->rc == Errc::ok ? 1 : 0;
}

// Starts or resumes `j` on `ctx`: ASYNC_PAUSE, ASYNC_FINISH, ...
int step(Job& j, ASYNC_WAIT_CTX* ctx) {
  Job* p = &j;
  return ASYNC_start_job(&j.job, ctx, &j.ret, run_draw, &p, sizeof p);
}

bool all_zero(std::span<const std::uint8_t> b) {
  for (auto x : b)
    if (x != 0) return false;
  return true;
}

// Jobs abandoned while paused (as SSL_free abandons them): kept reachable
// so that LeakSanitizer does not count OpenSSL's job stacks.
std::vector<ASYNC_JOB*>& abandoned_jobs() {
  static std::vector<ASYNC_JOB*> v;
  return v;
}

class AsyncDraw : public ::testing::Test {
 protected:
  void SetUp() override {
    pool::fault::disarm_all();
    char tmpl[] = "/tmp/seedpool-async-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fifo_ = dir_ + "/noise";
    ASSERT_EQ(::mkfifo(fifo_.c_str(), 0600), 0);
  }
  void TearDown() override {
    pool::fault::disarm_all();
    pool_.reset();
    if (writer_ >= 0) ::close(writer_);
    ::unlink(fifo_.c_str());
    ::rmdir(dir_.c_str());
  }

  // A pool over the FIFO only, credited 8 bits/byte, past its start-up
  // health test and drained: the next request must wait.
  void make(std::chrono::milliseconds async_timeout = 10s,
            std::chrono::milliseconds block_timeout = 200ms) {
    pool::Config cfg;
    cfg.sources = {pool::SourceConfig{pool::SourceKind::device, 8}};
    cfg.device_path = fifo_;
    cfg.pool_size_bits = 1024;
    cfg.write_wakeup_threshold_bits = 512;
    cfg.async_timeout = async_timeout;
    cfg.block_timeout = block_timeout;
    std::unique_ptr<pool::Pool> p;
    ASSERT_EQ(pool::Pool::create(cfg, p), Errc::ok);
    pool_ = std::move(p);
    if (writer_ >= 0) ::close(writer_);
    writer_ = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(writer_, 0);
    feed(1024);  // the start-up test's samples
    // Reading (inline) is what takes the samples in.
    ASSERT_TRUE(eventually([&] {
      std::array<std::uint8_t, 64> b{};
      std::size_t got = 0;
      (void)pool_->read_some(b, got);
      return pool_->stats().sources[0].bytes_read >= 1024;
    }));
    starve();
  }
  void feed(std::size_t n) {
    std::vector<std::uint8_t> b(n);
    ASSERT_EQ(RAND_bytes(b.data(), static_cast<int>(n)), 1);
    ASSERT_EQ(::write(writer_, b.data(), n), static_cast<ssize_t>(n));
  }
  // Takes everything the pool holds (and the FIFO has).
  void starve() {
    std::array<std::uint8_t, 64> b{};
    std::size_t got = 0;
    for (int i = 0; i < 1000 && pool_->read_some(b, got) == Errc::ok; ++i) {
    }
    for (int i = 0; i < 100 && pool_->read_some({b.data(), 1}, got) == Errc::ok; ++i) {
    }
    ASSERT_LT(pool_->entropy_available_bits(), 8u * 32 + 64);
  }
  template <typename F>
  static bool eventually(F f, std::chrono::milliseconds bound = 5s) {
    const auto end = Clock::now() + bound;
    while (Clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(1ms);
    }
    return f();
  }
  Job job() {
    Job j;
    j.pool = pool_;
    return j;
  }

  std::string dir_, fifo_;
  int writer_ = -1;
  std::shared_ptr<pool::Pool> pool_;
};

TEST_F(AsyncDraw, StarvedPoolPausesTheJobAndTheFedFifoWakesIt) {
  make();
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  ASSERT_NE(ctx, nullptr);
  Job j = job();
  ASSERT_EQ(step(j, ctx), ASYNC_PAUSE);  // not blocked, not failed
  EXPECT_EQ(ASYNC_WAIT_CTX_get_status(ctx), ASYNC_STATUS_OK);
  const auto fds = wait_fds(ctx);
  ASSERT_EQ(fds.size(), 1u);
  std::size_t added = 0, deleted = 0;
  ASSERT_EQ(ASYNC_WAIT_CTX_get_changed_fds(ctx, nullptr, &added, nullptr, &deleted), 1);
  EXPECT_EQ(added, 1u);
  EXPECT_EQ(deleted, 0u);
  EXPECT_EQ(::fcntl(fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_NE(::fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);
  EXPECT_FALSE(readable(fds[0], 200ms)) << "the fd must stay quiet while starved";
  EXPECT_EQ(pool_->stats().requests_queued, 1u);

  feed(256);
  EXPECT_TRUE(readable(fds[0], 5s));
  EXPECT_EQ(step(j, ctx), ASYNC_FINISH);
  EXPECT_EQ(j.ret, 1);
  EXPECT_EQ(j.rc, Errc::ok);
  EXPECT_FALSE(all_zero(j.out));
  EXPECT_FALSE(readable(fds[0], 0ms)) << "drained on resume";
  const pool::Stats s = pool_->stats();
  EXPECT_EQ(s.requests_paused, 1u);
  EXPECT_EQ(s.requests_resumed, 1u);
  EXPECT_EQ(s.requests_queued, 0u);
  EXPECT_EQ(s.async_callbacks, 0u);
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, CallbackRunsWhenSetAndStatusSaysOk) {
  make();
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  static std::atomic<int> calls{0};
  calls = 0;
  ASSERT_EQ(ASYNC_WAIT_CTX_set_callback(
                ctx, [](void* arg) -> int {
                  static_cast<std::atomic<int>*>(arg)->fetch_add(1);
                  return 1;
                },
                &calls),
            1);
  Job j = job();
  ASSERT_EQ(step(j, ctx), ASYNC_PAUSE);
  EXPECT_EQ(ASYNC_WAIT_CTX_get_status(ctx), ASYNC_STATUS_OK);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls.load(), 0);
  feed(256);
  // Callback mode: no fd polling.
  ASSERT_TRUE(eventually([] { return calls.load() == 1; }));
  EXPECT_EQ(ASYNC_WAIT_CTX_get_status(ctx), ASYNC_STATUS_OK);
  EXPECT_EQ(step(j, ctx), ASYNC_FINISH);
  EXPECT_EQ(j.rc, Errc::ok);
  EXPECT_EQ(pool_->stats().async_callbacks, 1u);
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, ManyJobsPausedAtOnceOnOneThreadAllFinishWithTheirOwnBytes) {
  make();
  constexpr int kJobs = 40;
  std::vector<Job> jobs(kJobs, job());
  std::vector<ASYNC_WAIT_CTX*> ctxs(kJobs);
  for (int i = 0; i < kJobs; ++i) {
    ctxs[i] = ASYNC_WAIT_CTX_new();
    ASSERT_EQ(step(jobs[i], ctxs[i]), ASYNC_PAUSE) << i;
  }
  EXPECT_EQ(pool_->stats().requests_queued, static_cast<std::uint64_t>(kJobs));
  int finished = 0;
  const auto end = Clock::now() + 20s;
  while (finished < kJobs && Clock::now() < end) {
    feed(512);
    for (int i = 0; i < kJobs; ++i) {
      if (jobs[i].job == nullptr) continue;
      if (!readable(wait_fds(ctxs[i])[0], 1ms)) continue;
      const int r = step(jobs[i], ctxs[i]);
      if (r == ASYNC_FINISH) ++finished;
      else EXPECT_EQ(r, ASYNC_PAUSE);
    }
  }
  ASSERT_EQ(finished, kJobs);
  std::set<std::array<std::uint8_t, 32>> distinct;
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(jobs[i].rc, Errc::ok) << i;
    distinct.insert(jobs[i].out);
    ASYNC_WAIT_CTX_free(ctxs[i]);
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kJobs));
}

TEST_F(AsyncDraw, HundredsOfPauseResumeCyclesReuseOneFdPerWaitCtxAndLeakNone) {
  make();
  const int fds_before = open_fds();
  ASYNC_WAIT_CTX* reused = ASYNC_WAIT_CTX_new();
  OSSL_ASYNC_FD reused_fd = -1;
  for (int i = 0; i < 300; ++i) {
    const bool fresh_ctx = i % 2 == 1;
    ASYNC_WAIT_CTX* ctx = fresh_ctx ? ASYNC_WAIT_CTX_new() : reused;
    Job j = job();
    ASSERT_EQ(step(j, ctx), ASYNC_PAUSE) << "cycle " << i;
    const auto fds = wait_fds(ctx);
    ASSERT_EQ(fds.size(), 1u);
    std::size_t added = 0, deleted = 0;
    ASSERT_EQ(ASYNC_WAIT_CTX_get_changed_fds(ctx, nullptr, &added, nullptr, &deleted), 1);
    if (!fresh_ctx) {
      if (reused_fd < 0) {
        reused_fd = fds[0];
        EXPECT_EQ(added, 1u);
      } else {
        EXPECT_EQ(fds[0], reused_fd);
        EXPECT_EQ(added, 0u) << "a reused fd is reported added once";
      }
    }
    feed(128);
    ASSERT_TRUE(readable(fds[0], 5s)) << "cycle " << i;
    ASSERT_EQ(step(j, ctx), ASYNC_FINISH) << "cycle " << i;
    ASSERT_EQ(j.rc, Errc::ok);
    if (fresh_ctx) ASYNC_WAIT_CTX_free(ctx);
    starve();
  }
  ASYNC_WAIT_CTX_free(reused);
  EXPECT_EQ(open_fds(), fds_before);
  const pool::Stats s = pool_->stats();
  EXPECT_GE(s.requests_paused, 300u);
  EXPECT_EQ(s.requests_paused, s.requests_resumed);
}

TEST_F(AsyncDraw, DeadlineEndsAPausedRequestAndMakesTheFdReadable) {
  make(/*async_timeout=*/300ms);
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  Job j = job();
  const auto t0 = Clock::now();
  ASSERT_EQ(step(j, ctx), ASYNC_PAUSE);
  const OSSL_ASYNC_FD fd = wait_fds(ctx).at(0);
  ASSERT_TRUE(readable(fd, 5s));
  const auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 3s);
  EXPECT_EQ(ASYNC_WAIT_CTX_get_status(ctx), ASYNC_STATUS_ERR);
  EXPECT_EQ(step(j, ctx), ASYNC_FINISH);
  EXPECT_EQ(j.ret, 0);
  EXPECT_EQ(j.rc, Errc::timed_out);
  EXPECT_TRUE(all_zero(j.out));
  const pool::Stats s = pool_->stats();
  EXPECT_EQ(s.paused_timed_out, 1u);
  EXPECT_EQ(s.requests_queued, 0u);
  // The wait ctx serves the next job as before.
  Job k = job();
  ASSERT_EQ(step(k, ctx), ASYNC_PAUSE);
  feed(256);
  ASSERT_TRUE(readable(fd, 5s));
  EXPECT_EQ(step(k, ctx), ASYNC_FINISH);
  EXPECT_EQ(k.rc, Errc::ok);
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, AsyncTimeoutZeroNeverPausesAndFailsAtOnce) {
  make(/*async_timeout=*/0ms);
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  Job j = job();
  EXPECT_EQ(step(j, ctx), ASYNC_FINISH);
  EXPECT_EQ(j.rc, Errc::entropy_short);
  EXPECT_TRUE(wait_fds(ctx).empty());
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, EagainWhenThePoolCannotQueueThenOkOnceItCan) {
  pool::fault::arm(pool::fault::Point::gatherer_start, 1'000'000);
  make();
  const pool::Stats before = pool_->stats();
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  Job j = job();
  ASSERT_EQ(step(j, ctx), ASYNC_PAUSE);
  EXPECT_EQ(ASYNC_WAIT_CTX_get_status(ctx), ASYNC_STATUS_EAGAIN);
  const OSSL_ASYNC_FD fd = wait_fds(ctx).at(0);
  EXPECT_TRUE(readable(fd, 0ms)) << "EAGAIN: resume at once";
  ASSERT_EQ(step(j, ctx), ASYNC_PAUSE);  // still cannot queue
  EXPECT_EQ(ASYNC_WAIT_CTX_get_status(ctx), ASYNC_STATUS_EAGAIN);
  pool::fault::disarm_all();
  ASSERT_EQ(step(j, ctx), ASYNC_PAUSE);  // queued now
  EXPECT_EQ(ASYNC_WAIT_CTX_get_status(ctx), ASYNC_STATUS_OK);
  EXPECT_FALSE(readable(fd, 100ms));
  feed(256);
  ASSERT_TRUE(readable(fd, 5s));
  EXPECT_EQ(step(j, ctx), ASYNC_FINISH);
  EXPECT_EQ(j.rc, Errc::ok);
  // One request, served: the tries that could not queue are not failures.
  const pool::Stats s = pool_->stats();
  EXPECT_EQ(s.requests_failed - before.requests_failed, 0u);
  EXPECT_EQ(s.requests_served - before.requests_served, 1u);
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, EagainUntilTheDeadlineIsOneFailedRequest) {
  pool::fault::arm(pool::fault::Point::gatherer_start, 1'000'000);
  make(/*async_timeout=*/200ms);
  const pool::Stats before = pool_->stats();
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  Job j = job();
  int r = step(j, ctx);
  int pauses = 0;
  for (; r == ASYNC_PAUSE && pauses < 100000; ++pauses) {
    EXPECT_EQ(ASYNC_WAIT_CTX_get_status(ctx), ASYNC_STATUS_EAGAIN);
    std::this_thread::sleep_for(5ms);
    r = step(j, ctx);
  }
  pool::fault::disarm_all();
  ASSERT_EQ(r, ASYNC_FINISH);
  EXPECT_GT(pauses, 1);
  EXPECT_EQ(j.rc, Errc::gatherer_failed);
  const pool::Stats s = pool_->stats();
  EXPECT_EQ(s.requests_failed - before.requests_failed, 1u)
      << "each try counted, not the request";
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, ErrWhenTheOnlySourceFailsWhilePaused) {
  // A source with nothing to give, then failing with EIO: nothing can
  // serve, and the paused request ends with the reason.
  auto src = std::make_unique<testing::FakeSource>(testing::FakeSource::Mode::would_block);
  testing::FakeSource* fake = src.get();
  std::vector<pool::Pool::CustomSource> srcs;
  srcs.push_back({std::move(src), 8});
  std::unique_ptr<pool::Pool> p;
  ASSERT_EQ(pool::Pool::create(pool::Config{}, std::move(srcs), p), Errc::ok);
  pool_ = std::move(p);
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  Job j = job();
  ASSERT_EQ(step(j, ctx), ASYNC_PAUSE);
  const OSSL_ASYNC_FD fd = wait_fds(ctx).at(0);
  EXPECT_FALSE(readable(fd, 100ms));
  fake->mode = testing::FakeSource::Mode::error;
  ASSERT_TRUE(readable(fd, 5s));
  EXPECT_EQ(ASYNC_WAIT_CTX_get_status(ctx), ASYNC_STATUS_ERR);
  EXPECT_EQ(step(j, ctx), ASYNC_FINISH);
  EXPECT_EQ(j.rc, Errc::no_usable_source);
  // Never can: the next request fails at once, without pausing.
  Job k = job();
  EXPECT_EQ(step(k, ctx), ASYNC_FINISH);
  EXPECT_EQ(k.rc, Errc::no_usable_source);
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, EventfdFailingInsideAJobIsAnErrorNotAHang) {
  make();
  pool::fault::arm(pool::fault::Point::eventfd, 1);
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  Job j = job();
  EXPECT_EQ(step(j, ctx), ASYNC_FINISH);
  EXPECT_EQ(j.rc, Errc::wait_fd_failed);
  EXPECT_TRUE(wait_fds(ctx).empty());
  ASYNC_WAIT_CTX_free(ctx);

  // The real thing: out of file descriptors (EMFILE). The gatherer runs
  // already (a short wait in line starts it), so only the eventfd is new.
  std::array<std::uint8_t, 32> b{};
  EXPECT_EQ(pool_->read(b, {}, false, 1ms), Errc::timed_out);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  ctx = ASYNC_WAIT_CTX_new();
  Job k = job();
  const int lowest_free = ::dup(0);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const int r = step(k, ctx);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(r, ASYNC_FINISH);
  EXPECT_EQ(k.rc, Errc::wait_fd_failed);
  ASYNC_WAIT_CTX_free(ctx);
  // And the process keeps working.
  ctx = ASYNC_WAIT_CTX_new();
  Job m = job();
  ASSERT_EQ(step(m, ctx), ASYNC_PAUSE);
  feed(256);
  ASSERT_TRUE(readable(wait_fds(ctx).at(0), 5s));
  EXPECT_EQ(step(m, ctx), ASYNC_FINISH);
  EXPECT_EQ(m.rc, Errc::ok);
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, WaitCtxFreedWhilePausedWithdrawsTheRequestAndClosesTheFd) {
  make();
  const int fds_before = open_fds();
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  static std::atomic<int> calls{0};
  calls = 0;
  ASYNC_WAIT_CTX_set_callback(
      ctx, [](void*) -> int { return calls.fetch_add(1), 1; }, nullptr);
  Job j = job();
  ASSERT_EQ(step(j, ctx), ASYNC_PAUSE);
  const OSSL_ASYNC_FD fd = wait_fds(ctx).at(0);
  EXPECT_EQ(pool_->stats().requests_queued, 1u);
  // As SSL_free does for a connection whose handshake is paused: the job
  // is never resumed.
  ASYNC_WAIT_CTX_free(ctx);
  abandoned_jobs().push_back(j.job);
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(pool_->stats().requests_queued, 0u);
  EXPECT_EQ(open_fds(), fds_before);
  feed(256);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls.load(), 0) << "no callback after the wait ctx is freed";
  // The pool serves others.
  std::array<std::uint8_t, 32> b{};
  EXPECT_EQ(pool_->read(b, {}, false, 5s), Errc::ok);
}

TEST_F(AsyncDraw, BlockedPausesWaitInTheThreadBounded) {
  make(/*async_timeout=*/3s);
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  Job j = job();
  j.block_pauses = true;
  std::thread feeder([&] {
    std::this_thread::sleep_for(200ms);
    feed(256);
  });
  const auto t0 = Clock::now();
  EXPECT_EQ(step(j, ctx), ASYNC_FINISH);  // never paused: it could not
  feeder.join();
  EXPECT_EQ(j.rc, Errc::ok);
  EXPECT_LT(Clock::now() - t0, 2500ms);
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, SecondJobOnABusyWaitCtxWaitsInTheThread) {
  make(/*async_timeout=*/10s, /*block_timeout=*/150ms);
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  Job a = job();
  ASSERT_EQ(step(a, ctx), ASYNC_PAUSE);
  Job b = job();
  EXPECT_EQ(step(b, ctx), ASYNC_FINISH);  // bounded wait, not a pause
  EXPECT_EQ(b.rc, Errc::timed_out);
  feed(256);
  ASSERT_TRUE(readable(wait_fds(ctx).at(0), 5s));
  EXPECT_EQ(step(a, ctx), ASYNC_FINISH);
  EXPECT_EQ(a.rc, Errc::ok);
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, ForbiddenPausingInsideAJobWaitsBoundedByBlockTimeout) {
  make(/*async_timeout=*/10s, /*block_timeout=*/150ms);
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  Job j = job();
  j.pausing = async::Pausing::forbidden;
  const auto t0 = Clock::now();
  EXPECT_EQ(step(j, ctx), ASYNC_FINISH);
  EXPECT_GE(Clock::now() - t0, 140ms);
  EXPECT_EQ(j.rc, Errc::timed_out);
  EXPECT_TRUE(wait_fds(ctx).empty()) << "no fd for a caller that cannot pause";
  ASYNC_WAIT_CTX_free(ctx);
}

TEST_F(AsyncDraw, OutsideAJobBlocksUpToBlockTimeoutAndZeroFailsAtOnce) {
  make(/*async_timeout=*/10s, /*block_timeout=*/150ms);
  std::array<std::uint8_t, 32> b{};
  async::DrawRequest req;
  req.out = b;
  req.pausing = async::Pausing::allowed;  // but no job
  auto t0 = Clock::now();
  EXPECT_EQ(async::draw(pool_, req), Errc::timed_out);
  EXPECT_GE(Clock::now() - t0, 140ms);
  pool_.reset();
  make(/*async_timeout=*/10s, /*block_timeout=*/5s);
  std::thread feeder([&] {
    std::this_thread::sleep_for(50ms);
    feed(256);
  });
  t0 = Clock::now();
  EXPECT_EQ(async::draw(pool_, req), Errc::ok);  // woken by the feed
  EXPECT_LT(Clock::now() - t0, 4s);
  feeder.join();
  pool_.reset();
  make(/*async_timeout=*/10s, /*block_timeout=*/0ms);
  t0 = Clock::now();
  EXPECT_EQ(async::draw(pool_, req), Errc::entropy_short);
  EXPECT_LT(Clock::now() - t0, 100ms);
}

TEST_F(AsyncDraw, ServedAtOnceInsideAJobNeedsNoFd) {
  make();
  feed(512);
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  Job j = job();
  EXPECT_EQ(step(j, ctx), ASYNC_FINISH);
  EXPECT_EQ(j.rc, Errc::ok);
  EXPECT_TRUE(wait_fds(ctx).empty());
  EXPECT_EQ(pool_->stats().requests_paused, 0u);
  ASYNC_WAIT_CTX_free(ctx);
}

// Issue 8's stress: 2 threads, each running thousands of jobs (many in
// flight at once, all on that thread) against one pool that a third thread
// starves and feeds at random. Every job ends, with its bytes or a clear
// error, within the deadline plus a margin (the watchdog fails the test
// instead of hanging it), and the pool's counters balance: every draw is
// counted exactly once, served or failed.
TEST_F(AsyncDraw, StressTwoThreadsThousandsOfJobsRandomlyStarvedAndFed) {
  make(/*async_timeout=*/300ms);
  constexpr int kJobsPerThread = 2000;
  constexpr int kInFlight = 24;
  const pool::Stats before = pool_->stats();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, bad{0};
  std::thread feeder([&] {
    std::mt19937 rng(42);
    std::vector<std::uint8_t> b(512);
    while (!stop.load()) {
      // Starved for 0-40 ms (now and then for longer than the deadline),
      // then a burst of 0-512 bytes.
      std::this_thread::sleep_for(std::chrono::milliseconds(
          rng() % 50 == 0 ? 400 : rng() % 40));
      const std::size_t n = rng() % 513;
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
      if (n > 0) (void)::write(writer_, b.data(), n);
    }
  });
  auto worker = [&] {
    std::vector<Job> jobs(kInFlight, job());
    std::vector<ASYNC_WAIT_CTX*> ctxs(kInFlight, nullptr);
    int started = 0, ended = 0;
    for (auto& c : ctxs) c = ASYNC_WAIT_CTX_new();
    auto finish = [&](Job& j) {
      ++ended;
      if (j.rc == Errc::ok) ++ok;
      else if (j.rc == Errc::timed_out) ++failed;
      else ++bad;
    };
    while (ended < kJobsPerThread) {
      for (int i = 0; i < kInFlight; ++i) {
        Job& j = jobs[i];
        if (j.job == nullptr) {
          if (started == kJobsPerThread) continue;
          ++started;
          j.rc = Errc::pending;
          if (step(j, ctxs[i]) == ASYNC_FINISH) finish(j);
        } else if (readable(wait_fds(ctxs[i]).at(0), 0ms)) {
          if (step(j, ctxs[i]) == ASYNC_FINISH) finish(j);
        }
      }
      std::vector<pollfd> p;
      for (int i = 0; i < kInFlight; ++i)
        if (jobs[i].job != nullptr) p.push_back({wait_fds(ctxs[i]).at(0), POLLIN, 0});
      if (!p.empty()) (void)::poll(p.data(), p.size(), 50);
    }
    for (auto* c : ctxs) ASYNC_WAIT_CTX_free(c);
  };
  // The watchdog: each worker must end in time, or the test fails (the
  // process is then killed by ctest's timeout rather than hanging CI).
  std::atomic<int> done_workers{0};
  std::thread t1([&] { worker(); done_workers++; });
  std::thread t2([&] { worker(); done_workers++; });
  const bool in_time = eventually([&] { return done_workers.load() == 2; }, 90s);
  ASSERT_TRUE(in_time) << "jobs did not all end: ok=" << ok << " failed=" << failed;
  t1.join();
  t2.join();
  stop = true;
  feeder.join();
  EXPECT_EQ(ok + failed + bad, 2 * kJobsPerThread);
  EXPECT_EQ(bad.load(), 0) << "only bytes or timed_out";
  EXPECT_GT(ok.load(), 0);
  const pool::Stats after = pool_->stats();
  EXPECT_EQ((after.requests_served - before.requests_served) +
                (after.requests_failed - before.requests_failed),
            static_cast<std::uint64_t>(2 * kJobsPerThread));
  EXPECT_EQ(after.requests_served - before.requests_served,
            static_cast<std::uint64_t>(ok.load()));
  EXPECT_EQ(after.requests_queued, 0u);
  EXPECT_EQ(after.requests_paused, after.requests_resumed);
  std::printf("stress: %d served, %d timed out, %llu pauses\n", ok.load(),
              failed.load(),
              static_cast<unsigned long long>(after.requests_paused));
}

}  // namespace
}  // namespace seedpool
