// The `device` source: any readable path -- a character device, a FIFO or a
// regular file. This is how an external noise source, or a test, feeds the
// pool; its credit is configured.
//
// Opened once, at construction, O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC, then
// classified with fstat on the open fd:
//
// - Character device: read as it comes. Polls on its fd. EOF (read(2) says
//   0, e.g. /dev/null or a hung-up tty) means the device has nothing more to
//   give: exhausted, never read again (polling /dev/null would be a busy
//   loop: it is always readable).
// - FIFO: writers may come and go. Linux lets a FIFO be opened O_RDWR
//   (fifo(7); POSIX leaves it undefined), and then the source itself counts
//   as a writer, so fs/pipe.c never reports POLLHUP and read(2) of an empty
//   pipe says EAGAIN instead of 0 (EOF) between writers: poll waits for data,
//   with no busy loop, and data flows again when the next writer comes. The
//   path is reopened O_RDWR and must be the same inode as the O_RDONLY open
//   that was classified. Without write permission on the FIFO the source
//   keeps the O_RDONLY fd and uses the retry timer instead (poll_fd() == -1,
//   since an O_RDONLY FIFO reports POLLHUP for good once a writer has left):
//   EOF then only means "no writer right now" (would_block).
// - Regular file: read through to its end, then exhausted. Polls on its fd
//   (a regular file is always readable); an exhausted source keeps the fd
//   open so poll_fd() stays valid, but is never read again.
// - Anything else is refused (failed): a directory (EISDIR), a socket or a
//   block device (ENOTSUP; O_NONBLOCK does not apply to a disk, whose reads
//   would stall the gatherer, and a disk is no noise source).
//
// Open failures: ENOENT, ENOTDIR, ENXIO, ENODEV (nothing there) -> absent;
// anything else (EACCES, EPERM, ELOOP, ...) -> failed: the path was
// configured, so it is a configuration error. Read errors (EIO, ...) ->
// failed with that errno; ENODEV/ENXIO at read (device gone) -> absent. The
// errno travels with every SourceRead, into the pool's statistics.
#pragma once

#include <atomic>
#include <string>

#include "pool/source.h"
#include "pool/source_io.h"

namespace seedpool::pool {

class DeviceSource final : public Source {
 public:
  enum class FileType : std::uint8_t {
    none,              // could not be opened
    character_device,
    fifo,
    regular,
    directory,         // refused
    socket,            // refused
    other,             // block device or unknown; refused
  };
  // Back-off for a FIFO without a writer fd and for a device that polls
  // readable but says EAGAIN.
  static constexpr std::chrono::milliseconds kRetryInterval{20};

  explicit DeviceSource(std::string path);
  ~DeviceSource() override = default;

  const char* name() const noexcept override { return "device"; }
  SourceRead read(std::span<std::uint8_t> out) noexcept override;
  // poll(2) on poll_fd(); for a device that polled readable but then said
  // EAGAIN, the retry interval instead (no busy loop on a lying driver).
  bool wait_ready(std::chrono::milliseconds timeout) noexcept override;
  int poll_fd() const noexcept override { return poll_fd_; }
  std::chrono::milliseconds retry_interval() const noexcept override {
    return kRetryInterval;
  }
  // A FIFO: a short read emptied it (fs/pipe.c). Not a character device: a
  // driver may hand out less than asked and still have more.
  bool short_read_empties() const noexcept override {
    return type_ == FileType::fifo;
  }

  const std::string& path() const noexcept { return path_; }
  FileType file_type() const noexcept { return type_; }
  // Why the source is out from the start (0 when it opened): the errno of
  // open(2), or EISDIR/ENOTSUP for a refused type.
  int open_errno() const noexcept { return open_errno_; }
  // True for a FIFO opened O_RDWR (the source is its own writer).
  bool fifo_self_writer() const noexcept { return fifo_self_writer_; }

 private:
  void open_path();

  const std::string path_;
  source_io::UniqueFd fd_;
  int poll_fd_ = -1;
  FileType type_ = FileType::none;
  int open_errno_ = 0;
  SourceRead::Kind open_kind_ = SourceRead::Kind::data;  // absent/error if out
  bool fifo_self_writer_ = false;
  bool exhausted_ = false;  // read() only (the pool lock or the gatherer)
  // Last read() said EAGAIN; wait_ready() may run on another thread.
  std::atomic<bool> last_would_block_{false};
};

const char* device_file_type_name(DeviceSource::FileType t) noexcept;

}  // namespace seedpool::pool
