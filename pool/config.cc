#include "pool/config.h"

#include <string_view>

#include "pool/hwrng_source.h"
#include "pool/rdseed_source.h"

namespace seedpool::pool {

const char* source_name(SourceKind k) noexcept {
  switch (k) {
    case SourceKind::getrandom: return "getrandom";
    case SourceKind::hwrng: return "hwrng";
    case SourceKind::rdseed: return "rdseed";
    case SourceKind::device: return "device";
  }
  return "unknown";
}

bool parse_source_name(std::string_view name, SourceKind& out) noexcept {
  for (SourceKind k : {SourceKind::getrandom, SourceKind::hwrng,
                       SourceKind::rdseed, SourceKind::device}) {
    if (name == source_name(k)) {
      out = k;
      return true;
    }
  }
  return false;
}

std::uint32_t default_credit_bits_per_byte(SourceKind k) noexcept {
  switch (k) {
    case SourceKind::getrandom: return 8;
    case SourceKind::hwrng: return 4;
    case SourceKind::rdseed: return 4;
    case SourceKind::device: return 0;
  }
  return 0;
}

ProbedSources::ProbedSources() noexcept = default;
ProbedSources::~ProbedSources() = default;
ProbedSources::ProbedSources(ProbedSources&&) noexcept = default;
ProbedSources& ProbedSources::operator=(ProbedSources&&) noexcept = default;

std::unique_ptr<Source> ProbedSources::take(SourceKind kind) noexcept {
  switch (kind) {
    case SourceKind::hwrng: return std::move(hwrng);
    case SourceKind::rdseed: return std::move(rdseed);
    case SourceKind::getrandom:
    case SourceKind::device: break;
  }
  return nullptr;
}

std::vector<SourceConfig> available_sources(ProbedSources* keep) {
  std::vector<SourceConfig> out;
  out.push_back({SourceKind::getrandom,
                 default_credit_bits_per_byte(SourceKind::getrandom)});
  if (auto hw = std::make_unique<HwrngSource>(); hw->open_errno() == 0) {
    out.push_back({SourceKind::hwrng,
                   default_credit_bits_per_byte(SourceKind::hwrng)});
    if (keep != nullptr) keep->hwrng = std::move(hw);
  }
  if (auto rd = std::make_unique<RdseedSource>();
      rd->support() == RdseedSource::Support::available) {
    out.push_back({SourceKind::rdseed,
                   default_credit_bits_per_byte(SourceKind::rdseed)});
    if (keep != nullptr) keep->rdseed = std::move(rd);
  }
  return out;
}

std::string Config::validate() const {
  if (sources.empty()) return "sources: no source configured";
  bool credited = false;
  bool has_device = false;
  for (const SourceConfig& sc : sources) {
    credited = credited || sc.credit_bits_per_byte > 0;
    has_device = has_device || sc.kind == SourceKind::device;
  }
  if (!credited)
    return "sources: every source is credited 0 bits, so nothing could ever "
           "be served (set <source>_credit)";
  if (has_device && device_path.empty())
    return "device: the device source needs a path";
  if (!has_device && !device_path.empty())
    return "device: a path is set but sources does not list device";
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
  if (read_wakeup_threshold_bits < 8 ||
      read_wakeup_threshold_bits > pool_size_bits)
    return "read_wakeup_threshold: must be 8 bits to pool_size";
  if (write_wakeup_threshold_bits > pool_size_bits)
    return "write_wakeup_threshold: must be 0 to pool_size";
  if (seed_file_trusted && seed_file.empty())
    return "seed_file_trusted: set, but no seed_file";
  if (!seed_file.empty() && seed_file.front() != '/')
    return "seed_file: must be an absolute path";
  if (block_timeout.count() < 0 || block_timeout > kMaxTimeout)
    return "block_timeout_ms: must be 0 to 3600000";
  if (async_timeout.count() < 0 || async_timeout > kMaxTimeout)
    return "async_timeout_ms: must be 0 to 3600000";
  return {};
}

}  // namespace seedpool::pool
