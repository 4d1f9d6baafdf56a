// libcrypto's default provider, loaded into a private OSSL_LIB_CTX, whose
// algorithms the pool (SHA-512, for the conditioner) and the generator
// (AES-256-CTR) call through the provider's own function tables.
//
// Why private: the application's library context may route its RAND
// through seedpool, or have no default provider at all (a FIPS-only
// configuration); a private one cannot recurse into us and always has it.
// Nothing is read into it: no configuration file, no other provider.
//
// Why not EVP_MD_fetch / EVP_CIPHER_fetch: the first fetch in a library
// context fills its name map with every legacy algorithm name and builds the
// store for the whole operation (OpenSSL 3.0.22 and 3.5.7: crypto/core_namemap.c
// ossl_namemap_stored -> get_legacy_evp_names over OBJ_NAME_do_all;
// crypto/evp/evp_fetch.c inner_evp_generic_fetch -> ossl_method_construct
// over every algorithm of the operation). Measured here on 3.0.19, one
// AES-256-CTR fetch in a new context costs ~630 us and one SHA-512 fetch
// ~250 us, most of the start-up cost seedpool added to `openssl rand`;
// OSSL_PROVIDER_load of "default" costs ~50 us and
// OSSL_PROVIDER_query_operation ~1 us (it hands out the provider's static
// tables). Calling the functions straight also skips EVP's per-call work.
//
// One per process while anybody holds it (acquire_shared): OpenSSL 3.0
// never gives back the error library number each provider object takes.
#pragma once

#include <openssl/core.h>
#include <openssl/provider.h>

#include <memory>
#include <string_view>

namespace seedpool::pool {

class PrivateDefault {
 public:
  // False when the context or the provider cannot be made (out of memory,
  // or a libcrypto without its default provider); callers report it as
  // their own failure (Errc::conditioner_failed, Errc::cipher_failed).
  static bool acquire_shared(std::shared_ptr<PrivateDefault>& out) noexcept;
  ~PrivateDefault();
  PrivateDefault(const PrivateDefault&) = delete;
  PrivateDefault& operator=(const PrivateDefault&) = delete;

  // The provider context its functions take.
  void* provctx() const noexcept { return provctx_; }

  // The function table of the algorithm whose first name is `name`, for
  // `operation_id` (OSSL_OP_DIGEST, OSSL_OP_CIPHER); nullptr when the
  // provider has none. Valid while this object lives (the default
  // provider's tables are static and it asks for no unquery).
  const OSSL_DISPATCH* find(int operation_id, std::string_view name) const noexcept;

 private:
  PrivateDefault() = default;
  OSSL_LIB_CTX* libctx_ = nullptr;
  OSSL_PROVIDER* provider_ = nullptr;
  void* provctx_ = nullptr;
};

}  // namespace seedpool::pool
