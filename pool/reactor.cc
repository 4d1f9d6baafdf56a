#include "pool/reactor.h"

#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "pool/fault.h"

namespace seedpool::pool {
namespace {

// user_data tags. A watched fd's POLL_ADD carries the fd itself (0..2^31);
// liburing's own timeout SQE, on kernels without IORING_FEAT_EXT_ARG,
// carries LIBURING_UDATA_TIMEOUT (all ones): skipped.
constexpr std::uint64_t kWakeTag = std::uint64_t{1} << 62;
constexpr std::uint64_t kRemoveTag = kWakeTag + 1;
constexpr unsigned kRingEntries = 64;

std::string errno_text(const char* what, int e) {
  std::string s = what;
  s += ": ";
  s += std::strerror(e);
  return s;
}

class PollReactor final : public Reactor {
 public:
  explicit PollReactor(int wake_fd) noexcept : Reactor(wake_fd) {}
  Kind kind() const noexcept override { return Kind::poll; }

  Errc wait(std::span<const int> fds,
            std::optional<std::chrono::nanoseconds> timeout,
            std::vector<int>& ready) noexcept override {
    ready.clear();
    try {
      pfds_.resize(fds.size() + 1);
    } catch (...) {
      return Errc::out_of_memory;
    }
    pfds_[0] = {wake_fd_, POLLIN, 0};
    for (std::size_t i = 0; i < fds.size(); ++i) pfds_[i + 1] = {fds[i], POLLIN, 0};
    int ms = -1;
    if (timeout) {
      // Round up: poll(2) counts milliseconds and a 0.4 ms timer must not
      // turn into a busy loop of zero-timeout polls.
      const auto t = std::max(*timeout, std::chrono::nanoseconds{0});
      ms = static_cast<int>(std::min<std::int64_t>(
          (t.count() + 999'999) / 1'000'000, 3'600'000));
    }
    const int n = ::poll(pfds_.data(), pfds_.size(), ms);
    if (n < 0) return errno == EINTR ? Errc::ok : Errc::source_failed;
    if (pfds_[0].revents) drain_wake();
    for (std::size_t i = 1; i < pfds_.size(); ++i)
      if (pfds_[i].revents) ready.push_back(pfds_[i].fd);
    return Errc::ok;
  }

 private:
  std::vector<pollfd> pfds_;
};

class UringReactor final : public Reactor {
 public:
  UringReactor(int wake_fd, const io_uring& ring) noexcept
      : Reactor(wake_fd), ring_(ring) {}
  ~UringReactor() override {
    // Cancels every poll still armed; the fds themselves belong to others.
    if (!abandoned_) io_uring_queue_exit(&ring_);
  }
  Kind kind() const noexcept override { return Kind::io_uring; }

  Errc wait(std::span<const int> fds,
            std::optional<std::chrono::nanoseconds> timeout,
            std::vector<int>& ready) noexcept override {
    ready.clear();
    if (!wake_armed_) {
      io_uring_sqe* sqe = next_sqe();
      if (sqe == nullptr) return Errc::source_failed;
      io_uring_prep_poll_add(sqe, wake_fd_, POLLIN);
      io_uring_sqe_set_data64(sqe, kWakeTag);
      wake_armed_ = true;
    }
    // Arm what is newly watched; withdraw what no longer is, so a pool
    // that is full gets no wake-up from a source it will not read.
    for (int fd : fds) {
      Watch* w = find(fd);
      if (w == nullptr) {
        try {
          watches_.push_back({fd, State::idle});
        } catch (...) {
          return Errc::out_of_memory;
        }
        w = &watches_.back();
      }
      if (w->state != State::idle) continue;  // armed, or removal pending
      io_uring_sqe* sqe = next_sqe();
      if (sqe == nullptr) return Errc::source_failed;
      io_uring_prep_poll_add(sqe, fd, POLLIN);
      io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(fd));
      w->state = State::armed;
    }
    for (Watch& w : watches_) {
      if (w.state != State::armed ||
          std::find(fds.begin(), fds.end(), w.fd) != fds.end())
        continue;
      io_uring_sqe* sqe = next_sqe();
      if (sqe == nullptr) return Errc::source_failed;
      io_uring_prep_poll_remove(sqe, static_cast<std::uint64_t>(w.fd));
      io_uring_sqe_set_data64(sqe, kRemoveTag);
      w.state = State::removing;
    }
    __kernel_timespec ts{};
    if (timeout) {
      const auto t = std::max(*timeout, std::chrono::nanoseconds{0});
      ts.tv_sec = t.count() / 1'000'000'000;
      ts.tv_nsec = t.count() % 1'000'000'000;
    }
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_submit_and_wait_timeout(
        &ring_, &cqe, 1, timeout ? &ts : nullptr, nullptr);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN &&
        rc != -EBUSY)
      return Errc::source_failed;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const std::uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag == kWakeTag) {
        wake_armed_ = false;
        drain_wake();
      } else if (tag < kWakeTag) {
        const int fd = static_cast<int>(tag);
        if (Watch* w = find(fd)) w->state = State::idle;
        // A poll that ended with an error (-EBADF, ...) also makes the fd
        // "ready": the source's read() then says what is wrong.
        if (cqe->res != -ECANCELED &&
            std::find(fds.begin(), fds.end(), fd) != fds.end())
          ready.push_back(fd);
      }
      // kRemoveTag and LIBURING_UDATA_TIMEOUT: nothing to do.
    }
    io_uring_cq_advance(&ring_, seen);
    // Forget fds that are neither watched nor armed any more.
    std::erase_if(watches_, [&](const Watch& w) {
      return w.state == State::idle &&
             std::find(fds.begin(), fds.end(), w.fd) == fds.end();
    });
    return Errc::ok;
  }

  void abandon_after_fork() noexcept override {
    // The child shares the parent's ring: unmap and close our copies only
    // (io_uring_queue_exit submits nothing).
    if (!abandoned_) io_uring_queue_exit(&ring_);
    abandoned_ = true;
    Reactor::abandon_after_fork();
  }

 private:
  enum class State : std::uint8_t { idle, armed, removing };
  struct Watch {
    int fd;
    State state;
  };
  Watch* find(int fd) noexcept {
    for (Watch& w : watches_)
      if (w.fd == fd) return &w;
    return nullptr;
  }
  io_uring_sqe* next_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr && io_uring_submit(&ring_) >= 0)
      sqe = io_uring_get_sqe(&ring_);
    return sqe;
  }

  io_uring ring_;
  std::vector<Watch> watches_;
  bool wake_armed_ = false;
  bool abandoned_ = false;
};

}  // namespace

const char* reactor_kind_name(Reactor::Kind k) noexcept {
  switch (k) {
    case Reactor::Kind::io_uring: return "io_uring";
    case Reactor::Kind::poll: return "poll";
  }
  return "unknown";
}

bool Reactor::io_uring_disabled_by_env() noexcept {
  const char* v = std::getenv("SEEDPOOL_NO_IO_URING");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

Errc Reactor::create(bool force_poll, std::unique_ptr<Reactor>& out,
                     std::string& fallback_reason) {
  fallback_reason.clear();
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) return Errc::out_of_memory;
  if (force_poll) {
    fallback_reason = "SEEDPOOL_NO_IO_URING=1";
  } else {
    io_uring ring{};
    // liburing returns -errno. ENOSYS: no io_uring in this kernel; EPERM:
    // seccomp or kernel.io_uring_disabled; ENOMEM/EMFILE: limits.
    const int rc = fault::hit(fault::Point::io_uring_init)
                       ? -ENOMEM
                       : io_uring_queue_init(kRingEntries, &ring, 0);
    if (rc == 0) {
      out.reset(new (std::nothrow) UringReactor(wake_fd, ring));
      if (out) return Errc::ok;
      io_uring_queue_exit(&ring);
      ::close(wake_fd);
      return Errc::out_of_memory;
    }
    fallback_reason = errno_text("io_uring_queue_init", -rc);
  }
  out.reset(new (std::nothrow) PollReactor(wake_fd));
  if (out) return Errc::ok;
  ::close(wake_fd);
  return Errc::out_of_memory;
}

Reactor::~Reactor() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Reactor::wake() noexcept {
  const std::uint64_t one = 1;
  // EAGAIN only when the counter would overflow: a wake-up is then pending
  // anyway. Nothing else can fail on a valid eventfd.
  ssize_t n;
  do {
    n = ::write(wake_fd_, &one, sizeof(one));
  } while (n < 0 && errno == EINTR);
}

void Reactor::drain_wake() noexcept {
  std::uint64_t v = 0;
  ssize_t n;
  do {
    n = ::read(wake_fd_, &v, sizeof(v));
  } while (n < 0 && errno == EINTR);
  // EAGAIN: already drained by a spurious wake; nothing to do.
}

void Reactor::abandon_after_fork() noexcept {
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

}  // namespace seedpool::pool#include "pool/fault.h"

