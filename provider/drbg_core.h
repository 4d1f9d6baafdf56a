// The generate and reseed rules of seedpool's fast generator
// (pool/generator.h), shared by its two front ends: SEEDPOOL-DRBG
// (drbg_rand.cc, an EVP_RAND instance) and OpenSSL 3.5's random_provider
// (random_bytes.cc, per-thread state behind RAND_bytes). One place decides
// when a request reseeds, where the seed comes from and what is left in the
// caller's buffer on failure.
#pragma once

#include <openssl/core.h>

#include <cstddef>
#include <memory>

#include "async/draw.h"
#include "pool/generator.h"
#include "pool/pool.h"

namespace seedpool::provider {

struct ProvCtx;

// One generator and the state its rules keep beside it.
struct DrbgCore {
  std::unique_ptr<pool::Generator> gen;
  // A reseed with prediction resistance was asked for and deferred: the
  // next generate's reseed must read fresh source input too.
  bool reseed_pr_pending = false;
};

// Who asks, for one call: where errors go, the pool to seed from (not
// null), and whether the draw may pause the caller's ASYNC job (never when
// a lock is held around the call).
struct DrbgCall {
  const OSSL_CORE_HANDLE* handle;
  const std::shared_ptr<pool::Pool>& pool;
  async::Pausing pausing;
};

// Makes core.gen with pc's cipher. Raises and returns false on failure
// (no cipher in libcrypto, out of memory, no locked page).
bool drbg_core_create(const ProvCtx& pc, DrbgCore& core) noexcept;

// Draws a seed from the pool (adin mixed in first, fresh sources for
// prediction resistance) and reseeds. The seed goes through the generator's
// locked scratch, never the stack (this may run inside an ASYNC job).
// Raises on failure.
bool drbg_core_reseed(DrbgCore& core, const DrbgCall& call,
                      const unsigned char* adin, std::size_t adin_len,
                      bool pr) noexcept;

// Reseeds when a trigger says so (requests, bytes, time, the pool's epoch,
// fork, prediction resistance, additional input, an explicit request), then
// fills out[0, outlen), outlen <= Generator::kMaxRequestBytes. A request
// longer than reseed_bytes is served in pieces of at most reseed_bytes,
// each after the reseed the policy asks for. On failure (raised) nothing of
// the request is left in `out`.
bool drbg_core_generate(DrbgCore& core, const DrbgCall& call,
                        unsigned char* out, std::size_t outlen, bool pr,
                        const unsigned char* adin,
                        std::size_t adin_len) noexcept;

}  // namespace seedpool::provider
