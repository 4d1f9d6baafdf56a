// OpenSSL 3.5's random_provider: `[random] random_provider = seedpool` makes
// every RAND_bytes / RAND_priv_bytes of the library context call the
// provider's OSSL_FUNC_PROVIDER_RANDOM_BYTES directly, bypassing OpenSSL's
// DRBG chain and its locks. seedpool serves them from a per-thread
// generator with SEEDPOOL-DRBG's state and rules (drbg_core.h): one
// generator per thread for public and one for private output, seeded
// lazily from the pool, reseeded by the same policy, fork-safe, pausing
// inside ASYNC jobs while it waits for a seed. OpenSSL 3.0 does not know
// the key (nor the function id) and never calls it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace seedpool::provider {

// The dispatch function (OSSL_FUNC_provider_random_bytes_fn on 3.5; not
// declared noexcept, so that it matches that typedef, but it never throws).
// `which` is OSSL_PROV_RANDOM_PUBLIC (0) or OSSL_PROV_RANDOM_PRIVATE (1).
int random_bytes_fn(void* provctx, int which, void* buf, std::size_t n,
                    unsigned int strength);

// The provider's lifetime, for the per-thread states: called once per
// provider object after a successful OSSL_provider_init, and from its
// teardown. When the last seedpool provider of the process goes, every
// thread's generators are erased and freed (the shared cipher they use
// goes with it; a thread's own exit frees the rest).
void random_bytes_attach() noexcept;
void random_bytes_detach() noexcept;

// Process-wide counters of random_provider calls (all threads, those gone
// included). They move only when OpenSSL really called seedpool for
// RAND_bytes: OpenSSL falls back to its own DRBGs without a word when the
// named provider is not loaded.
struct RandomProviderStats {
  std::uint64_t calls = 0;   // calls of the function
  std::uint64_t bytes = 0;   // bytes served by successful calls
  std::uint64_t failed = 0;  // calls that returned an error
};
RandomProviderStats random_provider_stats() noexcept;

}  // namespace seedpool::provider
