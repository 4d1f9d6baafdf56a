// fork() while the gatherer thread holds the pool's lock (issue 8).
//
// pool/fork.cc's pthread_atfork prepare handler takes every pool's lock, so
// fork() waits until the gatherer lets go, and no child starts with the
// lock held by a thread it does not have (it would deadlock at its first
// draw). A test-only hold point (pool/fault.h, gatherer_hold_lock) keeps
// the gatherer inside its locked section for a while; the main thread forks
// inside that window. The child must draw with a gatherer of its own and
// get bytes the parent never gives; the parent must go on serving.
//
// Everything runs in a scenario process with a watchdog (alarm), and the
// forked child has its own: a deadlock fails the test, it does not hang it.
#include <gtest/gtest.h>
#include <openssl/core_dispatch.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "fake_source.h"
#include "../common/child_process.h"
#include "pool/fault.h"
#include "pool/fork.h"
#include "pool/pool.h"
#include "pool/private_default.h"

namespace seedpool {
namespace {

using namespace std::chrono_literals;
using pool::Errc;
using testing::FakeSource;
using Clock = std::chrono::steady_clock;

using testing::describe_status;
using testing::read_all;
using testing::write_all;

// Runs `body` in a child process with a watchdog of `watchdog_s` seconds.
// The body reports failures by appending to its string.
std::string in_scenario_process(unsigned watchdog_s,
                                const std::function<void(std::string&)>& body) {
  return testing::run_in_child(watchdog_s, [&] {
    std::string why;
    body(why);
    return why;
  });
}

#define SCENARIO_CHECK(cond, why_var, msg)                \
  do {                                                    \
    if (!(cond)) {                                        \
      (why_var) += std::string(msg) + " [" #cond "]\n";  \
      return;                                             \
    }                                                     \
  } while (0)

TEST(ForkWhileTheGathererHoldsTheLock, ChildAndParentBothServeAndDiffer) {
  const std::string failure = in_scenario_process(30, [](std::string& why) {
    // Only the gatherer reads this source (not inline), so a draw on a
    // drained pool needs a gatherer thread: in the child, a new one.
    // Deterministic: parent and child get the same raw input after the
    // fork; only the pool's fork handling tells their outputs apart.
    pool::Config cfg;
    std::vector<pool::Pool::CustomSource> srcs;
    auto src = std::make_unique<FakeSource>(FakeSource::Mode::data);
    src->inline_reads = false;
    srcs.push_back({std::move(src), 8});
    std::unique_ptr<pool::Pool> p;
    SCENARIO_CHECK(pool::Pool::create(cfg, std::move(srcs), p) == Errc::ok, why,
                   "pool");
    SCENARIO_CHECK(p->stats().gatherer == "stopped", why, "no gatherer yet");

    // The gatherer's first round stays 500 ms in its locked section.
    pool::fault::set_hold_duration(500);
    pool::fault::arm(pool::fault::Point::gatherer_hold_lock, 1);
    std::array<std::uint8_t, 32> first{};
    std::atomic<int> first_rc{-1};
    std::thread reader([&] {
      first_rc = static_cast<int>(p->read(first, {}, false, 10s));
    });
    const auto end = Clock::now() + 10s;
    while (!pool::fault::holding() && Clock::now() < end)
      std::this_thread::sleep_for(1ms);
    const bool forked_inside_window = pool::fault::holding();

    int fds[2];
    const bool piped = ::pipe(fds) == 0;
    const pid_t pid = piped ? ::fork() : -1;
    if (pid == 0) {
      ::alarm(10);  // a child that inherited a held lock hangs here
      ::close(fds[0]);
      // The hold ended before fork() went on: the prepare handler waited
      // for the gatherer's lock, and the holder clears the flag before it
      // lets go.
      const std::uint8_t held = pool::fault::holding() ? 1 : 0;
      std::array<std::uint8_t, 32> mine{};
      const Errc rc = p->read(mine, {}, false, 5s);
      const pool::Stats s = p->stats();
      const std::uint8_t ok = rc == Errc::ok ? 1 : 0;
      const std::uint8_t own_gatherer = s.gatherer != "stopped" ? 1 : 0;
      const bool sent = write_all(fds[1], &held, 1) && write_all(fds[1], &ok, 1) &&
                        write_all(fds[1], &own_gatherer, 1) &&
                        write_all(fds[1], mine.data(), mine.size());
      ::_exit(sent ? 0 : 1);
    }
    // The parent: fork() returned after the hold, and the reader it held up
    // is served.
    const bool held_after_fork = pool::fault::holding();
    reader.join();
    SCENARIO_CHECK(piped && pid > 0, why, "pipe/fork failed");
    ::close(fds[1]);
    std::uint8_t child_held = 9, child_ok = 9, child_gatherer = 9;
    std::array<std::uint8_t, 32> theirs{};
    const bool got = read_all(fds[0], &child_held, 1) && read_all(fds[0], &child_ok, 1) &&
                     read_all(fds[0], &child_gatherer, 1) &&
                     read_all(fds[0], theirs.data(), theirs.size());
    ::close(fds[0]);
    int status = 0;
    SCENARIO_CHECK(::waitpid(pid, &status, 0) == pid, why, "waitpid");
    SCENARIO_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, why,
                   "forked child: " + describe_status(status));
    SCENARIO_CHECK(got, why, "the child's report");
    SCENARIO_CHECK(forked_inside_window, why,
                   "the gatherer never reached the hold point");
    SCENARIO_CHECK(child_held == 0, why,
                   "the child was forked while the gatherer held the lock");
    SCENARIO_CHECK(!held_after_fork, why, "fork() returned inside the hold");
    SCENARIO_CHECK(child_ok == 1, why, "the child could not draw");
    SCENARIO_CHECK(child_gatherer == 1, why, "the child has no gatherer of its own");
    SCENARIO_CHECK(first_rc == static_cast<int>(Errc::ok), why,
                   "the parent's held-up reader: " +
                       std::string(pool::describe(static_cast<Errc>(first_rc.load()))));
    std::array<std::uint8_t, 32> second{};
    SCENARIO_CHECK(p->read(second, {}, false, 5s) == Errc::ok, why,
                   "the parent after the fork");
    SCENARIO_CHECK(theirs != first && theirs != second && first != second, why,
                   "the child repeated the parent's bytes");
    pool::fault::disarm_all();
  });
  EXPECT_TRUE(failure.empty()) << failure;
}

// The same for a lock registered to be taken first (pool/shared.cc's,
// held while a pool is created): a child forked while another thread holds
// it gets it free.
TEST(ForkWhileAnotherThreadHoldsAFirstLock, TheChildGetsItFree) {
  const std::string failure = in_scenario_process(30, [](std::string& why) {
    static std::mutex m;  // lives as long as the process, as such locks do
    pool::register_fork_lock_first(&m);
    std::atomic<bool> holding{false};
    std::thread holder([&] {
      std::lock_guard<std::mutex> g(m);
      holding = true;
      std::this_thread::sleep_for(300ms);
      holding = false;  // cleared before it lets go
    });
    const auto end = Clock::now() + 10s;
    while (!holding && Clock::now() < end) std::this_thread::sleep_for(1ms);
    const bool inside_window = holding;
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(10);
      const bool was_held = holding;
      const bool free_now = m.try_lock();
      if (free_now) m.unlock();
      ::_exit(!was_held && free_now ? 0 : 1);
    }
    holder.join();
    SCENARIO_CHECK(pid > 0, why, "fork failed");
    int status = 0;
    SCENARIO_CHECK(::waitpid(pid, &status, 0) == pid, why, "waitpid");
    SCENARIO_CHECK(inside_window, why, "the holder never took the lock");
    SCENARIO_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, why,
                   "the child inherited the lock taken: " + describe_status(status));
  });
  EXPECT_TRUE(failure.empty()) << failure;
}

// The lock behind PrivateDefault::acquire_shared (the one default provider
// the conditioner and the generator share) is held across fork() too: a
// child forked while another thread is inside it gets the provider, instead
// of waiting forever for a lock whose holder it does not have.
TEST(ForkWhileAnotherThreadCreatesThePrivateDefault, TheChildGetsIt) {
  const std::string failure = in_scenario_process(30, [](std::string& why) {
    pool::fault::set_hold_duration(300);
    pool::fault::arm(pool::fault::Point::private_default_hold_lock, 1);
    std::thread holder([] {
      std::shared_ptr<pool::PrivateDefault> pd;
      (void)pool::PrivateDefault::acquire_shared(pd);
    });
    const auto end = Clock::now() + 10s;
    while (!pool::fault::holding() && Clock::now() < end)
      std::this_thread::sleep_for(1ms);
    const bool inside_window = pool::fault::holding();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(10);  // a deadlock ends the child with SIGALRM
      std::shared_ptr<pool::PrivateDefault> pd;
      const bool ok = pool::PrivateDefault::acquire_shared(pd) && pd &&
                      pd->find(OSSL_OP_DIGEST, "SHA2-512") != nullptr;
      ::_exit(ok ? 0 : 1);
    }
    holder.join();
    pool::fault::disarm_all();
    SCENARIO_CHECK(pid > 0, why, "fork failed");
    int status = 0;
    SCENARIO_CHECK(::waitpid(pid, &status, 0) == pid, why, "waitpid");
    SCENARIO_CHECK(inside_window, why, "the holder never took the lock");
    SCENARIO_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, why,
                   "the child could not get the private default provider: " +
                       describe_status(status));
  });
  EXPECT_TRUE(failure.empty()) << failure;
}

}  // namespace
}  // namespace seedpool
