// The pool's validated configuration. provider/ parses openssl.cnf keys into
// this; a C++ user fills it directly. Units are in the names.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace seedpool::pool {

enum class SourceKind : std::uint8_t { getrandom };

// Name used in config (`sources = getrandom`) and statistics.
const char* source_name(SourceKind k) noexcept;
// Parses one source name; false if unknown.
bool parse_source_name(std::string_view name, SourceKind& out) noexcept;

struct SourceConfig {
  SourceKind kind = SourceKind::getrandom;
  // Bits of entropy credited per byte read, 0..8. The kernel CRNG
  // (getrandom) is the OS's own vetted DRBG; OpenSSL's SEED-SRC credits it
  // 8 bits per byte as well.
  std::uint32_t credit_bits_per_byte = 8;

  bool operator==(const SourceConfig&) const = default;
};

struct Config {
  static constexpr std::uint32_t kMinPoolSizeBits = 1024;
  static constexpr std::uint32_t kMaxPoolSizeBits = 65536;
  static constexpr std::chrono::milliseconds kMaxTimeout{3'600'000};

  std::vector<SourceConfig> sources = {SourceConfig{}};
  // Bits the pool holds at most (random(4)'s poolsize).
  std::uint32_t pool_size_bits = 4096;
  // How long a request outside an ASYNC job may wait for entropy; 0 fails
  // at once. Short by default: on OpenSSL 3.0 a waiting seed source holds
  // the primary DRBG's lock, which every RAND_bytes in the process takes.
  std::chrono::milliseconds block_timeout{2000};

  bool operator==(const Config&) const = default;

  // Empty string when valid, else which field is wrong and why.
  std::string validate() const;
};

}  // namespace seedpool::pool
