#include "pool/hwrng_source.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

namespace seedpool::pool {

HwrngSource::HwrngSource(std::string path, std::string rng_current_path) {
  open_device(path, rng_current_path);
}

void HwrngSource::open_device(const std::string& path,
                              const std::string& rng_current_path) {
  auto out = [this](SourceRead::Kind kind, int e) {
    open_kind_ = kind;
    open_errno_ = e;
    fd_.reset();
  };
  fd_ = source_io::open_fd(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (!fd_.valid()) {
    const int e = errno;
    const bool absent = e == ENOENT || e == ENOTDIR || e == ENODEV ||
                        e == ENXIO || e == EACCES || e == EPERM;
    return out(absent ? SourceRead::Kind::absent : SourceRead::Kind::error, e);
  }
  struct stat st{};
  if (::fstat(fd_.get(), &st) != 0) return out(SourceRead::Kind::error, errno);
  if (!S_ISCHR(st.st_mode)) return out(SourceRead::Kind::error, ENOTSUP);
  if (!rng_current_path.empty()) {
    std::string s;
    if (source_io::read_small_file(rng_current_path.c_str(), 64, s)) {
      while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
      current_rng_ = s;
      // hw_random core: with no rng selected, read(2) would say ENODEV.
      if (current_rng_ == "none") return out(SourceRead::Kind::absent, ENODEV);
    }
    // Unreadable sysfs (not mounted, older kernel): read(2) still tells.
  }
}

SourceRead HwrngSource::read(std::span<std::uint8_t> out) noexcept {
  if (open_kind_ != SourceRead::Kind::data)
    return {open_kind_, 0, open_errno_};
  // The core never returns 0 for a non-empty non-blocking read (it says
  // EAGAIN); should a driver do so, it is "nothing now", not an end.
  return source_io::read_once(fd_.get(),
                              out.first(std::min(out.size(), kMaxReadBytes)),
                              SourceRead::Kind::would_block);
}

}  // namespace seedpool::pool
