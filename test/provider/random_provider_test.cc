// OpenSSL 3.5's random_provider: `[random] random_provider = seedpool` makes
// RAND_bytes / RAND_priv_bytes call seedpool's OSSL_FUNC_PROVIDER_RANDOM_BYTES
// directly. OpenSSL falls back to its own DRBGs without a word when the
// named provider is not there, so every test here proves that seedpool
// served through the provider's random_provider_calls / _bytes counters.
// OpenSSL 3.0 has no random_provider: the tests skip there.
#include <fcntl.h>
#include <openssl/async.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "provider_test_util.h"

namespace {

using seedpool::testing::ConfiguredLibCtx;
using seedpool::testing::get_u64;
using seedpool::testing::provider_conf;
using seedpool::testing::queue_has;
using seedpool::testing::child_succeeded;
using seedpool::testing::DrawsAcrossFork;
using seedpool::testing::rand_across_fork;
using seedpool::testing::read_all;

// An openssl.cnf that loads seedpool.so from the build folder (activated,
// with `seedpool_lines` in its section) and the default provider, and names
// seedpool as random_provider. [random] comes BEFORE the providers, as in
// conf/seedpool-35.cnf: OpenSSL 3.5.7's [random] loader deactivates and
// unhooks a provider that is already loaded when it names it.
std::string rp_conf(const std::string& seedpool_lines = "") {
  return "openssl_conf = init\n[init]\nrandom = rand_sect\nproviders = provs\n"
         "[provs]\nseedpool = sp\ndefault = dflt\n[dflt]\nactivate = 1\n"
         "[sp]\nactivate = 1\nmodule = " SEEDPOOL_MODULE_DIR "/seedpool.so\n" +
         seedpool_lines + "[rand_sect]\nrandom_provider = seedpool\n";
}

struct Counters {
  std::uint64_t calls = ~std::uint64_t{0};
  std::uint64_t bytes = ~std::uint64_t{0};
  std::uint64_t failed = ~std::uint64_t{0};
};

// The seedpool provider's own params (OSSL_PROVIDER_get_params) in libctx.
Counters provider_counters(OSSL_LIB_CTX* libctx) {
  struct Found {
    OSSL_PROVIDER* prov = nullptr;
  } found;
  OSSL_PROVIDER_do_all(
      libctx,
      [](OSSL_PROVIDER* p, void* arg) {
        if (std::strcmp(OSSL_PROVIDER_get0_name(p), "seedpool") == 0)
          static_cast<Found*>(arg)->prov = p;
        return 1;
      },
      &found);
  Counters c;
  EXPECT_NE(found.prov, nullptr) << "seedpool is not loaded in this library context";
  if (found.prov == nullptr) return c;
  OSSL_PARAM p[4] = {
      OSSL_PARAM_construct_uint64("random_provider_calls", &c.calls),
      OSSL_PARAM_construct_uint64("random_provider_bytes", &c.bytes),
      OSSL_PARAM_construct_uint64("random_provider_failed", &c.failed),
      OSSL_PARAM_END};
  EXPECT_EQ(OSSL_PROVIDER_get_params(found.prov, p), 1);
  return c;
}

// bytes_served of the pool (any SEEDPOOL instance reports it).
std::uint64_t pool_bytes_served(OSSL_LIB_CTX* libctx) {
  EVP_RAND* r = EVP_RAND_fetch(libctx, "SEEDPOOL", "provider=seedpool");
  EXPECT_NE(r, nullptr);
  if (r == nullptr) return ~std::uint64_t{0};
  EVP_RAND_CTX* c = EVP_RAND_CTX_new(r, nullptr);
  EVP_RAND_free(r);
  EXPECT_NE(c, nullptr);
  if (c == nullptr) return ~std::uint64_t{0};
  const std::uint64_t v = get_u64(c, "bytes_served");
  EVP_RAND_CTX_free(c);
  return v;
}

bool all_zero(const unsigned char* p, std::size_t n) {
  return std::all_of(p, p + n, [](unsigned char b) { return b == 0; });
}


class RandomProvider : public ::testing::Test {
 protected:
  void SetUp() override {
    if (OpenSSL_version_num() < 0x30500000L)
      GTEST_SKIP() << "OpenSSL " << OpenSSL_version(OPENSSL_VERSION_STRING)
                   << " has no random_provider (it came with 3.5): the "
                      "[random] random_provider key is not used there";
  }
};

// The control: seedpool loaded and active but not named by random_provider.
// OpenSSL's own DRBGs serve RAND_bytes and the counters do not move, so a
// test that sees them move knows seedpool served.
TEST_F(RandomProvider, CountersStayStillWhenNotNamed) {
  ConfiguredLibCtx conf("rp_not_named", provider_conf(""));
  ASSERT_TRUE(conf.loaded());
  const Counters before = provider_counters(conf.get());
  unsigned char buf[32];
  ASSERT_EQ(RAND_bytes_ex(conf.get(), buf, sizeof(buf), 0), 1);
  ASSERT_EQ(RAND_priv_bytes_ex(conf.get(), buf, sizeof(buf), 0), 1);
  const Counters after = provider_counters(conf.get());
  EXPECT_EQ(after.calls, before.calls);
  EXPECT_EQ(after.bytes, before.bytes);
}

// RAND_bytes and RAND_priv_bytes are served by seedpool: the counters move
// by the calls and bytes made, and each of the thread's two generators
// (public, private) took its own seed from the pool at its first use.
TEST_F(RandomProvider, ServesRandBytesAndRandPrivBytes) {
  ConfiguredLibCtx conf("rp_serves", rp_conf());
  ASSERT_TRUE(conf.loaded());
  OSSL_LIB_CTX* libctx = conf.get();
  // On a new thread: its state (and so its generators) is new for sure.
  std::uint64_t served[3] = {};
  Counters before, after;
  unsigned char pub[48] = {}, priv[48] = {};
  bool ok_pub = false, ok_priv = false;
  std::thread t([&] {
    before = provider_counters(libctx);
    served[0] = pool_bytes_served(libctx);
    ok_pub = RAND_bytes_ex(libctx, pub, sizeof(pub), 0) == 1;
    served[1] = pool_bytes_served(libctx);
    ok_priv = RAND_priv_bytes_ex(libctx, priv, sizeof(priv), 0) == 1;
    served[2] = pool_bytes_served(libctx);
    after = provider_counters(libctx);
  });
  t.join();
  ASSERT_TRUE(ok_pub);
  ASSERT_TRUE(ok_priv);
  EXPECT_EQ(after.calls - before.calls, 2u);
  EXPECT_EQ(after.bytes - before.bytes, sizeof(pub) + sizeof(priv));
  EXPECT_EQ(after.failed, before.failed);
  EXPECT_FALSE(all_zero(pub, sizeof(pub)));
  EXPECT_NE(std::memcmp(pub, priv, sizeof(pub)), 0);
  EXPECT_GE(served[1] - served[0], 32u) << "the public generator did not seed from the pool";
  EXPECT_GE(served[2] - served[1], 32u) << "the private generator did not seed from the pool";
}

// The same numbers through the RAND statistics every seedpool instance
// reports (what seedpool-rand and `openssl list -random-instances` print).
TEST_F(RandomProvider, CountersInRandStatistics) {
  ConfiguredLibCtx conf("rp_stats", rp_conf());
  ASSERT_TRUE(conf.loaded());
  EVP_RAND* r = EVP_RAND_fetch(conf.get(), "SEEDPOOL", "provider=seedpool");
  ASSERT_NE(r, nullptr);
  EVP_RAND_CTX* c = EVP_RAND_CTX_new(r, nullptr);
  EVP_RAND_free(r);
  ASSERT_NE(c, nullptr);
  const std::uint64_t calls0 = get_u64(c, "random_provider_calls");
  const std::uint64_t bytes0 = get_u64(c, "random_provider_bytes");
  unsigned char buf[100];
  ASSERT_EQ(RAND_bytes_ex(conf.get(), buf, sizeof(buf), 0), 1);
  EXPECT_EQ(get_u64(c, "random_provider_calls") - calls0, 1u);
  EXPECT_EQ(get_u64(c, "random_provider_bytes") - bytes0, sizeof(buf));
  EVP_RAND_CTX_free(c);
}

// A strength above 256 bits fails with seedpool's reason, on both paths;
// 256 is served.
TEST_F(RandomProvider, StrengthAbove256FailsWithSeedpoolsReason) {
  ConfiguredLibCtx conf("rp_strength", rp_conf());
  ASSERT_TRUE(conf.loaded());
  OSSL_LIB_CTX* libctx = conf.get();
  const Counters before = provider_counters(libctx);
  unsigned char buf[16];
  ERR_clear_error();
  EXPECT_NE(RAND_bytes_ex(libctx, buf, sizeof(buf), 257), 1);
  EXPECT_TRUE(queue_has("requested strength exceeds 256 bits"));
  EXPECT_NE(RAND_priv_bytes_ex(libctx, buf, sizeof(buf), 512), 1);
  EXPECT_TRUE(queue_has("requested strength exceeds 256 bits"));
  EXPECT_EQ(RAND_bytes_ex(libctx, buf, sizeof(buf), 256), 1);
  const Counters after = provider_counters(libctx);
  EXPECT_EQ(after.calls - before.calls, 3u);
  EXPECT_EQ(after.failed - before.failed, 2u);
  EXPECT_EQ(after.bytes - before.bytes, sizeof(buf));
}

// Zero bytes succeed (with or without a buffer); a NULL buffer for bytes
// fails with seedpool's reason.
TEST_F(RandomProvider, ZeroLengthAndNullBuffer) {
  ConfiguredLibCtx conf("rp_args", rp_conf());
  ASSERT_TRUE(conf.loaded());
  OSSL_LIB_CTX* libctx = conf.get();
  // seedpool serves here (OpenSSL's own DRBG would write to NULL below).
  const Counters before = provider_counters(libctx);
  unsigned char buf[1] = {0x5a};
  ASSERT_EQ(RAND_bytes_ex(libctx, buf, 1, 0), 1);
  ASSERT_EQ(provider_counters(libctx).calls - before.calls, 1u);
  buf[0] = 0x5a;
  EXPECT_EQ(RAND_bytes_ex(libctx, buf, 0, 0), 1);
  EXPECT_EQ(buf[0], 0x5a);
  EXPECT_EQ(RAND_bytes_ex(libctx, nullptr, 0, 0), 1);
  ERR_clear_error();
  EXPECT_NE(RAND_bytes_ex(libctx, nullptr, 16, 0), 1);
  EXPECT_TRUE(queue_has("invalid argument"));
}

// A request far above the generator's largest (64 KiB) is served whole, in
// pieces: every piece differs, and the byte counter takes all of it.
TEST_F(RandomProvider, HugeRequestServedInPieces) {
  ConfiguredLibCtx conf("rp_huge", rp_conf());
  ASSERT_TRUE(conf.loaded());
  OSSL_LIB_CTX* libctx = conf.get();
  constexpr std::size_t kPiece = 65536;
  constexpr std::size_t kN = 16 * kPiece + 7;
  std::vector<unsigned char> buf(kN, 0);
  const Counters before = provider_counters(libctx);
  ASSERT_EQ(RAND_bytes_ex(libctx, buf.data(), kN, 0), 1);
  const Counters after = provider_counters(libctx);
  EXPECT_EQ(after.calls - before.calls, 1u);
  EXPECT_EQ(after.bytes - before.bytes, kN);
  std::set<std::string> heads;
  for (std::size_t off = 0; off < kN; off += kPiece)
    heads.insert(std::string(reinterpret_cast<const char*>(&buf[off]),
                             std::min<std::size_t>(32, kN - off)));
  EXPECT_EQ(heads.size(), (kN + kPiece - 1) / kPiece) << "two pieces start alike";
  EXPECT_FALSE(all_zero(buf.data() + kN - 7, 7)) << "the tail was not served";
}

// fork(): the child's generator was the parent's a moment ago; it must
// reseed before its first byte, so parent and child, each drawing next,
// get different bytes (public and private).
TEST_F(RandomProvider, ForkedChildDiffersFromParent) {
  ConfiguredLibCtx conf("rp_fork", rp_conf());
  ASSERT_TRUE(conf.loaded());
  OSSL_LIB_CTX* libctx = conf.get();
  unsigned char warm[32];
  ASSERT_EQ(RAND_bytes_ex(libctx, warm, sizeof(warm), 0), 1);
  ASSERT_EQ(RAND_priv_bytes_ex(libctx, warm, sizeof(warm), 0), 1);
  const Counters before = provider_counters(libctx);
  const DrawsAcrossFork d = rand_across_fork(libctx);
  ASSERT_TRUE(d.child_ok) << "RAND_bytes failed in the child";
  ASSERT_TRUE(d.parent_ok);
  EXPECT_NE(std::memcmp(d.mine, d.theirs, 32), 0) << "RAND_bytes repeated across fork";
  EXPECT_NE(std::memcmp(d.mine + 32, d.theirs + 32, 32), 0)
      << "RAND_priv_bytes repeated across fork";
  EXPECT_EQ(provider_counters(libctx).calls - before.calls, 2u)
      << "the parent's own calls, served by seedpool";
}

// Threads have their own generators: their streams differ, and the counts
// of threads that have exited stay in the totals.
TEST_F(RandomProvider, ThreadsGetTheirOwnStreams) {
  ConfiguredLibCtx conf("rp_threads", rp_conf());
  ASSERT_TRUE(conf.loaded());
  OSSL_LIB_CTX* libctx = conf.get();
  constexpr int kThreads = 4, kCalls = 50;
  const Counters before = provider_counters(libctx);
  std::vector<std::vector<unsigned char>> streams(kThreads);
  std::vector<int> oks(kThreads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      streams[i].resize(32 * kCalls);
      int ok = 1;
      for (int k = 0; k < kCalls; ++k)
        ok &= RAND_bytes_ex(libctx, streams[i].data() + 32 * k, 32, 0) == 1;
      oks[i] = ok;
    });
  for (std::thread& t : threads) t.join();
  std::set<std::string> chunks;
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(oks[i], 1) << "thread " << i;
    for (int k = 0; k < kCalls; ++k)
      chunks.insert(std::string(
          reinterpret_cast<const char*>(streams[i].data() + 32 * k), 32));
  }
  EXPECT_EQ(chunks.size(), static_cast<std::size_t>(kThreads * kCalls))
      << "two 32-byte outputs were equal";
  const Counters after = provider_counters(libctx);
  EXPECT_EQ(after.calls - before.calls, static_cast<std::uint64_t>(kThreads * kCalls));
  EXPECT_EQ(after.bytes - before.bytes, static_cast<std::uint64_t>(32 * kThreads * kCalls));
}

// A provider that could not start (a bad value) fails every RAND_bytes with
// the reason naming the key, instead of letting OpenSSL serve from its own
// DRBGs: random_provider is only ever seedpool's.
TEST_F(RandomProvider, BadConfigurationFailsClosed) {
  ConfiguredLibCtx conf("rp_bad", rp_conf("pool_size = lots\n"));
  ASSERT_TRUE(conf.loaded());
  unsigned char buf[16];
  ERR_clear_error();
  EXPECT_NE(RAND_bytes_ex(conf.get(), buf, sizeof(buf), 0), 1);
  std::string detail;
  EXPECT_TRUE(queue_has("bad configuration value", &detail));
  EXPECT_NE(detail.find("pool_size"), std::string::npos) << detail;
}

// Pausing: OpenSSL 3.5 holds no lock around the random provider's call, so a
// thread's generator that must seed from a starved pool pauses the caller's
// ASYNC job. Several jobs of one thread wait inside the same generator at
// once; when the pool is fed, all of them finish, with different bytes.
TEST_F(RandomProvider, JobsPauseOnAStarvedPoolAndAllFinishWhenFed) {
  if (ASYNC_is_capable() != 1) GTEST_SKIP() << "no ASYNC job support here";
  // The pool's only source, held open read-write by the test.
  const std::string fifo = ::testing::TempDir() + "seedpool-rp." +
                           std::to_string(::getpid()) + ".fifo";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int fd = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto feed = [fd](std::size_t n) {
    std::vector<unsigned char> b(n);
    // The default library context: OpenSSL's own generator.
    return RAND_bytes(b.data(), static_cast<int>(n)) == 1 &&
           ::write(fd, b.data(), n) == static_cast<ssize_t>(n);
  };
  {
    ConfiguredLibCtx conf(
        "rp_async", rp_conf("sources = device\ndevice = " + fifo +
                            "\ndevice_credit = 8\npool_size = 1024\n"
                            "write_wakeup_threshold = 512\nblock_timeout_ms = 0\n"
                            "async_timeout_ms = 10000\n"));
    ASSERT_TRUE(conf.loaded());
    OSSL_LIB_CTX* libctx = conf.get();
    EVP_RAND* r = EVP_RAND_fetch(libctx, "SEEDPOOL", "provider=seedpool");
    ASSERT_NE(r, nullptr);
    EVP_RAND_CTX* pool = EVP_RAND_CTX_new(r, nullptr);
    EVP_RAND_free(r);
    ASSERT_NE(pool, nullptr);
    ASSERT_EQ(EVP_RAND_instantiate(pool, 0, 0, nullptr, 0, nullptr), 1);
    // Past the health tests' start-up (1024 bytes), then drained.
    ASSERT_TRUE(feed(2048));
    std::array<unsigned char, 64> b{};
    const auto ready_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (EVP_RAND_generate(pool, b.data(), 32, 0, 0, nullptr, 0) != 1)
      ASSERT_LT(std::chrono::steady_clock::now(), ready_by) << "the pool never took the FIFO";
    for (std::size_t len : {std::size_t{64}, std::size_t{1}})
      for (int i = 0; i < 1000 && EVP_RAND_generate(pool, b.data(), len, 0, 0,
                                                    nullptr, 0) == 1;
           ++i) {
      }
    ERR_clear_error();
    const Counters before = provider_counters(libctx);

    // Outside a job the seed's wait is bounded by block_timeout_ms (0).
    EXPECT_NE(RAND_bytes_ex(libctx, b.data(), 32, 0), 1);
    ERR_clear_error();

    struct Job {
      OSSL_LIB_CTX* libctx = nullptr;
      bool priv = false;
      std::array<unsigned char, 32> out{};
      int rc = -1;
      ASYNC_JOB* job = nullptr;
      ASYNC_WAIT_CTX* wctx = nullptr;
      int ret = 0;
    };
    auto body = [](void* arg) -> int {
      Job* j = *static_cast<Job**>(arg);
      j->rc = j->priv ? RAND_priv_bytes_ex(j->libctx, j->out.data(), j->out.size(), 0)
                      : RAND_bytes_ex(j->libctx, j->out.data(), j->out.size(), 0);
      return j->rc;
    };
    auto step = [&body](Job& j) {
      Job* p = &j;
      return ASYNC_start_job(&j.job, j.wctx, &j.ret, body, &p, sizeof p);
    };
    constexpr int kJobs = 8;
    std::vector<Job> jobs(kJobs);
    for (int i = 0; i < kJobs; ++i) {
      jobs[i].libctx = libctx;
      jobs[i].priv = (i % 2) == 1;
      jobs[i].wctx = ASYNC_WAIT_CTX_new();
      ASSERT_NE(jobs[i].wctx, nullptr);
      // Job i enters this thread's generator while jobs 0..i-1 wait in it.
      ASSERT_EQ(step(jobs[i]), ASYNC_PAUSE) << "job " << i << " did not pause";
    }
    int finished = 0;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (finished < kJobs && std::chrono::steady_clock::now() < end) {
      ASSERT_TRUE(feed(1024));
      for (Job& j : jobs) {
        if (j.job == nullptr) continue;
        OSSL_ASYNC_FD wfd = -1;
        std::size_t n = 1;
        if (ASYNC_WAIT_CTX_get_all_fds(j.wctx, &wfd, &n) != 1 || n != 1) continue;
        pollfd pfd{wfd, POLLIN, 0};
        if (::poll(&pfd, 1, 1) != 1) continue;
        if (step(j) == ASYNC_FINISH) ++finished;
      }
    }
    EXPECT_EQ(finished, kJobs);
    std::set<std::array<unsigned char, 32>> distinct;
    for (Job& j : jobs) {
      EXPECT_EQ(j.rc, 1);
      distinct.insert(j.out);
      ASYNC_WAIT_CTX_free(j.wctx);
    }
    EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kJobs));
    EXPECT_GE(get_u64(pool, "requests_paused"), static_cast<std::uint64_t>(kJobs));
    const Counters after = provider_counters(libctx);
    EXPECT_EQ(after.calls - before.calls, static_cast<std::uint64_t>(kJobs + 1));
    EXPECT_EQ(after.bytes - before.bytes, static_cast<std::uint64_t>(32 * kJobs));
    EVP_RAND_CTX_free(pool);
  }
  ::close(fd);
  ::unlink(fifo.c_str());
}

// The dispatch entry itself, called the way OpenSSL 3.5's
// ossl_provider_random_bytes calls it, on every version: the module offers
// OSSL_FUNC_PROVIDER_RANDOM_BYTES (1032) even when built on 3.0's headers,
// and 3.0's core accepted the table with it.
class RandomBytesDispatch : public seedpool::testing::ProviderFixture {
 protected:
  using Fn = int (*)(void*, int, void*, std::size_t, unsigned int);
  void SetUp() override {
    load_default_ = false;
    ProviderFixture::SetUp();
    if (HasFatalFailure()) return;
    for (const OSSL_DISPATCH* d = OSSL_PROVIDER_get0_dispatch(seedpool_);
         d != nullptr && d->function_id != 0; ++d)
      if (d->function_id == 1032) fn_ = reinterpret_cast<Fn>(d->function);
    ASSERT_NE(fn_, nullptr) << "no OSSL_FUNC_PROVIDER_RANDOM_BYTES in the table";
    provctx_ = OSSL_PROVIDER_get0_provider_ctx(seedpool_);
    ASSERT_NE(provctx_, nullptr);
  }
  Fn fn_ = nullptr;
  void* provctx_ = nullptr;
};

TEST_F(RandomBytesDispatch, ServesPublicAndPrivateAndChecksArguments) {
  const Counters before = provider_counters(libctx_);
  unsigned char a[64] = {}, b[64] = {};
  ASSERT_EQ(fn_(provctx_, 0, a, sizeof(a), 0), 1);
  ASSERT_EQ(fn_(provctx_, 1, b, sizeof(b), 256), 1);
  EXPECT_FALSE(all_zero(a, sizeof(a)));
  EXPECT_NE(std::memcmp(a, b, sizeof(a)), 0);
  EXPECT_EQ(fn_(provctx_, 0, nullptr, 0, 0), 1);
  ERR_clear_error();
  EXPECT_EQ(fn_(provctx_, 0, a, 16, 257), 0);
  EXPECT_TRUE(queue_has("requested strength exceeds 256 bits"));
  EXPECT_EQ(fn_(provctx_, 1, nullptr, 16, 0), 0);
  EXPECT_TRUE(queue_has("invalid argument"));
  EXPECT_EQ(fn_(provctx_, 2, a, 16, 0), 0);
  EXPECT_TRUE(queue_has("invalid argument"));
  const Counters after = provider_counters(libctx_);
  EXPECT_EQ(after.calls - before.calls, 6u);
  EXPECT_EQ(after.bytes - before.bytes, 128u);
  EXPECT_EQ(after.failed - before.failed, 3u);
}

TEST_F(RandomBytesDispatch, HugeRequestAndThreads) {
  constexpr std::size_t kN = (std::size_t{1} << 20) + 3;
  std::vector<unsigned char> big(kN, 0);
  ASSERT_EQ(fn_(provctx_, 0, big.data(), kN, 0), 1);
  EXPECT_FALSE(all_zero(big.data() + kN - 3, 3));
  std::vector<unsigned char> s1(32), s2(32);
  int ok1 = 0, ok2 = 0;
  std::thread t1([&] { ok1 = fn_(provctx_, 0, s1.data(), s1.size(), 0); });
  std::thread t2([&] { ok2 = fn_(provctx_, 0, s2.data(), s2.size(), 0); });
  t1.join();
  t2.join();
  EXPECT_EQ(ok1, 1);
  EXPECT_EQ(ok2, 1);
  EXPECT_NE(s1, s2);
}

}  // namespace
