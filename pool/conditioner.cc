#include "pool/conditioner.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "pool/secure_mem.h"

// What stays outside the locked region: the hash state inside libcrypto.
//
// Every hash below runs through one persistent EVP_MD_CTX (`md`). With the
// default provider, the SHA-512 state (a SHA512_CTX: the chaining words h[]
// and the partial input block u.p) is the provider's algctx, allocated by
// OPENSSL_zalloc in libcrypto's heap -- unlocked, and included in core dumps.
// Between EVP_DigestInit_ex and EVP_DigestFinal_ex it holds the running state
// over our secret inputs; after Final, SHA512_Final (crypto/sha/sha512.c)
// leaves h[] = the digest just produced and u.p = the padded last block,
// without wiping them. The SHA-512 block function also leaves its message
// schedule on the stack.
//
// What we read in the OpenSSL 3.0.22 sources (the installed library is
// 3.0.19; the allocation counts measured on it agree):
// - providers/implementations/include/prov/digestcommon.h,
//   PROV_DISPATCH_FUNC_DIGEST_CONSTRUCT_START, used for sha512 by
//   providers/implementations/digests/sha2_prov.c (IMPLEMENT_digest_functions
//   (sha512, SHA512_CTX, ...)): newctx is OPENSSL_zalloc(sizeof(SHA512_CTX)),
//   freectx is OPENSSL_clear_free(ctx, sizeof(*ctx)) -- freeing cleanses.
// - crypto/evp/digest.c, evp_md_init_internal: every EVP_DigestInit_ex on a
//   context that has an algctx calls freectx on it and newctx again, so on
//   3.0 each Init already costs one malloc/free pair (the code before this
//   change paid three per extract, as this one does).
// - crypto/evp/digest.c, evp_md_ctx_reset_ex: EVP_MD_CTX_reset frees the
//   algctx (freectx, so cleansed), drops the fetched EVP_MD reference and
//   cleanses the EVP_MD_CTX; the next Init allocates a new algctx -- the one
//   it would otherwise have allocated after freeing the old one.
// So within one operation each Init cleanses the previous hash's state, and
// after the last hash of each absorb()-that-compresses and each extract() we
// call EVP_MD_CTX_reset: on 3.0 it moves a free that the next Init would do
// anyway to the end of the operation (no extra malloc/free; measured with
// callgrind and valgrind's heap counts, see below), so the last state -- h[]
// = the new chain value, u.p = the seed -- does not linger in unlocked
// memory until the next call. What remains exposed is the state while a
// hash runs (between Init and Final, inside one call) and the stack.
// On an OpenSSL whose Init reuses the algctx, the reset would add one
// malloc/free pair per operation (not per hash); we accept that cost there
// rather than leave the chain value in the heap.
//
// Measured with callgrind on 3.0.19 (RelWithDebInfo), per absorb(32 bytes) +
// extract(32 bytes), one-time set-up excluded: before this change (a running
// SHA-512 stream in libcrypto) 12,072 instructions and 3 heap allocations;
// now 12,417 instructions and 3 allocations, of which the reset costs ~196
// instructions (12,221 without it) and no allocation.

namespace seedpool::pool {
namespace {

// Labels; sizeof - 1 drops the literal's NUL. See conditioner.h.
constexpr unsigned char kOutputLabel[] = "\x01seedpool output";
constexpr unsigned char kChainLabel[] = "\x02seedpool chain";
constexpr unsigned char kCompressLabel[] = "\x03seedpool compress";
constexpr unsigned char kSeedLabel[] = "\x04seedpool seed";

// Layout of the secure region.
constexpr std::size_t kChainOff = 0;
constexpr std::size_t kSeedOff = kChainOff + Conditioner::kBlockBytes;
constexpr std::size_t kBlockOff = kSeedOff + Conditioner::kBlockBytes;
constexpr std::size_t kBufferOff = kBlockOff + Conditioner::kBlockBytes;
constexpr std::size_t kStateBytes = kBufferOff + Conditioner::kBufferBytes;

struct LibCtxFree {
  void operator()(OSSL_LIB_CTX* p) const noexcept { OSSL_LIB_CTX_free(p); }
};
struct MdFree {
  void operator()(EVP_MD* p) const noexcept { EVP_MD_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};

}  // namespace

struct Conditioner::Impl {
  // Declaration order matters: the context goes before the MD, the MD before
  // the library context that provides it.
  std::unique_ptr<OSSL_LIB_CTX, LibCtxFree> libctx;
  std::unique_ptr<EVP_MD, MdFree> sha512;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md;  // reused for every hash
  SecureRegion region;  // chain | seed | block | buffer
  std::size_t used = 0;  // bytes in the buffer

  unsigned char* chain() noexcept { return region.bytes().data() + kChainOff; }
  unsigned char* seed() noexcept { return region.bytes().data() + kSeedOff; }
  unsigned char* block() noexcept { return region.bytes().data() + kBlockOff; }
  unsigned char* buffer() noexcept {
    return region.bytes().data() + kBufferOff;
  }

  // out64 = H(a || b || c); any part may be empty. out64 may alias an input:
  // Final writes only after every input has been consumed.
  bool hash(const unsigned char* a, std::size_t a_len, const unsigned char* b,
            std::size_t b_len, const unsigned char* c, std::size_t c_len,
            unsigned char* out64) noexcept {
    EVP_MD_CTX* ctx = md.get();
    unsigned int len = 0;
    return EVP_DigestInit_ex(ctx, sha512.get(), nullptr) == 1 &&
           EVP_DigestUpdate(ctx, a, a_len) == 1 &&
           EVP_DigestUpdate(ctx, b, b_len) == 1 &&
           (c_len == 0 || EVP_DigestUpdate(ctx, c, c_len) == 1) &&
           EVP_DigestFinal_ex(ctx, out64, &len) == 1 &&
           len == Conditioner::kBlockBytes;
  }

  // Drops libcrypto's copy of the last hash state (see the top of the file).
  void scrub_md() noexcept { (void)EVP_MD_CTX_reset(md.get()); }

  // C = H(0x03 || "seedpool compress" || C || B); B = empty.
  bool compress() noexcept {
    const bool ok = hash(kCompressLabel, sizeof(kCompressLabel) - 1, chain(),
                         kBlockBytes, buffer(), used, chain());
    scrub_md();
    if (!ok) return false;
    OPENSSL_cleanse(buffer(), used);
    used = 0;
    return true;
  }
};

Conditioner::Conditioner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Conditioner::~Conditioner() = default;  // the region cleanses itself

Errc Conditioner::create(std::unique_ptr<Conditioner>& out) {
  auto impl = std::make_unique<Impl>();
  // Not wiped on fork: the pool re-keys a child itself (it needs the state).
  if (Errc rc = SecureRegion::create(kStateBytes, {}, impl->region);
      rc != Errc::ok)
    return rc;
  impl->libctx.reset(OSSL_LIB_CTX_new());
  if (!impl->libctx) return Errc::conditioner_failed;
  // The private context has no config loaded: fetching activates the
  // built-in default provider in it (OpenSSL's fallback provider rule).
  impl->sha512.reset(EVP_MD_fetch(impl->libctx.get(), "SHA512", nullptr));
  impl->md.reset(EVP_MD_CTX_new());
  if (!impl->sha512 || !impl->md ||
      EVP_MD_get_size(impl->sha512.get()) != static_cast<int>(kBlockBytes))
    return Errc::conditioner_failed;
  // The region is zero-filled by mmap: C starts as 64 zero bytes, B empty.
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
  // seed = H(0x04 "seedpool seed" || C || B); output and next C from seed.
  // C is written last, so on failure C and B are unchanged and nothing is
  // released: a retry computes the block this attempt never handed out.
  const bool ok =
      s.hash(kSeedLabel, sizeof(kSeedLabel) - 1, s.chain(), kBlockBytes,
             s.buffer(), s.used, s.seed()) &&
      s.hash(s.seed(), kBlockBytes, kOutputLabel, sizeof(kOutputLabel) - 1,
             nullptr, 0, s.block()) &&
      s.hash(s.seed(), kBlockBytes, kChainLabel, sizeof(kChainLabel) - 1,
             nullptr, 0, s.chain());
  s.scrub_md();
  if (ok) {
    std::memcpy(out.data(), s.block(), out.size());
    OPENSSL_cleanse(s.buffer(), s.used);
    s.used = 0;
  }
  OPENSSL_cleanse(s.seed(), 2 * kBlockBytes);  // seed and block
  return ok ? Errc::ok : Errc::conditioner_failed;
}

bool Conditioner::memory_locked() const noexcept {
  return impl_->region.locked();
}

bool Conditioner::dump_excluded() const noexcept {
  return impl_->region.dump_excluded();
}

void Conditioner::after_fork() noexcept { impl_->region.relock(); }

}  // namespace seedpool::pool
