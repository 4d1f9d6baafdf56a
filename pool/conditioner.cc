#include "pool/conditioner.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>

namespace seedpool::pool {
namespace {

constexpr unsigned char kOutputLabel[] = "\x01seedpool output";
constexpr unsigned char kChainLabel[] = "\x02seedpool chain";

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
  // Declaration order matters: contexts go before the MD, the MD before the
  // library context that provides it.
  std::unique_ptr<OSSL_LIB_CTX, LibCtxFree> libctx;
  std::unique_ptr<EVP_MD, MdFree> sha512;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> input;    // the running stream
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> scratch;  // one-shot derivations

  bool derive(const unsigned char* seed, const unsigned char* label,
              std::size_t label_len, unsigned char* out64) noexcept {
    unsigned int len = 0;
    return EVP_DigestInit_ex(scratch.get(), sha512.get(), nullptr) == 1 &&
           EVP_DigestUpdate(scratch.get(), seed, Conditioner::kBlockBytes) == 1 &&
           EVP_DigestUpdate(scratch.get(), label, label_len) == 1 &&
           EVP_DigestFinal_ex(scratch.get(), out64, &len) == 1 &&
           len == Conditioner::kBlockBytes;
  }
};

Conditioner::Conditioner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Conditioner::~Conditioner() = default;

Errc Conditioner::create(std::unique_ptr<Conditioner>& out) {
  auto impl = std::make_unique<Impl>();
  impl->libctx.reset(OSSL_LIB_CTX_new());
  if (!impl->libctx) return Errc::conditioner_failed;
  // The private context has no config loaded: fetching activates the
  // built-in default provider in it (OpenSSL's fallback provider rule).
  impl->sha512.reset(EVP_MD_fetch(impl->libctx.get(), "SHA512", nullptr));
  impl->input.reset(EVP_MD_CTX_new());
  impl->scratch.reset(EVP_MD_CTX_new());
  if (!impl->sha512 || !impl->input || !impl->scratch ||
      EVP_MD_get_size(impl->sha512.get()) != static_cast<int>(kBlockBytes) ||
      EVP_DigestInit_ex(impl->input.get(), impl->sha512.get(), nullptr) != 1)
    return Errc::conditioner_failed;
  out.reset(new Conditioner(std::move(impl)));
  return Errc::ok;
}

Errc Conditioner::absorb(std::span<const std::uint8_t> data) noexcept {
  if (data.empty()) return Errc::ok;
  if (EVP_DigestUpdate(impl_->input.get(), data.data(), data.size()) != 1)
    return Errc::conditioner_failed;
  return Errc::ok;
}

Errc Conditioner::extract(std::span<std::uint8_t> out) noexcept {
  if (out.empty() || out.size() > kBlockBytes) return Errc::invalid_argument;
  std::array<unsigned char, kBlockBytes> seed;
  std::array<unsigned char, kBlockBytes> block;
  unsigned int len = 0;
  Errc rc = Errc::conditioner_failed;
  if (EVP_DigestFinal_ex(impl_->input.get(), seed.data(), &len) == 1 &&
      len == kBlockBytes &&
      impl_->derive(seed.data(), kOutputLabel, sizeof(kOutputLabel) - 1,
                    block.data()) &&
      // Restart the stream from the chain value, so the next output depends
      // on everything mixed so far but reveals nothing about this one.
      impl_->derive(seed.data(), kChainLabel, sizeof(kChainLabel) - 1,
                    seed.data()) &&
      EVP_DigestInit_ex(impl_->input.get(), impl_->sha512.get(), nullptr) == 1 &&
      EVP_DigestUpdate(impl_->input.get(), seed.data(), seed.size()) == 1) {
    std::copy_n(block.begin(), out.size(), out.begin());
    rc = Errc::ok;
  }
  OPENSSL_cleanse(seed.data(), seed.size());
  OPENSSL_cleanse(block.data(), block.size());
  return rc;
}

}  // namespace seedpool::pool
