// The gatherer's event loop on both paths, and the fall-back to poll()
// when io_uring is refused (seccomp, as a container runtime would).
#include "pool/fault.h"
#include "pool/reactor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace seedpool {
namespace {

using namespace std::chrono_literals;
using pool::Errc;
using pool::Reactor;
using Clock = std::chrono::steady_clock;

struct Pipe {
  int rd = -1, wr = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      rd = fds[0];
      wr = fds[1];
    }
  }
  ~Pipe() {
    ::close(rd);
    ::close(wr);
  }
  void put() { ASSERT_EQ(::write(wr, "x", 1), 1); }
  void take() {
    char c;
    ASSERT_EQ(::read(rd, &c, 1), 1);
  }
};

class ReactorPaths : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<Reactor> make() {
    std::unique_ptr<Reactor> r;
    std::string why;
    EXPECT_EQ(Reactor::create(GetParam(), r, why), Errc::ok);
    EXPECT_EQ(r->kind(), GetParam() ? Reactor::Kind::poll : Reactor::Kind::io_uring)
        << why;
    return r;
  }
};

INSTANTIATE_TEST_SUITE_P(Paths, ReactorPaths, ::testing::Values(false, true),
                         [](const auto& param_info) {
                           return std::string(param_info.param ? "poll" : "io_uring");
                         });

TEST_P(ReactorPaths, ReportsTheReadableFd) {
  auto r = make();
  Pipe a, b;
  std::vector<int> ready;
  b.put();
  const int fds[] = {a.rd, b.rd};
  ASSERT_EQ(r->wait(fds, 2s, ready), Errc::ok);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0], b.rd);
}

TEST_P(ReactorPaths, TimesOutWithNothingReady) {
  auto r = make();
  Pipe a;
  std::vector<int> ready;
  const int fds[] = {a.rd};
  const auto t0 = Clock::now();
  ASSERT_EQ(r->wait(fds, 50ms, ready), Errc::ok);
  const auto took = Clock::now() - t0;
  EXPECT_TRUE(ready.empty());
  EXPECT_GE(took, 45ms);
  EXPECT_LT(took, 2s);
}

TEST_P(ReactorPaths, WakeFromAnotherThreadEndsAnUnboundedWait) {
  auto r = make();
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    r->wake();
  });
  std::vector<int> ready;
  const auto t0 = Clock::now();
  ASSERT_EQ(r->wait({}, std::nullopt, ready), Errc::ok);
  EXPECT_GE(Clock::now() - t0, 40ms);
  t.join();
  // The wake-up was consumed: the next wait times out.
  const auto t1 = Clock::now();
  ASSERT_EQ(r->wait({}, 30ms, ready), Errc::ok);
  EXPECT_GE(Clock::now() - t1, 25ms);
}

TEST_P(ReactorPaths, AnFdNoLongerWatchedWakesNobody) {
  auto r = make();
  Pipe a;
  std::vector<int> ready;
  const int fds[] = {a.rd};
  ASSERT_EQ(r->wait(fds, 10ms, ready), Errc::ok);  // armed (io_uring)
  ASSERT_TRUE(ready.empty());
  // Stop watching it; data arriving must not end a wait for nothing.
  ASSERT_EQ(r->wait({}, 10ms, ready), Errc::ok);  // withdraws the poll
  a.put();
  int wakeups = 0;
  const auto end = Clock::now() + 100ms;
  while (Clock::now() < end) {
    ASSERT_EQ(r->wait({}, end - Clock::now(), ready), Errc::ok);
    EXPECT_TRUE(ready.empty());
    ++wakeups;
  }
  EXPECT_LE(wakeups, 2) << "woken by an fd that is not watched";
  // Watched again: reported at once.
  ASSERT_EQ(r->wait(fds, 2s, ready), Errc::ok);
  if (ready.empty()) {
    ASSERT_EQ(r->wait(fds, 2s, ready), Errc::ok);
  }
  ASSERT_EQ(ready.size(), 1u);
}

TEST_P(ReactorPaths, ReArmsAfterEachReadiness) {
  auto r = make();
  Pipe a;
  std::vector<int> ready;
  const int fds[] = {a.rd};
  for (int i = 0; i < 5; ++i) {
    a.put();
    ASSERT_EQ(r->wait(fds, 2s, ready), Errc::ok);
    ASSERT_EQ(ready.size(), 1u) << "round " << i;
    a.take();
  }
}

TEST(ReactorFallback, EnvironmentForcesPoll) {
  ::setenv("SEEDPOOL_NO_IO_URING", "1", 1);
  EXPECT_TRUE(Reactor::io_uring_disabled_by_env());
  ::setenv("SEEDPOOL_NO_IO_URING", "0", 1);
  EXPECT_FALSE(Reactor::io_uring_disabled_by_env());
  ::unsetenv("SEEDPOOL_NO_IO_URING");
  EXPECT_FALSE(Reactor::io_uring_disabled_by_env());
  std::unique_ptr<Reactor> r;
  std::string why;
  ASSERT_EQ(Reactor::create(true, r, why), Errc::ok);
  EXPECT_EQ(r->kind(), Reactor::Kind::poll);
  EXPECT_EQ(why, "SEEDPOOL_NO_IO_URING=1");
}

// io_uring_queue_init failing with ENOMEM (RLIMIT_MEMLOCK on kernels before
// 5.12, or memory pressure), by fault injection: the reactor falls back to
// poll(), says why, and the fallback works.
TEST(ReactorFallback, IoUringInitFailingFallsBackToPoll) {
  pool::fault::arm(pool::fault::Point::io_uring_init, 1);
  std::unique_ptr<Reactor> r;
  std::string why;
  ASSERT_EQ(Reactor::create(false, r, why), Errc::ok);
  pool::fault::disarm_all();
  EXPECT_EQ(r->kind(), Reactor::Kind::poll);
  EXPECT_NE(why.find("io_uring_queue_init"), std::string::npos) << why;
  EXPECT_NE(why.find("Cannot allocate memory"), std::string::npos) << why;
  Pipe a;
  a.put();
  std::vector<int> ready;
  const int fds[] = {a.rd};
  ASSERT_EQ(r->wait(fds, std::chrono::seconds(2), ready), Errc::ok);
  EXPECT_EQ(ready.size(), 1u);
}

// io_uring_setup refused with EPERM by a seccomp filter, as Docker's
// default profile does: the reactor falls back to poll() and says why.
TEST(ReactorFallback, SeccompRefusalFallsBackToPoll) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(10);
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(11);
    std::unique_ptr<Reactor> r;
    std::string why;
    if (Reactor::create(false, r, why) != Errc::ok) _exit(12);
    if (r->kind() != Reactor::Kind::poll) _exit(13);
    if (why.find("io_uring_queue_init") == std::string::npos ||
        why.find("not permitted") == std::string::npos)
      _exit(14);
    // And the fallback works.
    Pipe a;
    a.put();
    std::vector<int> ready;
    const int fds[] = {a.rd};
    if (r->wait(fds, std::chrono::seconds(2), ready) != Errc::ok ||
        ready.size() != 1)
      _exit(15);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace seedpool
