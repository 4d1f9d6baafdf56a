#include "pool/private_default.h"

#include <openssl/crypto.h>

#include <mutex>
#include <new>

#include "pool/fault.h"
#include "pool/fork.h"

namespace seedpool::pool {

namespace {

// Leaked on purpose, like the fork registry: no destructor at exit.
std::mutex* registry_mutex() noexcept {
  static std::mutex* mu = [] {
    auto* m = new (std::nothrow) std::mutex;
    // Held across fork(), so that a child never starts with it held by a
    // thread fork() did not copy. Lock order: pool/shared.cc's registry
    // lock (a `first` fork lock) may be held when this one is taken, during
    // a pool's creation; nothing is taken while this one is held but
    // libcrypto's own locks (OSSL_LIB_CTX_new, OSSL_PROVIDER_load).
    if (m != nullptr) {
      try {
        register_fork_lock(m);
      } catch (...) {  // bad_alloc, or pthread_atfork failed
        delete m;
        m = nullptr;
      }
    }
    return m;
  }();
  return mu;
}

}  // namespace

bool PrivateDefault::acquire_shared(std::shared_ptr<PrivateDefault>& out) noexcept {
  std::mutex* mu = registry_mutex();
  static auto* cached = new (std::nothrow) std::weak_ptr<PrivateDefault>;
  if (mu == nullptr || cached == nullptr) return false;
  try {
    std::lock_guard<std::mutex> g(*mu);
    if (fault::hit(fault::Point::private_default_hold_lock)) fault::hold();
    if (auto sp = cached->lock()) {
      out = std::move(sp);
      return true;
    }
    std::shared_ptr<PrivateDefault> fresh(new PrivateDefault);
    fresh->libctx_ = OSSL_LIB_CTX_new();
    if (fresh->libctx_ == nullptr) return false;
    fresh->provider_ = OSSL_PROVIDER_load(fresh->libctx_, "default");
    if (fresh->provider_ == nullptr) return false;
    fresh->provctx_ = OSSL_PROVIDER_get0_provider_ctx(fresh->provider_);
    *cached = fresh;
    out = std::move(fresh);
  } catch (...) {  // std::system_error from the mutex, bad_alloc
    return false;
  }
  return true;
}

PrivateDefault::~PrivateDefault() {
  if (provider_ != nullptr) (void)OSSL_PROVIDER_unload(provider_);
  OSSL_LIB_CTX_free(libctx_);
}

const OSSL_DISPATCH* PrivateDefault::find(int operation_id,
                                          std::string_view name) const noexcept {
  int no_cache = 0;
  const OSSL_ALGORITHM* algs =
      OSSL_PROVIDER_query_operation(provider_, operation_id, &no_cache);
  const OSSL_DISPATCH* found = nullptr;
  for (const OSSL_ALGORITHM* a = algs; a != nullptr && a->algorithm_names != nullptr;
       ++a) {
    // algorithm_names is "NAME[:ALIAS...]".
    const std::string_view names(a->algorithm_names);
    if (names.substr(0, names.find(':')) == name) {
      found = a->implementation;
      break;
    }
  }
  // The default provider has no unquery function and hands out static
  // tables (providers/defltprov.c, 3.0.22 and 3.5.7), so `found` stays
  // valid after this; the call keeps us within the API's contract.
  OSSL_PROVIDER_unquery_operation(provider_, operation_id, algs);
  return found;
}

}  // namespace seedpool::pool
