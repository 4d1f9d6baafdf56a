// The kernel's hardware RNG, /dev/hwrng (drivers/char/hw_random/core.c).
//
// Its fd is useless for readiness: the misc device has no poll method, so
// poll(2) always says readable. And reads are slow: the driver fetches from
// the device in small chunks (virtio-rng: 64 bytes per request, about 9 KiB/s
// here, so a blocking 4 KiB read takes ~0.45 s). So the source opens it
// O_NONBLOCK, asks for at most kMaxReadBytes per read(), and is driven by
// the retry timer (poll_fd() == -1). A non-blocking read with nothing
// buffered returns what the driver has (possibly a short count) or EAGAIN,
// and leaves a device fetch in flight, so a read one retry interval later
// finds data (measured on virtio-rng: 64 bytes every 10 ms, never EAGAIN;
// back to back, EAGAIN after the first 64 bytes).
//
// One wait remains that O_NONBLOCK does not remove: the core's reading mutex,
// which the kernel's own hwrng thread holds while it fetches (blocking) for
// the input pool when the rng's quality is non-zero. A read may wait for that
// one fetch (milliseconds), never for more.
//
// Absent (with errno) when the device node is missing (ENOENT), the process
// may not open it (EACCES/EPERM: root-only by default, so for everyone else
// it is simply not there), no rng is selected (rng_current is "none", or
// read(2) says ENODEV). Not a character device -> failed (ENOTSUP). A read
// error (EIO, ...) -> failed with that errno.
#pragma once

#include <string>

#include "pool/source.h"
#include "pool/source_io.h"

namespace seedpool::pool {

class HwrngSource final : public Source {
 public:
  static constexpr const char* kDefaultPath = "/dev/hwrng";
  static constexpr const char* kRngCurrentPath =
      "/sys/class/misc/hw_random/rng_current";
  // Bytes per read(): one virtio-rng fetch. Keeps each call short whatever
  // the caller asks for.
  static constexpr std::size_t kMaxReadBytes = 64;
  // About one virtio-rng fetch round trip (~6 ms measured).
  static constexpr std::chrono::milliseconds kRetryInterval{10};

  // `rng_current_path` names the sysfs file that says which rng backs the
  // device ("none" -> absent); empty skips that check.
  explicit HwrngSource(std::string path = kDefaultPath,
                       std::string rng_current_path = kRngCurrentPath);
  ~HwrngSource() override = default;

  const char* name() const noexcept override { return "hwrng"; }
  SourceRead read(std::span<std::uint8_t> out) noexcept override;
  std::chrono::milliseconds retry_interval() const noexcept override {
    return kRetryInterval;
  }
  // Off the hot path: a read may wait for the core's reading mutex while
  // the kernel's hwrng thread fetches; only the gatherer reads it.
  bool reads_inline() const noexcept override { return false; }

  // The rng the kernel uses (e.g. "virtio_rng.0"); empty when unknown.
  const std::string& current_rng() const noexcept { return current_rng_; }
  // Why the source is out from the start; 0 when it opened.
  int open_errno() const noexcept { return open_errno_; }

 private:
  void open_device(const std::string& path,
                   const std::string& rng_current_path);

  source_io::UniqueFd fd_;
  std::string current_rng_;
  int open_errno_ = 0;
  SourceRead::Kind open_kind_ = SourceRead::Kind::data;  // absent/error if out
};

}  // namespace seedpool::pool
