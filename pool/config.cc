#include "pool/config.h"

#include <string_view>

namespace seedpool::pool {

const char* source_name(SourceKind k) noexcept {
  switch (k) {
    case SourceKind::getrandom: return "getrandom";
  }
  return "unknown";
}

bool parse_source_name(std::string_view name, SourceKind& out) noexcept {
  if (name == "getrandom") {
    out = SourceKind::getrandom;
    return true;
  }
  return false;
}

std::string Config::validate() const {
  if (sources.empty()) return "sources: no source configured";
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].credit_bits_per_byte > 8)
      return std::string(source_name(sources[i].kind)) +
             "_credit: must be 0 to 8 bits per byte";
    for (std::size_t j = 0; j < i; ++j)
      if (sources[j].kind == sources[i].kind)
        return std::string("sources: ") + source_name(sources[i].kind) +
               " listed twice";
  }
  if (pool_size_bits < kMinPoolSizeBits || pool_size_bits > kMaxPoolSizeBits)
    return "pool_size: must be 1024 to 65536 bits";
  if (block_timeout.count() < 0 || block_timeout > kMaxTimeout)
    return "block_timeout_ms: must be 0 to 3600000";
  return {};
}

}  // namespace seedpool::pool
