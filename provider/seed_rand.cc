// SEEDPOOL: the pool's output through the RAND API. What OpenSSL does with a
// RAND, as read in the 3.0 sources (crypto/rand/rand_lib.c,
// crypto/evp/evp_rand.c, providers/implementations/rands/drbg.c):
//  - the seed source is instantiated with strength 0 and no parent
//    (rand_new_seed); under `random = SEEDPOOL` each instance gets a parent,
//    which we accept and ignore: our bytes come from the pool.
//  - EVP_RAND_generate asks max_request on every call and splits requests by
//    it; 0 or a failure makes every RAND_bytes fail.
//  - a child DRBG calls our nonce() without taking our lock, first with a
//    NULL buffer to learn the length, and get_seed()/get_ctx_params() with
//    our lock held (ossl_drbg_lock_parent); it refuses a parent whose
//    strength is below its own (256 for the primary CTR-DRBG).
//  - the primary re-reads our reseed_counter on each of its generates and
//    reseeds when it moved: we export the pool's epoch there.
#include "provider/seed_rand.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <atomic>
#include <memory>
#include <new>

#include "async/draw.h"
#include "provider/errors.h"
#include "provider/prov_ctx.h"
#include "provider/rand_common.h"
#include "provider/stats_params.h"

namespace seedpool::provider {
namespace {

constexpr std::size_t kMaxRequestBytes = pool::Pool::kMaxRequestBytes;

struct SeedCtx {
  const OSSL_CORE_HANDLE* handle = nullptr;
  // OpenSSL keeps the provider (and so this) alive while any of its
  // algorithm contexts lives: EVP_RAND_CTX -> EVP_RAND -> provider.
  const ProvCtx* prov = nullptr;
  std::shared_ptr<pool::Pool> pool;  // null: provider not running
  std::atomic<int> state{EVP_RAND_STATE_UNINITIALISED};
  InstanceLock lock;
};

OSSL_FUNC_rand_newctx_fn seed_newctx;
OSSL_FUNC_rand_freectx_fn seed_freectx;
OSSL_FUNC_rand_instantiate_fn seed_instantiate;
OSSL_FUNC_rand_uninstantiate_fn seed_uninstantiate;
OSSL_FUNC_rand_generate_fn seed_generate;
OSSL_FUNC_rand_reseed_fn seed_reseed;
OSSL_FUNC_rand_nonce_fn seed_nonce;
OSSL_FUNC_rand_get_seed_fn seed_get_seed;
OSSL_FUNC_rand_gettable_ctx_params_fn seed_gettable_ctx_params;
OSSL_FUNC_rand_get_ctx_params_fn seed_get_ctx_params;
OSSL_FUNC_rand_verify_zeroization_fn seed_verify_zeroization;

SeedCtx* as_ctx(void* v) { return static_cast<SeedCtx*>(v); }

bool check_ready(const SeedCtx* c) {
  if (!c->pool) return raise_not_running(*c->prov);
  if (c->state.load(std::memory_order_relaxed) != EVP_RAND_STATE_READY) {
    SEEDPOOL_RAISE(c->handle, kReasonNotInstantiated);
    return false;
  }
  return true;
}

// Draws from the pool; raises on failure. `may_pause`: only a caller that
// holds no lock (ours or libcrypto's) may be paused.
bool draw(SeedCtx* c, unsigned char* out, std::size_t out_len,
          const unsigned char* adin, std::size_t adin_len, bool pr,
          bool may_pause) {
  async::DrawRequest req;
  req.out = {out, out_len};
  req.adin = {adin, adin != nullptr ? adin_len : 0};
  req.prediction_resistance = pr;
  req.pausing = may_pause ? async::Pausing::allowed : async::Pausing::forbidden;
  pool::Errc rc = async::draw(c->pool, req);
  if (rc == pool::Errc::ok) return true;
  raise_draw_error(c->handle, c->pool.get(), rc);
  return false;
}

void* seed_newctx(void* provctx, void* /*parent: ignored, see above*/,
                  const OSSL_DISPATCH* /*parent_dispatch*/) {
  auto* pc = static_cast<ProvCtx*>(provctx);
  if (pc == nullptr) return nullptr;
  auto* c = new (std::nothrow) SeedCtx;
  if (c == nullptr) {
    SEEDPOOL_RAISE(pc->handle, kReasonOutOfMemory);
    return nullptr;
  }
  c->handle = pc->handle;
  c->prov = pc;
  c->pool = pc->pool;
  return c;
}

void seed_freectx(void* vctx) { delete as_ctx(vctx); }

// Never waits: OpenSSL 3.0 instantiates the primary under its global RAND
// lock. The personalisation string is mixed in, credited nothing.
int seed_instantiate(void* vctx, unsigned int strength, int /*pr*/,
                     const unsigned char* pstr, size_t pstr_len,
                     const OSSL_PARAM /*params*/[]) {
  SeedCtx* c = as_ctx(vctx);
  if (!check_strength(c->handle, strength)) return 0;
  // Succeeds even when the provider is not running: a failed instantiate
  // makes OpenSSL drop its seed source and seed from the OS silently
  // (rand_new_seed); get_seed / generate then report why we are not running.
  if (c->pool && pstr != nullptr && pstr_len > 0 &&
      c->pool->mix({pstr, pstr_len}) != pool::Errc::ok) {
    SEEDPOOL_RAISE(c->handle, kReasonConditionerFailed);
    return 0;
  }
  c->state.store(EVP_RAND_STATE_READY, std::memory_order_relaxed);
  return 1;
}

int seed_uninstantiate(void* vctx) {
  as_ctx(vctx)->state.store(EVP_RAND_STATE_UNINITIALISED,
                            std::memory_order_relaxed);
  return 1;
}

int seed_generate(void* vctx, unsigned char* out, size_t outlen,
                  unsigned int strength, int prediction_resistance,
                  const unsigned char* adin, size_t adin_len) {
  SeedCtx* c = as_ctx(vctx);
  if (!check_ready(c) || !check_strength(c->handle, strength) ||
      !check_output(c->handle, out, outlen, kMaxRequestBytes))
    return 0;
  if (outlen == 0) return 1;
  // An instance with locking enabled is OpenSSL's shared primary: never
  // pause holding it (a second job on this thread would deadlock on it).
  return draw(c, out, outlen, adin, adin_len, prediction_resistance != 0,
              /*may_pause=*/!c->lock.enabled())
             ? 1
             : 0;
}

// RAND_add / RAND_seed reach here (as `ent`) under `random = SEEDPOOL`: mixed
// in, credited 0 bits, like a write to /dev/random.
int seed_reseed(void* vctx, int /*pr*/, const unsigned char* ent,
                size_t ent_len, const unsigned char* adin, size_t adin_len) {
  SeedCtx* c = as_ctx(vctx);
  if (!check_ready(c)) return 0;
  if ((ent != nullptr && ent_len > 0 &&
       c->pool->mix({ent, ent_len}) != pool::Errc::ok) ||
      (adin != nullptr && adin_len > 0 &&
       c->pool->mix({adin, adin_len}) != pool::Errc::ok)) {
    SEEDPOOL_RAISE(c->handle, kReasonConditionerFailed);
    return 0;
  }
  return 1;
}

size_t seed_nonce(void* vctx, unsigned char* out, unsigned int strength,
                  size_t min_noncelen, size_t max_noncelen) {
  SeedCtx* c = as_ctx(vctx);
  if (!c->pool) {
    raise_not_running(*c->prov);
    return 0;
  }
  if (!check_strength(c->handle, strength)) return 0;
  size_t len = min_noncelen > 0 ? min_noncelen : 16;
  if (len > max_noncelen || len > kMaxRequestBytes) {
    SEEDPOOL_RAISE(c->handle, kReasonRequestTooLarge,
                   "nonce of %zu to %zu bytes", min_noncelen, max_noncelen);
    return 0;
  }
  if (out == nullptr) return len;  // length query
  return draw(c, out, len, nullptr, 0, false, /*may_pause=*/false) ? len : 0;
}

// Called with OpenSSL's primary DRBG write lock held: waits with a bound,
// never pauses. Always fresh pool output: nothing is cached.
size_t seed_get_seed(void* vctx, unsigned char** pout, int entropy,
                     size_t min_len, size_t max_len, int prediction_resistance,
                     const unsigned char* adin, size_t adin_len) {
  SeedCtx* c = as_ctx(vctx);
  if (pout == nullptr) {
    SEEDPOOL_RAISE(c->handle, kReasonInvalidArgument, "NULL output pointer");
    return 0;
  }
  *pout = nullptr;
  if (!check_ready(c)) return 0;
  const size_t len =
      seed_length(c->handle, entropy, min_len, max_len, kMaxRequestBytes);
  if (len == 0) return 0;
  auto* buf = static_cast<unsigned char*>(OPENSSL_secure_malloc(len));
  if (buf == nullptr) {
    SEEDPOOL_RAISE(c->handle, kReasonOutOfMemory);
    return 0;
  }
  if (!draw(c, buf, len, adin, adin_len, prediction_resistance != 0,
            /*may_pause=*/false)) {
    OPENSSL_secure_clear_free(buf, len);
    return 0;
  }
  *pout = buf;
  return len;
}

const OSSL_PARAM kGettables[] = {
    OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, nullptr),
    OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, nullptr),
    OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, nullptr),
    OSSL_PARAM_uint(OSSL_DRBG_PARAM_RESEED_COUNTER, nullptr),
    SEEDPOOL_STATS_GETTABLES,
    OSSL_PARAM_END,
};

const OSSL_PARAM* seed_gettable_ctx_params(void* /*vctx*/, void* /*provctx*/) {
  return kGettables;
}

int seed_get_ctx_params(void* vctx, OSSL_PARAM params[]) {
  SeedCtx* c = as_ctx(vctx);
  if (params == nullptr) return 1;
  switch (get_common_params(params, kMaxRequestBytes,
                            c->state.load(std::memory_order_relaxed),
                            c->pool.get())) {
    case CommonParams::failed: return 0;
    case CommonParams::done: return 1;
    case CommonParams::more: break;
  }
  OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate(params, OSSL_DRBG_PARAM_RESEED_COUNTER)) != nullptr &&
      !OSSL_PARAM_set_uint(p, c->pool ? c->pool->epoch() : 1))
    return 0;
  if (!c->pool) {
    p = OSSL_PARAM_locate(params, "health");
    return p == nullptr || OSSL_PARAM_set_utf8_string(p, "failed");
  }
  return get_stats_params(*c->pool, params);
}

// Nothing secret lives in an instance: the pool holds its state and cleanses
// what it hands out.
int seed_verify_zeroization(void* /*vctx*/) { return 1; }

}  // namespace

const OSSL_DISPATCH kSeedRandFunctions[] = {
    SEEDPOOL_FN(OSSL_FUNC_RAND_NEWCTX, seed_newctx),
    SEEDPOOL_FN(OSSL_FUNC_RAND_FREECTX, seed_freectx),
    SEEDPOOL_FN(OSSL_FUNC_RAND_INSTANTIATE, seed_instantiate),
    SEEDPOOL_FN(OSSL_FUNC_RAND_UNINSTANTIATE, seed_uninstantiate),
    SEEDPOOL_FN(OSSL_FUNC_RAND_GENERATE, seed_generate),
    SEEDPOOL_FN(OSSL_FUNC_RAND_RESEED, seed_reseed),
    SEEDPOOL_FN(OSSL_FUNC_RAND_NONCE, seed_nonce),
    SEEDPOOL_FN(OSSL_FUNC_RAND_GET_SEED, seed_get_seed),
    SEEDPOOL_FN(OSSL_FUNC_RAND_CLEAR_SEED, clear_seed_fn),
    SEEDPOOL_FN(OSSL_FUNC_RAND_ENABLE_LOCKING, enable_locking_fn<SeedCtx>),
    SEEDPOOL_FN(OSSL_FUNC_RAND_LOCK, lock_fn<SeedCtx>),
    SEEDPOOL_FN(OSSL_FUNC_RAND_UNLOCK, unlock_fn<SeedCtx>),
    SEEDPOOL_FN(OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, seed_gettable_ctx_params),
    SEEDPOOL_FN(OSSL_FUNC_RAND_GET_CTX_PARAMS, seed_get_ctx_params),
    SEEDPOOL_FN(OSSL_FUNC_RAND_VERIFY_ZEROIZATION, seed_verify_zeroization),
    {0, nullptr},
};

}  // namespace seedpool::provider
