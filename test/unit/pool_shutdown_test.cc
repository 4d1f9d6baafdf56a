// Pool::shutdown (issue 8): what the last provider object's teardown and
// the destructor do to requests still pending. Every queued request ends
// with Errc::cancelled (its callback runs), blocked read() and
// wait_for_entropy() callers return cancelled at once instead of at their
// bound, the gatherer thread is joined, and from then on nothing waits:
// what would have to wait fails with cancelled, and no gatherer thread is
// started again. Also from inside a request's callback (on the gatherer's
// own thread), which must neither deadlock nor leave the thread unjoined.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
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

struct Calls {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<int, Errc>> v;
  void add(int tag, Errc rc) {
    std::lock_guard<std::mutex> g(mu);
    v.emplace_back(tag, rc);
    cv.notify_all();
  }
  Request::Callback make(int tag) {
    return [this, tag](Errc rc, std::span<const std::uint8_t>) { add(tag, rc); };
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds bound = 5s) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, bound, [&] { return v.size() >= n; });
  }
  std::vector<std::pair<int, Errc>> get() {
    std::lock_guard<std::mutex> g(mu);
    return v;
  }
};

std::unique_ptr<pool::Pool> starved_pool(FakeSource*& src) {
  std::vector<pool::Pool::CustomSource> srcs;
  auto f = std::make_unique<FakeSource>(FakeSource::Mode::would_block);
  src = f.get();
  srcs.push_back({std::move(f), 8});
  std::unique_ptr<pool::Pool> p;
  EXPECT_EQ(pool::Pool::create(pool::Config{}, std::move(srcs), p), Errc::ok);
  return p;
}

template <typename F>
bool eventually(F f, std::chrono::milliseconds bound = 5s) {
  const auto end = Clock::now() + bound;
  while (!f()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

TEST(PoolShutdown, EndsEveryWaiterWithCancelledAtOnceAndNothingWaitsAfterwards) {
  FakeSource* src = nullptr;
  auto p = starved_pool(src);
  ASSERT_NE(p, nullptr);
  Calls calls;
  auto queued = std::make_unique<Request>(*p, 32, calls.make(1));
  ASSERT_EQ(queued->schedule(Clock::now() + 30s), Errc::pending);
  std::array<std::uint8_t, 32> out;
  out.fill(0x77);
  std::atomic<int> read_rc{-1}, wait_rc{-1};
  std::thread reader([&] { read_rc = static_cast<int>(p->read(out, {}, false, 30s)); });
  std::thread waiter([&] { wait_rc = static_cast<int>(p->wait_for_entropy(512, 30s)); });
  ASSERT_TRUE(eventually([&] { return p->stats().requests_queued == 2; }));
  std::this_thread::sleep_for(50ms);  // the waiter into its wait, most likely
  ASSERT_NE(p->stats().gatherer, "stopped");

  const auto t0 = Clock::now();
  p->shutdown();
  // The gatherer ended the queue before it was joined: done on return.
  EXPECT_EQ(calls.get(), (std::vector<std::pair<int, Errc>>{{1, Errc::cancelled}}));
  reader.join();
  waiter.join();
  // Not at their 30 s bound (a loose bound: "at once" on a loaded machine).
  EXPECT_LT(Clock::now() - t0, 10s);
  EXPECT_EQ(read_rc, static_cast<int>(Errc::cancelled));
  EXPECT_EQ(wait_rc, static_cast<int>(Errc::cancelled));
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](auto b) { return b == 0; }))
      << "a cancelled read leaves nothing behind";
  pool::Stats s = p->stats();
  EXPECT_EQ(s.requests_queued, 0u);
  EXPECT_EQ(s.gatherer, "stopped");
  EXPECT_TRUE(p->is_shut_down());

  // Nothing waits any more: refused at once, with the reason.
  Request later(*p, 32, calls.make(2));
  EXPECT_EQ(later.schedule(), Errc::cancelled);
  EXPECT_EQ(later.request(out), Errc::cancelled);
  EXPECT_EQ(p->read(out, {}, false, 5s), Errc::cancelled);
  std::size_t got = 7;
  EXPECT_EQ(p->read_some(out, got), Errc::cancelled);
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(p->wait_for_entropy(512, 5s), Errc::cancelled);
  EXPECT_EQ(p->stats().gatherer, "stopped") << "a gatherer started again";
  EXPECT_EQ(calls.get().size(), 1u) << "a refused request was called back";
  // What the sources give now is still served inline, on the caller's thread.
  src->mode = FakeSource::Mode::data;
  EXPECT_EQ(p->try_read(out, {}, false), Errc::ok);
  EXPECT_EQ(p->stats().gatherer, "stopped");
  p->shutdown();  // idempotent
  // The requests go before the pool (declared after it).
}

TEST(PoolShutdown, FromACallbackEndsTheRestAndTheDestructorJoinsTheThread) {
  FakeSource* src = nullptr;
  auto p = starved_pool(src);
  ASSERT_NE(p, nullptr);
  Calls calls;
  pool::Pool* raw = p.get();
  auto first = std::make_unique<Request>(
      *p, 32, [&calls, raw](Errc rc, std::span<const std::uint8_t>) {
        calls.add(1, rc);
        raw->shutdown();  // on the gatherer thread, inside its callback
      });
  auto second = std::make_unique<Request>(*p, 32, calls.make(2));
  ASSERT_EQ(first->schedule(), Errc::pending);
  ASSERT_EQ(second->schedule(), Errc::pending);
  src->mode = FakeSource::Mode::data;  // the gatherer serves the first
  ASSERT_TRUE(calls.wait_for(2)) << "the second request never ended";
  EXPECT_EQ(calls.get(), (std::vector<std::pair<int, Errc>>{{1, Errc::ok},
                                                             {2, Errc::cancelled}}));
  EXPECT_TRUE(p->is_shut_down());
  // Idle once its callback has returned (pending() is true while it runs).
  EXPECT_TRUE(eventually([&] { return !second->pending(); }));
  first.reset();
  second.reset();
  p.reset();  // joins the gatherer thread that shut its pool down
}

}  // namespace
}  // namespace seedpool
