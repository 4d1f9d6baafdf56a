// Tearing seedpool down with requests pending (issue 8): the provider
// unloaded, its library context freed, OPENSSL_cleanup run, while a thread
// is blocked in RAND_bytes_ex on a starved pool or an ASYNC job is paused
// on it. Each case runs in a child process of its own with a watchdog
// (alarm), so a hang or a crash fails the test instead of taking it down;
// the pool's only source is a FIFO that is fed only when the test says so.
//
// What OpenSSL gives a provider here (crypto/provider_core.c, see
// provider/provider.cc): its teardown runs only when the provider object's
// last reference goes, and a thread blocked inside us holds one (through
// its DRBG's EVP_RAND). So unloading the provider under a blocked thread
// reaches nothing of ours: the thread goes on waiting, is served when
// entropy comes, and otherwise fails at its block_timeout_ms with our
// reason -- no sooner, since nothing tells us. What can still wait on the
// pool at the last teardown is a paused job's waiter: that request ends
// then, with "request cancelled", and nothing of seedpool runs afterwards.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/async.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../unit/async_test_util.h"
#include "provider_test_util.h"
#include "../common/child_process.h"

namespace seedpool::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A child's verdict: failures appended, no gtest macros in a child.
struct Verdict {
  std::string why;
  void fail(const std::string& s) { why += s + "\n"; }
};

#define CHILD_CHECK(cond, msg)                              \
  do {                                                      \
    if (!(cond)) {                                          \
      v.fail(std::string(msg) + " [" #cond "]");            \
      return;                                               \
    }                                                       \
  } while (0)

enum class Exit { exit, immediate };

// Runs `body` in a forked child with a watchdog. The child ends with
// exit() (atexit handlers, OpenSSL's cleanup, static destructors: what a
// real process runs) or _exit(); the parent gets what it reported, or how
// it died.
std::string in_child(unsigned watchdog_s, Exit how,
                     const std::function<void(Verdict&)>& body) {
  return testing::run_in_child(
      watchdog_s,
      [&] {
        Verdict v;
        body(v);
        return v.why;
      },
      how == Exit::exit);
}

// Threads of this process named seedpool's gatherer (pthread_setname_np).
int gatherer_threads() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string comm;
    if (std::getline(f, comm) && comm == "seedpool-gather") ++n;
  }
  ::closedir(d);
  return n;
}

struct Fifo : testing::FifoSource {
  Fifo() : FifoSource("lifecycle") {}
};

std::string seedpool_lines(const Fifo& fifo, int block_timeout_ms) {
  return "sources = device\ndevice = " + fifo.path() +
         "\ndevice_credit = 8\nblock_timeout_ms = " +
         std::to_string(block_timeout_ms) + "\nasync_timeout_ms = 30000\n";
}

constexpr char kRandomSect[] =
    "random = SEEDPOOL\nproperties = provider=seedpool\n"
    "seed = SEEDPOOL\nseed_properties = provider=seedpool\n";
constexpr char kDrbgSect[] =
    "random = SEEDPOOL-DRBG\nproperties = provider=seedpool\n"
    "seed = SEEDPOOL\nseed_properties = provider=seedpool\n";
constexpr char kSeedSect[] = "seed = SEEDPOOL\nseed_properties = provider=seedpool\n";

std::string write_conf(const std::string& text) {
  const std::string path = ::testing::TempDir() + "seedpool-lifecycle." +
                           std::to_string(::getpid()) + ".cnf";
  std::ofstream f(path);
  f << text;
  return path;
}

// The pool's queue length, read through a SEEDPOOL instance of `lib`.
std::uint64_t requests_queued(OSSL_LIB_CTX* lib) {
  EVP_RAND* r = EVP_RAND_fetch(lib, "SEEDPOOL", "provider=seedpool");
  if (r == nullptr) return ~std::uint64_t{0};
  EVP_RAND_CTX* c = EVP_RAND_CTX_new(r, nullptr);
  EVP_RAND_free(r);
  std::uint64_t v = ~std::uint64_t{0};
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_uint64("requests_queued", &v),
                     OSSL_PARAM_END};
  if (c == nullptr || EVP_RAND_CTX_get_params(c, p) != 1) v = ~std::uint64_t{0};
  EVP_RAND_CTX_free(c);
  return v;
}

bool wait_until(const std::function<bool()>& f, std::chrono::milliseconds bound) {
  const auto end = Clock::now() + bound;
  while (!f()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// No seedpool-gather thread left, allowing the kernel its moment: the
// pool joins the gatherer before teardown returns, and pthread_join returns
// once the kernel has cleared the thread's tid (CLONE_CHILD_CLEARTID, in
// its exit path), but /proc/self/task lists the thread until the kernel
// reaps it, a little later (seen once in CI: a count of 1 right after
// OPENSSL_cleanup). A thread that really outlived its join is still there
// after 2 s.
bool gatherer_gone() {
  return wait_until([] { return gatherer_threads() == 0; }, 2000ms);
}

// A thread in RAND_bytes_ex(lib): its result, its seedpool reason, when.
struct Blocked {
  std::atomic<bool> done{false};
  int rc = -1;
  bool timed_out_reason = false;
  std::thread t;
  void start(OSSL_LIB_CTX* lib, bool park_after = false) {
    t = std::thread([this, lib, park_after] {
      unsigned char b[32];
      rc = RAND_bytes_ex(lib, b, sizeof b, 0);
      timed_out_reason = queue_has("timed out waiting for entropy");
      done = true;
      // A thread that used a library context must not exit after the
      // context is freed: OpenSSL's thread-exit handler would touch it.
      while (park_after) ::pause();
    });
  }
};

// --- (a) a thread blocked in RAND_bytes_ex ---------------------------------

class BlockedThread : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(Random, BlockedThread,
                         ::testing::Values(kRandomSect, kDrbgSect, kSeedSect),
                         [](const auto& param_info) {
                           const std::string s = param_info.param;
                           return std::string(s == kRandomSect  ? "Seedpool"
                                              : s == kDrbgSect ? "SeedpoolDrbg"
                                                               : "SeedSourceOnly");
                         });

// OSSL_PROVIDER_unload returns at once; the blocked thread is not cut off
// (nothing reaches the provider while the thread's DRBG holds it) and is
// served when entropy comes; freeing the library context afterwards, the
// last provider object goes and the gatherer thread with it.
TEST_P(BlockedThread, UnloadReturnsAtOnceAndTheThreadIsServedWhenFed) {
  const char* sect = GetParam();
  const std::string failure = in_child(40, Exit::exit, [sect](Verdict& v) {
    Fifo fifo;
    CHILD_CHECK(fifo.ok(), "fifo");
    const std::string conf = write_conf(provider_conf(seedpool_lines(fifo, 30000), sect));
    OSSL_LIB_CTX* lib = OSSL_LIB_CTX_new();
    CHILD_CHECK(lib != nullptr && OSSL_LIB_CTX_load_config(lib, conf.c_str()) == 1,
                "config");
    std::remove(conf.c_str());
    OSSL_PROVIDER* prov = OSSL_PROVIDER_load(lib, "seedpool");
    CHILD_CHECK(prov != nullptr, "OSSL_PROVIDER_load");
    Blocked th;
    th.start(lib);
    if (!wait_until([&] { return requests_queued(lib) >= 1; }, 10s)) {
      th.t.detach();
      return v.fail("the thread never waited on the pool");
    }
    const auto t0 = Clock::now();
    const int unloaded = OSSL_PROVIDER_unload(prov);
    const auto took = Clock::now() - t0;
    std::this_thread::sleep_for(200ms);
    const bool still_waiting = !th.done && requests_queued(lib) >= 1;
    // Enough for the start-up health test and every draw of the call.
    const bool fed = fifo.feed(8192);
    const bool returned = wait_until([&] { return th.done.load(); }, 15s);
    if (!returned) th.t.detach(); else th.t.join();
    CHILD_CHECK(unloaded == 1, "OSSL_PROVIDER_unload");
    CHILD_CHECK(took < 5s, "OSSL_PROVIDER_unload waited for the blocked thread");
    CHILD_CHECK(still_waiting, "the thread was cut off by the unload");
    CHILD_CHECK(fed, "feeding the FIFO");
    CHILD_CHECK(returned, "the thread did not return once fed");
    CHILD_CHECK(th.rc == 1, "the thread's RAND_bytes_ex failed after the unload");
    CHILD_CHECK(gatherer_threads() == 1, "the gatherer runs while the context lives");
    OSSL_LIB_CTX_free(lib);
    CHILD_CHECK(gatherer_gone(),
                "the gatherer thread outlived the last provider object");
  });
  EXPECT_EQ(failure, "");
}

// Not fed: after the unload the thread fails at its own bound, with
// seedpool's reason. (A bound of 1.5 s here: nothing can make it sooner.)
TEST(BlockedThread, UnloadedUnderAStarvedThreadItFailsAtItsBoundWithTheReason) {
  const std::string failure = in_child(40, Exit::exit, [](Verdict& v) {
    Fifo fifo;
    CHILD_CHECK(fifo.ok(), "fifo");
    const std::string conf =
        write_conf(provider_conf(seedpool_lines(fifo, 1500), kRandomSect));
    OSSL_LIB_CTX* lib = OSSL_LIB_CTX_new();
    CHILD_CHECK(lib != nullptr && OSSL_LIB_CTX_load_config(lib, conf.c_str()) == 1,
                "config");
    std::remove(conf.c_str());
    OSSL_PROVIDER* prov = OSSL_PROVIDER_load(lib, "seedpool");
    CHILD_CHECK(prov != nullptr, "OSSL_PROVIDER_load");
    const auto t0 = Clock::now();
    Blocked th;
    th.start(lib);
    if (!wait_until([&] { return requests_queued(lib) >= 1; }, 10s)) {
      th.t.detach();
      return v.fail("the thread never waited on the pool");
    }
    CHILD_CHECK(OSSL_PROVIDER_unload(prov) == 1, "OSSL_PROVIDER_unload");
    const bool returned = wait_until([&] { return th.done.load(); }, 20s);
    if (!returned) th.t.detach(); else th.t.join();
    CHILD_CHECK(returned, "the blocked thread never returned");
    CHILD_CHECK(Clock::now() - t0 < 15s, "far past its 1.5 s bound");
    CHILD_CHECK(th.rc == 0, "starved, yet RAND_bytes_ex succeeded");
    CHILD_CHECK(th.timed_out_reason, "no 'timed out waiting for entropy' from seedpool");
    OSSL_LIB_CTX_free(lib);
    CHILD_CHECK(gatherer_gone(), "the gatherer outlived the provider");
  });
  EXPECT_EQ(failure, "");
}

// OSSL_LIB_CTX_free while another thread is inside RAND_bytes_ex on that
// context is outside OpenSSL's contract: with no provider at all, OpenSSL
// 3.0.19 crashes when such a thread later exits (its thread-stop handler
// reads the freed context). What seedpool guarantees: the free returns at
// once, nothing of ours is torn down under the thread (its DRBG still
// holds the provider), and the thread is served when entropy comes. The
// thread then stays parked and the child leaves with _exit.
TEST(BlockedThread, LibCtxFreedUnderItReturnsAtOnceAndTheThreadIsStillServed) {
  const std::string failure = in_child(40, Exit::immediate, [](Verdict& v) {
    Fifo fifo;
    CHILD_CHECK(fifo.ok(), "fifo");
    const std::string conf =
        write_conf(provider_conf(seedpool_lines(fifo, 30000), kRandomSect));
    OSSL_LIB_CTX* lib = OSSL_LIB_CTX_new();
    CHILD_CHECK(lib != nullptr && OSSL_LIB_CTX_load_config(lib, conf.c_str()) == 1,
                "config");
    std::remove(conf.c_str());
    Blocked th;
    th.start(lib, /*park_after=*/true);
    const bool waiting = wait_until([&] { return requests_queued(lib) >= 1; }, 10s);
    th.t.detach();  // parked for good: see above
    CHILD_CHECK(waiting, "the thread never waited on the pool");
    const auto t0 = Clock::now();
    OSSL_LIB_CTX_free(lib);
    CHILD_CHECK(Clock::now() - t0 < 5s, "OSSL_LIB_CTX_free waited for the thread");
    CHILD_CHECK(!th.done, "the thread was cut off");
    CHILD_CHECK(gatherer_threads() == 1, "the pool was torn down under the thread");
    CHILD_CHECK(fifo.feed(8192), "feeding the FIFO");
    CHILD_CHECK(wait_until([&] { return th.done.load(); }, 15s),
                "the thread did not return once fed");
    CHILD_CHECK(th.rc == 1, "the thread's RAND_bytes_ex failed");
  });
  EXPECT_EQ(failure, "");
}

// --- (b), (c) an ASYNC job paused on the starved pool -----------------------

struct JobState {
  OSSL_LIB_CTX* lib = nullptr;
  ASYNC_WAIT_CTX* wctx = nullptr;
  std::atomic<int> callbacks{0};
  std::atomic<int> status_at_callback{-1};
  int report_fd = -1;  // when set, each callback writes its status there
};

int count_callback(void* arg) {
  auto* s = static_cast<JobState*>(arg);
  s->status_at_callback = ASYNC_WAIT_CTX_get_status(s->wctx);
  s->callbacks.fetch_add(1);
  if (s->report_fd >= 0) {
    const char c = s->status_at_callback == ASYNC_STATUS_ERR ? 'E' : '?';
    (void)!::write(s->report_fd, &c, 1);
  }
  return 1;
}

int rand_job(void* arg) {
  JobState* s = *static_cast<JobState**>(arg);
  unsigned char b[32];
  return RAND_bytes_ex(s->lib, b, sizeof b, 0);
}

// Starts a RAND_bytes_ex job on `s`; the wait fd when it paused, else -1.
int start_paused_job(JobState& s, ASYNC_JOB*& job) {
  s.wctx = ASYNC_WAIT_CTX_new();
  if (s.wctx == nullptr ||
      ASYNC_WAIT_CTX_set_callback(s.wctx, count_callback, &s) != 1)
    return -1;
  int ret = 0;
  JobState* p = &s;
  if (ASYNC_start_job(&job, s.wctx, &ret, rand_job, &p, sizeof p) != ASYNC_PAUSE)
    return -1;
  const auto fds = wait_fds(s.wctx);
  return fds.size() == 1 ? fds[0] : -1;
}

bool fd_closed(int fd) { return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF; }

// (b) The job stays paused (nobody resumes it) while the provider is
// unloaded and its library context freed; then its wait ctx is freed. The
// last provider object's teardown ends the request: the callback comes
// once, then, with status ERR, the fd becomes readable, the gatherer
// thread is gone; freeing the wait ctx closes the fd, and nothing calls
// back afterwards. (Named WhilePaused: the paused job itself is never
// finished, and OpenSSL never frees it: quickstart.sh runs these without
// the leak check under ASan.)
TEST(Lifecycle, UnloadAndFreeWhilePausedInAJobEndsTheRequestAndNothingFollows) {
  const std::string failure = in_child(30, Exit::exit, [](Verdict& v) {
    Fifo fifo;
    CHILD_CHECK(fifo.ok(), "fifo");
    const std::string conf =
        write_conf(provider_conf(seedpool_lines(fifo, 30000), kRandomSect));
    JobState s;
    s.lib = OSSL_LIB_CTX_new();
    CHILD_CHECK(s.lib != nullptr && OSSL_LIB_CTX_load_config(s.lib, conf.c_str()) == 1,
                "config");
    std::remove(conf.c_str());
    OSSL_PROVIDER* prov = OSSL_PROVIDER_load(s.lib, "seedpool");
    CHILD_CHECK(prov != nullptr, "OSSL_PROVIDER_load");
    ASYNC_JOB* job = nullptr;
    const int fd = start_paused_job(s, job);
    CHILD_CHECK(fd >= 0, "the job did not pause on seedpool's wait fd");
    CHILD_CHECK(ASYNC_WAIT_CTX_get_status(s.wctx) == ASYNC_STATUS_OK, "status queued");
    CHILD_CHECK(!readable(fd, 100ms), "the fd is readable before anything happened");

    CHILD_CHECK(OSSL_PROVIDER_unload(prov) == 1, "OSSL_PROVIDER_unload");
    // The config's activation and this thread's DRBG keep the provider:
    // not torn down, the request still pending.
    CHILD_CHECK(s.callbacks == 0 && !readable(fd, 100ms),
                "the unload alone ended the request");
    CHILD_CHECK(gatherer_threads() == 1, "no gatherer while a request waits");

    const auto t0 = Clock::now();
    OSSL_LIB_CTX_free(s.lib);
    CHILD_CHECK(Clock::now() - t0 < 5s, "OSSL_LIB_CTX_free took its time");
    CHILD_CHECK(s.callbacks == 1, "the teardown did not end the paused request");
    CHILD_CHECK(s.status_at_callback == ASYNC_STATUS_ERR, "status not ERR");
    CHILD_CHECK(readable(fd, 0ms), "the wait fd did not become readable");
    CHILD_CHECK(gatherer_gone(), "the gatherer outlived the last provider");

    ASYNC_WAIT_CTX_free(s.wctx);
    CHILD_CHECK(fd_closed(fd), "the wait fd is still open after ASYNC_WAIT_CTX_free");
    CHILD_CHECK(fifo.feed(4096), "feeding the FIFO");
    std::this_thread::sleep_for(200ms);
    CHILD_CHECK(s.callbacks == 1, "a callback after the wait ctx was freed");
  });
  EXPECT_EQ(failure, "");
}

// (c) The process's default library context configured with seedpool
// through OPENSSL_CONF, a job paused on the starved pool, and
// OPENSSL_cleanup() from main: it returns, the request ended with the
// callback (during the cleanup, status ERR), no seedpool thread is left,
// nothing calls back after it even when entropy arrives, and the process
// exits cleanly through exit() (atexit handlers, static destructors). The
// wait ctx is never freed: after OPENSSL_cleanup nothing of OpenSSL may be
// called.
TEST(Lifecycle, OpenSslCleanupWhilePausedInAJobExitsCleanly) {
  const std::string failure = in_child(30, Exit::exit, [](Verdict& v) {
    Fifo fifo;
    CHILD_CHECK(fifo.ok(), "fifo");
    const std::string conf =
        write_conf(provider_conf(seedpool_lines(fifo, 30000), kRandomSect));
    CHILD_CHECK(::setenv("OPENSSL_CONF", conf.c_str(), 1) == 0, "setenv");
    JobState s;
    s.lib = nullptr;  // the default library context, configured from the file
    ASYNC_JOB* job = nullptr;
    const int fd = start_paused_job(s, job);
    std::remove(conf.c_str());
    CHILD_CHECK(fd >= 0, "the job did not pause: is seedpool configured?");
    CHILD_CHECK(gatherer_threads() == 1, "no gatherer while a request waits");

    const auto t0 = Clock::now();
    OPENSSL_cleanup();
    CHILD_CHECK(Clock::now() - t0 < 5s, "OPENSSL_cleanup took its time");
    CHILD_CHECK(s.callbacks == 1, "the cleanup did not end the paused request");
    CHILD_CHECK(s.status_at_callback == ASYNC_STATUS_ERR, "status not ERR");
    CHILD_CHECK(readable(fd, 0ms), "the wait fd did not become readable");
    CHILD_CHECK(gatherer_gone(), "a seedpool thread outlived OPENSSL_cleanup");
    CHILD_CHECK(fifo.feed(4096), "feeding the FIFO");
    std::this_thread::sleep_for(200ms);
    CHILD_CHECK(s.callbacks == 1, "a callback after OPENSSL_cleanup");
  });
  EXPECT_EQ(failure, "");
}

// The ordinary end of a process that used seedpool through OPENSSL_CONF:
// exit() with nothing pending. OpenSSL's atexit handler runs the provider's
// teardown after this module's static destructors ran (see above): the
// teardown must not touch any of them (it once released the pool through a
// destroyed static weak_ptr and crashed `openssl list` at exit).
TEST(Lifecycle, ExitAfterUseRunsTheTeardownFromAtexitCleanly) {
  const std::string failure = in_child(30, Exit::exit, [](Verdict& v) {
    Fifo fifo;
    CHILD_CHECK(fifo.ok(), "fifo");
    const std::string conf =
        write_conf(provider_conf(seedpool_lines(fifo, 5000), kRandomSect));
    CHILD_CHECK(::setenv("OPENSSL_CONF", conf.c_str(), 1) == 0, "setenv");
    CHILD_CHECK(fifo.feed(4096), "feeding the FIFO");
    unsigned char b[32];
    const int rc = RAND_bytes(b, sizeof b);
    std::remove(conf.c_str());
    CHILD_CHECK(rc == 1, "RAND_bytes through seedpool");
    CHILD_CHECK(gatherer_threads() <= 1, "more than one gatherer");
  });
  EXPECT_EQ(failure, "");
}

// (c') The same without calling OPENSSL_cleanup: the process just exits,
// and OpenSSL's own atexit handler runs the cleanup -- after this module's
// static destructors, which atexit runs first (seedpool.so was loaded
// after libcrypto registered its handler). The teardown must not use any
// of them; the pending request ends (the callback reports it through a
// pipe) and the process exits with its own status.
TEST(Lifecycle, ExitWhilePausedInAJobRunsTheTeardownFromAtexitCleanly) {
  int cb[2];
  ASSERT_EQ(::pipe(cb), 0);
  const std::string failure = in_child(30, Exit::exit, [&cb](Verdict& v) {
    ::close(cb[0]);
    Fifo fifo;
    CHILD_CHECK(fifo.ok(), "fifo");
    const std::string conf =
        write_conf(provider_conf(seedpool_lines(fifo, 30000), kRandomSect));
    CHILD_CHECK(::setenv("OPENSSL_CONF", conf.c_str(), 1) == 0, "setenv");
    // Static: the callback comes at exit, after this function returned.
    static JobState s;
    s.report_fd = cb[1];
    ASYNC_JOB* job = nullptr;
    const int fd = start_paused_job(s, job);
    std::remove(conf.c_str());
    CHILD_CHECK(fd >= 0, "the job did not pause: is seedpool configured?");
    CHILD_CHECK(s.callbacks == 0, "a callback before exit");
  });
  ::close(cb[1]);
  std::string calls;
  char c;
  ssize_t n;
  while ((n = ::read(cb[0], &c, 1)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) calls += c;
  ::close(cb[0]);
  EXPECT_EQ(failure, "");
  EXPECT_EQ(calls, "E") << "the pending request did not end, once, with ERR, at exit";
}

}  // namespace
}  // namespace seedpool::testing
