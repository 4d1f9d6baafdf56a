#include "pool/generator.h"

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <new>
#include <string_view>
#include <type_traits>

#include "pool/fork.h"
#include "pool/private_default.h"

// What we rely on in libcrypto (read in the OpenSSL 3.0.22 and 3.5.7
// sources, providers/implementations/ciphers/ciphercommon.c and
// cipher_aes.c): the default provider's AES-256-CTR encrypt_init with a key
// and a NULL IV re-keys the context (aesni_set_encrypt_key), keeps the
// counter and drops a partly used block (cipher_generic_init_internal), and
// allocates nothing; update (ossl_cipher_generic_stream_update) continues
// the keystream across calls of any length and allows out == in; freectx is
// OPENSSL_clear_free. So the hot path allocates nothing and makes no system
// call.

namespace seedpool::pool {
namespace {

// Input for keystream: AES-CTR output XOR zeros is the keystream itself.
alignas(64) constexpr std::uint8_t kZeros[4096] = {};
constexpr std::uint8_t kZeroKey[Generator::kKeyBytes] = {};
constexpr std::uint8_t kZeroIv[16] = {};

}  // namespace

std::int64_t coarse_now_seconds() noexcept {
  timespec ts{};
  // CLOCK_MONOTONIC_COARSE is served by the vDSO on Linux (no system call);
  // it cannot fail with a valid clock id and pointer.
  (void)clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec);
}

// ---------------------------------------------------------------------------
// GeneratorCipher

Errc GeneratorCipher::create(std::unique_ptr<GeneratorCipher>& out) noexcept {
  std::unique_ptr<GeneratorCipher> c(new (std::nothrow) GeneratorCipher);
  if (!c) return Errc::out_of_memory;
  if (!PrivateDefault::acquire_shared(c->provider_)) return Errc::cipher_failed;
  c->provctx_ = c->provider_->provctx();
  const OSSL_DISPATCH* fns = c->provider_->find(OSSL_OP_CIPHER, "AES-256-CTR");
  OSSL_FUNC_cipher_get_params_fn* get_params = nullptr;
  for (const OSSL_DISPATCH* d = fns; d != nullptr && d->function_id != 0; ++d) {
    switch (d->function_id) {
      case OSSL_FUNC_CIPHER_NEWCTX: c->newctx_ = OSSL_FUNC_cipher_newctx(d); break;
      case OSSL_FUNC_CIPHER_FREECTX: c->freectx_ = OSSL_FUNC_cipher_freectx(d); break;
      case OSSL_FUNC_CIPHER_ENCRYPT_INIT:
        c->einit_ = OSSL_FUNC_cipher_encrypt_init(d);
        break;
      case OSSL_FUNC_CIPHER_UPDATE: c->update_ = OSSL_FUNC_cipher_update(d); break;
      case OSSL_FUNC_CIPHER_GET_PARAMS:
        get_params = OSSL_FUNC_cipher_get_params(d);
        break;
      default: break;
    }
  }
  if (c->newctx_ == nullptr || c->freectx_ == nullptr || c->einit_ == nullptr ||
      c->update_ == nullptr || get_params == nullptr)
    return Errc::cipher_failed;
  // The key and IV sizes the generator assumes, as the provider states them.
  std::size_t key_len = 0;
  std::size_t iv_len = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_KEYLEN, &key_len),
      OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_IVLEN, &iv_len),
      OSSL_PARAM_construct_end()};
  if (get_params(params) != 1 || key_len != Generator::kKeyBytes ||
      iv_len != sizeof kZeroIv)
    return Errc::cipher_failed;
  out = std::move(c);
  return Errc::ok;
}

Errc GeneratorCipher::acquire_shared(
    std::shared_ptr<GeneratorCipher>& out) noexcept {
  // Cheap since the provider it uses is shared (a table look-up, ~1 us), so
  // no cache and no lock of its own: one lock fewer to hold across fork().
  std::unique_ptr<GeneratorCipher> fresh;
  if (Errc rc = create(fresh); rc != Errc::ok) return rc;
  try {
    out = std::shared_ptr<GeneratorCipher>(std::move(fresh));
  } catch (...) {  // bad_alloc for the control block
    return Errc::out_of_memory;
  }
  return Errc::ok;
}

GeneratorCipher::~GeneratorCipher() = default;

// ---------------------------------------------------------------------------
// Generator

// The state, in one locked, dump-excluded, wipe-on-fork page. All zeros is
// "never seeded" (what a forked child sees).
struct Generator::State {
  // fork_generation() + 1 at the last reseed; 0: unseeded.
  std::uint64_t seeded_generation;
  std::uint64_t requests;  // generate() calls since the last reseed
  std::uint64_t bytes;     // bytes generated since the last reseed
  std::int64_t seeded_at;  // coarse_now_seconds() at the last reseed
  std::uint32_t pool_epoch;
  std::uint32_t reseed_wanted;
  std::size_t avail;  // unserved bytes: the last `avail` of buf
  std::uint8_t next_key[Generator::kKeyBytes];
  std::uint8_t seed[Generator::kSeedBytes];
  // Keystream not yet handed out. 3840 = 240 AES blocks: with the header,
  // the whole state fits one 4 KiB page.
  std::uint8_t buf[3840];
};

Generator::Generator(const GeneratorCipher& cipher) noexcept : cipher_(cipher) {}

Generator::~Generator() {
  // The AES provider's freectx is OPENSSL_clear_free: the key schedule is
  // cleansed. The region cleanses itself.
  if (algctx_ != nullptr) cipher_.freectx_(algctx_);
}

Errc Generator::create(const GeneratorCipher& cipher,
                       std::unique_ptr<Generator>& out) noexcept {
  if (Errc rc = track_forks(); rc != Errc::ok) return rc;
  std::unique_ptr<Generator> g(new (std::nothrow) Generator(cipher));
  if (!g) return Errc::out_of_memory;
  if (Errc rc = SecureRegion::create(sizeof(State), {.wipe_on_fork = true},
                                     g->region_);
      rc != Errc::ok)
    return rc;
  g->algctx_ = cipher.newctx_(cipher.provctx_);
  if (g->algctx_ == nullptr) return Errc::out_of_memory;
  // The all-zero key: a public starting point, mixed with the first seed.
  if (g->reset_key() != Errc::ok) return Errc::cipher_failed;
  out = std::move(g);
  return Errc::ok;
}

Generator::State& Generator::state() const noexcept {
  static_assert(sizeof(State) <= 4096);
  static_assert(std::is_trivially_copyable_v<State>);
  return *reinterpret_cast<State*>(region_.bytes().data());
}

Errc Generator::Policy::validate() const noexcept {
  if (reseed_requests < 1 || reseed_requests > kMaxReseedRequests ||
      reseed_bytes < 1 || reseed_bytes > kMaxReseedBytes ||
      reseed_interval < std::chrono::seconds{1} ||
      reseed_interval > kMaxReseedInterval ||
      epoch_min_interval < std::chrono::seconds{0} ||
      epoch_min_interval > kMaxReseedInterval)
    return Errc::invalid_argument;
  return Errc::ok;
}

Errc Generator::set_policy(const Policy& p) noexcept {
  if (Errc rc = p.validate(); rc != Errc::ok) return rc;
  policy_ = p;
  return Errc::ok;
}

Generator::Trigger Generator::reseed_trigger(std::size_t n,
                                             bool prediction_resistance,
                                             bool has_additional_input,
                                             std::uint32_t pool_epoch) const
    noexcept {
  const State& s = state();
  if (s.seeded_generation != fork_generation() + 1) return Trigger::unseeded;
  if (prediction_resistance) return Trigger::prediction_resistance;
  if (has_additional_input) return Trigger::additional_input;
  if (s.reseed_wanted != 0) return Trigger::explicit_request;
  if (s.requests >= policy_.reseed_requests) return Trigger::requests;
  if (n > policy_.reseed_bytes - std::min(s.bytes, policy_.reseed_bytes))
    return Trigger::bytes;
  const std::int64_t age = coarse_now_seconds() - s.seeded_at;
  if (age >= policy_.reseed_interval.count()) return Trigger::time;
  if (pool_epoch != s.pool_epoch && age >= policy_.epoch_min_interval.count())
    return Trigger::epoch;
  return Trigger::none;
}

std::span<std::uint8_t> Generator::seed_scratch() noexcept {
  return {state().seed, kSeedBytes};
}

// The counter is not reset (no IV passed): each key is fresh and used for
// one stream, so where its counter starts does not matter, and the IV
// would cost time on every re-key.
Errc Generator::rekey(const std::uint8_t* key) noexcept {
  return cipher_.einit_(algctx_, key, kKeyBytes, nullptr, 0, nullptr) == 1
             ? Errc::ok
             : Errc::cipher_failed;
}

Errc Generator::reset_key() noexcept {
  return cipher_.einit_(algctx_, kZeroKey, kKeyBytes, kZeroIv, sizeof kZeroIv,
                        nullptr) == 1
             ? Errc::ok
             : Errc::cipher_failed;
}

Errc Generator::keystream(std::uint8_t* dst, std::size_t n) noexcept {
  while (n > 0) {
    const std::size_t chunk = std::min(n, sizeof kZeros);
    std::size_t outl = 0;
    if (cipher_.update_(algctx_, dst, &outl, chunk, kZeros, chunk) != 1 ||
        outl != chunk)
      return Errc::cipher_failed;
    dst += chunk;
    n -= chunk;
  }
  return Errc::ok;
}

void Generator::fail() noexcept {
  State& s = state();
  OPENSSL_cleanse(&s, sizeof s);  // unseeded; buffer and keys gone
  (void)reset_key();              // best effort: drop the key schedule
}

Errc Generator::reseed(std::span<std::uint8_t> seed,
                       std::uint32_t pool_epoch) noexcept {
  if (seed.size() != kSeedBytes) return Errc::invalid_argument;
  State& s = state();
  // K' = keystream(K)[0..32) XOR seed, then re-key: K is gone.
  if (keystream(s.next_key, kKeyBytes) != Errc::ok) {
    OPENSSL_cleanse(seed.data(), seed.size());
    fail();
    return Errc::cipher_failed;
  }
  for (std::size_t i = 0; i < kKeyBytes; ++i) s.next_key[i] ^= seed[i];
  OPENSSL_cleanse(seed.data(), seed.size());
  const Errc rc = rekey(s.next_key);
  OPENSSL_cleanse(s.next_key, sizeof s.next_key);
  if (rc != Errc::ok) {
    fail();
    return rc;
  }
  // Keystream buffered under the old state is never served after a reseed.
  OPENSSL_cleanse(s.buf, sizeof s.buf);
  s.avail = 0;
  s.requests = 0;
  s.bytes = 0;
  s.reseed_wanted = 0;
  s.seeded_at = coarse_now_seconds();
  s.pool_epoch = pool_epoch;
  s.seeded_generation = fork_generation() + 1;
  ++reseeds_;
  return Errc::ok;
}

Errc Generator::refill() noexcept {
  State& s = state();
  Errc rc = keystream(s.next_key, kKeyBytes);
  if (rc == Errc::ok) rc = keystream(s.buf, sizeof s.buf);
  if (rc == Errc::ok) rc = rekey(s.next_key);
  OPENSSL_cleanse(s.next_key, sizeof s.next_key);
  if (rc != Errc::ok) return rc;
  s.avail = sizeof s.buf;
  return Errc::ok;
}

Errc Generator::generate(std::span<std::uint8_t> out) noexcept {
  const std::size_t n = out.size();
  if (n > kMaxRequestBytes) return Errc::request_too_large;
  if (n == 0) return Errc::ok;
  if (out.data() == nullptr) return Errc::invalid_argument;
  State& s = state();
  // The hard limits (the epoch is a soft trigger the caller acts on).
  const Trigger t = reseed_trigger(n, false, false, s.pool_epoch);
  if (t != Trigger::none) return Errc::reseed_required;
  ++s.requests;
  s.bytes += n;

  Errc rc = Errc::ok;
  if (n >= kDirectBytes) {
    // The output under K, then the next key from the buffer (unserved
    // keystream, erased as it is taken), then re-key: K made one stream.
    // Taking K' from the buffer saves a second, short cipher call.
    if (s.avail < kKeyBytes) rc = refill();
    if (rc == Errc::ok) rc = keystream(out.data(), n);
    if (rc == Errc::ok) {
      std::uint8_t* src = s.buf + (sizeof s.buf - s.avail);
      std::memcpy(s.next_key, src, kKeyBytes);
      OPENSSL_cleanse(src, kKeyBytes);
      s.avail -= kKeyBytes;
      rc = rekey(s.next_key);
    }
    OPENSSL_cleanse(s.next_key, sizeof s.next_key);
  } else {
    std::uint8_t* dst = out.data();
    std::size_t left = n;
    while (left > 0 && rc == Errc::ok) {
      if (s.avail == 0 && (rc = refill()) != Errc::ok) break;
      const std::size_t take = std::min(left, s.avail);
      std::uint8_t* src = s.buf + (sizeof s.buf - s.avail);
      std::memcpy(dst, src, take);
      OPENSSL_cleanse(src, take);  // handed out: erased now
      s.avail -= take;
      dst += take;
      left -= take;
    }
  }
  if (rc != Errc::ok) {
    OPENSSL_cleanse(out.data(), n);  // never a partial result
    fail();
  }
  return rc;
}

void Generator::request_reseed() noexcept { state().reseed_wanted = 1; }

void Generator::wipe() noexcept {
  State& s = state();
  OPENSSL_cleanse(&s, sizeof s);
  (void)reset_key();
}

bool Generator::zeroized() const noexcept {
  const auto bytes = region_.bytes();
  return std::all_of(bytes.begin(), bytes.end(),
                     [](std::uint8_t b) { return b == 0; });
}

std::uint32_t Generator::reseed_count() const noexcept { return reseeds_; }

}  // namespace seedpool::pool
