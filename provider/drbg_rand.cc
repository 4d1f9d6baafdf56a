// SEEDPOOL-DRBG: the fast generator (pool/generator.h: fast key erasure over
// AES-256-CTR) seeded straight from the pool, for `random = SEEDPOOL-DRBG`.
//
// How OpenSSL 3.0 drives it (crypto/rand/rand_lib.c, crypto/evp/evp_rand.c,
// read in the 3.0.22 sources):
//  - with `random = SEEDPOOL-DRBG` the primary, and the per-thread public and
//    private instances, are all this algorithm; the primary is the parent of
//    the other two and has locking enabled (EVP_RAND_CTX_new enables it on
//    any parent). We ignore the parent: each instance seeds from the pool
//    itself, so no request ever goes through the locked primary, and the
//    statistics say so (`seed_source`).
//  - rand_new_drbg instantiates with strength 0 and the params cipher, mac,
//    (digest, properties), reseed_requests and reseed_time_interval; we take
//    the last two and ignore the rest, as OpenSSL's comment there expects.
//    The primary gets 256 requests / 3600 s, the others 65536 / 420 s.
//  - instantiate runs under the global RAND lock for the primary: it never
//    waits. The first generate seeds.
//  - EVP_RAND_generate asks max_request before every call (answered without
//    touching anything else) and calls generate with our lock held when
//    locking is enabled. An instance with locking enabled never pauses.
//  - a child DRBG (an OpenSSL CTR-DRBG with us as parent) calls get_seed and
//    get_ctx_params with our lock held, and nonce without it.
#include "provider/drbg_rand.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <new>

#include "async/draw.h"
#include "pool/generator.h"
#include "provider/drbg_core.h"
#include "provider/errors.h"
#include "provider/prov_ctx.h"
#include "provider/rand_common.h"
#include "provider/stats_params.h"

namespace seedpool::provider {
namespace {

using pool::Generator;
constexpr std::size_t kMaxRequestBytes = Generator::kMaxRequestBytes;

// seedpool's own settable param: bytes generated between reseeds.
constexpr char kParamReseedBytes[] = "reseed_bytes";
// "pool" or "pool (parent ignored)": where this instance's seed comes from.
constexpr char kParamSeedSource[] = "seed_source";
// "mlock=yes,wipeonfork=yes": this instance's state memory.
constexpr char kParamDrbgMemory[] = "drbg_memory";

struct DrbgCtx {
  const OSSL_CORE_HANDLE* handle = nullptr;
  const ProvCtx* prov = nullptr;  // outlives us (see seed_rand.cc)
  std::shared_ptr<pool::Pool> pool;  // null: provider not running
  DrbgCore core;  // the generator and its rules, shared with random_provider
  std::atomic<int> state{EVP_RAND_STATE_UNINITIALISED};
  InstanceLock lock;
  bool parent_ignored = false;
};

OSSL_FUNC_rand_newctx_fn drbg_newctx;
OSSL_FUNC_rand_freectx_fn drbg_freectx;
OSSL_FUNC_rand_instantiate_fn drbg_instantiate;
OSSL_FUNC_rand_uninstantiate_fn drbg_uninstantiate;
OSSL_FUNC_rand_generate_fn drbg_generate;
OSSL_FUNC_rand_reseed_fn drbg_reseed;
OSSL_FUNC_rand_nonce_fn drbg_nonce;
OSSL_FUNC_rand_get_seed_fn drbg_get_seed;
OSSL_FUNC_rand_gettable_ctx_params_fn drbg_gettable_ctx_params;
OSSL_FUNC_rand_get_ctx_params_fn drbg_get_ctx_params;
OSSL_FUNC_rand_settable_ctx_params_fn drbg_settable_ctx_params;
OSSL_FUNC_rand_set_ctx_params_fn drbg_set_ctx_params;
OSSL_FUNC_rand_verify_zeroization_fn drbg_verify_zeroization;

DrbgCtx* as_ctx(void* v) { return static_cast<DrbgCtx*>(v); }

bool check_ready(const DrbgCtx* c) {
  if (!c->pool) return raise_not_running(*c->prov);
  if (c->state.load(std::memory_order_relaxed) != EVP_RAND_STATE_READY) {
    SEEDPOOL_RAISE(c->handle, kReasonNotInstantiated);
    return false;
  }
  return true;
}

// Generates under the shared rules (drbg_core.h). Arguments already checked.
bool generate_locked(DrbgCtx* c, unsigned char* out, std::size_t outlen,
                     bool pr, const unsigned char* adin, std::size_t adin_len,
                     bool may_pause) {
  const DrbgCall call{c->handle, c->pool,
                      may_pause ? async::Pausing::allowed
                                : async::Pausing::forbidden};
  return drbg_core_generate(c->core, call, out, outlen, pr, adin, adin_len);
}

void* drbg_newctx(void* provctx, void* parent,
                  const OSSL_DISPATCH* /*parent_dispatch*/) {
  auto* pc = static_cast<ProvCtx*>(provctx);
  if (pc == nullptr) return nullptr;
  std::unique_ptr<DrbgCtx> c(new (std::nothrow) DrbgCtx);
  if (!c) {
    SEEDPOOL_RAISE(pc->handle, kReasonOutOfMemory);
    return nullptr;
  }
  if (!drbg_core_create(*pc, c->core)) return nullptr;
  c->handle = pc->handle;
  c->prov = pc;
  c->pool = pc->pool;
  c->parent_ignored = parent != nullptr;
  return c.release();
}

void drbg_freectx(void* vctx) { delete as_ctx(vctx); }

// Reads the policy params present in `params` into `policy`. Raises and
// returns false for a wrong type or a value out of bounds.
bool read_policy(const DrbgCtx* c, const OSSL_PARAM params[],
                 Generator::Policy& policy) {
  const OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate_const(params, OSSL_DRBG_PARAM_RESEED_REQUESTS)) !=
      nullptr) {
    unsigned int v = 0;
    if (!OSSL_PARAM_get_uint(p, &v) || v < 1) {
      SEEDPOOL_RAISE(c->handle, kReasonBadParam,
                     "%s must be an integer from 1 to %u",
                     OSSL_DRBG_PARAM_RESEED_REQUESTS, 0xffffffffU);
      return false;
    }
    policy.reseed_requests = v;
  }
  if ((p = OSSL_PARAM_locate_const(params,
                                   OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL)) !=
      nullptr) {
    time_t v = 0;
    if (!OSSL_PARAM_get_time_t(p, &v) || v < 1 ||
        v > Generator::Policy::kMaxReseedInterval.count()) {
      SEEDPOOL_RAISE(c->handle, kReasonBadParam,
                     "%s must be from 1 to %lld seconds",
                     OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL,
                     static_cast<long long>(
                         Generator::Policy::kMaxReseedInterval.count()));
      return false;
    }
    policy.reseed_interval = std::chrono::seconds{v};
  }
  if ((p = OSSL_PARAM_locate_const(params, kParamReseedBytes)) != nullptr) {
    std::uint64_t v = 0;
    if (!OSSL_PARAM_get_uint64(p, &v) || v < 1 ||
        v > Generator::Policy::kMaxReseedBytes) {
      SEEDPOOL_RAISE(c->handle, kReasonBadParam,
                     "%s must be from 1 to %llu", kParamReseedBytes,
                     static_cast<unsigned long long>(
                         Generator::Policy::kMaxReseedBytes));
      return false;
    }
    policy.reseed_bytes = v;
  }
  return true;
}

int drbg_set_ctx_params(void* vctx, const OSSL_PARAM params[]) {
  DrbgCtx* c = as_ctx(vctx);
  if (params == nullptr) return 1;
  Generator::Policy policy = c->core.gen->policy();
  if (!read_policy(c, params, policy)) return 0;
  if (c->core.gen->set_policy(policy) != pool::Errc::ok) {
    SEEDPOOL_RAISE(c->handle, kReasonBadParam, "reseed policy out of range");
    return 0;
  }
  return 1;
}

// Never waits (OpenSSL 3.0 instantiates the primary under its global RAND
// lock): the first generate seeds. The personalisation string is mixed into
// the pool, credited nothing.
int drbg_instantiate(void* vctx, unsigned int strength, int /*pr*/,
                     const unsigned char* pstr, size_t pstr_len,
                     const OSSL_PARAM params[]) {
  DrbgCtx* c = as_ctx(vctx);
  if (!check_strength(c->handle, strength)) return 0;
  if (!drbg_set_ctx_params(vctx, params)) return 0;
  // Succeeds when the provider is not running, as SEEDPOOL does: generate
  // then reports why.
  if (c->pool && pstr != nullptr && pstr_len > 0 &&
      c->pool->mix({pstr, pstr_len}) != pool::Errc::ok) {
    SEEDPOOL_RAISE(c->handle, kReasonConditionerFailed);
    return 0;
  }
  c->core.gen->request_reseed();
  c->state.store(EVP_RAND_STATE_READY, std::memory_order_relaxed);
  return 1;
}

int drbg_uninstantiate(void* vctx) {
  DrbgCtx* c = as_ctx(vctx);
  c->core.gen->wipe();
  c->core.reseed_pr_pending = false;
  c->state.store(EVP_RAND_STATE_UNINITIALISED, std::memory_order_relaxed);
  return 1;
}

int drbg_generate(void* vctx, unsigned char* out, size_t outlen,
                  unsigned int strength, int prediction_resistance,
                  const unsigned char* adin, size_t adin_len) {
  DrbgCtx* c = as_ctx(vctx);
  if (!check_ready(c) || !check_strength(c->handle, strength) ||
      !check_output(c->handle, out, outlen, kMaxRequestBytes))
    return 0;
  if (outlen == 0) return 1;
  // With locking enabled (OpenSSL's shared primary, or a parent) EVP holds
  // our lock around this call: never pause then.
  return generate_locked(c, out, outlen, prediction_resistance != 0, adin,
                         adin_len, /*may_pause=*/!c->lock.enabled())
             ? 1
             : 0;
}

// RAND_add / RAND_seed (via the primary) and EVP_RAND_reseed. Never waits:
// `ent` and `adin` are mixed into the pool (credited 0); the instance then
// reseeds at once if the pool can serve without waiting, or else marks
// itself so that the next generate reseeds (waiting or pausing there)
// before any output.
int drbg_reseed(void* vctx, int pr, const unsigned char* ent, size_t ent_len,
                const unsigned char* adin, size_t adin_len) {
  DrbgCtx* c = as_ctx(vctx);
  if (!check_ready(c)) return 0;
  if ((ent != nullptr && ent_len > 0 &&
       c->pool->mix({ent, ent_len}) != pool::Errc::ok) ||
      (adin != nullptr && adin_len > 0 &&
       c->pool->mix({adin, adin_len}) != pool::Errc::ok)) {
    SEEDPOOL_RAISE(c->handle, kReasonConditionerFailed);
    return 0;
  }
  std::span<std::uint8_t> seed = c->core.gen->seed_scratch();
  pool::Errc rc = c->pool->try_read(seed, {}, pr != 0);
  if (rc == pool::Errc::ok) rc = c->core.gen->reseed(seed, c->pool->epoch());
  OPENSSL_cleanse(seed.data(), seed.size());
  if (rc == pool::Errc::ok) {
    if (pr != 0) c->core.reseed_pr_pending = false;
    return 1;
  }
  c->core.gen->request_reseed();
  if (pr != 0) c->core.reseed_pr_pending = true;
  if (rc == pool::Errc::entropy_short) return 1;  // deferred, see above
  raise_draw_error(c->handle, c->pool.get(), rc);
  return 0;
}

// Called by a child DRBG without our lock: take it ourselves.
size_t drbg_nonce(void* vctx, unsigned char* out, unsigned int strength,
                  size_t min_noncelen, size_t max_noncelen) {
  DrbgCtx* c = as_ctx(vctx);
  if (!check_ready(c) || !check_strength(c->handle, strength)) return 0;
  const size_t len = min_noncelen > 0 ? min_noncelen : 16;
  if (len > max_noncelen || len > kMaxRequestBytes) {
    SEEDPOOL_RAISE(c->handle, kReasonRequestTooLarge,
                   "nonce of %zu to %zu bytes", min_noncelen, max_noncelen);
    return 0;
  }
  if (out == nullptr) return len;  // length query
  if (!c->lock.lock(c->handle)) return 0;
  const bool ok = generate_locked(c, out, len, false, nullptr, 0, false);
  c->lock.unlock();
  return ok ? len : 0;
}

// For a child DRBG (our lock held by it): output of this generator, after a
// reseed from the pool when the child asks prediction resistance or passes
// additional input (OpenSSL's children pass their own address). Waits with
// a bound, never pauses.
size_t drbg_get_seed(void* vctx, unsigned char** pout, int entropy,
                     size_t min_len, size_t max_len, int prediction_resistance,
                     const unsigned char* adin, size_t adin_len) {
  DrbgCtx* c = as_ctx(vctx);
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
  if (!generate_locked(c, buf, len, prediction_resistance != 0, adin, adin_len,
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
    OSSL_PARAM_uint(OSSL_DRBG_PARAM_RESEED_REQUESTS, nullptr),
    OSSL_PARAM_time_t(OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, nullptr),
    OSSL_PARAM_uint64(kParamReseedBytes, nullptr),
    OSSL_PARAM_utf8_string(kParamSeedSource, nullptr, 0),
    OSSL_PARAM_utf8_string(kParamDrbgMemory, nullptr, 0),
    SEEDPOOL_STATS_GETTABLES,
    OSSL_PARAM_END,
};

const OSSL_PARAM* drbg_gettable_ctx_params(void* /*vctx*/, void* /*provctx*/) {
  return kGettables;
}

const OSSL_PARAM kSettables[] = {
    OSSL_PARAM_uint(OSSL_DRBG_PARAM_RESEED_REQUESTS, nullptr),
    OSSL_PARAM_time_t(OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, nullptr),
    OSSL_PARAM_uint64(kParamReseedBytes, nullptr),
    OSSL_PARAM_END,
};

const OSSL_PARAM* drbg_settable_ctx_params(void* /*vctx*/, void* /*provctx*/) {
  return kSettables;
}

int drbg_get_ctx_params(void* vctx, OSSL_PARAM params[]) {
  DrbgCtx* c = as_ctx(vctx);
  if (params == nullptr) return 1;
  switch (get_common_params(params, kMaxRequestBytes,
                            c->state.load(std::memory_order_relaxed),
                            c->pool.get())) {
    case CommonParams::failed: return 0;
    case CommonParams::done: return 1;
    case CommonParams::more: break;
  }
  OSSL_PARAM* p;
  const Generator::Policy& policy = c->core.gen->policy();
  if ((p = OSSL_PARAM_locate(params, OSSL_DRBG_PARAM_RESEED_COUNTER)) != nullptr &&
      !OSSL_PARAM_set_uint(p, c->core.gen->reseed_count()))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_DRBG_PARAM_RESEED_REQUESTS)) != nullptr &&
      !OSSL_PARAM_set_uint(p, static_cast<unsigned int>(std::min<std::uint64_t>(
                                  policy.reseed_requests, 0xffffffffU))))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL)) !=
          nullptr &&
      !OSSL_PARAM_set_time_t(p, static_cast<time_t>(policy.reseed_interval.count())))
    return 0;
  if ((p = OSSL_PARAM_locate(params, kParamReseedBytes)) != nullptr &&
      !OSSL_PARAM_set_uint64(p, policy.reseed_bytes))
    return 0;
  if ((p = OSSL_PARAM_locate(params, kParamSeedSource)) != nullptr &&
      !OSSL_PARAM_set_utf8_string(
          p, c->parent_ignored ? "pool (parent ignored)" : "pool"))
    return 0;
  if ((p = OSSL_PARAM_locate(params, kParamDrbgMemory)) != nullptr &&
      !OSSL_PARAM_set_utf8_string(
          p, c->core.gen->memory_locked()
                 ? (c->core.gen->wipe_on_fork() ? "mlock=yes,wipeonfork=yes"
                                           : "mlock=yes,wipeonfork=no")
                 : (c->core.gen->wipe_on_fork() ? "mlock=no,wipeonfork=yes"
                                           : "mlock=no,wipeonfork=no")))
    return 0;
  if (!c->pool) {
    p = OSSL_PARAM_locate(params, "health");
    return p == nullptr || OSSL_PARAM_set_utf8_string(p, "failed");
  }
  return get_stats_params(*c->pool, params);
}

int drbg_verify_zeroization(void* vctx) {
  DrbgCtx* c = as_ctx(vctx);
  return c->state.load(std::memory_order_relaxed) ==
                 EVP_RAND_STATE_UNINITIALISED &&
         c->core.gen->zeroized();
}

}  // namespace

const OSSL_DISPATCH kDrbgRandFunctions[] = {
    SEEDPOOL_FN(OSSL_FUNC_RAND_NEWCTX, drbg_newctx),
    SEEDPOOL_FN(OSSL_FUNC_RAND_FREECTX, drbg_freectx),
    SEEDPOOL_FN(OSSL_FUNC_RAND_INSTANTIATE, drbg_instantiate),
    SEEDPOOL_FN(OSSL_FUNC_RAND_UNINSTANTIATE, drbg_uninstantiate),
    SEEDPOOL_FN(OSSL_FUNC_RAND_GENERATE, drbg_generate),
    SEEDPOOL_FN(OSSL_FUNC_RAND_RESEED, drbg_reseed),
    SEEDPOOL_FN(OSSL_FUNC_RAND_NONCE, drbg_nonce),
    SEEDPOOL_FN(OSSL_FUNC_RAND_GET_SEED, drbg_get_seed),
    SEEDPOOL_FN(OSSL_FUNC_RAND_CLEAR_SEED, clear_seed_fn),
    SEEDPOOL_FN(OSSL_FUNC_RAND_ENABLE_LOCKING, enable_locking_fn<DrbgCtx>),
    SEEDPOOL_FN(OSSL_FUNC_RAND_LOCK, lock_fn<DrbgCtx>),
    SEEDPOOL_FN(OSSL_FUNC_RAND_UNLOCK, unlock_fn<DrbgCtx>),
    SEEDPOOL_FN(OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS, drbg_gettable_ctx_params),
    SEEDPOOL_FN(OSSL_FUNC_RAND_GET_CTX_PARAMS, drbg_get_ctx_params),
    SEEDPOOL_FN(OSSL_FUNC_RAND_SETTABLE_CTX_PARAMS, drbg_settable_ctx_params),
    SEEDPOOL_FN(OSSL_FUNC_RAND_SET_CTX_PARAMS, drbg_set_ctx_params),
    SEEDPOOL_FN(OSSL_FUNC_RAND_VERIFY_ZEROIZATION, drbg_verify_zeroization),
    {0, nullptr},
};

}  // namespace seedpool::provider
