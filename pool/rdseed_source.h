// x86 RDSEED: the CPU's entropy source (its conditioned seed output, not the
// RDRAND DRBG), where the CPU has it.
//
// Present only when all hold: an x86-64 build; CPUID leaf 7 subleaf 0 EBX
// bit 18; and, on Linux, the kernel has not taken the feature away (feature
// 0132 in /sys/devices/system/cpu/modalias, or where that cannot be read,
// the "rdseed" flag in /proc/cpuinfo). The kernel clears that flag for errata
// and for `clearcpuid=rdseed`: on AMD Zen 5 without fixed microcode
// (AMD-SB-7055, CVE-2025-62626) RDSEED can return 0 while reporting
// success; arch/x86/kernel/cpu/amd.c logs "RDSEED32 is broken. Disabling the
// corresponding CPUID bit." and also clears the bit in CPUID, which a
// hypervisor may not honour, so CPUID alone still says yes inside a guest.
// If neither can be read, CPUID decides. The kernel's list is asked first:
// when modalias lists the feature, CPUID is not run (the kernel's bits are a
// subset of CPUID's, and in a VM each CPUID exits to the hypervisor).
//
// RDSEED fails transiently (CF=0) when the CPU's entropy source has nothing
// ready, more so under load. Each 8-byte word is tried at most
// kMaxTriesPerWord times, with _mm_pause between tries; the first word that
// fails that many times ends the read with what was obtained so far (data),
// or would_block when nothing was. A read is bounded, never spins without
// end, never sleeps. Without an fd, the gatherer retries after
// kRetryInterval.
//
// Only the 64-bit form is used (the Zen 5 erratum names the 16- and 32-bit
// forms). A word that reports success but is 0 or all ones -- the failure
// signature of that erratum and of the older AMD RDRAND-after-resume bug,
// 2^-63 likely on a working CPU -- fails the source (EIO) at once.
#pragma once

#include "pool/source.h"

namespace seedpool::pool {

class RdseedSource final : public Source {
 public:
  enum class Support : std::uint8_t {
    available,
    not_x86,             // not an x86-64 build
    no_cpu_support,      // CPUID says no RDSEED
    disabled_by_kernel,  // CPUID says yes, the kernel cleared it
  };
  enum class Detect : std::uint8_t {
    cpuid_and_kernel,  // the default: honour the kernel's decision
    cpuid_only,        // tests of the instruction path on such a machine
  };
  static constexpr int kMaxTriesPerWord = 32;
  static constexpr std::chrono::milliseconds kRetryInterval{2};

  explicit RdseedSource(Detect detect = Detect::cpuid_and_kernel) noexcept;
  ~RdseedSource() override = default;

  const char* name() const noexcept override { return "rdseed"; }
  // Absent: ENOTSUP when the CPU (or build) lacks RDSEED, ENODEV when the
  // kernel disabled it.
  SourceRead read(std::span<std::uint8_t> out) noexcept override;
  std::chrono::milliseconds retry_interval() const noexcept override {
    return kRetryInterval;
  }

  Support support() const noexcept { return support_; }
  // CPUID leaf 7 subleaf 0, EBX bit 18; false on a non-x86-64 build.
  static bool cpu_has_rdseed() noexcept;

 private:
  Support support_ = Support::not_x86;
};

const char* rdseed_support_name(RdseedSource::Support s) noexcept;

}  // namespace seedpool::pool
