// The pool's validated configuration. provider/ parses openssl.cnf keys into
// this; a C++ user fills it directly. Units are in the names.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace seedpool::pool {

class Source;

enum class SourceKind : std::uint8_t { getrandom, hwrng, rdseed, device };

// Name used in config (`sources = getrandom`) and statistics.
const char* source_name(SourceKind k) noexcept;
// Parses one source name; false if unknown.
bool parse_source_name(std::string_view name, SourceKind& out) noexcept;

// Bits of entropy credited per byte read from a source, when the
// configuration does not say (`<source>_credit`). Conservative on purpose:
//  - getrandom 8: the kernel CRNG is the OS's own vetted DRBG; OpenSSL's
//    SEED-SRC credits it 8 bits per byte as well.
//  - hwrng 4: the device's quality is its driver's claim, not something we
//    can measure; half of it, as rngd-style daemons are advised to assume.
//  - rdseed 4: SP 800-90B-conformant by the vendor's word, but opaque and
//    with known broken parts (AMD RDSEED returning 0): half.
//  - device 0: an unknown noise source has no credit until its owner states
//    one; uncredited input is mixed but never makes output full-entropy.
std::uint32_t default_credit_bits_per_byte(SourceKind k) noexcept;

struct SourceConfig {
  SourceKind kind = SourceKind::getrandom;
  // Bits of entropy credited per byte read, 0..8.
  std::uint32_t credit_bits_per_byte = 8;

  bool operator==(const SourceConfig&) const = default;
};

// The sources present on this machine, with their default credits: what a
// configuration without `sources` gets. getrandom always; hwrng when
// /dev/hwrng opens and an rng backs it; rdseed when the CPU and the kernel
// allow it.
//
// To know that, it opens /dev/hwrng (and reads rng_current) and asks the
// kernel (and CPUID, when the kernel does not list it) about RDSEED. With
// `keep`, the sources it found present are kept there, ready to read, for
// Pool::create to use as they are, so that a process starting a pool on the
// default list does that work once (~45 us of `openssl rand`'s start-up
// here), not twice.
struct ProbedSources {
  ProbedSources() noexcept;
  ~ProbedSources();
  ProbedSources(ProbedSources&&) noexcept;
  ProbedSources& operator=(ProbedSources&&) noexcept;

  std::unique_ptr<Source> hwrng;   // an HwrngSource that opened
  std::unique_ptr<Source> rdseed;  // an RdseedSource that is available

  // The kept source of that kind, handed over once; nullptr when none.
  std::unique_ptr<Source> take(SourceKind kind) noexcept;
};
std::vector<SourceConfig> available_sources(ProbedSources* keep = nullptr);

struct Config {
  static constexpr std::uint32_t kMinPoolSizeBits = 1024;
  static constexpr std::uint32_t kMaxPoolSizeBits = 65536;
  static constexpr std::chrono::milliseconds kMaxTimeout{3'600'000};

  std::vector<SourceConfig> sources = {SourceConfig{}};
  // Path read by the `device` source: a character device, FIFO or file.
  std::string device_path;
  // Bits the pool holds at most (random(4)'s poolsize).
  std::uint32_t pool_size_bits = 4096;
  // How long a request outside an ASYNC job may wait for entropy; 0 fails
  // at once. Short by default: on OpenSSL 3.0 a waiting seed source holds
  // the primary DRBG's lock, which every RAND_bytes in the process takes.
  std::chrono::milliseconds block_timeout{2000};
  // How long a request that paused an OpenSSL ASYNC job may wait for
  // entropy; then the job resumes with an error (timed_out). 0: a request
  // inside a job never pauses and fails at once when the pool is short.
  // Long enough for a starved boot, short enough that a server closing a
  // connection whose handshake waits (HAProxy waits for the wait fd) frees
  // it soon.
  std::chrono::milliseconds async_timeout{10000};
  // random(4)'s wake-up thresholds, in bits. A queued request is served
  // only when the pool holds at least read_wakeup_threshold bits (and what
  // the request needs); the gatherer thread starts reading the sources when
  // the pool falls below write_wakeup_threshold and reads until it is full.
  // Linux's historical defaults were 64 and 896 of a 4096-bit pool.
  std::uint32_t read_wakeup_threshold_bits = 64;
  std::uint32_t write_wakeup_threshold_bits = 896;
  // The seed file (random(4)'s advice): loaded and mixed in at start,
  // replaced at once with fresh output, saved again at clean teardown.
  // Empty: none. Credited only when trusted and safe (see seed_file.h).
  std::string seed_file;
  bool seed_file_trusted = false;

  bool operator==(const Config&) const = default;

  // Empty string when valid, else which field is wrong and why.
  std::string validate() const;
};

}  // namespace seedpool::pool
