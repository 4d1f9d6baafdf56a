// The generator behind SEEDPOOL-DRBG: fast key erasure over AES-256-CTR,
// seeded from the pool.
//
// Construction (D. J. Bernstein, "Fast-key-erasure random-number
// generators", 2017; the design of OpenBSD's arc4random and of Linux's crng,
// here with AES-256-CTR from libcrypto instead of ChaCha20, because AES-NI
// makes it the faster of the two in libcrypto on x86-64):
//  - the state is one AES-256 key K (in the cipher's context) and a
//    buffer of keystream not yet handed out;
//  - a refill runs AES-256-CTR under K: the first 32 bytes
//    become the next key K', the following bytes the buffer; K is replaced
//    by K' at once (the cipher's context is re-keyed), so K is gone;
//  - small requests are served from the buffer, and every byte handed out
//    is erased from it in the same call; requests of kDirectBytes or more
//    are keystream under K written straight to the caller, after which the
//    next 32 unserved bytes of the buffer (secret, never handed out, erased
//    as they are taken) become the next key and K is replaced;
//  - a reseed with a 32-byte seed S from the pool sets the key to
//    keystream(K)[0..32) XOR S and throws the buffer away (arc4random's
//    _rs_rekey with data): the new key depends on the old state and on S,
//    so it is unpredictable if either one is; an instance starts with the
//    all-zero key, so its first key is S under a fixed public mask.
// Every (key, counter) pair is used once: each key is dropped after one
// refill, one direct request or one reseed. (The CTR counter carries on
// across re-keys instead of restarting at 0; with a fresh key each time
// that changes nothing, and it makes a re-key cheaper.)
//
// What a compromise of the state reveals (security argument):
//  - backtracking resistance: output already handed out is gone from memory
//    (erased as served) and the keys that made it are gone (replaced before
//    the call returns); recovering it from K' means inverting AES-256-CTR
//    keystream to its key, so a state compromise reveals no past output;
//  - what it does reveal: the buffer not yet served and every output until
//    the next reseed from the pool. Reseeds come from the pool (full
//    entropy, 256 bits) on each policy trigger: requests, bytes, time, the
//    pool's epoch, fork, prediction resistance, additional input; so an
//    attacker who read the state once loses track at the next reseed;
//  - a distinguisher of the output from random bytes is a distinguisher of
//    AES-256 from a random permutation (each key produces at most
//    kMaxRequestBytes + 32 bytes, far below the birthday bound of 2^68).
//
// Fork: the state lives in a SecureRegion with MADV_WIPEONFORK (a child
// sees zeros, so an unseeded state and an empty buffer), and a child is
// also detected through the process fork generation (pool/fork.h) for
// kernels without it: either way a child reseeds before any output and
// never repeats the parent's bytes. No system call on the path that serves
// bytes: the time is read through the vDSO (CLOCK_MONOTONIC_COARSE).
//
// Memory: the buffer, the next key and the seed scratch live in the locked,
// dump-excluded region; the expanded key schedule lives in libcrypto's
// cipher's context (libcrypto's heap; the AES freectx cleanses it).
//
// Not thread-safe: one caller at a time (the provider serialises).
#pragma once

#include <openssl/core_dispatch.h>
#include <openssl/provider.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "pool/errc.h"
#include "pool/private_default.h"
#include "pool/secure_mem.h"

namespace seedpool::pool {

// AES-256-CTR from libcrypto's default provider, loaded into a private
// library context (pool/private_default.h; never the application's: its
// RAND may be this very generator). The generator calls the provider's
// cipher functions (newctx, encrypt_init, update, freectx) as the provider
// hands them out through OSSL_PROVIDER_query_operation, the public
// low-level API, instead of through EVP_CIPHER_CTX: the same
// implementation, without EVP's per-call parameter queries, which on
// OpenSSL 3.0 cost more than the AES key schedule itself (a re-key: 58 ns
// through EVP_EncryptInit_ex, 31 ns direct, measured here), and without a
// fetch (~630 us at start-up). Shared by every Generator it creates; must
// outlive them.
class GeneratorCipher {
 public:
  static Errc create(std::unique_ptr<GeneratorCipher>& out) noexcept;
  // create() into a shared_ptr: every Generator of a provider object
  // shares one; they all use the one private default provider of the
  // process (PrivateDefault::acquire_shared).
  static Errc acquire_shared(std::shared_ptr<GeneratorCipher>& out) noexcept;
  ~GeneratorCipher();
  GeneratorCipher(const GeneratorCipher&) = delete;
  GeneratorCipher& operator=(const GeneratorCipher&) = delete;

 private:
  friend class Generator;
  GeneratorCipher() = default;
  std::shared_ptr<PrivateDefault> provider_;
  void* provctx_ = nullptr;
  OSSL_FUNC_cipher_newctx_fn* newctx_ = nullptr;
  OSSL_FUNC_cipher_freectx_fn* freectx_ = nullptr;
  OSSL_FUNC_cipher_encrypt_init_fn* einit_ = nullptr;
  OSSL_FUNC_cipher_update_fn* update_ = nullptr;
};

class Generator {
 public:
  static constexpr std::size_t kSeedBytes = 32;
  static constexpr std::size_t kKeyBytes = 32;
  // Largest generate(); OpenSSL's EVP layer splits bigger requests by it.
  static constexpr std::size_t kMaxRequestBytes = std::size_t{1} << 16;
  // Requests this long or longer bypass the buffer.
  static constexpr std::size_t kDirectBytes = 512;

  // When the next request must reseed first. Every limit is at least 1: a
  // trigger cannot be switched off.
  struct Policy {
    std::uint64_t reseed_requests = std::uint64_t{1} << 16;
    std::uint64_t reseed_bytes = std::uint64_t{1} << 30;
    std::chrono::seconds reseed_interval{420};
    // The pool's epoch moving triggers a reseed only once this long has
    // passed since the last one: with many instances each reseed draws
    // from the pool and so moves the epoch; this keeps them from chasing it.
    std::chrono::seconds epoch_min_interval{1};

    static constexpr std::uint64_t kMaxReseedRequests = std::uint64_t{1} << 32;
    static constexpr std::uint64_t kMaxReseedBytes = std::uint64_t{1} << 40;
    static constexpr std::chrono::seconds kMaxReseedInterval{86400};
    Errc validate() const noexcept;
  };

  // Why the next request must reseed first (kNone: it need not).
  enum class Trigger : std::uint8_t {
    none,
    unseeded,     // never seeded in this process (new, uninstantiated, forked)
    requests,
    bytes,
    time,
    epoch,
    prediction_resistance,
    additional_input,
    explicit_request,  // reseed asked for (request_reseed)
  };

  static Errc create(const GeneratorCipher& cipher,
                     std::unique_ptr<Generator>& out) noexcept;
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  const Policy& policy() const noexcept { return policy_; }
  // Errc::invalid_argument (nothing changed) if a limit is out of range.
  Errc set_policy(const Policy& p) noexcept;

  // Whether a request of `n` bytes must reseed first, and why. `pool_epoch`
  // is the pool's current epoch (Pool::epoch()).
  Trigger reseed_trigger(std::size_t n, bool prediction_resistance,
                         bool has_additional_input,
                         std::uint32_t pool_epoch) const noexcept;

  // Where a seed of kSeedBytes may be drawn to: inside the locked region.
  std::span<std::uint8_t> seed_scratch() noexcept;
  // Mixes in `seed` (kSeedBytes; it may be seed_scratch()) and empties the
  // buffer; resets the request, byte and time counters. The seed's bytes are
  // cleansed afterwards. invalid_argument for a wrong length; cipher_failed
  // leaves the generator unseeded.
  Errc reseed(std::span<std::uint8_t> seed, std::uint32_t pool_epoch) noexcept;

  // Fills `out` (at most kMaxRequestBytes). reseed_required if a limit is
  // reached (reseed_trigger(n, false, false, epoch) other than none, epoch
  // aside): the generator never serves from a state past its limits.
  // cipher_failed leaves `out` cleansed and the generator unseeded.
  Errc generate(std::span<std::uint8_t> out) noexcept;

  // The next request reseeds first (EVP_RAND_reseed when the pool cannot
  // serve at once).
  void request_reseed() noexcept;
  // Erases the state: key back to all zeros, buffer and counters cleansed.
  // The generator is unseeded afterwards.
  void wipe() noexcept;
  // True when the state region is all zeros (after wipe(), or never used).
  bool zeroized() const noexcept;

  // Reseeds done in this process (the value OpenSSL reads as a DRBG's
  // reseed_counter: a child DRBG reseeds when it moves). Starts at 1.
  std::uint32_t reseed_count() const noexcept;
  bool memory_locked() const noexcept { return region_.locked(); }
  bool wipe_on_fork() const noexcept { return region_.wipe_on_fork(); }

 private:
  struct State;
  explicit Generator(const GeneratorCipher& cipher) noexcept;
  State& state() const noexcept;
  Errc rekey(const std::uint8_t* key) noexcept;
  // Back to the all-zero key and counter 0: the state of a new generator.
  Errc reset_key() noexcept;
  // Keystream under the current key into [dst, dst+n), n <= any size.
  Errc keystream(std::uint8_t* dst, std::size_t n) noexcept;
  Errc refill() noexcept;
  void fail() noexcept;  // after a cipher error: cleanse, unseeded

  const GeneratorCipher& cipher_;
  void* algctx_ = nullptr;  // the AES-256-CTR provider context
  SecureRegion region_;
  Policy policy_;
  std::uint32_t reseeds_ = 1;  // not in the region: survives fork, only grows
};

// Monotonic seconds through the vDSO (no system call), for reseed timing.
std::int64_t coarse_now_seconds() noexcept;

}  // namespace seedpool::pool
