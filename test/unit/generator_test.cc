// The generator behind SEEDPOOL-DRBG (pool/generator.h): known answers
// against an independent model built on libcrypto's raw AES-256 block
// function (ECB over counter blocks, not the CTR code the generator uses),
// the reseed triggers, the limits, and fork.
#include "pool/generator.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "pool/fork.h"

namespace seedpool::pool {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Trigger = Generator::Trigger;

// AES-256 keystream from counter block `first` (a 128-bit big-endian
// counter, as OpenSSL's CTR mode), computed block by block with AES-256-ECB.
Bytes model_keystream(const Bytes& key, std::uint64_t first, std::size_t n) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EXPECT_NE(ctx, nullptr);
  EXPECT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), nullptr, key.data(), nullptr), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_set_padding(ctx, 0), 1);
  Bytes out;
  for (std::uint64_t block = first; out.size() < n; ++block) {
    std::array<std::uint8_t, 16> ctr{};
    for (int i = 0; i < 8; ++i) ctr[15 - i] = static_cast<std::uint8_t>(block >> (8 * i));
    std::array<std::uint8_t, 16> ks{};
    int outl = 0;
    EXPECT_EQ(EVP_EncryptUpdate(ctx, ks.data(), &outl, ctr.data(), 16), 1);
    out.insert(out.end(), ks.begin(), ks.end());
  }
  EVP_CIPHER_CTX_free(ctx);
  out.resize(n);
  return out;
}

// The construction of generator.h, restated naively. The counter starts at
// 0 in a new generator and carries on across re-keys; a re-key drops the
// rest of a partly used block.
class Model {
 public:
  Bytes keystream(std::size_t n) {
    Bytes ks = model_keystream(key_, ctr_, n);
    ctr_ += (n + 15) / 16;
    return ks;
  }
  static constexpr std::size_t kBuf = 3840;
  void reseed(const Bytes& seed) {
    Bytes ks = keystream(32);
    for (std::size_t i = 0; i < 32; ++i) ks[i] ^= seed[i];
    key_ = ks;
    buf_.clear();
  }
  Bytes generate(std::size_t n) {
    if (n >= Generator::kDirectBytes) {
      if (buf_.size() < 32) refill();
      Bytes out = keystream(n);
      key_.assign(buf_.begin(), buf_.begin() + 32);
      buf_.erase(buf_.begin(), buf_.begin() + 32);
      return out;
    }
    Bytes out;
    while (out.size() < n) {
      if (buf_.empty()) refill();
      const std::size_t take = std::min(n - out.size(), buf_.size());
      out.insert(out.end(), buf_.begin(), buf_.begin() + take);
      buf_.erase(buf_.begin(), buf_.begin() + take);
    }
    return out;
  }

 private:
  void refill() {
    Bytes ks = keystream(32 + kBuf);
    key_.assign(ks.begin(), ks.begin() + 32);
    buf_.assign(ks.begin() + 32, ks.end());
  }
  Bytes key_ = Bytes(32, 0);
  std::uint64_t ctr_ = 0;
  Bytes buf_;
};

Bytes pattern_seed(std::uint8_t first) {
  Bytes s(Generator::kSeedBytes);
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(first + 7 * i);
  return s;
}

class GeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(GeneratorCipher::create(cipher_), Errc::ok);
    ASSERT_EQ(Generator::create(*cipher_, gen_), Errc::ok);
  }
  // Reseeds with a copy of `seed` (reseed cleanses what it is given).
  Errc reseed(const Bytes& seed, std::uint32_t epoch = 1) {
    Bytes copy = seed;
    const Errc rc = gen_->reseed(copy, epoch);
    EXPECT_TRUE(std::all_of(copy.begin(), copy.end(), [](std::uint8_t b) { return b == 0; }))
        << "the seed must be cleansed once used";
    return rc;
  }
  Bytes generate(std::size_t n) {
    Bytes out(n);
    EXPECT_EQ(gen_->generate(out), Errc::ok);
    return out;
  }

  std::unique_ptr<GeneratorCipher> cipher_;
  std::unique_ptr<Generator> gen_;
};

TEST_F(GeneratorTest, KnownAnswersMatchAnIndependentModel) {
  Model model;
  const Bytes s1 = pattern_seed(1);
  ASSERT_EQ(reseed(s1), Errc::ok);
  model.reseed(s1);
  // Buffered small requests, a direct large one in between (the buffer keeps
  // its bytes across it), a request that spans a refill, then a reseed that
  // throws the buffer away, then more.
  for (std::size_t n : {32u, 16u, 1000u, 16u, 4000u, 100u, 3800u, 200u, 65536u, 1u}) {
    EXPECT_EQ(generate(n), model.generate(n)) << "request of " << n << " bytes";
  }
  const Bytes s2 = pattern_seed(99);
  ASSERT_EQ(reseed(s2), Errc::ok);
  model.reseed(s2);
  for (std::size_t n : {8u, 511u, 512u, 33u}) {
    EXPECT_EQ(generate(n), model.generate(n)) << "after reseed, " << n << " bytes";
  }
}

TEST_F(GeneratorTest, FirstKeyIsTheSeedUnderAPublicMaskAndSeedsDiffer) {
  // The same seed twice gives the same stream (deterministic given the seed:
  // all unpredictability comes from the pool); another seed another stream.
  std::unique_ptr<Generator> other;
  ASSERT_EQ(Generator::create(*cipher_, other), Errc::ok);
  Bytes a = pattern_seed(5), b = pattern_seed(5), c = pattern_seed(6);
  ASSERT_EQ(gen_->reseed(a, 1), Errc::ok);
  ASSERT_EQ(other->reseed(b, 1), Errc::ok);
  Bytes x(64), y(64);
  ASSERT_EQ(gen_->generate(x), Errc::ok);
  ASSERT_EQ(other->generate(y), Errc::ok);
  EXPECT_EQ(x, y);
  ASSERT_EQ(other->reseed(c, 1), Errc::ok);
  ASSERT_EQ(other->generate(y), Errc::ok);
  ASSERT_EQ(gen_->generate(x), Errc::ok);
  EXPECT_NE(x, y);
}

TEST_F(GeneratorTest, UnseededNeverServes) {
  EXPECT_EQ(gen_->reseed_trigger(32, false, false, 1), Trigger::unseeded);
  Bytes out(32, 0xAA);
  EXPECT_EQ(gen_->generate(out), Errc::reseed_required);
  EXPECT_EQ(out, Bytes(32, 0xAA)) << "nothing written";
  EXPECT_EQ(gen_->reseed_count(), 1u);
  ASSERT_EQ(reseed(pattern_seed(1)), Errc::ok);
  EXPECT_EQ(gen_->reseed_count(), 2u);
  EXPECT_EQ(gen_->reseed_trigger(32, false, false, 1), Trigger::none);
}

TEST_F(GeneratorTest, RequestLimitIsHard) {
  Generator::Policy p;
  p.reseed_requests = 3;
  ASSERT_EQ(gen_->set_policy(p), Errc::ok);
  ASSERT_EQ(reseed(pattern_seed(1)), Errc::ok);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(gen_->reseed_trigger(8, false, false, 1), Trigger::none);
    generate(8);
  }
  EXPECT_EQ(gen_->reseed_trigger(8, false, false, 1), Trigger::requests);
  Bytes out(8);
  EXPECT_EQ(gen_->generate(out), Errc::reseed_required);
  ASSERT_EQ(reseed(pattern_seed(2)), Errc::ok);
  EXPECT_EQ(gen_->generate(out), Errc::ok);
}

TEST_F(GeneratorTest, ByteLimitCountsTheRequestAboutToBeServed) {
  Generator::Policy p;
  p.reseed_bytes = 100;
  ASSERT_EQ(gen_->set_policy(p), Errc::ok);
  ASSERT_EQ(reseed(pattern_seed(1)), Errc::ok);
  generate(64);
  EXPECT_EQ(gen_->reseed_trigger(36, false, false, 1), Trigger::none);
  EXPECT_EQ(gen_->reseed_trigger(37, false, false, 1), Trigger::bytes);
  Bytes out(37);
  EXPECT_EQ(gen_->generate(out), Errc::reseed_required);
  Bytes ok(36);
  EXPECT_EQ(gen_->generate(ok), Errc::ok);
  EXPECT_EQ(gen_->reseed_trigger(1, false, false, 1), Trigger::bytes);
}

TEST_F(GeneratorTest, TimeLimitIsHard) {
  Generator::Policy p;
  p.reseed_interval = std::chrono::seconds{1};
  ASSERT_EQ(gen_->set_policy(p), Errc::ok);
  ASSERT_EQ(reseed(pattern_seed(1)), Errc::ok);
  // The coarse clock counts whole seconds: within 3 s the limit must come.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds{3};
  while (gen_->reseed_trigger(8, false, false, 1) == Trigger::none &&
         std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  EXPECT_EQ(gen_->reseed_trigger(8, false, false, 1), Trigger::time);
  Bytes out(8);
  EXPECT_EQ(gen_->generate(out), Errc::reseed_required);
}

TEST_F(GeneratorTest, PoolEpochIsASoftTriggerWithAMinimumInterval) {
  ASSERT_EQ(reseed(pattern_seed(1), /*epoch=*/7), Errc::ok);
  // Default: a moved epoch counts only a second after the last seed.
  EXPECT_EQ(gen_->reseed_trigger(8, false, false, 8), Trigger::none);
  Generator::Policy p;
  p.epoch_min_interval = std::chrono::seconds{0};
  ASSERT_EQ(gen_->set_policy(p), Errc::ok);
  EXPECT_EQ(gen_->reseed_trigger(8, false, false, 7), Trigger::none);
  EXPECT_EQ(gen_->reseed_trigger(8, false, false, 8), Trigger::epoch);
  // Soft: the generator still serves (the caller reseeds when it can).
  Bytes out(8);
  EXPECT_EQ(gen_->generate(out), Errc::ok);
  ASSERT_EQ(reseed(pattern_seed(2), 8), Errc::ok);
  EXPECT_EQ(gen_->reseed_trigger(8, false, false, 8), Trigger::none);
}

TEST_F(GeneratorTest, PredictionResistanceAdditionalInputAndExplicitRequest) {
  ASSERT_EQ(reseed(pattern_seed(1)), Errc::ok);
  EXPECT_EQ(gen_->reseed_trigger(8, true, false, 1), Trigger::prediction_resistance);
  EXPECT_EQ(gen_->reseed_trigger(8, false, true, 1), Trigger::additional_input);
  gen_->request_reseed();
  EXPECT_EQ(gen_->reseed_trigger(8, false, false, 1), Trigger::explicit_request);
  Bytes out(8);
  EXPECT_EQ(gen_->generate(out), Errc::reseed_required) << "a requested reseed is hard";
  ASSERT_EQ(reseed(pattern_seed(2)), Errc::ok);
  EXPECT_EQ(gen_->reseed_trigger(8, false, false, 1), Trigger::none);
}

TEST_F(GeneratorTest, PolicyBoundsAreChecked) {
  const Generator::Policy before = gen_->policy();
  auto refused = [&](auto mutate) {
    Generator::Policy p;
    mutate(p);
    return gen_->set_policy(p) == Errc::invalid_argument;
  };
  EXPECT_TRUE(refused([](auto& p) { p.reseed_requests = 0; }));
  EXPECT_TRUE(refused([](auto& p) { p.reseed_requests = Generator::Policy::kMaxReseedRequests + 1; }));
  EXPECT_TRUE(refused([](auto& p) { p.reseed_bytes = 0; }));
  EXPECT_TRUE(refused([](auto& p) { p.reseed_bytes = Generator::Policy::kMaxReseedBytes + 1; }));
  EXPECT_TRUE(refused([](auto& p) { p.reseed_interval = std::chrono::seconds{0}; }));
  EXPECT_TRUE(refused([](auto& p) { p.reseed_interval = std::chrono::seconds{86401}; }));
  EXPECT_TRUE(refused([](auto& p) { p.epoch_min_interval = std::chrono::seconds{-1}; }));
  EXPECT_EQ(gen_->policy().reseed_requests, before.reseed_requests) << "nothing changed";
  EXPECT_EQ(gen_->policy().reseed_bytes, before.reseed_bytes);
}

TEST_F(GeneratorTest, BadArguments) {
  Bytes short_seed(31, 1);
  EXPECT_EQ(gen_->reseed(short_seed, 1), Errc::invalid_argument);
  ASSERT_EQ(reseed(pattern_seed(1)), Errc::ok);
  Bytes big(Generator::kMaxRequestBytes + 1);
  EXPECT_EQ(gen_->generate(big), Errc::request_too_large);
  EXPECT_EQ(gen_->generate(std::span<std::uint8_t>{}), Errc::ok);
  EXPECT_EQ(gen_->generate(std::span<std::uint8_t>{static_cast<std::uint8_t*>(nullptr), 8}),
            Errc::invalid_argument);
}

TEST_F(GeneratorTest, WipeZeroizesAndUnseeds) {
  ASSERT_EQ(reseed(pattern_seed(1)), Errc::ok);
  generate(16);  // leaves unserved keystream in the buffer
  EXPECT_FALSE(gen_->zeroized());
  gen_->wipe();
  EXPECT_TRUE(gen_->zeroized());
  EXPECT_EQ(gen_->reseed_trigger(8, false, false, 1), Trigger::unseeded);
  // After a wipe the key is the all-zero key again: the same seed gives the
  // stream a fresh generator gives.
  Model model;
  const Bytes s = pattern_seed(3);
  model.reseed(s);
  ASSERT_EQ(reseed(s), Errc::ok);
  EXPECT_EQ(generate(48), model.generate(48));
}

TEST_F(GeneratorTest, StateMemoryIsLockedOrSaysSoAndWipedOnFork) {
  // Either outcome of mlock is legal (RLIMIT_MEMLOCK); wipe-on-fork is
  // there on every kernel this project supports (>= 4.14).
  EXPECT_TRUE(gen_->wipe_on_fork());
}

// A child never serves from the parent's state: it must reseed, and with a
// seed of its own its bytes differ from the parent's next bytes.
TEST_F(GeneratorTest, ForkedChildMustReseedAndDiffers) {
  ASSERT_EQ(reseed(pattern_seed(1)), Errc::ok);
  generate(16);  // the buffer now holds keystream the parent will serve next
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::uint8_t report[1 + 32] = {};
    Bytes out(32);
    const bool refused = gen_->reseed_trigger(32, false, false, 1) == Trigger::unseeded &&
                         gen_->generate(out) == Errc::reseed_required;
    Bytes seed = pattern_seed(200);
    const bool ok = gen_->reseed(seed, 1) == Errc::ok && gen_->generate(out) == Errc::ok;
    report[0] = static_cast<std::uint8_t>(refused && ok);
    std::memcpy(report + 1, out.data(), 32);
    const bool sent = ::write(fds[1], report, sizeof report) == static_cast<ssize_t>(sizeof report);
    ::_exit(sent ? 0 : 1);
  }
  ::close(fds[1]);
  std::uint8_t report[1 + 32] = {};
  ASSERT_EQ(::read(fds[0], report, sizeof report), static_cast<ssize_t>(sizeof report));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(report[0], 1) << "the child served before reseeding";
  const Bytes parent_next = generate(32);
  EXPECT_NE(0, std::memcmp(parent_next.data(), report + 1, 32));
  EXPECT_EQ(gen_->reseed_trigger(8, false, false, 1), Trigger::none)
      << "the parent itself is unaffected";
}

}  // namespace
}  // namespace seedpool::pool
