#include "pool/device_source.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace seedpool::pool {
namespace {

// Open errors that mean "nothing is there", as opposed to "there, but not
// for us" (EACCES, ELOOP, ...), which is a configuration error.
bool is_absent_errno(int e) noexcept {
  return e == ENOENT || e == ENOTDIR || e == ENXIO || e == ENODEV;
}

}  // namespace

const char* device_file_type_name(DeviceSource::FileType t) noexcept {
  switch (t) {
    case DeviceSource::FileType::none: return "none";
    case DeviceSource::FileType::character_device: return "character_device";
    case DeviceSource::FileType::fifo: return "fifo";
    case DeviceSource::FileType::regular: return "regular";
    case DeviceSource::FileType::directory: return "directory";
    case DeviceSource::FileType::socket: return "socket";
    case DeviceSource::FileType::other: return "other";
  }
  return "unknown";
}

DeviceSource::DeviceSource(std::string path) : path_(std::move(path)) {
  open_path();
}

void DeviceSource::open_path() {
  auto refuse = [this](FileType t, SourceRead::Kind kind, int e) {
    type_ = t;
    open_kind_ = kind;
    open_errno_ = e;
    fd_.reset();
    poll_fd_ = -1;
  };
  fd_ = source_io::open_fd(path_.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (!fd_.valid()) {
    const int e = errno;
    // open(2) says ENXIO for a UNIX domain socket; tell that case apart so
    // the status says "refused type" rather than "nothing there".
    struct stat st{};
    if (e == ENXIO && ::stat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
      return refuse(FileType::socket, SourceRead::Kind::error, ENOTSUP);
    return refuse(FileType::none,
                  is_absent_errno(e) ? SourceRead::Kind::absent
                                     : SourceRead::Kind::error,
                  e);
  }
  struct stat st{};
  if (::fstat(fd_.get(), &st) != 0)
    return refuse(FileType::none, SourceRead::Kind::error, errno);
  if (S_ISCHR(st.st_mode)) {
    type_ = FileType::character_device;
  } else if (S_ISREG(st.st_mode)) {
    type_ = FileType::regular;
  } else if (S_ISFIFO(st.st_mode)) {
    type_ = FileType::fifo;
    // Become a writer of our own FIFO (see the header): reopen read-write
    // and check it is still the object we classified.
    source_io::UniqueFd rw =
        source_io::open_fd(path_.c_str(), O_RDWR | O_NONBLOCK | O_NOCTTY);
    struct stat rw_st{};
    if (rw.valid() && ::fstat(rw.get(), &rw_st) == 0 &&
        rw_st.st_dev == st.st_dev && rw_st.st_ino == st.st_ino) {
      fd_ = std::move(rw);
      fifo_self_writer_ = true;
    } else {
      // No write permission (or the path changed under us): keep the
      // O_RDONLY fd and fall back to the retry timer.
      poll_fd_ = -1;
      return;
    }
  } else if (S_ISDIR(st.st_mode)) {
    return refuse(FileType::directory, SourceRead::Kind::error, EISDIR);
  } else if (S_ISSOCK(st.st_mode)) {
    return refuse(FileType::socket, SourceRead::Kind::error, ENOTSUP);
  } else {
    return refuse(FileType::other, SourceRead::Kind::error, ENOTSUP);
  }
  poll_fd_ = fd_.get();
}

SourceRead DeviceSource::read(std::span<std::uint8_t> out) noexcept {
  if (open_kind_ != SourceRead::Kind::data)
    return {open_kind_, 0, open_errno_};
  if (exhausted_) return {SourceRead::Kind::exhausted, 0, 0};
  // A FIFO at EOF has no writer right now (only possible without the
  // self-writer fd): more may come. Anything else at EOF is done.
  const SourceRead::Kind on_eof = type_ == FileType::fifo
                                      ? SourceRead::Kind::would_block
                                      : SourceRead::Kind::exhausted;
  const SourceRead r = source_io::read_once(fd_.get(), out, on_eof);
  if (r.kind == SourceRead::Kind::exhausted) exhausted_ = true;
  last_would_block_.store(r.kind == SourceRead::Kind::would_block,
                          std::memory_order_relaxed);
  return r;
}

bool DeviceSource::wait_ready(std::chrono::milliseconds timeout) noexcept {
  // A character device whose driver has no poll method (e.g. /dev/hwrng)
  // always polls readable, even right after read() said EAGAIN: waiting on
  // it would spin. Back off by the retry interval in that case. FIFOs and
  // regular files poll honestly.
  if (type_ == FileType::character_device && poll_fd_ >= 0 &&
      last_would_block_.load(std::memory_order_relaxed) &&
      source_io::poll_readable(poll_fd_, std::chrono::milliseconds{0})) {
    const auto pause = std::min(timeout, kRetryInterval);
    std::this_thread::sleep_for(pause);
    return pause == kRetryInterval;
  }
  return Source::wait_ready(timeout);
}

}  // namespace seedpool::pool
