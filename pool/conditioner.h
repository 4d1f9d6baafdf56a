// The pool's conditioning function: SHA-512 from libcrypto's default
// provider in a private OSSL_LIB_CTX (pool/private_default.h; never the
// application's, so that the application's configuration -- which may route
// RAND through us -- cannot recurse here).
//
// Construction (a hash-based conditioning component, SP 800-90B 3.1.5.1.1).
// State: a chain value C (64 bytes, initially all zero) and an input buffer B
// of at most kBufferBytes (initially empty). H is SHA-512, || concatenation;
// labels are their bytes without a terminating NUL.
//   absorb(x):  append x to B; whenever B reaches kBufferBytes (1024) bytes
//               it is compressed at once and emptied:
//                 C = H(0x03 || "seedpool compress" || C || B)
//   extract(n): seed   = H(0x04 || "seedpool seed" || C || B)   (B may be empty)
//               output = H(seed || 0x01 || "seedpool output")[0 .. n)  n <= 64
//               C      = H(seed || 0x02 || "seedpool chain");  B = empty
// The chain carries all past input forward; each extraction moves it on, so
// the next output depends on everything mixed so far but reveals nothing
// about this one. The labels keep the four uses of H apart (the first byte
// of a compress or seed input is its label; output and chain inputs have a
// fixed length of 80 and 79 bytes with the label last). Since C is fixed-size
// and B is the rest of the input, each hash input encodes (C, B) uniquely.
//
// Where the secrets live: C, B, and the transient seed and output block are
// in one page of SecureRegion memory owned by the Conditioner -- mlock()ed
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
