// The pool's conditioning function: SHA-512 from libcrypto, fetched in a
// private OSSL_LIB_CTX (never the application's, so that the application's
// configuration -- which may route RAND through us -- cannot recurse here).
//
// Construction (a hash-based conditioning component, SP 800-90B 3.1.5.1.1):
//   input  = SHA-512 stream over  chain || every mixed byte since last extract
//   seed   = SHA-512 digest of that stream                      (64 bytes)
//   output = SHA-512(seed || 0x01 || "seedpool output")[0 .. n)   n <= 64
//   chain  = SHA-512(seed || 0x02 || "seedpool chain")  -> starts the next stream
// The chain carries all past input forward; `seed` and `chain` are cleansed.
// Mixing never changes the entropy estimate: accounting lives in Pool.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "pool/errc.h"

namespace seedpool::pool {

class Conditioner {
 public:
  static constexpr std::size_t kBlockBytes = 64;  // SHA-512 output

  // Errc::conditioner_failed if libcrypto cannot provide SHA-512.
  static Errc create(std::unique_ptr<Conditioner>& out);
  ~Conditioner();
  Conditioner(const Conditioner&) = delete;
  Conditioner& operator=(const Conditioner&) = delete;

  Errc absorb(std::span<const std::uint8_t> data) noexcept;
  // out.size() in 1..kBlockBytes.
  Errc extract(std::span<std::uint8_t> out) noexcept;

 private:
  struct Impl;
  explicit Conditioner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace seedpool::pool
