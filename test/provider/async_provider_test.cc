// Pausing through the real seedpool.so: RAND_bytes inside OpenSSL ASYNC jobs
// and TLS handshakes in SSL_MODE_ASYNC over memory BIOs, with a FIFO as the
// pool's only source. Also the rules: nothing pauses under OpenSSL's primary
// lock (seed = SEEDPOOL), in instantiate, or on an instance with locking.
//
// Its own binary: the pool is process-wide and these tests configure it
// with a FIFO; ctest runs each test in a process of its own.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/async.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <dirent.h>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../unit/async_test_util.h"
#include "provider_test_util.h"

namespace seedpool::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;


struct Fifo : testing::FifoSource {
  Fifo() : FifoSource("async") {}
};

constexpr char kDirectSect[] =
    "random = SEEDPOOL\nproperties = provider=seedpool\n"
    "seed = SEEDPOOL\nseed_properties = provider=seedpool\n";
constexpr char kDrbgSect[] =
    "random = SEEDPOOL-DRBG\nproperties = provider=seedpool\n"
    "seed = SEEDPOOL\nseed_properties = provider=seedpool\n";
constexpr char kSeedSect[] = "seed = SEEDPOOL\nseed_properties = provider=seedpool\n";

class AsyncProvider : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fifo_.ok()); }
  void TearDown() override {
    EVP_RAND_CTX_free(pool_ctx_);
    conf_.reset();
  }

  // A library context under `random_sect`, seedpool reading only the FIFO
  // (block_timeout_ms = 0: a caller that cannot pause fails at once), past
  // the start-up health test.
  void load(const char* random_sect) {
    load_conf(provider_conf(seedpool_lines(), random_sect));
  }
  std::string seedpool_lines() const {
    return "sources = device\ndevice = " + fifo_.path() +
           "\ndevice_credit = 8\npool_size = 1024\n"
           "write_wakeup_threshold = 512\n"
           "block_timeout_ms = 0\nasync_timeout_ms = 10000\n";
  }
  void load_conf(const std::string& text) {
    conf_ = std::make_unique<ConfiguredLibCtx>("async_provider", text);
    ASSERT_TRUE(conf_->loaded());
    EVP_RAND* r = EVP_RAND_fetch(lib(), "SEEDPOOL", "provider=seedpool");
    ASSERT_NE(r, nullptr);
    pool_ctx_ = EVP_RAND_CTX_new(r, nullptr);
    EVP_RAND_free(r);
    ASSERT_NE(pool_ctx_, nullptr);
    ASSERT_EQ(EVP_RAND_instantiate(pool_ctx_, 0, 0, nullptr, 0, nullptr), 1);
    ASSERT_TRUE(fifo_.feed(2048));
    std::array<unsigned char, 32> b{};
    const auto end = Clock::now() + 5s;
    while (EVP_RAND_generate(pool_ctx_, b.data(), b.size(), 0, 0, nullptr, 0) != 1) {
      ASSERT_LT(Clock::now(), end) << "the pool never took the FIFO's bytes";
      std::this_thread::sleep_for(2ms);
    }
    ERR_clear_error();
  }
  OSSL_LIB_CTX* lib() const { return conf_->get(); }
  // Takes everything the pool holds: the next request must wait.
  void starve() {
    std::array<unsigned char, 64> b{};
    for (std::size_t len : {std::size_t{64}, std::size_t{1}})
      for (int i = 0; i < 1000 &&
                      EVP_RAND_generate(pool_ctx_, b.data(), len, 0, 0, nullptr, 0) == 1;
           ++i) {
      }
    ERR_clear_error();
    ASSERT_LT(stat("entropy_available"), 8u * 32 + 64);
  }
  std::uint64_t stat(const char* key) { return get_u64(pool_ctx_, key); }

  Fifo fifo_;
  std::unique_ptr<ConfiguredLibCtx> conf_;
  EVP_RAND_CTX* pool_ctx_ = nullptr;  // a SEEDPOOL instance: stats, starving
};

struct RandJob {
  OSSL_LIB_CTX* lib = nullptr;
  std::array<unsigned char, 32> out{};
  bool priv = false;
  int rc = -1;
  ASYNC_JOB* job = nullptr;
  int ret = 0;
};

int rand_job(void* arg) {
  RandJob* j = *static_cast<RandJob**>(arg);
  j->rc = j->priv ? RAND_priv_bytes_ex(j->lib, j->out.data(), j->out.size(), 0)
                  : RAND_bytes_ex(j->lib, j->out.data(), j->out.size(), 0);
  return j->rc;
}

int step(RandJob& j, ASYNC_WAIT_CTX* ctx) {
  RandJob* p = &j;
  return ASYNC_start_job(&j.job, ctx, &j.ret, rand_job, &p, sizeof p);
}

bool all_zero(const std::array<unsigned char, 32>& b) {
  for (auto x : b)
    if (x != 0) return false;
  return true;
}

// Sets the reseed policy of this thread's public and private instances so
// that each generate draws from the pool.
void reseed_every_request(OSSL_LIB_CTX* lib) {
  unsigned int one = 1;
  for (EVP_RAND_CTX* c : {RAND_get0_public(lib), RAND_get0_private(lib)}) {
    ASSERT_NE(c, nullptr);
    OSSL_PARAM p[2] = {OSSL_PARAM_construct_uint(OSSL_DRBG_PARAM_RESEED_REQUESTS, &one),
                       OSSL_PARAM_END};
    ASSERT_EQ(EVP_RAND_CTX_set_params(c, p), 1);
  }
}

// One RAND_bytes in a job on a starved pool: it pauses, the fd stays quiet
// until the FIFO is fed, and the resumed job finishes with the bytes.
void pause_feed_resume(AsyncProvider* t, Fifo& fifo, OSSL_LIB_CTX* lib,
                       bool priv) {
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  RandJob j;
  j.lib = lib;
  j.priv = priv;
  ASSERT_EQ(step(j, ctx), ASYNC_PAUSE) << "a starved pool must pause the job";
  EXPECT_EQ(ASYNC_WAIT_CTX_get_status(ctx), ASYNC_STATUS_OK);
  const auto fds = wait_fds(ctx);
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_FALSE(readable(fds[0], 150ms));
  ASSERT_TRUE(fifo.feed(512));
  ASSERT_TRUE(readable(fds[0], 5s));
  int r = ASYNC_PAUSE;
  for (int i = 0; i < 50 && r == ASYNC_PAUSE; ++i) {
    r = step(j, ctx);
    if (r == ASYNC_PAUSE) {  // the next draw of the same call: feed more
      ASSERT_TRUE(fifo.feed(512));
      ASSERT_TRUE(readable(fds[0], 5s));
    }
  }
  EXPECT_EQ(r, ASYNC_FINISH);
  EXPECT_EQ(j.rc, 1);
  EXPECT_FALSE(all_zero(j.out));
  ASYNC_WAIT_CTX_free(ctx);
  (void)t;
}

TEST_F(AsyncProvider, DirectRandBytesPausesOnAStarvedPoolAndResumesWhenFed) {
  load(kDirectSect);
  unsigned char warm[8];
  ASSERT_EQ(RAND_bytes_ex(lib(), warm, sizeof warm, 0), 1);  // instances exist
  starve();
  pause_feed_resume(this, fifo_, lib(), false);
  starve();
  pause_feed_resume(this, fifo_, lib(), true);
  EXPECT_GE(stat("requests_paused"), 2u);
  EXPECT_GE(stat("requests_resumed"), 2u);
}

TEST_F(AsyncProvider, DrbgSeedingPausesOnAStarvedPoolAndResumesWhenFed) {
  load(kDrbgSect);
  starve();
  // The thread's instances are created and instantiated inside the job
  // (instantiate never waits) and seed lazily at their first generate:
  // that is where the job pauses.
  pause_feed_resume(this, fifo_, lib(), false);
  starve();
  pause_feed_resume(this, fifo_, lib(), true);
  EXPECT_GE(stat("requests_paused"), 2u);
}

TEST_F(AsyncProvider, ManyJobsPausedInsideOneThreadsDrbgInstanceAllFinish) {
  load(kDrbgSect);
  unsigned char warm[8];
  ASSERT_EQ(RAND_bytes_ex(lib(), warm, sizeof warm, 0), 1);
  reseed_every_request(lib());
  starve();
  constexpr int kJobs = 24;
  std::vector<RandJob> jobs(kJobs);
  std::vector<ASYNC_WAIT_CTX*> ctxs(kJobs);
  for (int i = 0; i < kJobs; ++i) {
    jobs[i].lib = lib();
    ctxs[i] = ASYNC_WAIT_CTX_new();
    // Job i enters the instance while jobs 0..i-1 are paused inside it.
    ASSERT_EQ(step(jobs[i], ctxs[i]), ASYNC_PAUSE) << i;
  }
  int finished = 0;
  const auto end = Clock::now() + 20s;
  while (finished < kJobs && Clock::now() < end) {
    ASSERT_TRUE(fifo_.feed(1024));
    for (int i = 0; i < kJobs; ++i) {
      if (jobs[i].job == nullptr || !readable(wait_fds(ctxs[i]).at(0), 1ms)) continue;
      if (step(jobs[i], ctxs[i]) == ASYNC_FINISH) ++finished;
    }
  }
  ASSERT_EQ(finished, kJobs);
  std::set<std::array<unsigned char, 32>> distinct;
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(jobs[i].rc, 1) << i;
    distinct.insert(jobs[i].out);
    ASYNC_WAIT_CTX_free(ctxs[i]);
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kJobs));
}

TEST_F(AsyncProvider, SeedSourceUnderOpenSslsDrbgsNeverPausesUnderThePrimaryLock) {
  load(kSeedSect);
  starve();
  // The primary CTR-DRBG calls get_seed holding its lock: no pause, the
  // bounded wait (0 here) fails, and the job finishes with the failure.
  ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
  RandJob a;
  a.lib = lib();
  EXPECT_EQ(step(a, ctx), ASYNC_FINISH);
  EXPECT_EQ(a.rc, 0);
  EXPECT_TRUE(wait_fds(ctx).empty());
  EXPECT_EQ(stat("requests_paused"), 0u);
  ERR_clear_error();
  // A second job on the same thread gets its bytes once there is entropy.
  ASSERT_TRUE(fifo_.feed(1024));
  RandJob b;
  b.lib = lib();
  int r = ASYNC_FINISH;
  const auto end = Clock::now() + 5s;
  do {
    b.rc = -1;
    r = step(b, ctx);
    if (b.rc != 1) std::this_thread::sleep_for(5ms);
  } while (r == ASYNC_FINISH && b.rc != 1 && Clock::now() < end);
  EXPECT_EQ(r, ASYNC_FINISH);
  EXPECT_EQ(b.rc, 1);
  EXPECT_EQ(stat("requests_paused"), 0u);
  ASYNC_WAIT_CTX_free(ctx);
}

struct EvpJob {
  EVP_RAND_CTX* rand = nullptr;
  bool instantiate = false;
  std::array<unsigned char, 32> out{};
  int rc = -1;
  ASYNC_JOB* job = nullptr;
  int ret = 0;
};

int evp_job(void* arg) {
  EvpJob* j = *static_cast<EvpJob**>(arg);
  j->rc = j->instantiate
              ? EVP_RAND_instantiate(j->rand, 256, 0, nullptr, 0, nullptr)
              : EVP_RAND_generate(j->rand, j->out.data(), j->out.size(), 256, 0,
                                  nullptr, 0);
  return j->rc;
}

int step(EvpJob& j, ASYNC_WAIT_CTX* ctx) {
  EvpJob* p = &j;
  return ASYNC_start_job(&j.job, ctx, &j.ret, evp_job, &p, sizeof p);
}

TEST_F(AsyncProvider, InstantiateNeverPausesAndALockedInstanceNeverPauses) {
  load(kDrbgSect);
  starve();
  for (const char* name : {"SEEDPOOL-DRBG", "SEEDPOOL"}) {
    SCOPED_TRACE(name);
    EVP_RAND* r = EVP_RAND_fetch(lib(), name, "provider=seedpool");
    ASSERT_NE(r, nullptr);
    EVP_RAND_CTX* c = EVP_RAND_CTX_new(r, nullptr);
    EVP_RAND_free(r);
    ASSERT_NE(c, nullptr);
    ASYNC_WAIT_CTX* ctx = ASYNC_WAIT_CTX_new();
    EvpJob inst;
    inst.rand = c;
    inst.instantiate = true;
    EXPECT_EQ(step(inst, ctx), ASYNC_FINISH);
    EXPECT_EQ(inst.rc, 1) << "instantiate succeeds on a starved pool, at once";
    // OpenSSL's primary: locking enabled, our own lock held in generate.
    ASSERT_EQ(EVP_RAND_enable_locking(c), 1);
    EvpJob gen;
    gen.rand = c;
    EXPECT_EQ(step(gen, ctx), ASYNC_FINISH);
    EXPECT_EQ(gen.rc, 0) << "starved, block_timeout_ms = 0: fails, never pauses";
    EXPECT_TRUE(queue_has("not enough entropy in the pool") ||
                queue_has("timed out waiting for entropy"));
    EXPECT_TRUE(wait_fds(ctx).empty());
    ASYNC_WAIT_CTX_free(ctx);
    EVP_RAND_CTX_free(c);
  }
  EXPECT_EQ(stat("requests_paused"), 0u);
}

// --- TLS over memory BIOs in SSL_MODE_ASYNC ------------------------------

struct Tls {
  SSL_CTX* sctx = nullptr;
  SSL_CTX* cctx = nullptr;
  SSL* s = nullptr;
  SSL* c = nullptr;
  ~Tls() {
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
  }
};

// A P-256 key and a self-signed certificate made in `lib`.
void make_server_ctx(OSSL_LIB_CTX* lib, Tls& t) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(lib, nullptr, "EC", "P-256");
  ASSERT_NE(key, nullptr);
  X509* x = X509_new_ex(lib, nullptr);
  ASSERT_NE(x, nullptr);
  ASSERT_EQ(X509_set_version(x, X509_VERSION_3), 1);
  ASSERT_EQ(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
  ASSERT_NE(X509_gmtime_adj(X509_getm_notBefore(x), 0), nullptr);
  ASSERT_NE(X509_gmtime_adj(X509_getm_notAfter(x), 3600), nullptr);
  ASSERT_EQ(X509_set_pubkey(x, key), 1);
  X509_NAME* name = X509_get_subject_name(x);
  ASSERT_EQ(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("localhost"),
                                       -1, -1, 0),
            1);
  ASSERT_EQ(X509_set_issuer_name(x, name), 1);
  ASSERT_GT(X509_sign(x, key, EVP_sha256()), 0);
  t.sctx = SSL_CTX_new_ex(lib, nullptr, TLS_server_method());
  ASSERT_NE(t.sctx, nullptr);
  ASSERT_EQ(SSL_CTX_use_certificate(t.sctx, x), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey(t.sctx, key), 1);
  X509_free(x);
  EVP_PKEY_free(key);
  ASSERT_EQ(SSL_CTX_set_min_proto_version(t.sctx, TLS1_3_VERSION), 1);
  SSL_CTX_set_mode(t.sctx, SSL_MODE_ASYNC);
  // The client: OpenSSL's own generator (the default library context).
  t.cctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(t.cctx, nullptr);
  t.s = SSL_new(t.sctx);
  t.c = SSL_new(t.cctx);
  ASSERT_TRUE(t.s != nullptr && t.c != nullptr);
  BIO *bs = nullptr, *bc = nullptr;
  ASSERT_EQ(BIO_new_bio_pair(&bs, 0, &bc, 0), 1);
  SSL_set_bio(t.s, bs, bs);
  SSL_set_bio(t.c, bc, bc);
  SSL_set_accept_state(t.s);
  SSL_set_connect_state(t.c);
}

// Runs the client until it waits for the server; returns the server's
// SSL_get_error after one SSL_do_handshake (SSL_ERROR_NONE when done).
int server_step(Tls& t) {
  (void)SSL_do_handshake(t.c);
  const int r = SSL_do_handshake(t.s);
  return r == 1 ? SSL_ERROR_NONE : SSL_get_error(t.s, r);
}

class AsyncTls : public AsyncProvider,
                 public ::testing::WithParamInterface<bool> {
 protected:
  // Loads the configuration, builds the pair, and starves the pool with
  // every server RAND call drawing from it.
  void prepare(Tls& t) {
    // GetParam(): random = SEEDPOOL-DRBG, else random = SEEDPOOL.
    load(GetParam() ? kDrbgSect : kDirectSect);
    make_server_ctx(lib(), t);
    if (GetParam()) reseed_every_request(lib());
    starve();
  }
};

INSTANTIATE_TEST_SUITE_P(Rand, AsyncTls, ::testing::Bool(),
                         [](const auto& param_info) {
                           return std::string(param_info.param ? "SeedpoolDrbg"
                                                               : "Seedpool");
                         });

TEST_P(AsyncTls, HandshakeWantsAsyncGivesOurFdAndCompletesWhenFed) {
  Tls t;
  ASSERT_NO_FATAL_FAILURE(prepare(t));
  ASSERT_EQ(server_step(t), SSL_ERROR_WANT_ASYNC);
  OSSL_ASYNC_FD fd = -1;
  std::size_t n = 0;
  ASSERT_EQ(SSL_get_all_async_fds(t.s, nullptr, &n), 1);
  ASSERT_EQ(n, 1u);
  ASSERT_EQ(SSL_get_all_async_fds(t.s, &fd, &n), 1);
  EXPECT_FALSE(readable(fd, 150ms));
  int err = SSL_ERROR_WANT_ASYNC;
  const auto end = Clock::now() + 20s;
  while (err != SSL_ERROR_NONE && Clock::now() < end) {
    if (err == SSL_ERROR_WANT_ASYNC) {
      ASSERT_TRUE(fifo_.feed(512));
      ASSERT_TRUE(readable(fd, 5s));
    }
    err = server_step(t);
    ASSERT_TRUE(err == SSL_ERROR_NONE || err == SSL_ERROR_WANT_ASYNC ||
                err == SSL_ERROR_WANT_READ)
        << err;
  }
  ASSERT_EQ(err, SSL_ERROR_NONE);
  ASSERT_EQ(SSL_do_handshake(t.c), 1);
  EXPECT_STREQ(SSL_get_version(t.s), "TLSv1.3");
  EXPECT_GE(stat("requests_paused"), 1u);
}

std::atomic<int> g_tls_callbacks{0};
int count_callback(SSL*, void* arg) {
  static_cast<std::atomic<int>*>(arg)->fetch_add(1);
  return 1;
}

TEST_P(AsyncTls, CallbackModeNeedsNoFdPolling) {
  Tls t;
  ASSERT_NO_FATAL_FAILURE(prepare(t));
  g_tls_callbacks = 0;
  ASSERT_EQ(SSL_set_async_callback(t.s, count_callback), 1);
  ASSERT_EQ(SSL_set_async_callback_arg(t.s, &g_tls_callbacks), 1);
  int err = server_step(t);
  ASSERT_EQ(err, SSL_ERROR_WANT_ASYNC);
  const auto end = Clock::now() + 20s;
  while (err != SSL_ERROR_NONE && Clock::now() < end) {
    if (err == SSL_ERROR_WANT_ASYNC) {
      int status = -1;
      ASSERT_EQ(SSL_get_async_status(t.s, &status), 1);
      ASSERT_EQ(status, ASYNC_STATUS_OK) << "queued: the callback will come";
      const int before = g_tls_callbacks.load();
      ASSERT_TRUE(fifo_.feed(512));
      const auto cb_end = Clock::now() + 5s;
      while (g_tls_callbacks.load() == before && Clock::now() < cb_end)
        std::this_thread::sleep_for(1ms);
      ASSERT_GT(g_tls_callbacks.load(), before);
    }
    err = server_step(t);
  }
  ASSERT_EQ(err, SSL_ERROR_NONE);
  EXPECT_GE(stat("async_callbacks"), 1u);
}

TEST_P(AsyncTls, FreeingTheSslWhilePausedLeaksNothingAndNoCallbackFollows) {
  {
    Tls t;
    ASSERT_NO_FATAL_FAILURE(prepare(t));
    const int fds_before = open_fds();
    g_tls_callbacks = 0;
    ASSERT_EQ(SSL_set_async_callback(t.s, count_callback), 1);
    ASSERT_EQ(SSL_set_async_callback_arg(t.s, &g_tls_callbacks), 1);
    ASSERT_EQ(server_step(t), SSL_ERROR_WANT_ASYNC);
    OSSL_ASYNC_FD fd = -1;
    std::size_t n = 1;
    ASSERT_EQ(SSL_get_all_async_fds(t.s, &fd, &n), 1);
    EXPECT_EQ(stat("requests_queued"), 1u);
    SSL_free(t.s);  // the paused handshake is abandoned
    t.s = nullptr;
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the wait fd is closed";
    EXPECT_EQ(stat("requests_queued"), 0u) << "the request is withdrawn";
    ASSERT_TRUE(fifo_.feed(1024));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(g_tls_callbacks.load(), 0) << "no callback after SSL_free";
    EXPECT_EQ(open_fds(), fds_before) << "no fd left behind";
  }
}

// OpenSSL 3.5's random_provider: RAND_bytes goes straight to seedpool's
// per-thread generators. A thread's generators seed at its first call, so a
// handshake on a new thread (as in a server's worker) draws from the pool
// inside its job: it pauses on a starved pool and completes when fed.
TEST_F(AsyncProvider, RandomProviderHandshakeInAsyncModePausesOnAFreshThread) {
  if (OpenSSL_version_num() < 0x30500000L)
    GTEST_SKIP() << "OpenSSL " << OpenSSL_version(OPENSSL_VERSION_STRING)
                 << " has no random_provider (it came with 3.5)";
  // [random] before the providers (see conf/seedpool-35.cnf: OpenSSL 3.5.7
  // unhooks a provider that is already loaded when [random] names it).
  load_conf("openssl_conf = init\n[init]\nrandom = rand_sect\nproviders = provs\n"
            "[provs]\nseedpool = sp\ndefault = dflt\n[dflt]\nactivate = 1\n"
            "[sp]\nactivate = 1\nmodule = " SEEDPOOL_MODULE_DIR "/seedpool.so\n" +
            seedpool_lines() + "[rand_sect]\nrandom_provider = seedpool\n");
  Tls t;
  ASSERT_NO_FATAL_FAILURE(make_server_ctx(lib(), t));
  starve();
  const std::uint64_t paused0 = stat("requests_paused");
  std::atomic<int> first{-1}, err{-1};
  std::thread server([&] {
    first = server_step(t);
    err = first.load();
    const auto end = Clock::now() + 20s;
    OSSL_ASYNC_FD fd = -1;
    std::size_t n = 1;
    while (err == SSL_ERROR_WANT_ASYNC && Clock::now() < end) {
      if (SSL_get_all_async_fds(t.s, &fd, &n) != 1 || n != 1) break;
      if (!readable(fd, 100ms)) continue;
      err = server_step(t);
      if (err == SSL_ERROR_WANT_READ) err = server_step(t);
    }
  });
  std::this_thread::sleep_for(200ms);
  // Fed a little at a time, until the handshake is done.
  const auto end = Clock::now() + 20s;
  while (Clock::now() < end) {
    ASSERT_TRUE(fifo_.feed(256));
    std::this_thread::sleep_for(50ms);
    if (err == SSL_ERROR_NONE) break;
  }
  server.join();
  EXPECT_EQ(first, SSL_ERROR_WANT_ASYNC) << "the handshake must pause";
  ASSERT_EQ(err, SSL_ERROR_NONE);
  ASSERT_EQ(SSL_do_handshake(t.c), 1);
  EXPECT_GT(stat("requests_paused"), paused0);
}

}  // namespace
}  // namespace seedpool::testing
