// OpenSSL 3.5's random_provider (see random_bytes.h).
//
// How OpenSSL 3.5 calls it (read in the 3.5.7 sources):
//  - crypto/rand/rand_lib.c: RAND_bytes_ex and RAND_priv_bytes_ex, when the
//    library context has a random provider, return
//    ossl_provider_random_bytes(prov, OSSL_PROV_RANDOM_PUBLIC or _PRIVATE,
//    buf, num, strength) and nothing else: no DRBG is created or locked for
//    them. Before that they only call RAND_get_rand_method(), which takes
//    and releases rand_meth_lock (a read lock since 3.5), and
//    rand_get_global(), a plain read of the library context's field. So NO
//    libcrypto lock is held around our call: the draw of a seed may pause
//    the caller's ASYNC job (Pausing::allowed below).
//  - crypto/provider_core.c: ossl_provider_random_bytes calls our function
//    directly with our provider context; the function is picked up from the
//    provider's dispatch table at init (OSSL_FUNC_PROVIDER_RANDOM_BYTES,
//    1032), and the context is hooked when the provider named by
//    `random_provider` is loaded (ossl_rand_check_random_provider_on_load),
//    and unhooked when it is unloaded. If seedpool is not loaded, OpenSSL
//    uses its own DRBGs silently: random_provider_stats() is the proof.
//  - `strength` is the caller's (0 for RAND_bytes); num may be anything up
//    to SIZE_MAX, and the return value becomes RAND_bytes' own.
// OpenSSL 3.0 never calls it: its provider_core.c ignores function ids it
// does not know, and its [random] section rejects the random_provider key
// (CRYPTO_R_UNKNOWN_NAME_IN_RANDOM_SECTION, which config loading drops
// unless config_diagnostics is set).
//
// State: one ThreadState per thread, made at its first call (the only
// allocation and system calls: the generators' locked pages), found with
// pthread_getspecific after that, freed by the key's destructor when the
// thread exits (the generators' pages and key schedules are cleansed as
// they are freed), and emptied when the last seedpool provider of the
// process is torn down (the module itself stays mapped, RTLD_NODELETE).
// Several ASYNC jobs on one thread share its state, as they share a
// per-thread SEEDPOOL-DRBG instance: see drbg_core.cc for why a pause
// cannot leave it half-updated.
#include "provider/random_bytes.h"

#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <new>

#include "async/draw.h"
#include "pool/fork.h"
#include "pool/generator.h"
#include "provider/drbg_core.h"
#include "provider/errors.h"
#include "provider/prov_ctx.h"
#include "provider/rand_common.h"

// <openssl/rand.h> of 3.5; absent from 3.0's headers.
#ifndef OSSL_PROV_RANDOM_PUBLIC
#define OSSL_PROV_RANDOM_PUBLIC 0
#define OSSL_PROV_RANDOM_PRIVATE 1
#endif

namespace seedpool::provider {

#ifdef OSSL_FUNC_PROVIDER_RANDOM_BYTES
// Built against 3.5's headers: the compiler checks the signature.
OSSL_FUNC_provider_random_bytes_fn random_bytes_fn;
#endif

namespace {

using pool::Generator;

// Each piece of a large request is one generate of the generator (as EVP
// splits SEEDPOOL-DRBG's requests by max_request), so the reseed policy
// counts it as one request.
constexpr std::size_t kPieceBytes = Generator::kMaxRequestBytes;

// One per thread that called random_bytes_fn. Only its thread touches it,
// except: the counters (read by random_provider_stats), the list links (the
// registry's lock), and the emptying at the last provider's teardown or in
// a forked child, when that thread cannot be calling.
struct ThreadState {
  // Declared before drbg: the generators use it, so it is released after
  // them.
  std::shared_ptr<pool::GeneratorCipher> cipher;
  // Indexed by `which`. The reseed policy is Generator::Policy's default,
  // the one OpenSSL gives its per-thread public and private DRBGs (65536
  // requests, 420 s), plus 2^30 bytes and the pool's epoch.
  DrbgCore drbg[2];
  // The pool the generators were seeded from (its control block, so a new
  // pool at the same address is still told apart): a new pool, after the
  // provider was unloaded and loaded again, means a fresh start.
  std::weak_ptr<pool::Pool> seeded_from;
  std::uint64_t fork_generation = 0;
  // Written by this thread only, with a load and a store (no
  // read-modify-write: the hot path bounces no cache line between threads).
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> failed{0};
  ThreadState* prev = nullptr;  // guarded by Registry::mu
  ThreadState* next = nullptr;  // guarded by Registry::mu
};

void bump(std::atomic<std::uint64_t>& c, std::uint64_t by) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

void thread_exit(void* v) noexcept;

struct Registry {
  std::mutex mu;  // held across fork() (pool::register_fork_lock)
  ThreadState* head = nullptr;  // guarded by mu
  RandomProviderStats retired;  // of states freed; guarded by mu
  std::size_t providers = 0;    // live provider objects; guarded by mu
  // Failed calls on a thread that had no state (and could not get one).
  std::atomic<std::uint64_t> stateless_failed{0};
  pthread_key_t key{};
};

Registry* make_registry() noexcept {
  auto* r = new (std::nothrow) Registry;
  if (r == nullptr) return nullptr;
  if (pthread_key_create(&r->key, thread_exit) != 0) {
    delete r;
    return nullptr;
  }
  try {
    pool::register_fork_lock(&r->mu);
  } catch (...) {
    // Without it a child could inherit the lock held; keep the key (it
    // cannot be taken back safely), fail the feature.
    return nullptr;
  }
  return r;
}

// Leaked on purpose, as pool/fork.cc's registry: thread exits and atfork
// handlers may come during or after static destruction.
Registry* registry() noexcept {
  static Registry* r = make_registry();
  return r;
}

void link(Registry& r, ThreadState* st) {
  st->prev = nullptr;
  st->next = r.head;
  if (r.head != nullptr) r.head->prev = st;
  r.head = st;
}

void unlink_and_retire(Registry& r, ThreadState* st) {
  if (st->prev != nullptr) st->prev->next = st->next;
  else r.head = st->next;
  if (st->next != nullptr) st->next->prev = st->prev;
  st->prev = st->next = nullptr;
  r.retired.calls += st->calls.load(std::memory_order_relaxed);
  r.retired.bytes += st->bytes.load(std::memory_order_relaxed);
  r.retired.failed += st->failed.load(std::memory_order_relaxed);
}

// Frees the generators (their pages are cleansed, their AES key schedules
// cleared by the cipher's freectx) and drops the cipher.
void empty_state(ThreadState& st) noexcept {
  for (DrbgCore& core : st.drbg) {
    core.gen.reset();
    core.reseed_pr_pending = false;
  }
  st.cipher.reset();
  st.seeded_from.reset();
}

// The key's destructor: the thread is exiting. (Not called for the main
// thread at exit(); its state is emptied at the last provider's teardown,
// which OpenSSL's atexit cleanup runs.)
void thread_exit(void* v) noexcept {
  auto* st = static_cast<ThreadState*>(v);
  Registry* r = registry();
  if (st == nullptr || r == nullptr) return;
  try {
    std::lock_guard<std::mutex> g(r->mu);
    unlink_and_retire(*r, st);
  } catch (...) {  // still linked: empty it, leave the shell
    empty_state(*st);
    return;
  }
  delete st;
}

// The calling thread's state, made at its first call. Raises on failure.
ThreadState* this_thread_state(const OSSL_CORE_HANDLE* handle) noexcept {
  Registry* r = registry();
  if (r == nullptr) {
    SEEDPOOL_RAISE(handle, kReasonOutOfMemory);
    return nullptr;
  }
  if (void* v = pthread_getspecific(r->key); v != nullptr)
    return static_cast<ThreadState*>(v);
  auto* st = new (std::nothrow) ThreadState;
  if (st == nullptr || pthread_setspecific(r->key, st) != 0) {
    delete st;
    SEEDPOOL_RAISE(handle, kReasonOutOfMemory);
    return nullptr;
  }
  st->fork_generation = pool::fork_generation();
  try {
    std::lock_guard<std::mutex> g(r->mu);
    link(*r, st);
  } catch (...) {  // std::system_error from the mutex
    (void)pthread_setspecific(r->key, nullptr);
    delete st;
    SEEDPOOL_RAISE(handle, kReasonInternal, "cannot take the registry lock");
    return nullptr;
  }
  return st;
}

// In a forked child only the calling thread exists: the states of the
// parent's other threads hold their keys (in libcrypto's heap, which
// MADV_WIPEONFORK does not cover). Free them, keep their counts.
void drop_other_threads(ThreadState& mine) noexcept {
  Registry* r = registry();
  ThreadState* orphans = nullptr;
  try {
    std::lock_guard<std::mutex> g(r->mu);
    for (ThreadState* st = r->head; st != nullptr;) {
      ThreadState* next = st->next;
      if (st != &mine) {
        unlink_and_retire(*r, st);
        st->next = orphans;
        orphans = st;
      }
      st = next;
    }
  } catch (...) {
    return;  // the lock failed: keep them, try again at the next call
  }
  while (orphans != nullptr) {
    ThreadState* next = orphans->next;
    delete orphans;
    orphans = next;
  }
  mine.fork_generation = pool::fork_generation();
}

bool same_pool(const ThreadState& st, const std::shared_ptr<pool::Pool>& p) {
  return !st.seeded_from.owner_before(p) && !p.owner_before(st.seeded_from);
}

// The generator for `core`, made with pc's cipher (the state keeps the
// cipher alive as long as any generator of its uses it).
bool make_generator(const ProvCtx& pc, ThreadState& st, DrbgCore& core) noexcept {
  if (st.cipher != pc.cipher) {
    empty_state(st);
    st.seeded_from = pc.pool;
  }
  if (!drbg_core_create(pc, core)) return false;
  st.cipher = pc.cipher;
  return true;
}

bool serve(const ProvCtx& pc, ThreadState& st, int which, void* buf,
           std::size_t n, unsigned int strength) noexcept {
  if (!pc.pool) return raise_not_running(pc);
  if (which != OSSL_PROV_RANDOM_PUBLIC && which != OSSL_PROV_RANDOM_PRIVATE) {
    SEEDPOOL_RAISE(pc.handle, kReasonInvalidArgument);
    return false;
  }
  if (!check_strength(pc.handle, strength)) return false;
  if (n == 0) return true;
  if (buf == nullptr) {
    SEEDPOOL_RAISE(pc.handle, kReasonInvalidArgument);
    return false;
  }
  if (st.fork_generation != pool::fork_generation()) drop_other_threads(st);
  if (!same_pool(st, pc.pool)) {
    // Seeded from a pool that is gone: start afresh from this one.
    for (DrbgCore& core : st.drbg) {
      if (core.gen) core.gen->wipe();
      core.reseed_pr_pending = false;
    }
    st.seeded_from = pc.pool;
  }
  DrbgCore& core = st.drbg[which];
  if (!core.gen && !make_generator(pc, st, core)) return false;
  // No libcrypto lock is held around this call on 3.5 (see the top of this
  // file), and the state is this thread's alone: the seed's draw may pause.
  const DrbgCall call{pc.handle, pc.pool, async::Pausing::allowed};
  auto* out = static_cast<unsigned char*>(buf);
  for (std::size_t done = 0; done < n;) {
    const std::size_t piece = std::min(n - done, kPieceBytes);
    if (!drbg_core_generate(core, call, out + done, piece, false, nullptr, 0)) {
      OPENSSL_cleanse(out, done);  // the failed piece cleansed itself
      return false;
    }
    done += piece;
  }
  return true;
}

}  // namespace

int random_bytes_fn(void* provctx, int which, void* buf, std::size_t n,
                    unsigned int strength) {
  const auto* pc = static_cast<const ProvCtx*>(provctx);
  if (pc == nullptr) return 0;
  ThreadState* st = this_thread_state(pc->handle);
  if (st == nullptr) {
    if (Registry* r = registry(); r != nullptr)
      r->stateless_failed.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  const bool ok = serve(*pc, *st, which, buf, n, strength);
  bump(st->calls, 1);
  if (ok) bump(st->bytes, n);
  else bump(st->failed, 1);
  return ok ? 1 : 0;
}

void random_bytes_attach() noexcept {
  Registry* r = registry();
  if (r == nullptr) return;
  try {
    std::lock_guard<std::mutex> g(r->mu);
    ++r->providers;
  } catch (...) {
  }
}

void random_bytes_detach() noexcept {
  Registry* r = registry();
  if (r == nullptr) return;
  try {
    std::lock_guard<std::mutex> g(r->mu);
    if (r->providers > 0) --r->providers;
    if (r->providers != 0) return;
    // The last seedpool provider of the process: nobody may call us now.
    // Empty every thread's state (their threads may live on, or never
    // exit before the process does); each shell goes at its thread's exit.
    for (ThreadState* st = r->head; st != nullptr; st = st->next)
      empty_state(*st);
  } catch (...) {
  }
}

RandomProviderStats random_provider_stats() noexcept {
  RandomProviderStats s;
  Registry* r = registry();
  if (r == nullptr) return s;
  try {
    std::lock_guard<std::mutex> g(r->mu);
    s = r->retired;
    for (const ThreadState* st = r->head; st != nullptr; st = st->next) {
      s.calls += st->calls.load(std::memory_order_relaxed);
      s.bytes += st->bytes.load(std::memory_order_relaxed);
      s.failed += st->failed.load(std::memory_order_relaxed);
    }
  } catch (...) {
  }
  const std::uint64_t stateless =
      r->stateless_failed.load(std::memory_order_relaxed);
  s.calls += stateless;
  s.failed += stateless;
  return s;
}

}  // namespace seedpool::provider
