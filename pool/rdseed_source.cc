#include "pool/rdseed_source.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "pool/source_io.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace seedpool::pool {
namespace {

#if defined(__x86_64__)

enum class WordResult : std::uint8_t { ok, not_ready, stuck };

// Only this function is compiled for RDSEED, so the rest of the build needs
// no -mrdseed and runs on any x86-64 CPU; it is called only after CPUID, or
// the kernel's feature list (a subset of CPUID's), said yes.
__attribute__((target("rdseed"))) WordResult rdseed_word(
    std::uint64_t& out) noexcept {
  unsigned long long v = 0;
  for (int i = 0; i < RdseedSource::kMaxTriesPerWord; ++i) {
    if (_rdseed64_step(&v)) {
      const bool stuck = v == 0 || v == ~0ULL;
      out = v;
      OPENSSL_cleanse(&v, sizeof(v));
      return stuck ? WordResult::stuck : WordResult::ok;
    }
    _mm_pause();
  }
  return WordResult::not_ready;
}

#endif

#if defined(__linux__)
// The kernel's view, from the CPUs' modalias first: after ":feature:" it
// lists the kernel's own capability bits (x86's arch_print_cpu_modalias,
// behind drivers/base/cpu.c: each X86_FEATURE_* the boot CPU has, as 4 hex
// digits), so a cleared RDSEED is missing there as it is from
// /proc/cpuinfo. X86_FEATURE_RDSEED is word 9 (CPUID 7.0 EBX) bit 18: 0132.
// Reading it costs ~18 us here (~38 us cold); /proc/cpuinfo formats every
// CPU (~25 us, ~60 us cold), which showed in `openssl rand`'s start-up.
// 1 listed, 0 not, -1 no usable modalias (then /proc/cpuinfo decides).
int modalias_lists_rdseed() noexcept {
  std::string text;
  if (!source_io::read_small_file("/sys/devices/system/cpu/modalias", 16 * 1024,
                                  text))
    return -1;
  std::string_view v(text);
  const std::size_t at = v.find(":feature:");
  if (at == std::string_view::npos) return -1;
  v.remove_prefix(at + 9);
  bool any = false;
  while (!v.empty()) {
    const std::size_t comma = v.find_first_of(",\n");
    const std::string_view tok = v.substr(0, comma);
    if (tok.size() == 4) {
      any = true;
      if (tok == "0132") return 1;
    }
    if (comma == std::string_view::npos || v[comma] == '\n') break;
    v.remove_prefix(comma + 1);
  }
  return any ? 0 : -1;
}

// Whether the first "flags" line of /proc/cpuinfo lists "rdseed". Unknown
// (unreadable, no flags line) counts as allowed: CPUID decides.
bool cpuinfo_lists_rdseed() noexcept {
  std::string text;
  if (!source_io::read_small_file("/proc/cpuinfo", 64 * 1024, text))
    return true;
  std::string_view v(text);
  std::size_t pos = 0;
  while (pos < v.size()) {
    std::size_t eol = v.find('\n', pos);
    if (eol == std::string_view::npos) eol = v.size();
    std::string_view line = v.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.starts_with("flags")) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view flags = line.substr(colon + 1);
    while (!flags.empty()) {
      const std::size_t sp = flags.find_first_of(" \t");
      const std::string_view tok = flags.substr(0, sp);
      if (tok == "rdseed") return true;
      if (sp == std::string_view::npos) break;
      flags.remove_prefix(sp + 1);
    }
    return false;
  }
  return true;
}

// `listed`: modalias_lists_rdseed's answer.
bool kernel_allows_rdseed(int listed) noexcept {
  return listed >= 0 ? listed == 1 : cpuinfo_lists_rdseed();
}
#else
bool kernel_allows_rdseed(int /*listed*/) noexcept { return true; }
#endif

}  // namespace

const char* rdseed_support_name(RdseedSource::Support s) noexcept {
  switch (s) {
    case RdseedSource::Support::available: return "available";
    case RdseedSource::Support::not_x86: return "not_x86";
    case RdseedSource::Support::no_cpu_support: return "no_cpu_support";
    case RdseedSource::Support::disabled_by_kernel: return "disabled_by_kernel";
  }
  return "unknown";
}

bool RdseedSource::cpu_has_rdseed() noexcept {
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return (ebx >> 18) & 1u;
#else
  return false;
#endif
}

RdseedSource::RdseedSource(Detect detect) noexcept {
#if defined(__x86_64__)
  int listed = -1;
#if defined(__linux__)
  // The kernel's feature list first: it is a subset of CPUID's bits (the
  // kernel sets X86_FEATURE_RDSEED only from CPUID 7.0 EBX bit 18 and never
  // forces it on; it may clear it, as for the Zen 5 erratum), so "listed"
  // means the instruction exists and the kernel allows it, with no CPUID.
  // In a VM every CPUID exits to the hypervisor: two of them (the maximum
  // leaf, then leaf 7) cost ~15 us of `openssl rand`'s start-up here, more
  // than the modalias read this check needs anyway.
  if (detect == Detect::cpuid_and_kernel) {
    listed = modalias_lists_rdseed();
    if (listed == 1) {
      support_ = Support::available;
      return;
    }
  }
#endif
  if (!cpu_has_rdseed())
    support_ = Support::no_cpu_support;
  else if (detect == Detect::cpuid_and_kernel && !kernel_allows_rdseed(listed))
    support_ = Support::disabled_by_kernel;
  else
    support_ = Support::available;
#else
  (void)detect;
  support_ = Support::not_x86;
#endif
}

SourceRead RdseedSource::read(std::span<std::uint8_t> out) noexcept {
  switch (support_) {
    case Support::available: break;
    case Support::disabled_by_kernel:
      return {SourceRead::Kind::absent, 0, ENODEV};
    case Support::not_x86:
    case Support::no_cpu_support:
      return {SourceRead::Kind::absent, 0, ENOTSUP};
  }
#if defined(__x86_64__)
  std::size_t got = 0;
  std::uint64_t word = 0;
  while (got < out.size()) {
    const WordResult r = rdseed_word(word);
    if (r == WordResult::not_ready) break;
    if (r == WordResult::stuck) {
      OPENSSL_cleanse(&word, sizeof(word));
      if (got > 0) OPENSSL_cleanse(out.data(), got);
      return {SourceRead::Kind::error, 0, EIO};
    }
    const std::size_t n = std::min(sizeof(word), out.size() - got);
    std::memcpy(out.data() + got, &word, n);
    got += n;
  }
  OPENSSL_cleanse(&word, sizeof(word));
  if (got == 0 && !out.empty())
    return {SourceRead::Kind::would_block, 0, EAGAIN};
  return {SourceRead::Kind::data, got, 0};
#else
  (void)out;
  return {SourceRead::Kind::absent, 0, ENOTSUP};
#endif
}

}  // namespace seedpool::pool
