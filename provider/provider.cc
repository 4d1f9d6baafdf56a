// OSSL_provider_init and the provider-level dispatch: parameters, the
// algorithm table, reason strings, teardown. The only exported symbol.
#include <dlfcn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <new>
#include <string>

#include "pool/shared.h"
#include "provider/config.h"
#include "provider/drbg_rand.h"
#include "provider/errors.h"
#include "provider/prov_ctx.h"
#include "provider/random_bytes.h"
#include "provider/seed_rand.h"
#include "provider/stats_file.h"

// OpenSSL 3.5's random_provider entry (core_dispatch.h), for `[random]
// random_provider = seedpool`. 3.0's headers lack it: defined with 3.5's
// value so that a module built on 3.0 serves RAND_bytes on 3.5 too. 3.0's
// core ignores function ids it does not know (crypto/provider_core.c,
// provider_init: a switch with no default), so the entry is harmless there.
#ifndef OSSL_FUNC_PROVIDER_RANDOM_BYTES
#define OSSL_FUNC_PROVIDER_RANDOM_BYTES 1032
#endif

#ifndef SEEDPOOL_VERSION
#define SEEDPOOL_VERSION "0.0.0"
#endif

namespace seedpool::provider {
namespace {

constexpr char kName[] = "seedpool";
constexpr char kBuildInfo[] =
    "seedpool " SEEDPOOL_VERSION " built against " OPENSSL_VERSION_TEXT;

OSSL_FUNC_provider_teardown_fn prov_teardown;
OSSL_FUNC_provider_gettable_params_fn prov_gettable_params;
OSSL_FUNC_provider_get_params_fn prov_get_params;
OSSL_FUNC_provider_query_operation_fn prov_query_operation;
OSSL_FUNC_provider_get_reason_strings_fn prov_get_reason_strings;

const OSSL_ALGORITHM kRands[] = {
    {"SEEDPOOL:SEED-SRC", "provider=seedpool", kSeedRandFunctions,
     "seedpool's entropy pool: full-entropy, conditioned output"},
    {"SEEDPOOL-DRBG", "provider=seedpool", kDrbgRandFunctions,
     "fast key erasure over AES-256-CTR, seeded straight from the pool"},
    {nullptr, nullptr, nullptr, nullptr},
};

// What teardown relies on, as read in OpenSSL 3.0's crypto/provider_core.c
// and crypto/provider.c (3.0.22; the same in 3.5.7):
//  - ossl_provider_free calls this only when the provider object's
//    reference count reaches 0 ("we deinit late"). Every EVP_RAND fetched
//    from us holds a reference and every EVP_RAND_CTX holds its EVP_RAND,
//    so no SEEDPOOL or SEEDPOOL-DRBG instance of this provider object is
//    alive here -- not even a thread's public/private DRBG that is blocked
//    in a draw right now. OSSL_PROVIDER_unload only deactivates
//    (provider_deactivate: "We don't deinit here") and drops one reference,
//    and OSSL_LIB_CTX_free drops the store's (provider_store_free ->
//    provider_deactivate_free): while such a thread is inside us neither
//    reaches this function, the pool keeps serving that thread, and it
//    returns with bytes or at its block_timeout_ms with our reason. Nothing
//    reaches a provider at that moment to cut the wait short.
//  - It is called before our reason strings are unloaded and the module
//    released (DSO_free; pinned anyway, see pin_module), and not at all for
//    a child library context's copy (ossl_provider_teardown skips
//    prov->ischild): such a ProvCtx never gives its pool back, and the pool
//    then lives until the process ends, as before.
//  - OPENSSL_cleanup reaches it through ossl_lib_ctx_default_deinit, before
//    libcrypto's own thread and object cleanup (crypto/init.c).
// What can still hold the pool after the last teardown of the process is a
// paused ASYNC job's waiter (async/draw.cc), owned by the application's
// ASYNC_WAIT_CTX. release_shared therefore shuts the pool down when the
// last provider object goes: the waiter's request ends with cancelled
// (its fd becomes readable, its status ERR, the application's callback
// runs now, here), and the gatherer thread is joined, so no seedpool
// thread runs and no callback comes after OSSL_LIB_CTX_free or
// OPENSSL_cleanup.
void prov_teardown(void* vprov) {
  auto* pc = static_cast<ProvCtx*>(vprov);
  if (pc == nullptr) return;
  random_bytes_detach();  // before pc's cipher reference goes
  // The statistics line is written during the release: after the seed file
  // was saved (when this is the pool's last user), before its shutdown.
  pool::release_shared(pc->pool, write_stats_file);
  delete pc;
}

}  // namespace

bool raise_not_running(const ProvCtx& pc) {
  SEEDPOOL_RAISE(pc.handle, pc.error_reason != 0 ? pc.error_reason : kReasonInternal,
                 "seedpool is not running: %s", pc.error_detail.c_str());
  return false;
}

namespace {

const OSSL_PARAM kProvGettables[] = {
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, nullptr, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, nullptr, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, nullptr, 0),
    OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, nullptr),
    // random_provider (OpenSSL 3.5): process-wide, see random_bytes.h.
    OSSL_PARAM_uint64("random_provider_calls", nullptr),
    OSSL_PARAM_uint64("random_provider_bytes", nullptr),
    OSSL_PARAM_uint64("random_provider_failed", nullptr),
    OSSL_PARAM_END,
};

const OSSL_PARAM* prov_gettable_params(void* /*vprov*/) { return kProvGettables; }

int prov_get_params(void* vprov, OSSL_PARAM params[]) {
  auto* pc = static_cast<ProvCtx*>(vprov);
  OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) != nullptr &&
      !OSSL_PARAM_set_utf8_ptr(p, kName))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) != nullptr &&
      !OSSL_PARAM_set_utf8_ptr(p, SEEDPOOL_VERSION))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) != nullptr &&
      !OSSL_PARAM_set_utf8_ptr(p, kBuildInfo))
    return 0;
  if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) != nullptr) {
    const bool running = pc != nullptr && pc->pool &&
                         pc->pool->health() != pool::Health::failed;
    if (!OSSL_PARAM_set_int(p, running ? 1 : 0)) return 0;
  }
  if (OSSL_PARAM_locate(params, "random_provider_calls") != nullptr ||
      OSSL_PARAM_locate(params, "random_provider_bytes") != nullptr ||
      OSSL_PARAM_locate(params, "random_provider_failed") != nullptr) {
    const RandomProviderStats rs = random_provider_stats();
    if (((p = OSSL_PARAM_locate(params, "random_provider_calls")) != nullptr &&
         !OSSL_PARAM_set_uint64(p, rs.calls)) ||
        ((p = OSSL_PARAM_locate(params, "random_provider_bytes")) != nullptr &&
         !OSSL_PARAM_set_uint64(p, rs.bytes)) ||
        ((p = OSSL_PARAM_locate(params, "random_provider_failed")) != nullptr &&
         !OSSL_PARAM_set_uint64(p, rs.failed)))
      return 0;
  }
  return 1;
}

const OSSL_ALGORITHM* prov_query_operation(void* /*vprov*/, int operation_id,
                                           int* no_cache) {
  *no_cache = 0;
  return operation_id == OSSL_OP_RAND ? kRands : nullptr;
}

const OSSL_ITEM* prov_get_reason_strings(void* /*vprov*/) {
  return reason_strings();
}

#define FN(id, f) {id, reinterpret_cast<void (*)(void)>(f)}
const OSSL_DISPATCH kProviderFunctions[] = {
    FN(OSSL_FUNC_PROVIDER_TEARDOWN, prov_teardown),
    FN(OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, prov_gettable_params),
    FN(OSSL_FUNC_PROVIDER_GET_PARAMS, prov_get_params),
    FN(OSSL_FUNC_PROVIDER_QUERY_OPERATION, prov_query_operation),
    FN(OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, prov_get_reason_strings),
    FN(OSSL_FUNC_PROVIDER_RANDOM_BYTES, random_bytes_fn),
    {0, nullptr},
};
#undef FN

// OpenSSL dlclose()s a provider module when its last provider object goes
// (crypto/provider_core.c frees prov->module with DSO_free). The pool
// registers pthread_atfork handlers, which cannot be removed, so the code
// must stay mapped: pin the module with RTLD_NODELETE.
bool pin_module() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&prov_teardown), &info) == 0 ||
      info.dli_fname == nullptr)
    return false;
  // RTLD_NOLOAD: only take a reference on the copy already loaded.
  return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != nullptr;
}

}  // namespace
}  // namespace seedpool::provider

extern "C" __attribute__((visibility("default"))) int OSSL_provider_init(
    const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in,
    const OSSL_DISPATCH** out, void** provctx) {
  using namespace seedpool;
  using namespace seedpool::provider;
  try {
    init_error_upcalls(in);
    OSSL_FUNC_core_get_params_fn* core_get_params = nullptr;
    for (const OSSL_DISPATCH* d = in; d != nullptr && d->function_id != 0; ++d)
      if (d->function_id == OSSL_FUNC_CORE_GET_PARAMS)
        core_get_params = OSSL_FUNC_core_get_params(d);
    if (!pin_module()) {
      SEEDPOOL_RAISE(handle, kReasonInternal, "cannot pin the module in memory");
      return 0;
    }
    auto pc = std::make_unique<ProvCtx>();
    pc->handle = handle;
    pool::Config config;
    std::string error;
    Reason config_reason = kReasonBadConfig;
    // The default source list's probes, used by the pool it starts: each
    // source is opened and checked once.
    pool::ProbedSources probed;
    if (!read_core_config(core_get_params, handle, config, error, config_reason,
                          &probed)) {
      pc->error_reason = config_reason;
      pc->error_detail = error;
    } else if (pool::Errc rc = pool::acquire_shared(config, pc->pool, &probed);
               rc != pool::Errc::ok) {
      pc->error_reason = reason_for(rc);
      pc->error_detail = std::string("starting the pool: ") + pool::describe(rc);
    }
    if (pool::GeneratorCipher::acquire_shared(pc->cipher) != pool::Errc::ok)
      pc->cipher.reset();  // reported when a SEEDPOOL-DRBG is created
    // Raised now for callers that look (OSSL_PROVIDER_load users); the
    // config loader discards it, so every request raises it again.
    if (!pc->pool) raise_not_running(*pc);
    random_bytes_attach();  // matched by random_bytes_detach in teardown
    *out = kProviderFunctions;
    *provctx = pc.release();
    return 1;
  } catch (const std::bad_alloc&) {
    SEEDPOOL_RAISE(handle, kReasonOutOfMemory);
  } catch (...) {
    SEEDPOOL_RAISE(handle, kReasonInternal);
  }
  return 0;
}
