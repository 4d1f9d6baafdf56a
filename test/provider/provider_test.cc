// Provider tests through the public EVP API, against the real seedpool.so
// loaded from the build folder into a private library context.
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "provider_test_util.h"

namespace {

using seedpool::testing::ConfiguredLibCtx;
using seedpool::testing::get_str;
using seedpool::testing::get_u64;
using seedpool::testing::provider_conf;
using seedpool::testing::queue_has;

class SeedpoolProvider : public seedpool::testing::ProviderFixture {
 protected:
  void SetUp() override {
    ProviderFixture::SetUp();
    if (HasFatalFailure()) return;
    rand_ = fetch("SEEDPOOL", "provider=seedpool");
    ASSERT_NE(rand_, nullptr);
  }
  EVP_RAND_CTX* make(EVP_RAND_CTX* parent = nullptr) { return new_ctx(rand_, parent); }

  EVP_RAND* rand_ = nullptr;
};

TEST_F(SeedpoolProvider, AnswersToSeedSrcWithItsProperty) {
  EVP_RAND* alias = EVP_RAND_fetch(libctx_, "SEED-SRC", "provider=seedpool");
  ASSERT_NE(alias, nullptr);
  EXPECT_STREQ(OSSL_PROVIDER_get0_name(EVP_RAND_get0_provider(alias)), "seedpool");
  EXPECT_TRUE(EVP_RAND_is_a(alias, "SEEDPOOL"));
  EVP_RAND_free(alias);
}

TEST_F(SeedpoolProvider, ProviderParamsNameVersionStatus) {
  const char* name = nullptr;
  const char* version = nullptr;
  const char* build = nullptr;
  int status = 0;
  OSSL_PARAM p[] = {
      OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_NAME, const_cast<char**>(&name), 0),
      OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_VERSION, const_cast<char**>(&version), 0),
      OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, const_cast<char**>(&build), 0),
      OSSL_PARAM_construct_int(OSSL_PROV_PARAM_STATUS, &status),
      OSSL_PARAM_END};
  ASSERT_EQ(OSSL_PROVIDER_get_params(seedpool_, p), 1);
  EXPECT_STREQ(name, "seedpool");
  ASSERT_NE(version, nullptr);
  EXPECT_GT(std::strlen(version), 0u);
  ASSERT_NE(build, nullptr);
  EXPECT_NE(std::strstr(build, "OpenSSL"), nullptr);
  EXPECT_EQ(status, 1);
}

TEST_F(SeedpoolProvider, GenerateServesFromThePoolAndCountsIt) {
  EVP_RAND_CTX* c = make();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1);
  EXPECT_EQ(EVP_RAND_get_state(c), EVP_RAND_STATE_READY);
  const std::uint64_t before = get_u64(c, "bytes_served");
  unsigned char a[32] = {}, b[32] = {};
  ASSERT_EQ(EVP_RAND_generate(c, a, sizeof(a), 256, 0, nullptr, 0), 1);
  ASSERT_EQ(EVP_RAND_generate(c, b, sizeof(b), 256, 0, nullptr, 0), 1);
  EXPECT_NE(std::memcmp(a, b, sizeof(a)), 0);
  EXPECT_EQ(get_u64(c, "bytes_served"), before + 64);
  EXPECT_EQ(get_str(c, "health"), "ok");
  EXPECT_EQ(get_str(c, "sources").rfind("getrandom:ok:", 0), 0u);
  EXPECT_EQ(get_str(c, "source_bytes").rfind("getrandom:", 0), 0u);
  EXPECT_EQ(get_u64(c, "requests_queued"), 0u);
  EXPECT_EQ(get_u64(c, "read_wakeup_threshold"), 64u);
  EXPECT_EQ(get_u64(c, "write_wakeup_threshold"), 896u);
  const std::string g = get_str(c, "gatherer");
  EXPECT_TRUE(g == "stopped" || g.rfind("io_uring", 0) == 0 || g.rfind("poll", 0) == 0) << g;
  EXPECT_EQ(get_str(c, "memory").rfind("mlock=", 0), 0u);
  EXPECT_EQ(get_str(c, "seed_file"), "none");
}

// An instance created and used before fork(): parent and child draw
// different bytes after it, both straight from SEEDPOOL and through a
// CTR-DRBG seeded by it.
TEST_F(SeedpoolProvider, ParentAndChildDifferAfterForkForInstancesUsedBefore) {
  EVP_RAND_CTX* c = make();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1);
  EVP_RAND_CTX* drbg = make_ctr_child(c);
  ASSERT_NE(drbg, nullptr);
  ASSERT_EQ(EVP_RAND_instantiate(drbg, 256, 0, nullptr, 0, nullptr), 1);
  unsigned char warm[32];
  ASSERT_EQ(EVP_RAND_generate(c, warm, sizeof(warm), 256, 0, nullptr, 0), 1);
  ASSERT_EQ(EVP_RAND_generate(drbg, warm, sizeof(warm), 256, 0, nullptr, 0), 1);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  unsigned char mine[64] = {};
  const bool ok = EVP_RAND_generate(c, mine, 32, 256, 0, nullptr, 0) == 1 &&
                  EVP_RAND_generate(drbg, mine + 32, 32, 256, 0, nullptr, 0) == 1;
  if (pid == 0) {
    const bool sent = ok && ::write(fds[1], mine, sizeof(mine)) == sizeof(mine);
    ::_exit(sent ? 0 : 1);
  }
  ASSERT_TRUE(ok);
  unsigned char theirs[64] = {};
  ASSERT_EQ(::read(fds[0], theirs, sizeof(theirs)), static_cast<ssize_t>(sizeof(theirs)));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_NE(std::memcmp(mine, theirs, 32), 0) << "SEEDPOOL repeated across fork";
  EXPECT_NE(std::memcmp(mine + 32, theirs + 32, 32), 0)
      << "CTR-DRBG over SEEDPOOL repeated across fork";
}

TEST_F(SeedpoolProvider, ParamsStrengthMaxRequestStateReseedCounter) {
  EVP_RAND_CTX* c = make();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(EVP_RAND_get_state(c), EVP_RAND_STATE_UNINITIALISED);
  ASSERT_EQ(EVP_RAND_instantiate(c, 0, 0, nullptr, 0, nullptr), 1);
  EXPECT_EQ(EVP_RAND_get_strength(c), 256u);
  unsigned int strength = 0, counter = 0;
  size_t max_request = 0;
  OSSL_PARAM p[] = {
      OSSL_PARAM_construct_uint(OSSL_RAND_PARAM_STRENGTH, &strength),
      OSSL_PARAM_construct_size_t(OSSL_RAND_PARAM_MAX_REQUEST, &max_request),
      OSSL_PARAM_construct_uint(OSSL_DRBG_PARAM_RESEED_COUNTER, &counter),
      OSSL_PARAM_END};
  ASSERT_EQ(EVP_RAND_CTX_get_params(c, p), 1);
  EXPECT_EQ(strength, 256u);
  EXPECT_GT(max_request, 0u);
  EXPECT_GE(counter, 1u);
  EXPECT_EQ(get_u64(c, "pool_size"), 4096u);
  EXPECT_LE(get_u64(c, "entropy_available"), 4096u);
  // Every statistic the gettable table announces can really be read.
  for (const OSSL_PARAM* g = EVP_RAND_CTX_gettable_params(c); g->key; ++g) {
    std::uint64_t u = 0;
    char s[512];
    OSSL_PARAM q[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
    q[0] = g->data_type == OSSL_PARAM_UTF8_STRING
               ? OSSL_PARAM_construct_utf8_string(g->key, s, sizeof(s))
               : OSSL_PARAM_construct_uint64(g->key, &u);
    EXPECT_EQ(EVP_RAND_CTX_get_params(c, q), 1) << g->key;
  }
}

TEST_F(SeedpoolProvider, LargeRequestIsSplitByMaxRequestAndServed) {
  EVP_RAND_CTX* c = make();
  ASSERT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1);
  std::vector<unsigned char> big(1 << 20);
  ASSERT_EQ(EVP_RAND_generate(c, big.data(), big.size(), 0, 0, nullptr, 0), 1);
  EXPECT_GE(get_u64(c, "bytes_served"), big.size());
  std::vector<unsigned char> zero(64, 0);
  EXPECT_NE(std::memcmp(big.data() + big.size() - 64, zero.data(), 64), 0);
}

TEST_F(SeedpoolProvider, ZeroLengthNullAndUninstantiated) {
  EVP_RAND_CTX* c = make();
  unsigned char buf[16];
  EXPECT_EQ(EVP_RAND_generate(c, buf, sizeof(buf), 0, 0, nullptr, 0), 0);
  EXPECT_TRUE(queue_has("not instantiated"));
  ASSERT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1);
  EXPECT_EQ(EVP_RAND_generate(c, buf, 0, 0, 0, nullptr, 0), 1);
  // A NULL buffer with a length: refused through the error queue.
  EXPECT_EQ(EVP_RAND_generate(c, nullptr, 16, 0, 0, nullptr, 0), 0);
  EXPECT_TRUE(queue_has("invalid argument"));
  // And the instance keeps working.
  EXPECT_EQ(EVP_RAND_generate(c, buf, sizeof(buf), 0, 0, nullptr, 0), 1);
  ASSERT_EQ(EVP_RAND_uninstantiate(c), 1);
  EXPECT_EQ(EVP_RAND_generate(c, buf, sizeof(buf), 0, 0, nullptr, 0), 0);
  EXPECT_TRUE(queue_has("not instantiated"));
}

TEST_F(SeedpoolProvider, StrengthAbove256IsRefused) {
  EVP_RAND_CTX* c = make();
  EXPECT_EQ(EVP_RAND_instantiate(c, 257, 0, nullptr, 0, nullptr), 0);
  std::string detail;
  EXPECT_TRUE(queue_has("requested strength exceeds 256 bits", &detail));
  EXPECT_NE(detail.find("257"), std::string::npos) << detail;
  ASSERT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1);
  unsigned char buf[16];
  EXPECT_EQ(EVP_RAND_generate(c, buf, sizeof(buf), 512, 0, nullptr, 0), 0);
  EXPECT_TRUE(queue_has("requested strength exceeds 256 bits"));
  EXPECT_EQ(EVP_RAND_generate(c, buf, sizeof(buf), 256, 0, nullptr, 0), 1);
}

TEST_F(SeedpoolProvider, CtrDrbgChildSeedsThroughGetSeedAndNonce) {
  EVP_RAND_CTX* parent = make();
  ASSERT_EQ(EVP_RAND_instantiate(parent, 0, 0, nullptr, 0, nullptr), 1);
  EVP_RAND_CTX* child = make_ctr_child(parent);
  ASSERT_NE(child, nullptr);
  const std::uint64_t served0 = get_u64(parent, "bytes_served");
  const std::uint64_t req0 = get_u64(parent, "requests_served");
  ASSERT_EQ(EVP_RAND_instantiate(child, 256, 0, nullptr, 0, nullptr), 1)
      << "CTR-DRBG refused seedpool as its parent";
  EXPECT_EQ(EVP_RAND_get_state(child), EVP_RAND_STATE_READY);
  // Instantiation drew a nonce and a seed from the pool.
  EXPECT_GE(get_u64(parent, "bytes_served"), served0 + 32 + 16);
  EXPECT_GE(get_u64(parent, "requests_served"), req0 + 2);
  unsigned char out[64];
  ASSERT_EQ(EVP_RAND_generate(child, out, sizeof(out), 256, 0, nullptr, 0), 1);

  // Prediction resistance: every such generate pulls fresh seed material.
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t before = get_u64(parent, "requests_served");
    ASSERT_EQ(EVP_RAND_generate(child, out, sizeof(out), 256, 1, nullptr, 0), 1);
    EXPECT_GE(get_u64(parent, "requests_served"), before + 1);
  }
}

TEST_F(SeedpoolProvider, ChildWithLockingEnabledWorks) {
  // OpenSSL's primary DRBG: locking enabled, which enables it on the parent.
  EVP_RAND_CTX* parent = make();
  ASSERT_EQ(EVP_RAND_enable_locking(parent), 1);
  ASSERT_EQ(EVP_RAND_enable_locking(parent), 1) << "idempotent";
  ASSERT_EQ(EVP_RAND_instantiate(parent, 0, 0, nullptr, 0, nullptr), 1);
  EVP_RAND_CTX* child = make_ctr_child(parent);
  ASSERT_EQ(EVP_RAND_enable_locking(child), 1);
  ASSERT_EQ(EVP_RAND_instantiate(child, 256, 0, nullptr, 0, nullptr), 1);
  unsigned char out[32];
  ASSERT_EQ(EVP_RAND_generate(child, out, sizeof(out), 256, 1, nullptr, 0), 1);
  ASSERT_EQ(EVP_RAND_reseed(child, 0, nullptr, 0, nullptr, 0), 1);
}

TEST_F(SeedpoolProvider, NonceAndReseedMixWithoutCredit) {
  EVP_RAND_CTX* c = make();
  ASSERT_EQ(EVP_RAND_instantiate(c, 0, 0, nullptr, 0, nullptr), 1);
  unsigned char nonce[16] = {};
  ASSERT_EQ(EVP_RAND_nonce(c, nonce, sizeof(nonce)), 1);
  const std::uint64_t avail = get_u64(c, "entropy_available");
  // RAND_add-style input: mixed in, credited nothing.
  unsigned char ent[256];
  std::memset(ent, 0x42, sizeof(ent));
  ASSERT_EQ(EVP_RAND_reseed(c, 0, ent, sizeof(ent), ent, 8), 1);
  EXPECT_EQ(get_u64(c, "entropy_available"), avail);
  EXPECT_EQ(EVP_RAND_verify_zeroization(c), 1);
}

// OpenSSL 3.0 ignores a provider whose init fails while loading config and
// then seeds from the OS silently; seedpool therefore loads, reports status
// 0, and fails every request with the reason naming the key and the value.
TEST(SeedpoolConfig, BadValueFailsClosedAndNamesTheKey) {
  ConfiguredLibCtx conf("seedpool_bad",
                        provider_conf("pool_size = lots\n", "", /*with_default=*/false));
  OSSL_LIB_CTX* libctx = conf.get();
  ASSERT_NE(libctx, nullptr);
  ERR_clear_error();
  OSSL_PROVIDER* prov = OSSL_PROVIDER_load(libctx, "seedpool");
  ASSERT_NE(prov, nullptr);
  int status = -1;
  OSSL_PARAM sp[2] = {OSSL_PARAM_construct_int(OSSL_PROV_PARAM_STATUS, &status),
                      OSSL_PARAM_END};
  ASSERT_EQ(OSSL_PROVIDER_get_params(prov, sp), 1);
  EXPECT_EQ(status, 0) << "a misconfigured seedpool must not claim to run";

  EVP_RAND* r = EVP_RAND_fetch(libctx, "SEEDPOOL", nullptr);
  ASSERT_NE(r, nullptr);
  EVP_RAND_CTX* c = EVP_RAND_CTX_new(r, nullptr);
  EVP_RAND_free(r);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(EVP_RAND_instantiate(c, 0, 0, nullptr, 0, nullptr), 1)
      << "instantiate succeeds so that OpenSSL cannot fall back silently";
  EXPECT_EQ(EVP_RAND_get_state(c), EVP_RAND_STATE_ERROR);
  unsigned char out[16];
  EXPECT_EQ(EVP_RAND_generate(c, out, sizeof(out), 0, 0, nullptr, 0), 0);
  std::string detail;
  EXPECT_TRUE(queue_has("bad configuration value", &detail));
  EXPECT_NE(detail.find("pool_size"), std::string::npos) << detail;
  EXPECT_NE(detail.find("\"lots\""), std::string::npos) << detail;
  EXPECT_EQ(get_str(c, "health"), "failed");
  EVP_RAND_CTX_free(c);
  OSSL_PROVIDER_unload(prov);
}

TEST(SeedpoolConfig, GoodValuesReachThePool) {
  ConfiguredLibCtx conf(
      "seedpool_good",
      provider_conf("pool_size = 2048\nsources = getrandom\nblock_timeout_ms = 100\n", "",
                    /*with_default=*/false));
  OSSL_LIB_CTX* libctx = conf.get();
  ASSERT_TRUE(conf.loaded());
  EVP_RAND* r = EVP_RAND_fetch(libctx, "SEEDPOOL", nullptr);
  ASSERT_NE(r, nullptr);
  EVP_RAND_CTX* c = EVP_RAND_CTX_new(r, nullptr);
  EVP_RAND_free(r);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(get_u64(c, "pool_size"), 2048u);
  EVP_RAND_CTX_free(c);
}

TEST(SeedpoolProcess, TwoLibraryContextsShareOnePool) {
  OSSL_LIB_CTX* a = OSSL_LIB_CTX_new();
  OSSL_LIB_CTX* b = OSSL_LIB_CTX_new();
  ASSERT_EQ(OSSL_PROVIDER_set_default_search_path(a, SEEDPOOL_MODULE_DIR), 1);
  ASSERT_EQ(OSSL_PROVIDER_set_default_search_path(b, SEEDPOOL_MODULE_DIR), 1);
  OSSL_PROVIDER* pa = OSSL_PROVIDER_load(a, "seedpool");
  OSSL_PROVIDER* pb = OSSL_PROVIDER_load(b, "seedpool");
  ASSERT_NE(pa, nullptr);
  ASSERT_NE(pb, nullptr);
  EVP_RAND* ra = EVP_RAND_fetch(a, "SEEDPOOL", nullptr);
  EVP_RAND* rb = EVP_RAND_fetch(b, "SEEDPOOL", nullptr);
  EVP_RAND_CTX* ca = EVP_RAND_CTX_new(ra, nullptr);
  EVP_RAND_CTX* cb = EVP_RAND_CTX_new(rb, nullptr);
  ASSERT_EQ(EVP_RAND_instantiate(ca, 0, 0, nullptr, 0, nullptr), 1);
  const std::uint64_t before = get_u64(cb, "bytes_served");
  unsigned char out[40];
  ASSERT_EQ(EVP_RAND_generate(ca, out, sizeof(out), 0, 0, nullptr, 0), 1);
  EXPECT_EQ(get_u64(cb, "bytes_served"), before + sizeof(out))
      << "b reports what a drew: one process-wide pool";
  EVP_RAND_CTX_free(ca);
  EVP_RAND_CTX_free(cb);
  EVP_RAND_free(ra);
  EVP_RAND_free(rb);
  OSSL_PROVIDER_unload(pa);
  OSSL_PROVIDER_unload(pb);
  OSSL_LIB_CTX_free(a);
  OSSL_LIB_CTX_free(b);
}

}  // namespace
