// SEEDPOOL-DRBG through the public EVP API, against the real seedpool.so:
// an instance created directly (EVP_RAND_CTX_new), and OpenSSL's own
// primary/public/private instances of a library context configured with
// `random = SEEDPOOL-DRBG`.
//
// What proves a reseed: the instance's reseed_counter (reseeds done) moves
// by one and the pool's bytes_served (process-wide) by the 32-byte seed.
// What proves no reseed: neither moves. The pool's epoch is the
// reseed_counter of a SEEDPOOL instance.
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "provider_test_util.h"

namespace {

using seedpool::testing::ConfiguredLibCtx;
using seedpool::testing::get_str;
using seedpool::testing::get_u64;
using seedpool::testing::provider_conf;
using seedpool::testing::queue_has;
using seedpool::testing::child_succeeded;
using seedpool::testing::DrawsAcrossFork;
using seedpool::testing::rand_across_fork;
using seedpool::testing::read_all;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kDrbg[] = "SEEDPOOL-DRBG";
constexpr char kSeedpoolProp[] = "provider=seedpool";
constexpr char kReseedBytes[] = "reseed_bytes";
constexpr std::size_t kSeedBytes = 32;  // what one reseed draws from the pool
constexpr std::size_t kMaxRequest = 65536;

// The [random] section of conf/seedpool-drbg.cnf.
constexpr char kDrbgRandomSect[] =
    "random = SEEDPOOL-DRBG\nproperties = provider=seedpool\n"
    "seed = SEEDPOOL\nseed_properties = provider=seedpool\n";

std::uint64_t counter(EVP_RAND_CTX* c) {
  return get_u64(c, OSSL_DRBG_PARAM_RESEED_COUNTER);
}
std::uint64_t served(EVP_RAND_CTX* c) { return get_u64(c, "bytes_served"); }

// For a forked child: no gtest macros there. ~0 when it cannot be read.
std::uint64_t raw_counter(EVP_RAND_CTX* c) {
  unsigned int v = ~0U;
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_uint(OSSL_DRBG_PARAM_RESEED_COUNTER, &v),
                     OSSL_PARAM_END};
  return EVP_RAND_CTX_get_params(c, p) == 1 ? v : ~std::uint64_t{0};
}

bool generate(EVP_RAND_CTX* c, unsigned char* out, std::size_t n, int pr = 0,
              const unsigned char* adin = nullptr, std::size_t adin_len = 0) {
  return EVP_RAND_generate(c, out, n, 256, pr, adin, adin_len) == 1;
}

int set_uint(EVP_RAND_CTX* c, const char* key, unsigned int v) {
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_uint(key, &v), OSSL_PARAM_END};
  return EVP_RAND_CTX_set_params(c, p);
}
int set_u64(EVP_RAND_CTX* c, const char* key, std::uint64_t v) {
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_uint64(key, &v), OSSL_PARAM_END};
  return EVP_RAND_CTX_set_params(c, p);
}
int set_time(EVP_RAND_CTX* c, const char* key, time_t v) {
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_time_t(key, &v), OSSL_PARAM_END};
  return EVP_RAND_CTX_set_params(c, p);
}

bool all_equal(const unsigned char* p, std::size_t n, unsigned char v) {
  return std::all_of(p, p + n, [v](unsigned char b) { return b == v; });
}

// Monotonic seconds as the generator's reseed timing reads them.
std::int64_t coarse_seconds() {
  timespec ts{};
  (void)clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec);
}

class SeedpoolDrbg : public seedpool::testing::ProviderFixture {
 protected:
  // Only the CTR-DRBG tests need the default provider.
  SeedpoolDrbg() { load_default_ = false; }
  void SetUp() override {
    ProviderFixture::SetUp();
    if (HasFatalFailure()) return;
    drbg_ = fetch(kDrbg, kSeedpoolProp);
    ASSERT_NE(drbg_, nullptr);
    seedpool_rand_ = fetch("SEEDPOOL", kSeedpoolProp);
    ASSERT_NE(seedpool_rand_, nullptr);
  }
  EVP_RAND_CTX* make(EVP_RAND_CTX* parent = nullptr) {
    EVP_RAND_CTX* c = new_ctx(drbg_, parent);
    EXPECT_NE(c, nullptr);
    return c;
  }
  // Created and instantiated: not seeded yet, the first generate seeds.
  EVP_RAND_CTX* ready() {
    EVP_RAND_CTX* c = make();
    if (c != nullptr) {
      EXPECT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1);
    }
    return c;
  }
  // Created, instantiated and seeded (one generate done).
  EVP_RAND_CTX* seeded() {
    EVP_RAND_CTX* c = ready();
    unsigned char b[16];
    if (c != nullptr) {
      EXPECT_TRUE(generate(c, b, sizeof(b)));
    }
    return c;
  }
  // A SEEDPOOL instance: the pool's own output; its reseed_counter is the
  // pool's epoch.
  EVP_RAND_CTX* pool_instance() {
    EVP_RAND_CTX* c = new_ctx(seedpool_rand_);
    EXPECT_NE(c, nullptr);
    if (c != nullptr) {
      EXPECT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1);
    }
    return c;
  }
  // Draws straight from the pool until its epoch moves (pool_size bits
  // credited); false if it did not within 64 KiB.
  static bool move_epoch(EVP_RAND_CTX* pool) {
    const std::uint64_t epoch = counter(pool);
    unsigned char b[64];
    for (int i = 0; i < 1024; ++i) {
      if (!generate(pool, b, sizeof(b))) return false;
      if (counter(pool) != epoch) return true;
    }
    return false;
  }
  // How far reseed_counter and bytes_served move over one generate of n
  // bytes.
  struct Moves {
    std::uint64_t reseeds;
    std::uint64_t served;
  };
  static Moves generate_moves(EVP_RAND_CTX* c, std::size_t n, int pr = 0,
                              const unsigned char* adin = nullptr,
                              std::size_t adin_len = 0) {
    std::vector<unsigned char> out(n);
    const std::uint64_t c0 = counter(c), s0 = served(c);
    EXPECT_TRUE(generate(c, out.data(), n, pr, adin, adin_len)) << n << " bytes";
    return {counter(c) - c0, served(c) - s0};
  }

  EVP_RAND* drbg_ = nullptr;
  EVP_RAND* seedpool_rand_ = nullptr;
};

// ---------------------------------------------------------------------------
// What it is: name, provider, params.

// Fetchable from seedpool under its property; an instance created directly
// reports the documented params, the default reseed policy (65536 requests,
// 420 s: what OpenSSL gives its per-thread instances; 2^30 bytes), where its
// seed comes from, and the pool's statistics.
TEST_F(SeedpoolDrbg, FetchedFromSeedpoolWithItsParams) {
  EXPECT_STREQ(OSSL_PROVIDER_get0_name(EVP_RAND_get0_provider(drbg_)), "seedpool");
  EXPECT_TRUE(EVP_RAND_is_a(drbg_, kDrbg));

  EVP_RAND_CTX* c = make();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(EVP_RAND_get_state(c), EVP_RAND_STATE_UNINITIALISED);
  ASSERT_EQ(EVP_RAND_instantiate(c, 0, 0, nullptr, 0, nullptr), 1);
  EXPECT_EQ(EVP_RAND_get_state(c), EVP_RAND_STATE_READY);
  EXPECT_EQ(EVP_RAND_get_strength(c), 256u);
  EXPECT_EQ(get_u64(c, OSSL_RAND_PARAM_STRENGTH), 256u);
  EXPECT_EQ(get_u64(c, OSSL_RAND_PARAM_MAX_REQUEST), kMaxRequest);
  EXPECT_EQ(get_u64(c, OSSL_DRBG_PARAM_RESEED_REQUESTS), 65536u);
  EXPECT_EQ(get_u64(c, OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL), 420u);
  EXPECT_EQ(get_u64(c, kReseedBytes), std::uint64_t{1} << 30);
  EXPECT_GE(counter(c), 1u);
  EXPECT_EQ(get_str(c, "seed_source"), "pool");
  const std::string mem = get_str(c, "drbg_memory");
  EXPECT_TRUE(mem == "mlock=yes,wipeonfork=yes" || mem == "mlock=yes,wipeonfork=no" ||
              mem == "mlock=no,wipeonfork=yes" || mem == "mlock=no,wipeonfork=no")
      << mem;

  // The pool's statistics, as on a SEEDPOOL instance.
  EXPECT_EQ(get_u64(c, "pool_size"), 4096u);
  EXPECT_LE(get_u64(c, "entropy_available"), 4096u);
  EXPECT_EQ(get_str(c, "health"), "ok");
  EXPECT_EQ(get_str(c, "sources").rfind("getrandom:ok:", 0), 0u) << get_str(c, "sources");
  EXPECT_EQ(get_u64(c, "requests_failed"), 0u);
  unsigned char out[16];
  const std::uint64_t before = served(c);
  ASSERT_TRUE(generate(c, out, sizeof(out)));
  EXPECT_EQ(served(c), before + kSeedBytes) << "bytes_served reports the seed";
  EXPECT_GE(get_u64(c, "requests_served"), 1u);
  // Every param the gettable table announces can really be read.
  for (const OSSL_PARAM* g = EVP_RAND_CTX_gettable_params(c); g->key; ++g) {
    std::uint64_t u = 0;
    char s[512];
    OSSL_PARAM q[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
    q[0] = g->data_type == OSSL_PARAM_UTF8_STRING
               ? OSSL_PARAM_construct_utf8_string(g->key, s, sizeof(s))
               : OSSL_PARAM_construct_uint64(g->key, &u);
    EXPECT_EQ(EVP_RAND_CTX_get_params(c, q), 1) << g->key;
  }
  // The policy is settable.
  std::vector<std::string> settable;
  for (const OSSL_PARAM* s = EVP_RAND_CTX_settable_params(c); s->key; ++s)
    settable.emplace_back(s->key);
  for (const char* key : {OSSL_DRBG_PARAM_RESEED_REQUESTS,
                          OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, kReseedBytes})
    EXPECT_NE(std::find(settable.begin(), settable.end(), key), settable.end()) << key;

  // With a parent (as OpenSSL creates its public and private instances):
  // the parent is ignored, and says so.
  EVP_RAND_CTX* child = make(c);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(get_str(child, "seed_source"), "pool (parent ignored)");
  EVP_RAND_CTX* over_seedpool = make(pool_instance());
  ASSERT_NE(over_seedpool, nullptr);
  EXPECT_EQ(get_str(over_seedpool, "seed_source"), "pool (parent ignored)");
}

// Under `random = SEEDPOOL-DRBG`, OpenSSL's primary, public and private
// instances are SEEDPOOL-DRBG from seedpool, each with the policy OpenSSL's
// rand_new_drbg passes (primary 256 requests / 3600 s, the others 65536 /
// 420 s), each seeding from the pool itself: the first RAND_bytes draws one
// seed for the public instance, the first RAND_priv_bytes one for the
// private instance, and nothing goes through the primary.
TEST(SeedpoolDrbgConfigured, OpenSslsInstancesAreSeedpoolDrbgWithTheirPolicy) {
  ConfiguredLibCtx conf("seedpool_drbg_instances", provider_conf("", kDrbgRandomSect));
  ASSERT_TRUE(conf.loaded());
  OSSL_LIB_CTX* libctx = conf.get();
  EVP_RAND_CTX* primary = RAND_get0_primary(libctx);
  ASSERT_NE(primary, nullptr);
  const std::uint64_t primary_count = counter(primary);
  const std::uint64_t served0 = served(primary);
  unsigned char out[32];
  ASSERT_EQ(RAND_bytes_ex(libctx, out, sizeof(out), 0), 1);
  EXPECT_EQ(served(primary), served0 + kSeedBytes);
  ASSERT_EQ(RAND_priv_bytes_ex(libctx, out, sizeof(out), 0), 1);
  EXPECT_EQ(served(primary), served0 + 2 * kSeedBytes);
  EXPECT_EQ(counter(primary), primary_count) << "the primary was never used";

  struct Want {
    const char* name;
    EVP_RAND_CTX* ctx;
    std::uint64_t requests, interval;
  };
  for (const Want& w : {Want{"primary", primary, 256, 3600},
                        Want{"public", RAND_get0_public(libctx), 65536, 420},
                        Want{"private", RAND_get0_private(libctx), 65536, 420}}) {
    SCOPED_TRACE(w.name);
    ASSERT_NE(w.ctx, nullptr);
    EXPECT_TRUE(EVP_RAND_is_a(EVP_RAND_CTX_get0_rand(w.ctx), kDrbg));
    EXPECT_STREQ(OSSL_PROVIDER_get0_name(EVP_RAND_get0_provider(EVP_RAND_CTX_get0_rand(w.ctx))),
                 "seedpool");
    EXPECT_EQ(EVP_RAND_get_state(w.ctx), EVP_RAND_STATE_READY);
    EXPECT_EQ(get_u64(w.ctx, OSSL_DRBG_PARAM_RESEED_REQUESTS), w.requests);
    EXPECT_EQ(get_u64(w.ctx, OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL), w.interval);
    // The primary's parent is the SEEDPOOL seed source, the others' the primary.
    EXPECT_EQ(get_str(w.ctx, "seed_source"), "pool (parent ignored)");
    EXPECT_EQ(get_str(w.ctx, "health"), "ok");
  }
}

// ---------------------------------------------------------------------------
// When it draws from the pool.

// instantiate never waits and draws nothing; the first generate draws one
// 32-byte seed; further generates, small or large, draw nothing.
TEST_F(SeedpoolDrbg, SeedsLazilyAtTheFirstGenerateAndThenDrawsNothing) {
  EVP_RAND_CTX* c = make();
  ASSERT_NE(c, nullptr);
  const std::uint64_t c0 = counter(c), s0 = served(c);
  ASSERT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1);
  EXPECT_EQ(served(c), s0) << "instantiate drew from the pool";
  EXPECT_EQ(counter(c), c0) << "instantiate seeded";

  unsigned char a[16], b[16];
  ASSERT_TRUE(generate(c, a, sizeof(a)));
  EXPECT_EQ(served(c), s0 + kSeedBytes);
  EXPECT_EQ(counter(c), c0 + 1);

  ASSERT_TRUE(generate(c, b, sizeof(b)));
  EXPECT_NE(std::memcmp(a, b, sizeof(a)), 0);
  // Buffered, direct (>= 512 bytes) and max_request-sized requests alike.
  for (std::size_t n : {std::size_t{1}, std::size_t{100}, std::size_t{511},
                        std::size_t{512}, std::size_t{4096}, kMaxRequest}) {
    const Moves m = generate_moves(c, n);
    EXPECT_EQ(m.reseeds, 0u) << n << " bytes";
    EXPECT_EQ(m.served, 0u) << n << " bytes";
  }
}

// reseed_requests = 2: every other generate reseeds first.
TEST_F(SeedpoolDrbg, ReseedsAfterReseedRequests) {
  EVP_RAND_CTX* c = ready();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(set_uint(c, OSSL_DRBG_PARAM_RESEED_REQUESTS, 2), 1);
  EXPECT_EQ(get_u64(c, OSSL_DRBG_PARAM_RESEED_REQUESTS), 2u);
  for (int i = 1; i <= 6; ++i) {
    const Moves m = generate_moves(c, 16);
    const std::uint64_t want = i % 2 == 1 ? 1 : 0;  // #1 is the lazy seed
    EXPECT_EQ(m.reseeds, want) << "generate #" << i;
    EXPECT_EQ(m.served, want * kSeedBytes) << "generate #" << i;
  }
}

// reseed_bytes = 100: a request that would go past 100 bytes since the last
// seed reseeds first; one that ends exactly at 100 does not.
TEST_F(SeedpoolDrbg, ReseedsAfterReseedBytes) {
  EVP_RAND_CTX* c = ready();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(set_u64(c, kReseedBytes, 100), 1);
  EXPECT_EQ(get_u64(c, kReseedBytes), 100u);
  const struct {
    std::size_t n;
    std::uint64_t reseeds;
  } steps[] = {{64, 1}, {36, 0}, {1, 1}, {99, 0}, {1, 1}, {50, 0}, {50, 1}};
  int i = 0;
  for (const auto& s : steps) {
    const Moves m = generate_moves(c, s.n);
    EXPECT_EQ(m.reseeds, s.reseeds) << "step " << i << ": " << s.n << " bytes";
    EXPECT_EQ(m.served, s.reseeds * kSeedBytes) << "step " << i;
    ++i;
  }
}

// A request longer than reseed_bytes (any value from 1 is accepted) is
// still served, reseeding at least every reseed_bytes bytes: EVP_RAND_generate
// and RAND_bytes split requests by max_request only, and know nothing of
// reseed_bytes.
TEST_F(SeedpoolDrbg, RequestLongerThanReseedBytesIsServed) {
  EVP_RAND_CTX* c = ready();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(set_u64(c, kReseedBytes, 100), 1);
  std::vector<unsigned char> out(1000, 0);
  const std::uint64_t c0 = counter(c);
  EXPECT_TRUE(generate(c, out.data(), out.size())) << "1000 bytes with reseed_bytes 100";
  EXPECT_FALSE(queue_has("generator must be reseeded first"));
  EXPECT_GE(counter(c), c0 + 10) << "fewer reseeds than 1000 / reseed_bytes";
  EXPECT_FALSE(all_equal(out.data() + out.size() - 64, 64, 0));
}

// reseed_time_interval = 1 s: a generate more than a second after the seed
// reseeds first.
TEST_F(SeedpoolDrbg, ReseedsAfterReseedTimeInterval) {
  EVP_RAND_CTX* c = ready();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(set_time(c, OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, 1), 1);
  EXPECT_EQ(get_u64(c, OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL), 1u);
  unsigned char b[16];
  ASSERT_TRUE(generate(c, b, sizeof(b)));
  const std::uint64_t c1 = counter(c), s1 = served(c);
  const auto deadline = Clock::now() + milliseconds(3000);
  while (counter(c) == c1 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
    ASSERT_TRUE(generate(c, b, sizeof(b)));
  }
  EXPECT_EQ(counter(c), c1 + 1) << "no reseed within 3 s of a 1 s interval";
  EXPECT_EQ(served(c), s1 + kSeedBytes);
}

// The pool's epoch moving (pool_size bits of new entropy credited) makes an
// instance reseed, but only once a second has passed since its last seed:
// with many instances, each reseed moves the epoch, and they must not chase
// it.
TEST_F(SeedpoolDrbg, ReseedsWhenThePoolsEpochMovesAtMostOncePerSecond) {
  EVP_RAND_CTX* pool = pool_instance();
  EVP_RAND_CTX* c = seeded();
  ASSERT_NE(pool, nullptr);
  ASSERT_NE(c, nullptr);

  // Control: a second passes with the epoch unchanged: no reseed.
  const std::uint64_t epoch0 = counter(pool);
  std::this_thread::sleep_for(milliseconds(1100));
  const Moves idle = generate_moves(c, 16);
  if (counter(pool) == epoch0) {
    EXPECT_EQ(idle.reseeds, 0u) << "reseeded with the epoch and the policy unchanged";
  }

  // The epoch moves: the next generate reseeds (poll: the trigger counts
  // whole seconds of a coarse clock).
  ASSERT_TRUE(move_epoch(pool)) << "the pool's epoch did not move";
  const std::uint64_t c1 = counter(c), s1 = served(c);
  unsigned char b[16];
  const auto deadline = Clock::now() + milliseconds(3000);
  do {
    ASSERT_TRUE(generate(c, b, sizeof(b)));
    if (counter(c) != c1) break;
    std::this_thread::sleep_for(milliseconds(20));
  } while (Clock::now() < deadline);
  EXPECT_EQ(counter(c), c1 + 1) << "no reseed within 3 s of the epoch moving";
  EXPECT_EQ(served(c), s1 + kSeedBytes);

  // Right after a seed, the epoch moving does not reseed. Checked only when
  // the whole sequence ran within one second of the coarse clock (so the
  // instance's age was 0): a few tries.
  bool checked = false;
  for (int attempt = 0; attempt < 5 && !checked; ++attempt) {
    const std::int64_t t0 = coarse_seconds();
    ASSERT_TRUE(generate(c, b, sizeof(b), /*pr=*/1));  // seeds now
    ASSERT_TRUE(move_epoch(pool));
    const Moves m = generate_moves(c, 16);
    if (coarse_seconds() != t0) continue;
    checked = true;
    EXPECT_EQ(m.reseeds, 0u) << "reseeded on the epoch less than 1 s after a seed";
  }
  EXPECT_TRUE(checked) << "could not run the sequence within one second";
}

// Prediction resistance: every such generate draws a fresh seed from the
// pool; a plain one afterwards draws nothing.
TEST_F(SeedpoolDrbg, PredictionResistanceDrawsFreshSeedEveryCall) {
  EVP_RAND_CTX* c = seeded();
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 3; ++i) {
    const Moves m = generate_moves(c, 16, /*pr=*/1);
    EXPECT_EQ(m.reseeds, 1u) << "pr generate #" << i;
    EXPECT_EQ(m.served, kSeedBytes) << "pr generate #" << i;
  }
  const Moves m = generate_moves(c, 16);
  EXPECT_EQ(m.reseeds, 0u);
  EXPECT_EQ(m.served, 0u);
}

// Additional input: each generate with it reseeds (the input mixed in),
// one without does not.
TEST_F(SeedpoolDrbg, AdditionalInputReseeds) {
  EVP_RAND_CTX* c = seeded();
  ASSERT_NE(c, nullptr);
  const unsigned char adin[] = "per-request context";
  for (int i = 0; i < 2; ++i) {
    const Moves m = generate_moves(c, 16, 0, adin, sizeof(adin));
    EXPECT_EQ(m.reseeds, 1u) << "adin generate #" << i;
    EXPECT_EQ(m.served, kSeedBytes) << "adin generate #" << i;
  }
  const Moves m = generate_moves(c, 16);
  EXPECT_EQ(m.reseeds, 0u);
  EXPECT_EQ(m.served, 0u);
}

// EVP_RAND_reseed reseeds at once when the pool can serve (no deferral to
// the next generate); `ent` and `adin` are mixed into the pool and credited
// nothing (it costs the same entropy as a reseed without them).
TEST_F(SeedpoolDrbg, ExplicitReseedIsImmediateAndEntIsCreditedNothing) {
  EVP_RAND_CTX* c = seeded();
  ASSERT_NE(c, nullptr);
  std::uint64_t c0 = counter(c), s0 = served(c);
  const std::uint64_t e0 = get_u64(c, "entropy_available");
  ASSERT_EQ(EVP_RAND_reseed(c, 0, nullptr, 0, nullptr, 0), 1);
  EXPECT_EQ(counter(c), c0 + 1);
  EXPECT_EQ(served(c), s0 + kSeedBytes);
  const std::uint64_t e1 = get_u64(c, "entropy_available");
  const Moves after = generate_moves(c, 16);
  EXPECT_EQ(after.reseeds, 0u) << "the reseed was deferred to the generate";

  std::vector<unsigned char> ent(256, 0x42);
  const unsigned char adin[] = "reseed adin";
  c0 = counter(c);
  s0 = served(c);
  const std::uint64_t e2 = get_u64(c, "entropy_available");
  ASSERT_EQ(EVP_RAND_reseed(c, 0, ent.data(), ent.size(), adin, sizeof(adin)), 1);
  EXPECT_EQ(counter(c), c0 + 1);
  EXPECT_EQ(served(c), s0 + kSeedBytes);
  const std::uint64_t e3 = get_u64(c, "entropy_available");
  // Both reseeds ran from a pool that covered them (no refill in between),
  // so each cost the seed's debit; 256 credited bytes would have filled it.
  ASSERT_GE(e0, 1024u) << "pool too low for the comparison";
  EXPECT_LT(e1, e0);
  EXPECT_EQ(e2 - e3, e0 - e1) << "ent changed the entropy estimate";

  // With prediction resistance, too.
  c0 = counter(c);
  ASSERT_EQ(EVP_RAND_reseed(c, 1, nullptr, 0, nullptr, 0), 1);
  EXPECT_EQ(counter(c), c0 + 1);
}

// Fork: an instance seeded before fork() reseeds in the child before its
// first output (reseed_counter moves there), not in the parent, and parent
// and child get different bytes.
TEST_F(SeedpoolDrbg, ForkedChildReseedsAndDiffersFromTheParent) {
  EVP_RAND_CTX* c = seeded();
  ASSERT_NE(c, nullptr);
  const std::uint64_t c0 = counter(c);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::alarm(10);  // a hung child must not hang the test: EOF on the pipe
    struct {
      unsigned char bytes[32];
      std::uint64_t before, after;
    } report{};
    report.before = raw_counter(c);
    const bool ok = EVP_RAND_generate(c, report.bytes, sizeof(report.bytes), 256, 0,
                                      nullptr, 0) == 1;
    report.after = raw_counter(c);
    const bool sent = ok && ::write(fds[1], &report, sizeof(report)) ==
                                static_cast<ssize_t>(sizeof(report));
    ::_exit(sent ? 0 : 1);
  }
  ::close(fds[1]);
  unsigned char mine[32];
  const bool ok = generate(c, mine, sizeof(mine));
  struct {
    unsigned char bytes[32];
    std::uint64_t before, after;
  } theirs{};
  const bool got = read_all(fds[0], &theirs, sizeof(theirs));
  ::close(fds[0]);
  ASSERT_TRUE(child_succeeded(pid)) << "the child could not generate";
  ASSERT_TRUE(ok);
  ASSERT_TRUE(got);
  EXPECT_EQ(counter(c), c0) << "the parent reseeded";
  EXPECT_EQ(theirs.before, c0);
  EXPECT_EQ(theirs.after, c0 + 1) << "the child did not reseed before its output";
  EXPECT_NE(std::memcmp(mine, theirs.bytes, sizeof(mine)), 0)
      << "SEEDPOOL-DRBG repeated across fork";
}

// RAND_bytes / RAND_priv_bytes through a library context configured with
// `random = SEEDPOOL-DRBG`, used before fork(): parent and child get
// different bytes after it.
TEST(SeedpoolDrbgConfigured, ParentAndChildDifferAfterForkThroughRandBytes) {
  ConfiguredLibCtx conf("seedpool_drbg_fork", provider_conf("", kDrbgRandomSect));
  ASSERT_TRUE(conf.loaded());
  OSSL_LIB_CTX* libctx = conf.get();
  unsigned char warm[32];
  ASSERT_EQ(RAND_bytes_ex(libctx, warm, sizeof(warm), 0), 1);
  ASSERT_EQ(RAND_priv_bytes_ex(libctx, warm, sizeof(warm), 0), 1);
  ASSERT_TRUE(EVP_RAND_is_a(EVP_RAND_CTX_get0_rand(RAND_get0_public(libctx)), kDrbg));
  const DrawsAcrossFork d = rand_across_fork(libctx);
  ASSERT_TRUE(d.child_ok) << "RAND_bytes failed in the child";
  ASSERT_TRUE(d.parent_ok);
  EXPECT_NE(std::memcmp(d.mine, d.theirs, 32), 0) << "RAND_bytes repeated across fork";
  EXPECT_NE(std::memcmp(d.mine + 32, d.theirs + 32, 32), 0)
      << "RAND_priv_bytes repeated across fork";
}

// Two threads calling RAND_bytes_ex each get their own public instance, a
// SEEDPOOL-DRBG seeded straight from the pool (one seed each), and
// different streams.
TEST(SeedpoolDrbgConfigured, ThreadsGetTheirOwnInstancesAndStreams) {
  ConfiguredLibCtx conf("seedpool_drbg_threads", provider_conf("", kDrbgRandomSect));
  ASSERT_TRUE(conf.loaded());
  OSSL_LIB_CTX* libctx = conf.get();
  EVP_RAND_CTX* primary = RAND_get0_primary(libctx);
  ASSERT_NE(primary, nullptr);
  const std::uint64_t served0 = served(primary);

  struct Result {
    bool ok = false;
    EVP_RAND_CTX* instance = nullptr;
    bool is_drbg = false;
    std::string provider, seed_source;
    std::vector<unsigned char> stream;
  };
  Result results[2];
  // Both instances stay alive until both threads have looked at them, so
  // their addresses cannot be reused.
  std::latch looked(2);
  auto body = [&](Result& r) {
    r.stream.resize(4 * 64);
    r.ok = true;
    for (int i = 0; i < 4; ++i)
      r.ok = r.ok && RAND_bytes_ex(libctx, r.stream.data() + 64 * i, 64, 0) == 1;
    r.instance = RAND_get0_public(libctx);
    if (r.instance != nullptr) {
      const EVP_RAND* rand = EVP_RAND_CTX_get0_rand(r.instance);
      r.is_drbg = EVP_RAND_is_a(rand, kDrbg) == 1;
      r.provider = OSSL_PROVIDER_get0_name(EVP_RAND_get0_provider(rand));
      char buf[64] = "";
      OSSL_PARAM p[2] = {OSSL_PARAM_construct_utf8_string("seed_source", buf, sizeof(buf)),
                         OSSL_PARAM_END};
      if (EVP_RAND_CTX_get_params(r.instance, p) == 1) r.seed_source = buf;
    }
    looked.arrive_and_wait();
  };
  std::thread a(body, std::ref(results[0]));
  std::thread b(body, std::ref(results[1]));
  a.join();
  b.join();

  for (const Result& r : results) {
    EXPECT_TRUE(r.ok);
    ASSERT_NE(r.instance, nullptr);
    EXPECT_TRUE(r.is_drbg);
    EXPECT_EQ(r.provider, "seedpool");
    EXPECT_EQ(r.seed_source, "pool (parent ignored)");
  }
  EXPECT_NE(results[0].instance, results[1].instance) << "one instance shared by two threads";
  EXPECT_NE(results[0].stream, results[1].stream);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      EXPECT_NE(std::memcmp(results[0].stream.data() + 64 * i,
                            results[1].stream.data() + 64 * j, 64),
                0)
          << "thread streams share a block";
  EXPECT_EQ(served(primary), served0 + 2 * kSeedBytes)
      << "each thread's instance draws its own seed, nothing else";
}

// ---------------------------------------------------------------------------
// Under OpenSSL's own CTR-DRBG, through get_seed.

class SeedpoolDrbgParent : public SeedpoolDrbg,
                           public ::testing::WithParamInterface<bool> {
 protected:
  SeedpoolDrbgParent() { load_default_ = true; }  // for CTR-DRBG
};

// A CTR-DRBG (default provider) with a SEEDPOOL-DRBG parent instantiates
// and generates; EVP_RAND_reseed on it with prediction resistance makes the
// parent draw a fresh seed from the pool in its get_seed. Also with the
// parent's locking enabled (as OpenSSL's primary has).
TEST_P(SeedpoolDrbgParent, CtrDrbgChildSeedsAndReseedsThroughGetSeed) {
  const bool locking = GetParam();
  EVP_RAND_CTX* parent = make();
  ASSERT_NE(parent, nullptr);
  if (locking) {
    ASSERT_EQ(EVP_RAND_enable_locking(parent), 1);
  }
  ASSERT_EQ(EVP_RAND_instantiate(parent, 0, 0, nullptr, 0, nullptr), 1);
  EVP_RAND_CTX* child = make_ctr_child(parent);
  ASSERT_NE(child, nullptr);
  if (locking) {
    ASSERT_EQ(EVP_RAND_enable_locking(child), 1);
  }
  const std::uint64_t p0 = counter(parent), s0 = served(parent);
  ASSERT_EQ(EVP_RAND_instantiate(child, 256, 0, nullptr, 0, nullptr), 1)
      << "CTR-DRBG refused SEEDPOOL-DRBG as its parent";
  EXPECT_EQ(EVP_RAND_get_state(child), EVP_RAND_STATE_READY);
  EXPECT_GE(counter(parent), p0 + 1) << "the parent was not seeded for its child";
  EXPECT_GE(served(parent), s0 + kSeedBytes);
  unsigned char a[64], b[64];
  ASSERT_EQ(EVP_RAND_generate(child, a, sizeof(a), 256, 0, nullptr, 0), 1);
  ASSERT_EQ(EVP_RAND_generate(child, b, sizeof(b), 256, 0, nullptr, 0), 1);
  EXPECT_NE(std::memcmp(a, b, sizeof(a)), 0);

  const std::uint64_t p1 = counter(parent), s1 = served(parent);
  ASSERT_EQ(EVP_RAND_reseed(child, 1, nullptr, 0, nullptr, 0), 1);
  EXPECT_EQ(counter(parent), p1 + 1) << "pr reseed of the child did not reseed the parent";
  EXPECT_EQ(served(parent), s1 + kSeedBytes);
  ASSERT_EQ(EVP_RAND_generate(child, a, sizeof(a), 256, 1, nullptr, 0), 1);
  EXPECT_EQ(counter(parent), p1 + 2) << "pr generate of the child";
}

INSTANTIATE_TEST_SUITE_P(Locking, SeedpoolDrbgParent, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? std::string("ParentLocked")
                                          : std::string("ParentUnlocked");
                         });

// ---------------------------------------------------------------------------
// Refusals.

// Out-of-range or mistyped policy params are refused with seedpool's reason
// and a detail naming the key, and leave the whole policy as it was (also
// when a valid value came in the same call).
TEST_F(SeedpoolDrbg, BadPolicyParamsAreRefusedAndChangeNothing) {
  EVP_RAND_CTX* c = ready();
  ASSERT_NE(c, nullptr);
  // A policy other than the defaults, so "unchanged" means something.
  ASSERT_EQ(set_uint(c, OSSL_DRBG_PARAM_RESEED_REQUESTS, 1000), 1);
  ASSERT_EQ(set_time(c, OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, 60), 1);
  ASSERT_EQ(set_u64(c, kReseedBytes, 5000), 1);

  unsigned int zero_u = 0;
  time_t zero_t = 0, day_plus = 100000;
  std::uint64_t zero_64 = 0, huge_64 = std::uint64_t{1} << 41;
  unsigned int valid_requests = 7;
  char text[] = "many";
  const struct {
    const char* what;
    const char* key;  // the key the detail must name
    OSSL_PARAM params[3];
  } cases[] = {
      {"reseed_requests 0", OSSL_DRBG_PARAM_RESEED_REQUESTS,
       {OSSL_PARAM_construct_uint(OSSL_DRBG_PARAM_RESEED_REQUESTS, &zero_u),
        OSSL_PARAM_END, OSSL_PARAM_END}},
      {"reseed_time_interval 0", OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL,
       {OSSL_PARAM_construct_time_t(OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, &zero_t),
        OSSL_PARAM_END, OSSL_PARAM_END}},
      {"reseed_time_interval 100000", OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL,
       {OSSL_PARAM_construct_time_t(OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, &day_plus),
        OSSL_PARAM_END, OSSL_PARAM_END}},
      {"reseed_bytes 0", kReseedBytes,
       {OSSL_PARAM_construct_uint64(kReseedBytes, &zero_64), OSSL_PARAM_END,
        OSSL_PARAM_END}},
      {"reseed_bytes 2^41", kReseedBytes,
       {OSSL_PARAM_construct_uint64(kReseedBytes, &huge_64), OSSL_PARAM_END,
        OSSL_PARAM_END}},
      {"reseed_requests as a UTF-8 string", OSSL_DRBG_PARAM_RESEED_REQUESTS,
       {OSSL_PARAM_construct_utf8_string(OSSL_DRBG_PARAM_RESEED_REQUESTS, text, 0),
        OSSL_PARAM_END, OSSL_PARAM_END}},
      {"reseed_bytes as a UTF-8 string", kReseedBytes,
       {OSSL_PARAM_construct_utf8_string(kReseedBytes, text, 0), OSSL_PARAM_END,
        OSSL_PARAM_END}},
      {"valid reseed_requests 7 with reseed_bytes 0", kReseedBytes,
       {OSSL_PARAM_construct_uint(OSSL_DRBG_PARAM_RESEED_REQUESTS, &valid_requests),
        OSSL_PARAM_construct_uint64(kReseedBytes, &zero_64), OSSL_PARAM_END}},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.what);
    ERR_clear_error();
    OSSL_PARAM params[3];
    std::memcpy(params, k.params, sizeof(params));
    EXPECT_EQ(EVP_RAND_CTX_set_params(c, params), 0);
    std::string detail;
    EXPECT_TRUE(queue_has("bad parameter value", &detail));
    EXPECT_NE(detail.find(k.key), std::string::npos) << detail;
    EXPECT_EQ(get_u64(c, OSSL_DRBG_PARAM_RESEED_REQUESTS), 1000u);
    EXPECT_EQ(get_u64(c, OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL), 60u);
    EXPECT_EQ(get_u64(c, kReseedBytes), 5000u);
  }
  // The bounds themselves are accepted.
  EXPECT_EQ(set_uint(c, OSSL_DRBG_PARAM_RESEED_REQUESTS, 1), 1);
  EXPECT_EQ(set_time(c, OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, 86400), 1);
  EXPECT_EQ(set_u64(c, kReseedBytes, std::uint64_t{1} << 40), 1);
  EXPECT_EQ(get_u64(c, kReseedBytes), std::uint64_t{1} << 40);
  unsigned char b[16];
  EXPECT_TRUE(generate(c, b, sizeof(b)));

  // instantiate with a bad policy in its params fails and leaves the
  // instance uninstantiated.
  EVP_RAND_CTX* d = make();
  ASSERT_NE(d, nullptr);
  ERR_clear_error();
  OSSL_PARAM bad[2] = {
      OSSL_PARAM_construct_uint(OSSL_DRBG_PARAM_RESEED_REQUESTS, &zero_u), OSSL_PARAM_END};
  EXPECT_EQ(EVP_RAND_instantiate(d, 0, 0, nullptr, 0, bad), 0);
  std::string detail;
  EXPECT_TRUE(queue_has("bad parameter value", &detail));
  EXPECT_NE(detail.find(OSSL_DRBG_PARAM_RESEED_REQUESTS), std::string::npos) << detail;
  EXPECT_EQ(EVP_RAND_get_state(d), EVP_RAND_STATE_UNINITIALISED);
  EXPECT_FALSE(generate(d, b, sizeof(b)));
  EXPECT_TRUE(queue_has("not instantiated"));
}

// Strength above 256 bits, a NULL output with a length, generate before
// instantiate: refused with seedpool's reasons, the output untouched; the
// instance keeps working afterwards.
TEST_F(SeedpoolDrbg, BadArgumentsAreRefusedWithTheirReasons) {
  EVP_RAND_CTX* c = make();
  ASSERT_NE(c, nullptr);
  unsigned char out[32];
  std::memset(out, 0xA5, sizeof(out));
  EXPECT_FALSE(generate(c, out, sizeof(out)));
  EXPECT_TRUE(queue_has("not instantiated"));
  EXPECT_TRUE(all_equal(out, sizeof(out), 0xA5)) << "output written before instantiate";

  EXPECT_EQ(EVP_RAND_instantiate(c, 257, 0, nullptr, 0, nullptr), 0);
  std::string detail;
  EXPECT_TRUE(queue_has("requested strength exceeds 256 bits", &detail));
  EXPECT_NE(detail.find("257"), std::string::npos) << detail;
  EXPECT_EQ(EVP_RAND_get_state(c), EVP_RAND_STATE_UNINITIALISED);

  ASSERT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1);
  EXPECT_EQ(EVP_RAND_generate(c, out, sizeof(out), 257, 0, nullptr, 0), 0);
  EXPECT_TRUE(queue_has("requested strength exceeds 256 bits"));
  EXPECT_TRUE(all_equal(out, sizeof(out), 0xA5));
  EXPECT_EQ(EVP_RAND_generate(c, nullptr, 16, 256, 0, nullptr, 0), 0);
  EXPECT_TRUE(queue_has("invalid argument"));
  EXPECT_EQ(EVP_RAND_generate(c, out, 0, 256, 0, nullptr, 0), 1) << "zero length";
  EXPECT_TRUE(all_equal(out, sizeof(out), 0xA5));
  EXPECT_TRUE(generate(c, out, sizeof(out)));
  EXPECT_FALSE(all_equal(out, sizeof(out), 0xA5));
}

// 200 KiB in one EVP_RAND_generate: EVP splits it by max_request (64 KiB);
// every chunk is served from the one seed, and no two chunks repeat.
TEST_F(SeedpoolDrbg, LargeRequestIsSplitByMaxRequestAndServed) {
  EVP_RAND_CTX* c = ready();
  ASSERT_NE(c, nullptr);
  const std::uint64_t c0 = counter(c), s0 = served(c);
  std::vector<unsigned char> big(200 * 1024, 0);
  ASSERT_TRUE(generate(c, big.data(), big.size()));
  EXPECT_EQ(counter(c), c0 + 1);
  EXPECT_EQ(served(c), s0 + kSeedBytes);
  const std::size_t offsets[] = {0, kMaxRequest, 2 * kMaxRequest, 3 * kMaxRequest,
                                 big.size() - 64};
  for (std::size_t i = 0; i < std::size(offsets); ++i) {
    EXPECT_FALSE(all_equal(big.data() + offsets[i], 64, 0)) << "zeros at " << offsets[i];
    for (std::size_t j = i + 1; j < std::size(offsets); ++j)
      EXPECT_NE(std::memcmp(big.data() + offsets[i], big.data() + offsets[j], 64), 0)
          << offsets[i] << " and " << offsets[j];
  }
}

// verify_zeroization: 0 while instantiated and used, 1 after uninstantiate;
// then generate fails until it is instantiated again, which reseeds.
TEST_F(SeedpoolDrbg, UninstantiateZeroizesAndReinstantiateReseeds) {
  EVP_RAND_CTX* c = ready();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(EVP_RAND_verify_zeroization(c), 0) << "instantiated";
  unsigned char out[32];
  ASSERT_TRUE(generate(c, out, sizeof(out)));
  EXPECT_EQ(EVP_RAND_verify_zeroization(c), 0) << "instantiated and used";

  ASSERT_EQ(EVP_RAND_uninstantiate(c), 1);
  EXPECT_EQ(EVP_RAND_get_state(c), EVP_RAND_STATE_UNINITIALISED);
  EXPECT_EQ(EVP_RAND_verify_zeroization(c), 1);
  std::memset(out, 0xA5, sizeof(out));
  EXPECT_FALSE(generate(c, out, sizeof(out)));
  EXPECT_TRUE(queue_has("not instantiated"));
  EXPECT_TRUE(all_equal(out, sizeof(out), 0xA5));

  ASSERT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1);
  const std::uint64_t c0 = counter(c), s0 = served(c);
  ASSERT_TRUE(generate(c, out, sizeof(out)));
  EXPECT_EQ(counter(c), c0 + 1) << "re-instantiated without a new seed";
  EXPECT_EQ(served(c), s0 + kSeedBytes);
  EXPECT_EQ(EVP_RAND_verify_zeroization(c), 0);
}

// ---------------------------------------------------------------------------
// A starved pool.

// A library context whose pool's only source is a FIFO the test creates
// and feeds (credited 8 bits per byte, block_timeout_ms 200), as in
// test/integration/cli_test.sh's fifo_device case, and a SEEDPOOL-DRBG
// instance from it, instantiated: starved until the test feeds it.
class SeedpoolDrbgStarved : public ::testing::Test {
 protected:
  void SetUp() override {
    fifo_ = ::testing::TempDir() + "seedpool_drbg_noise." + std::to_string(::getpid()) +
            ".fifo";
    (void)::unlink(fifo_.c_str());
    ASSERT_EQ(::mkfifo(fifo_.c_str(), 0600), 0) << fifo_ << ": " << std::strerror(errno);
    made_fifo_ = true;
    conf_ = std::make_unique<ConfiguredLibCtx>(
        "seedpool_drbg_starved",
        provider_conf("sources = device\ndevice = " + fifo_ +
                      "\ndevice_credit = 8\nblock_timeout_ms = 200\n"));
    ASSERT_TRUE(conf_->loaded());
    c_ = instance(kDrbg);
    ASSERT_NE(c_, nullptr);
  }
  void TearDown() override {
    for (EVP_RAND_CTX* c : ctxs_) EVP_RAND_CTX_free(c);
    conf_.reset();
    if (made_fifo_) (void)::unlink(fifo_.c_str());
  }
  // An instantiated instance of `name` from seedpool in the context.
  EVP_RAND_CTX* instance(const char* name) {
    EVP_RAND* rand = EVP_RAND_fetch(conf_->get(), name, kSeedpoolProp);
    EXPECT_NE(rand, nullptr) << name;
    if (rand == nullptr) return nullptr;
    EVP_RAND_CTX* c = EVP_RAND_CTX_new(rand, nullptr);
    EVP_RAND_free(rand);
    EXPECT_NE(c, nullptr) << name;
    if (c == nullptr) return nullptr;
    ctxs_.push_back(c);
    EXPECT_EQ(EVP_RAND_instantiate(c, 256, 0, nullptr, 0, nullptr), 1)
        << name << ": instantiate must not need entropy";
    return c;
  }
  // A writer thread feeds `n` bytes of getrandom() output into the FIFO and
  // closes it. seedpool holds the FIFO open, so a non-blocking open for
  // writing finds a reader, and a few KiB fit in the pipe at once. Returns
  // what went wrong, or "".
  std::string feed(std::size_t n) const {
    std::string error;
    std::thread writer([&] {
      std::vector<unsigned char> noise(n);
      for (std::size_t got = 0; got < noise.size();) {
        const ssize_t r = ::getrandom(noise.data() + got, noise.size() - got, 0);
        if (r <= 0) {
          error = "getrandom failed";
          return;
        }
        got += static_cast<std::size_t>(r);
      }
      const int fd = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) {
        error = std::string("open for writing: ") + std::strerror(errno);
        return;
      }
      if (::write(fd, noise.data(), noise.size()) != static_cast<ssize_t>(noise.size()))
        error = std::string("write: ") + std::strerror(errno);
      (void)::close(fd);
    });
    writer.join();
    return error;
  }
  // Reads and discards what the pool left in the FIFO: its sources then
  // have nothing fresh, while what the pool holds stays credited.
  void drain_fifo() const {
    const int fd = ::open(fifo_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    unsigned char buf[4096];
    while (::read(fd, buf, sizeof(buf)) > 0) {
    }
    (void)::close(fd);
  }

  std::string fifo_;
  bool made_fifo_ = false;
  std::unique_ptr<ConfiguredLibCtx> conf_;
  EVP_RAND_CTX* c_ = nullptr;
  std::vector<EVP_RAND_CTX*> ctxs_;
};

// Starved, the first generate waits block_timeout_ms, fails with seedpool's
// reason and leaves the output untouched (never unseeded bytes); once a
// writer has fed the FIFO, generate succeeds and the device is credited.
// A reseed asked for while the pool is dry is not skipped.
TEST_F(SeedpoolDrbgStarved, FailsClosedAfterTheBoundThenServesWhenFed) {
  EVP_RAND_CTX* c = c_;
  // instantiate did not even ask: a request to this pool could only fail.
  EXPECT_EQ(get_u64(c, "requests_failed"), 0u) << "instantiate asked the pool";

  unsigned char out[32];
  std::memset(out, 0xA5, sizeof(out));
  ERR_clear_error();
  const auto t1 = Clock::now();
  EXPECT_FALSE(generate(c, out, sizeof(out)));
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - t1);
  EXPECT_GE(waited.count(), 200) << "gave up before block_timeout_ms";
  EXPECT_TRUE(queue_has("timed out waiting for entropy"));
  EXPECT_TRUE(all_equal(out, sizeof(out), 0xA5)) << "output written while starved";
  EXPECT_GE(get_u64(c, "requests_timed_out"), 1u);

  // A writer feeds the FIFO: 1024 bytes for the health tests' start-up
  // test, and more.
  ASSERT_EQ(feed(4096), "");
  const std::uint64_t c1 = counter(c), s1 = served(c);
  EXPECT_TRUE(generate(c, out, sizeof(out))) << "still failing once fed";
  EXPECT_FALSE(all_equal(out, sizeof(out), 0xA5));
  EXPECT_EQ(counter(c), c1 + 1);
  EXPECT_EQ(served(c), s1 + kSeedBytes);
  const std::string sources = get_str(c, "sources");
  EXPECT_EQ(sources.rfind("device:ok:", 0), 0u) << sources;
  EXPECT_NE(sources, "device:ok:0") << "the device was not credited";

  // Starved again (drained by 32-byte draws straight from the pool, what a
  // seed costs): EVP_RAND_reseed cannot reseed now, so it defers; the next
  // generate must reseed first, and fails closed rather than serve from the
  // state it had before the reseed was asked for.
  EVP_RAND_CTX* pool = instance("SEEDPOOL");
  ASSERT_NE(pool, nullptr);
  int draws = 0;
  while (draws < 2000 && generate(pool, out, sizeof(out))) ++draws;
  ASSERT_LT(draws, 2000) << "the pool never ran dry";
  ERR_clear_error();
  const std::uint64_t c2 = counter(c);
  EXPECT_EQ(EVP_RAND_reseed(c, 0, nullptr, 0, nullptr, 0), 1) << "reseed must not wait";
  EXPECT_EQ(counter(c), c2) << "reseeded from a dry pool";
  std::memset(out, 0xA5, sizeof(out));
  EXPECT_FALSE(generate(c, out, sizeof(out))) << "served without the reseed asked for";
  EXPECT_TRUE(queue_has("timed out waiting for entropy"));
  EXPECT_TRUE(all_equal(out, sizeof(out), 0xA5));
  ASSERT_EQ(feed(4096), "");
  EXPECT_TRUE(generate(c, out, sizeof(out)));
  EXPECT_EQ(counter(c), c2 + 1);
}

// EVP_RAND_reseed with prediction resistance, while the pool holds credited
// entropy but its source has nothing fresh: it cannot reseed now and defers
// (it never waits); the deferred reseed keeps the prediction resistance, so
// the next generate waits for fresh source input and, with none within
// block_timeout_ms, fails closed rather than reseed from what the pool held
// all along.
TEST_F(SeedpoolDrbgStarved, DeferredPredictionResistantReseedStaysPredictionResistant) {
  EVP_RAND_CTX* c = c_;
  ASSERT_EQ(feed(4096), "");
  unsigned char out[32];
  ASSERT_TRUE(generate(c, out, sizeof(out)));
  drain_fifo();
  ASSERT_GE(get_u64(c, "entropy_available"), 2 * 320u)
      << "the pool should still hold credit for a seed";
  // Control: nothing fresh, so a prediction-resistant generate fails.
  ERR_clear_error();
  EXPECT_FALSE(generate(c, out, sizeof(out), /*pr=*/1)) << "the source still had input";
  EXPECT_TRUE(queue_has("timed out waiting for entropy"));

  const std::uint64_t c0 = counter(c);
  EXPECT_EQ(EVP_RAND_reseed(c, 1, nullptr, 0, nullptr, 0), 1) << "reseed must not wait";
  EXPECT_EQ(counter(c), c0) << "a prediction-resistant reseed without fresh input";
  std::memset(out, 0xA5, sizeof(out));
  EXPECT_FALSE(generate(c, out, sizeof(out)))
      << "served after a prediction-resistant reseed without fresh input";
  EXPECT_TRUE(queue_has("timed out waiting for entropy"));
  EXPECT_TRUE(all_equal(out, sizeof(out), 0xA5));
  EXPECT_EQ(counter(c), c0);

  ASSERT_EQ(feed(4096), "");
  EXPECT_TRUE(generate(c, out, sizeof(out)));
  EXPECT_EQ(counter(c), c0 + 1);
}

}  // namespace
