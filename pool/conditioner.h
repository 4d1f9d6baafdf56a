// The pool's conditioning function: SHA-512 from libcrypto's default
// provider in a private OSSL_LIB_CTX (pool/private_default.h; never the
// application's, so that the application's configuration -- which may route
// RAND through us -- cannot recurse here).
//
// Construction (a hash-based conditioning component, SP 800-90B 3.1.5.1.1).
// State: a chain value C (32 bytes, initially all zero) and an input buffer B
// of at most kBufferBytes (initially empty). H is SHA-512, || concatenation,
// H(x)[0..32) its first 32 bytes; each use of H starts with its own one-byte
// label.
//   absorb(x):  append x to B; whenever B reaches kBufferBytes (1024) bytes
//               it is compressed at once and emptied:
//                 C = H(0x03 || C || B)[0..32)
//   extract(n): output = H(0x01 || C || B)[0 .. n)   n <= 64; B may be empty
//               C      = H(0x02 || C || B)[0..32);  B = empty
// The chain carries all past input forward; each extraction moves it on, so
// the next output depends on everything mixed so far, and neither the new
// chain nor later outputs reveal this one (different labels: independent
// hashes of the same input). Since the label and C are fixed-size and B is
// the rest, each hash input encodes (use, C, B) uniquely.
//
// Why this shape (it replaced seed = H(0x04 "seedpool seed" || C64 || B),
// output and chain hashed from the seed: four SHA-512 compressions a block):
// a pool block hashes the chain with raw input worth 8n + 64 bits, 72 bytes
// at a credit of 8 bits per byte, and 1 + 32 + 72 = 105 bytes fit one
// SHA-512 compression (a message of up to 111 bytes does, with its padding),
// so a 64-byte block costs two compressions. Full entropy of the output
// rests on the input alone (SP 800-90C: at least 64 bits more entropy in than
// out, through a vetted hash), not on the chain; the chain is defence in
// depth, and 256 bits match the strength seedpool claims (256).
// Where the secrets live: C, B, and the transient output block and next
// chain are in one page of SecureRegion memory owned by the Conditioner --
// mlock()ed
// and MADV_DONTDUMP where the system allows (memory_locked(),
// dump_excluded() say whether it did), cleansed when consumed and when the
// Conditioner is destroyed. What libcrypto holds is described in
// conditioner.cc (the running SHA-512 context between Init and Final).
// Mixing never changes the entropy estimate: accounting lives in Pool.
//
// Thread-compatible: the pool serialises every call.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "pool/errc.h"
#include "pool/secure_mem.h"

namespace seedpool::pool {

class Conditioner {
 public:
  static constexpr std::size_t kBlockBytes = 64;     // SHA-512 output
  static constexpr std::size_t kChainBytes = 32;     // C
  static constexpr std::size_t kBufferBytes = 1024;  // input buffer B

  // Errc::conditioner_failed if libcrypto cannot provide SHA-512;
  // Errc::out_of_memory if the state memory cannot be mapped.
  static Errc create(std::unique_ptr<Conditioner>& out);
  // The same in `memory`, a region of at least kMemoryBytes that the
  // caller made (the pool: one mapping for all its secrets). Not wiped on
  // fork: the pool re-keys a child itself (it needs the state).
  static constexpr std::size_t kMemoryBytes = 3 * kBlockBytes + kBufferBytes;
  static Errc create(std::unique_ptr<Conditioner>& out, SecureRegion memory);
  ~Conditioner();
  Conditioner(const Conditioner&) = delete;
  Conditioner& operator=(const Conditioner&) = delete;

  Errc absorb(std::span<const std::uint8_t> data) noexcept;
  // out.size() in 1..kBlockBytes.
  Errc extract(std::span<std::uint8_t> out) noexcept;

  // Whether the state memory is mlock()ed and excluded from core dumps, for
  // the pool's statistics.
  bool memory_locked() const noexcept;
  bool dump_excluded() const noexcept;

  // For the owner to call in a forked child: memory locks are not inherited
  // across fork(), so this locks the child's copy of the state again and
  // updates memory_locked(). It does not re-key; the pool does that.
  void after_fork() noexcept;

  // While one lives, operations keep libcrypto's hash context (and so the
  // last hash's state) until the batch ends, instead of freeing it after
  // each: one allocation for the blocks of a request instead of one per
  // block. Nestable; for the owner of the conditioner, under its lock.
  class Batch {
   public:
    explicit Batch(Conditioner& c) noexcept;
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

   private:
    Conditioner& c_;
  };

 private:
  struct Impl;
  explicit Conditioner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace seedpool::pool
