#include "pool/conditioner.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>

#include "pool/private_default.h"
#include "pool/secure_mem.h"

// How SHA-512 is called: through the default provider's own digest
// functions in a private library context (pool/private_default.h), not
// through EVP_MD_fetch + EVP_DigestInit_ex. The fetch cost ~250 us of
// start-up (it builds the context's name map and digest store), and on 3.0
// every EVP_DigestInit_ex frees and re-allocates the provider's context
// (crypto/evp/digest.c, evp_md_init_internal): 3 malloc/free pairs per
// extract(), 192 per 4 KiB served under `random = SEEDPOOL`.
//
// What stays outside the locked region: the hash state inside libcrypto.
// The SHA-512 state (a SHA512_CTX: the chaining words h[] and the partial
// input block u.p) is the provider's algctx, allocated by newctx with
// OPENSSL_zalloc in libcrypto's heap -- unlocked, and included in core
// dumps. Between init and final it holds the running state over our secret
// inputs; after final, SHA512_Final (crypto/sha/sha512.c) leaves h[] = the
// digest just produced and u.p = the padded last block, without wiping
// them. The SHA-512 block function also leaves its message schedule on the
// stack.
//
// What we read in the OpenSSL 3.0.22 and 3.5.7 sources:
// - providers/implementations/include/prov/digestcommon.h,
//   PROV_DISPATCH_FUNC_DIGEST_CONSTRUCT_START, used for sha512 by
//   providers/implementations/digests/sha2_prov.c (IMPLEMENT_digest_functions
//   (sha512, SHA512_CTX, ...)): newctx is OPENSSL_zalloc(sizeof(SHA512_CTX)),
//   init is SHA512_Init on the same context (no allocation), freectx is
//   OPENSSL_clear_free(ctx, sizeof(*ctx)) -- freeing cleanses.
// So each operation (an absorb() that compresses, an extract()) makes one
// context, runs its hashes on it (each init overwrites the previous hash's
// chaining words), and frees it when done -- or, inside a Batch (the
// blocks of one pool request), when the batch ends: one malloc/free pair
// per operation or batch, and the last state -- h[] = the next chain's
// digest, u.p = the padded input (label, chain, buffer) -- does not linger
// in unlocked memory after the call that made it. What remains exposed is
// the state while an operation or batch runs, and the stack.

namespace seedpool::pool {
namespace {

// Each use of H starts with its label byte. See conditioner.h.
constexpr unsigned char kOutputLabel = 0x01;
constexpr unsigned char kChainLabel = 0x02;
constexpr unsigned char kCompressLabel = 0x03;

// Layout of the secure region: two 64-byte scratch blocks (the output
// block and the next chain's digest), then the label byte, the chain and the
// input buffer back to back, so that each hash is one update call over
// label || C || B (the label byte is set before each hash).
constexpr std::size_t kBlockOff = 0;
constexpr std::size_t kNextOff = kBlockOff + Conditioner::kBlockBytes;
constexpr std::size_t kLabelOff =
    kNextOff + 2 * Conditioner::kBlockBytes - Conditioner::kChainBytes - 1;
constexpr std::size_t kChainOff = kLabelOff + 1;
constexpr std::size_t kBufferOff = kChainOff + Conditioner::kChainBytes;
constexpr std::size_t kStateBytes = kBufferOff + Conditioner::kBufferBytes;
static_assert(Conditioner::kChainBytes <= Conditioner::kBlockBytes);
static_assert(kStateBytes == Conditioner::kMemoryBytes);

}  // namespace

struct Conditioner::Impl {
  std::shared_ptr<PrivateDefault> provider;  // owns the functions below
  OSSL_FUNC_digest_newctx_fn* newctx = nullptr;
  OSSL_FUNC_digest_init_fn* init = nullptr;
  OSSL_FUNC_digest_update_fn* update = nullptr;
  OSSL_FUNC_digest_final_fn* final = nullptr;
  OSSL_FUNC_digest_freectx_fn* freectx = nullptr;
  void* md = nullptr;  // the provider's SHA-512 context, during an operation
  SecureRegion region;  // block | next | (gap) label | chain | buffer
  std::size_t used = 0;  // bytes in the buffer

  ~Impl() { free_md(); }

  unsigned char* label() noexcept { return region.bytes().data() + kLabelOff; }
  unsigned char* chain() noexcept { return region.bytes().data() + kChainOff; }
  unsigned char* block() noexcept { return region.bytes().data() + kBlockOff; }
  unsigned char* next() noexcept { return region.bytes().data() + kNextOff; }
  unsigned char* buffer() noexcept {
    return region.bytes().data() + kBufferOff;
  }

  // out64 = H(use || C || B). out64 must not alias C or B.
  bool hash(unsigned char use, unsigned char* out64) noexcept {
    if (md == nullptr && (md = newctx(provider->provctx())) == nullptr)
      return false;
    *label() = use;
    std::size_t len = 0;
    return init(md, nullptr) == 1 &&
           update(md, label(), 1 + kChainBytes + used) == 1 &&
           final(md, out64, &len, Conditioner::kBlockBytes) == 1 &&
           len == Conditioner::kBlockBytes;
  }

  int batch_depth = 0;  // Conditioner::Batch objects alive

  // Frees (and so cleanses) libcrypto's copy of the last hash state at the
  // end of an operation, or of the batch it is part of; see the top of the
  // file.
  void scrub_md() noexcept {
    if (batch_depth == 0) free_md();
  }
  void free_md() noexcept {
    if (md != nullptr) freectx(md);
    md = nullptr;
  }

  // C = H(0x03 || C || B)[0..32); B = empty.
  bool compress() noexcept {
    const bool ok = hash(kCompressLabel, next());
    scrub_md();
    if (ok) {
      std::memcpy(chain(), next(), kChainBytes);
      OPENSSL_cleanse(buffer(), used);
      used = 0;
    }
    OPENSSL_cleanse(next(), kBlockBytes);
    return ok;
  }
};

Conditioner::Conditioner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Conditioner::~Conditioner() = default;  // the region cleanses itself

Errc Conditioner::create(std::unique_ptr<Conditioner>& out) {
  SecureRegion memory;
  // Not wiped on fork: the pool re-keys a child itself (it needs the state).
  if (Errc rc = SecureRegion::create(kStateBytes, {}, memory); rc != Errc::ok)
    return rc;
  return create(out, std::move(memory));
}

Errc Conditioner::create(std::unique_ptr<Conditioner>& out,
                         SecureRegion memory) {
  if (memory.size() < kStateBytes) return Errc::invalid_argument;
  auto impl = std::make_unique<Impl>();
  impl->region = std::move(memory);
  if (!PrivateDefault::acquire_shared(impl->provider))
    return Errc::conditioner_failed;
  OSSL_FUNC_digest_get_params_fn* get_params = nullptr;
  for (const OSSL_DISPATCH* d = impl->provider->find(OSSL_OP_DIGEST, "SHA2-512");
       d != nullptr && d->function_id != 0; ++d) {
    switch (d->function_id) {
      case OSSL_FUNC_DIGEST_NEWCTX: impl->newctx = OSSL_FUNC_digest_newctx(d); break;
      case OSSL_FUNC_DIGEST_INIT: impl->init = OSSL_FUNC_digest_init(d); break;
      case OSSL_FUNC_DIGEST_UPDATE: impl->update = OSSL_FUNC_digest_update(d); break;
      case OSSL_FUNC_DIGEST_FINAL: impl->final = OSSL_FUNC_digest_final(d); break;
      case OSSL_FUNC_DIGEST_FREECTX:
        impl->freectx = OSSL_FUNC_digest_freectx(d);
        break;
      case OSSL_FUNC_DIGEST_GET_PARAMS:
        get_params = OSSL_FUNC_digest_get_params(d);
        break;
      default: break;
    }
  }
  if (impl->newctx == nullptr || impl->init == nullptr || impl->update == nullptr ||
      impl->final == nullptr || impl->freectx == nullptr || get_params == nullptr)
    return Errc::conditioner_failed;
  // The output size the construction assumes, as the provider states it.
  std::size_t size = 0;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_DIGEST_PARAM_SIZE, &size),
                         OSSL_PARAM_construct_end()};
  if (get_params(params) != 1 || size != kBlockBytes) return Errc::conditioner_failed;
  // The region is zero-filled by mmap: C starts as 32 zero bytes, B empty.
  out.reset(new Conditioner(std::move(impl)));
  return Errc::ok;
}

Errc Conditioner::absorb(std::span<const std::uint8_t> data) noexcept {
  Impl& s = *impl_;
  while (!data.empty()) {
    // A full buffer here means an earlier compression failed: retry it.
    if (s.used == kBufferBytes && !s.compress()) return Errc::conditioner_failed;
    const std::size_t n = std::min(kBufferBytes - s.used, data.size());
    std::memcpy(s.buffer() + s.used, data.data(), n);
    s.used += n;
    data = data.subspan(n);
    if (s.used == kBufferBytes && !s.compress()) return Errc::conditioner_failed;
  }
  return Errc::ok;
}

Errc Conditioner::extract(std::span<std::uint8_t> out) noexcept {
  if (out.empty() || out.size() > kBlockBytes) return Errc::invalid_argument;
  Impl& s = *impl_;
  if (s.used == kBufferBytes && !s.compress()) return Errc::conditioner_failed;
  // output = H(0x01 || C || B), next C = H(0x02 || C || B), both from the
  // old C and B. C and B change only once both hashes succeeded, so on
  // failure nothing is released and a retry computes the block this attempt
  // never handed out.
  const bool ok = s.hash(kOutputLabel, s.block()) && s.hash(kChainLabel, s.next());
  s.scrub_md();
  if (ok) {
    std::memcpy(out.data(), s.block(), out.size());
    std::memcpy(s.chain(), s.next(), kChainBytes);
    OPENSSL_cleanse(s.buffer(), s.used);
    s.used = 0;
  }
  OPENSSL_cleanse(s.block(), 2 * kBlockBytes);  // block and next
  return ok ? Errc::ok : Errc::conditioner_failed;
}

bool Conditioner::memory_locked() const noexcept {
  return impl_->region.locked();
}

bool Conditioner::dump_excluded() const noexcept {
  return impl_->region.dump_excluded();
}

void Conditioner::after_fork() noexcept { impl_->region.relock(); }

Conditioner::Batch::Batch(Conditioner& c) noexcept : c_(c) {
  ++c_.impl_->batch_depth;
}

Conditioner::Batch::~Batch() {
  if (--c_.impl_->batch_depth == 0) c_.impl_->free_md();
}

}  // namespace seedpool::pool
