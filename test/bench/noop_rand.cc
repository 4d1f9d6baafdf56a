// noop-rand.so: provider "nooprand" with two RAND algorithms, built for
// rand_bench only, never installed, and NOT random:
//  - NOOP-RAND does no work (zero-filled output). Under `[random] random =
//    NOOP-RAND` (test/bench/noop.cnf) every RAND_bytes_ex still runs
//    OpenSSL's whole call path, so its rate is the ceiling any generator
//    behind that path can reach.
//  - NOOP-AES-CTR writes AES-256-CTR keystream under a fixed key, as
//    SEEDPOOL-DRBG writes its output (libcrypto's cipher over a 4 KiB block
//    of zeros), and nothing else: no re-key, no reseed, no checks. Under
//    test/bench/noop-aes.cnf its rate is the ceiling of any AES-256-CTR
//    generator behind OpenSSL's call path on this machine, measured in the
//    same rounds as the generators it bounds (rand_bench's `aes` row).
//
// What OpenSSL 3.0 needs from a RAND for `random = X` to work, as read in
// crypto/rand/rand_lib.c and crypto/evp/evp_rand.c:
//  - evp_rand_from_algorithm refuses the algorithm unless newctx, freectx,
//    get_ctx_params, instantiate, uninstantiate and generate are all there,
//    and takes enable_locking / lock / unlock only as a complete set;
//  - with `random = X` the primary, public and private instances are all X:
//    the primary gets the SEED-SRC as parent (none here: noop.cnf loads no
//    other provider, so OpenSSL drops the seed source and passes NULL), the
//    public and private the primary. Our generate never asks its parent for
//    anything, so get_seed / clear_seed are not needed;
//  - RAND_get0_primary calls EVP_RAND_enable_locking on the primary and
//    drops it if that fails;
//  - EVP_RAND_generate calls lock, then get_ctx_params for max_request (0
//    or a failure makes every RAND_bytes fail), then generate once per
//    max_request-sized chunk, then unlock: on every call.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>

namespace {

constexpr char kProviderName[] = "nooprand";
constexpr unsigned int kStrengthBits = 256;
// The same chunk size as OpenSSL's CTR-DRBG (drbg_ctr.c: max_request =
// 1 << 16), so EVP_RAND_generate splits a 1 MiB request the same way for
// `default` and `noop`.
constexpr std::size_t kMaxRequestBytes = std::size_t{1} << 16;

// NOOP-AES-CTR's cipher, fetched once at provider init from a private
// library context (whatever the application's contexts hold).
struct ProvCtx {
  OSSL_LIB_CTX* libctx = nullptr;
  EVP_CIPHER* aes_ctr = nullptr;
};

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

struct NoopCtx {
  std::atomic<int> state{EVP_RAND_STATE_UNINITIALISED};
  // Only the primary gets a lock (enable_locking); OpenSSL calls lock and
  // unlock on the others too, which then do nothing.
  std::unique_ptr<std::mutex> lock;
  // NOOP-AES-CTR only: the keystream's cipher context.
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> cipher;
};

// The source of the keystream, as pool/generator.cc's.
constexpr unsigned char kZeros[4096] = {};

OSSL_FUNC_rand_newctx_fn noop_newctx;
OSSL_FUNC_rand_freectx_fn noop_freectx;
OSSL_FUNC_rand_instantiate_fn noop_instantiate;
OSSL_FUNC_rand_uninstantiate_fn noop_uninstantiate;
OSSL_FUNC_rand_generate_fn noop_generate;
OSSL_FUNC_rand_reseed_fn noop_reseed;
OSSL_FUNC_rand_enable_locking_fn noop_enable_locking;
OSSL_FUNC_rand_lock_fn noop_lock;
OSSL_FUNC_rand_unlock_fn noop_unlock;
OSSL_FUNC_rand_gettable_ctx_params_fn noop_gettable_ctx_params;
OSSL_FUNC_rand_get_ctx_params_fn noop_get_ctx_params;

NoopCtx* as_ctx(void* v) { return static_cast<NoopCtx*>(v); }

void* noop_newctx(void* /*provctx*/, void* /*parent: never used*/,
                  const OSSL_DISPATCH* /*parent_dispatch*/) {
  return new (std::nothrow) NoopCtx;
}

// A fixed key and IV: the output is a benchmark's, not random.
void* aes_newctx(void* provctx, void* /*parent: never used*/,
                 const OSSL_DISPATCH* /*parent_dispatch*/) {
  const auto* pc = static_cast<const ProvCtx*>(provctx);
  if (pc == nullptr || pc->aes_ctr == nullptr) return nullptr;
  std::unique_ptr<NoopCtx> c(new (std::nothrow) NoopCtx);
  if (!c) return nullptr;
  c->cipher.reset(EVP_CIPHER_CTX_new());
  static const unsigned char key[32] = {1, 2, 3, 4};
  static const unsigned char iv[16] = {};
  if (!c->cipher ||
      EVP_EncryptInit_ex2(c->cipher.get(), pc->aes_ctr, key, iv, nullptr) != 1)
    return nullptr;
  return c.release();
}

void noop_freectx(void* vctx) { delete as_ctx(vctx); }

int noop_instantiate(void* vctx, unsigned int strength, int /*pr*/,
                     const unsigned char* /*pstr*/, size_t /*pstr_len*/,
                     const OSSL_PARAM /*params*/[]) {
  if (strength > kStrengthBits) return 0;
  as_ctx(vctx)->state.store(EVP_RAND_STATE_READY, std::memory_order_relaxed);
  return 1;
}

int noop_uninstantiate(void* vctx) {
  as_ctx(vctx)->state.store(EVP_RAND_STATE_UNINITIALISED, std::memory_order_relaxed);
  return 1;
}

// The cheapest fill, not none: a real generator has to write its output, so
// zeroing the buffer makes the 4 KiB and 1 MiB figures the memory-bandwidth
// ceiling instead of a meaningless "infinite" rate, and the caller never
// gets uninitialised memory back. At 32 B the memset is noise next to
// OpenSSL's call path.
int noop_generate(void* vctx, unsigned char* out, size_t outlen,
                  unsigned int /*strength*/, int /*prediction_resistance*/,
                  const unsigned char* /*adin*/, size_t /*adin_len*/) {
  if (as_ctx(vctx)->state.load(std::memory_order_relaxed) != EVP_RAND_STATE_READY)
    return 0;
  if (outlen > 0) std::memset(out, 0, outlen);
  return 1;
}

int aes_generate(void* vctx, unsigned char* out, size_t outlen,
                 unsigned int /*strength*/, int /*prediction_resistance*/,
                 const unsigned char* /*adin*/, size_t /*adin_len*/) {
  NoopCtx* c = as_ctx(vctx);
  if (c->state.load(std::memory_order_relaxed) != EVP_RAND_STATE_READY) return 0;
  while (outlen > 0) {
    const std::size_t chunk = outlen < sizeof kZeros ? outlen : sizeof kZeros;
    int outl = 0;
    if (EVP_EncryptUpdate(c->cipher.get(), out, &outl, kZeros, static_cast<int>(chunk)) != 1 ||
        static_cast<std::size_t>(outl) != chunk)
      return 0;
    out += chunk;
    outlen -= chunk;
  }
  return 1;
}

// RAND_add / RAND_seed land here under `random = NOOP-RAND`: nothing to mix.
int noop_reseed(void* /*vctx*/, int /*pr*/, const unsigned char* /*ent*/,
                size_t /*ent_len*/, const unsigned char* /*adin*/, size_t /*adin_len*/) {
  return 1;
}

int noop_enable_locking(void* vctx) {
  NoopCtx* c = as_ctx(vctx);
  if (!c->lock) c->lock.reset(new (std::nothrow) std::mutex);
  return c->lock ? 1 : 0;
}

int noop_lock(void* vctx) {
  if (NoopCtx* c = as_ctx(vctx); c->lock) c->lock->lock();
  return 1;
}

void noop_unlock(void* vctx) {
  if (NoopCtx* c = as_ctx(vctx); c->lock) c->lock->unlock();
}

const OSSL_PARAM kGettableCtxParams[] = {
    OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, nullptr),
    OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, nullptr),
    OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, nullptr),
    OSSL_PARAM_END,
};

const OSSL_PARAM* noop_gettable_ctx_params(void* /*vctx*/, void* /*provctx*/) {
  return kGettableCtxParams;
}

// Runs on every RAND_bytes (EVP asks max_request each time): lookups only.
int noop_get_ctx_params(void* vctx, OSSL_PARAM params[]) {
  OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STATE)) != nullptr &&
      !OSSL_PARAM_set_int(p, as_ctx(vctx)->state.load(std::memory_order_relaxed)))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STRENGTH)) != nullptr &&
      !OSSL_PARAM_set_uint(p, kStrengthBits))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_MAX_REQUEST)) != nullptr &&
      !OSSL_PARAM_set_size_t(p, kMaxRequestBytes))
    return 0;
  return 1;
}

#define FN(id, f) \
  { id, reinterpret_cast<void (*)(void)>(f) }
// The two algorithms differ in newctx and generate only.
#define RAND_FUNCTIONS(newctx, generate)                                  \
  {                                                                       \
    FN(OSSL_FUNC_RAND_NEWCTX, newctx),                                    \
    FN(OSSL_FUNC_RAND_FREECTX, noop_freectx),                             \
    FN(OSSL_FUNC_RAND_INSTANTIATE, noop_instantiate),                     \
    FN(OSSL_FUNC_RAND_UNINSTANTIATE, noop_uninstantiate),                 \
    FN(OSSL_FUNC_RAND_GENERATE, generate),                                \
    FN(OSSL_FUNC_RAND_RESEED, noop_reseed),                               \
    FN(OSSL_FUNC_RAND_ENABLE_LOCKING, noop_enable_locking),               \
    FN(OSSL_FUNC_RAND_LOCK, noop_lock),                                   \
    FN(OSSL_FUNC_RAND_UNLOCK, noop_unlock),                               \
    FN(OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, noop_gettable_ctx_params),     \
    FN(OSSL_FUNC_RAND_GET_CTX_PARAMS, noop_get_ctx_params),               \
    {0, nullptr},                                                         \
  }
const OSSL_DISPATCH kNoopRandFunctions[] = RAND_FUNCTIONS(noop_newctx, noop_generate);
const OSSL_DISPATCH kAesRandFunctions[] = RAND_FUNCTIONS(aes_newctx, aes_generate);
#undef RAND_FUNCTIONS

const OSSL_ALGORITHM kRands[] = {
    {"NOOP-RAND", "provider=nooprand", kNoopRandFunctions,
     "benchmark only: no work, zero-filled output"},
    {"NOOP-AES-CTR", "provider=nooprand", kAesRandFunctions,
     "benchmark only: AES-256-CTR keystream under a fixed key, nothing else"},
    {nullptr, nullptr, nullptr, nullptr},
};

// --- provider level ----------------------------------------------------------

OSSL_FUNC_provider_gettable_params_fn prov_gettable_params;
OSSL_FUNC_provider_get_params_fn prov_get_params;
OSSL_FUNC_provider_query_operation_fn prov_query_operation;

const OSSL_PARAM kProvGettables[] = {
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, nullptr, 0),
    OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, nullptr),
    OSSL_PARAM_END,
};

const OSSL_PARAM* prov_gettable_params(void* /*provctx*/) { return kProvGettables; }

int prov_get_params(void* /*provctx*/, OSSL_PARAM params[]) {
  OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) != nullptr &&
      !OSSL_PARAM_set_utf8_ptr(p, kProviderName))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) != nullptr &&
      !OSSL_PARAM_set_int(p, 1))
    return 0;
  return 1;
}

const OSSL_ALGORITHM* prov_query_operation(void* /*provctx*/, int operation_id,
                                           int* no_cache) {
  *no_cache = 0;
  return operation_id == OSSL_OP_RAND ? kRands : nullptr;
}

void prov_teardown(void* provctx) {
  auto* pc = static_cast<ProvCtx*>(provctx);
  EVP_CIPHER_free(pc->aes_ctr);
  OSSL_LIB_CTX_free(pc->libctx);
  delete pc;
}

const OSSL_DISPATCH kProviderFunctions[] = {
    FN(OSSL_FUNC_PROVIDER_TEARDOWN, prov_teardown),
    FN(OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, prov_gettable_params),
    FN(OSSL_FUNC_PROVIDER_GET_PARAMS, prov_get_params),
    FN(OSSL_FUNC_PROVIDER_QUERY_OPERATION, prov_query_operation),
    {0, nullptr},
};
#undef FN

}  // namespace

// A cipher that cannot be fetched leaves NOOP-AES-CTR unable to make an
// instance (newctx fails, and rand_bench reports the row failed); NOOP-RAND
// works regardless.
extern "C" __attribute__((visibility("default"))) int OSSL_provider_init(
    const OSSL_CORE_HANDLE* /*handle*/, const OSSL_DISPATCH* /*in*/,
    const OSSL_DISPATCH** out, void** provctx) {
  auto* pc = new (std::nothrow) ProvCtx;
  if (pc == nullptr) return 0;
  pc->libctx = OSSL_LIB_CTX_new();
  if (pc->libctx != nullptr)
    pc->aes_ctr = EVP_CIPHER_fetch(pc->libctx, "AES-256-CTR", nullptr);
  *out = kProviderFunctions;
  *provctx = pc;
  return 1;
}
