// Unit tests of the noise sources: readiness (poll fd or retry timer), the
// FIFO that outlives its writers, files read to their end, refused paths,
// /dev/hwrng without a blocking read, RDSEED with bounded retries.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "fake_source.h"
#include "pool/device_source.h"
#include "pool/getrandom_source.h"
#include "pool/hwrng_source.h"
#include "pool/pool.h"
#include "pool/rdseed_source.h"

namespace seedpool {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using pool::DeviceSource;
using pool::SourceRead;
using Kind = pool::SourceRead::Kind;

std::chrono::milliseconds since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                               t0);
}

// poll(2) for POLLIN; the revents, 0 on timeout.
short poll_in(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  return r > 0 ? p.revents : 0;
}

bool cloexec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  return flags >= 0 && (flags & FD_CLOEXEC) != 0;
}

bool write_all(int fd, const void* data, std::size_t len) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<std::uint8_t>(seed + i * 7);
  return v;
}

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() /
                     "seedpool-sources-XXXXXX")
                        .string();
    if (::mkdtemp(t.data()) == nullptr) std::abort();
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const char* name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_file(const std::string& path, std::span<const std::uint8_t> data,
                mode_t mode = 0600) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_TRUE(write_all(fd, data.data(), data.size()));
  ASSERT_EQ(::close(fd), 0);
}

// Runs `body` in a child process, unprivileged (uid/gid 65534) when we are
// root, so that permission checks apply. Returns the child's exit code, or
// -1 if it did not exit normally. `body` reports through its return value
// only (no gtest assertions in the child).
int run_in_child(const std::function<int()>& body, bool drop_root = true) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (drop_root && ::geteuid() == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
          ::setresuid(65534, 65534, 65534) != 0)
        ::_exit(100);
    }
    ::_exit(body());
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---------------------------------------------------------------------------
// The Source defaults.

class MinimalSource final : public pool::Source {
 public:
  const char* name() const noexcept override { return "minimal"; }
  SourceRead read(std::span<std::uint8_t>) noexcept override {
    return {Kind::would_block, 0, EAGAIN};
  }
};

TEST(SourceInterface, DefaultIsARetryTimerWithoutFd) {
  MinimalSource s;
  EXPECT_EQ(s.poll_fd(), -1);
  EXPECT_EQ(s.retry_interval(), pool::Source::kDefaultRetryInterval);
  // With no fd, "ready" comes after one retry interval...
  auto t0 = Clock::now();
  EXPECT_TRUE(s.wait_ready(1000ms));
  EXPECT_GE(since(t0), s.retry_interval());
  EXPECT_LT(since(t0), 500ms);
  // ...and a shorter timeout is honoured and reported as such.
  t0 = Clock::now();
  EXPECT_FALSE(s.wait_ready(3ms));
  EXPECT_GE(since(t0), 3ms);
  EXPECT_LT(since(t0), s.retry_interval() + 100ms);
}

TEST(SourceInterface, StatusNamesIncludeExhausted) {
  EXPECT_STREQ(pool::source_status_name(pool::SourceStatus::exhausted),
               "exhausted");
  EXPECT_STREQ(pool::source_status_name(pool::SourceStatus::failed), "failed");
}

// ---------------------------------------------------------------------------
// getrandom: its readiness fd is /dev/random, open from construction.

TEST(SourceGetrandom, PollFdIsDevRandomOpenedAtConstruction) {
  pool::GetrandomSource g;
  const int fd = g.poll_fd();
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(cloexec(fd));
  struct stat st{};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 8));  // /dev/random
  EXPECT_EQ(g.poll_fd(), fd);            // stable
  std::array<std::uint8_t, 32> buf{};
  const SourceRead r = g.read(buf);
  if (r.kind == Kind::would_block)
    GTEST_SKIP() << "kernel CRNG not seeded yet";
  ASSERT_EQ(r.kind, Kind::data);
  EXPECT_EQ(r.bytes, buf.size());
  // Seeded: /dev/random polls readable, and wait_ready says so at once.
  EXPECT_TRUE(poll_in(fd, 0) & POLLIN);
  EXPECT_TRUE(g.wait_ready(0ms));
}

// ---------------------------------------------------------------------------
// device: FIFO.

TEST(SourceDevice, FifoWritersComeAndGoWithoutHangupOrBusyLoop) {
  TempDir dir;
  const std::string path = dir.file("fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);

  // Opened while no writer exists: it opens (O_NONBLOCK), is its own writer.
  DeviceSource src(path);
  EXPECT_STREQ(src.name(), "device");
  ASSERT_EQ(src.file_type(), DeviceSource::FileType::fifo);
  EXPECT_TRUE(src.fifo_self_writer());
  const int fd = src.poll_fd();
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(cloexec(fd));
  std::array<std::uint8_t, 4096> buf{};
  EXPECT_EQ(src.read(buf).kind, Kind::would_block);
  EXPECT_EQ(poll_in(fd, 0), 0);

  // A writer thread opens, writes 100 bytes, closes.
  const auto first = pattern(100, 1);
  std::thread writer([&] {
    int w = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (w < 0) return;
    (void)write_all(w, first.data(), first.size());
    (void)::close(w);
  });
  writer.join();
  EXPECT_TRUE(poll_in(fd, 1000) & POLLIN);
  SourceRead r = src.read(buf);
  ASSERT_EQ(r.kind, Kind::data);
  ASSERT_EQ(r.bytes, first.size());
  EXPECT_TRUE(std::equal(first.begin(), first.end(), buf.begin()));

  // The writer is gone: no POLLHUP (poll waits its full timeout), and read()
  // says "nothing now", not EOF and not an error.
  auto t0 = Clock::now();
  EXPECT_EQ(poll_in(fd, 100), 0);
  EXPECT_GE(since(t0), 90ms);
  r = src.read(buf);
  EXPECT_EQ(r.kind, Kind::would_block);
  EXPECT_EQ(r.sys_errno, EAGAIN);
  t0 = Clock::now();
  EXPECT_FALSE(src.wait_ready(50ms));
  EXPECT_GE(since(t0), 45ms);

  // A second writer, a process this time: data flows again.
  const auto second = pattern(50, 9);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int w = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    ::_exit(w >= 0 && write_all(w, second.data(), second.size()) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(src.wait_ready(1000ms));
  r = src.read(buf);
  ASSERT_EQ(r.kind, Kind::data);
  ASSERT_EQ(r.bytes, second.size());
  EXPECT_TRUE(std::equal(second.begin(), second.end(), buf.begin()));
  EXPECT_EQ(src.read(buf).kind, Kind::would_block);
  EXPECT_EQ(poll_in(fd, 0), 0);
}

// Without write permission on the FIFO the source cannot be its own writer:
// it keeps the read-only fd and uses the retry timer; EOF between writers is
// "nothing now".
TEST(SourceDevice, FifoWithoutWritePermissionFallsBackToRetryTimer) {
  TempDir dir;
  const std::string path = dir.file("fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  // Our writer end, opened while we may, then the FIFO is made read-only.
  int w = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(w, 0);
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  int to_child[2], to_parent[2];
  ASSERT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(to_parent, O_CLOEXEC), 0);
  const auto data = pattern(10, 3);

  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    (void)::close(w);
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
         ::setresuid(65534, 65534, 65534) != 0))
      ::_exit(100);
    int code = [&]() -> int {
      DeviceSource src(path);
      if (src.file_type() != DeviceSource::FileType::fifo) return 10;
      if (src.fifo_self_writer()) return 11;
      if (src.poll_fd() != -1) return 12;
      std::array<std::uint8_t, 64> buf{};
      if (src.read(buf).kind != Kind::would_block) return 13;  // EAGAIN
      char c = 0;
      if (::write(to_parent[1], &c, 1) != 1) return 14;
      if (::read(to_child[0], &c, 1) != 1) return 15;  // writer wrote, left
      const SourceRead r = src.read(buf);
      if (r.kind != Kind::data || r.bytes != data.size()) return 16;
      if (!std::equal(data.begin(), data.end(), buf.begin())) return 17;
      // EOF now (no writer at all): would_block, not exhausted.
      if (src.read(buf).kind != Kind::would_block) return 18;
      if (src.read(buf).kind != Kind::would_block) return 19;
      return 0;
    }();
    ::_exit(code);
  }
  char c = 0;
  ASSERT_EQ(::read(to_parent[0], &c, 1), 1);
  ASSERT_TRUE(write_all(w, data.data(), data.size()));
  ASSERT_EQ(::close(w), 0);
  ASSERT_EQ(::write(to_child[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]})
    (void)::close(fd);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child check failed (see the codes)";
}

// ---------------------------------------------------------------------------
// device: regular files.

TEST(SourceDevice, RegularFileIsReadThroughThenExhaustedForGood) {
  TempDir dir;
  const std::string path = dir.file("noise");
  const auto content = pattern(1000, 5);
  write_file(path, content);
  DeviceSource src(path);
  ASSERT_EQ(src.file_type(), DeviceSource::FileType::regular);
  const int fd = src.poll_fd();
  ASSERT_GE(fd, 0);  // a regular file polls readable, always
  EXPECT_TRUE(cloexec(fd));
  EXPECT_TRUE(poll_in(fd, 0) & POLLIN);

  std::vector<std::uint8_t> got;
  std::array<std::uint8_t, 256> buf{};
  for (std::size_t want : {256u, 256u, 256u, 232u}) {
    const SourceRead r = src.read(buf);
    ASSERT_EQ(r.kind, Kind::data);
    ASSERT_EQ(r.bytes, want);
    got.insert(got.end(), buf.begin(), buf.begin() + r.bytes);
  }
  EXPECT_EQ(got, content);
  SourceRead r = src.read(buf);
  EXPECT_EQ(r.kind, Kind::exhausted);
  EXPECT_EQ(r.sys_errno, 0);

  // Exhausted means never read again: content appended later is not seen,
  // and the fd stays open (poll_fd() does not change while the source lives).
  std::ofstream(path, std::ios::app) << "more data";
  EXPECT_EQ(src.read(buf).kind, Kind::exhausted);
  EXPECT_EQ(src.poll_fd(), fd);
  EXPECT_TRUE(cloexec(fd));
}

TEST(SourceDevice, EmptyFileIsExhaustedAtOnce) {
  TempDir dir;
  const std::string path = dir.file("empty");
  write_file(path, {});
  DeviceSource src(path);
  std::array<std::uint8_t, 16> buf{};
  EXPECT_EQ(src.read(buf).kind, Kind::exhausted);
  // An empty request is not mistaken for EOF.
  DeviceSource other(path);
  const SourceRead r = other.read({});
  EXPECT_EQ(r.kind, Kind::data);
  EXPECT_EQ(r.bytes, 0u);
}

// ---------------------------------------------------------------------------
// device: character devices.

TEST(SourceDevice, DevUrandomGivesData) {
  DeviceSource src("/dev/urandom");
  ASSERT_EQ(src.file_type(), DeviceSource::FileType::character_device);
  ASSERT_GE(src.poll_fd(), 0);
  EXPECT_TRUE(poll_in(src.poll_fd(), 0) & POLLIN);
  std::array<std::uint8_t, 64> a{}, b{};
  SourceRead r = src.read(a);
  ASSERT_EQ(r.kind, Kind::data);
  EXPECT_EQ(r.bytes, a.size());
  r = src.read(b);
  ASSERT_EQ(r.kind, Kind::data);
  EXPECT_NE(a, b);
}

// A character device at EOF has nothing more to give: /dev/null would poll
// readable forever, so it must not stay "would_block".
TEST(SourceDevice, DevNullIsExhausted) {
  DeviceSource src("/dev/null");
  ASSERT_EQ(src.file_type(), DeviceSource::FileType::character_device);
  std::array<std::uint8_t, 16> buf{};
  EXPECT_EQ(src.read(buf).kind, Kind::exhausted);
  EXPECT_EQ(src.read(buf).kind, Kind::exhausted);
}

// /dev/hwrng has no poll method: readable always, EAGAIN when drained.
// wait_ready must back off by the retry interval, not return at once.
TEST(SourceDevice, CharDeviceThatPollsReadableButSaysEagainBacksOff) {
  DeviceSource src("/dev/hwrng");
  if (src.open_errno() != 0)
    GTEST_SKIP() << "/dev/hwrng: " << std::strerror(src.open_errno());
  std::array<std::uint8_t, 4096> buf{};
  SourceRead r{Kind::data, 0, 0};
  for (int i = 0; i < 1000 && r.kind == Kind::data; ++i) r = src.read(buf);
  if (r.kind != Kind::would_block)
    GTEST_SKIP() << "/dev/hwrng never said EAGAIN";
  ASSERT_TRUE(poll_in(src.poll_fd(), 0) & POLLIN) << "the driver polls now";
  const auto t0 = Clock::now();
  EXPECT_TRUE(src.wait_ready(1000ms));
  EXPECT_GE(since(t0), DeviceSource::kRetryInterval - 2ms);
  EXPECT_LT(since(t0), 500ms);
}

// ---------------------------------------------------------------------------
// device: paths that are not sources.

TEST(SourceDevice, MissingPathIsAbsentWithEnoent) {
  TempDir dir;
  DeviceSource src(dir.file("nothing-here"));
  EXPECT_EQ(src.file_type(), DeviceSource::FileType::none);
  EXPECT_EQ(src.poll_fd(), -1);
  std::array<std::uint8_t, 16> buf{};
  const SourceRead r = src.read(buf);
  EXPECT_EQ(r.kind, Kind::absent);
  EXPECT_EQ(r.sys_errno, ENOENT);
  EXPECT_EQ(src.open_errno(), ENOENT);
}

TEST(SourceDevice, PathUnderARegularFileIsAbsentWithEnotdir) {
  TempDir dir;
  write_file(dir.file("f"), pattern(4, 0));
  DeviceSource src(dir.file("f") + "/child");
  std::array<std::uint8_t, 16> buf{};
  const SourceRead r = src.read(buf);
  EXPECT_EQ(r.kind, Kind::absent);
  EXPECT_EQ(r.sys_errno, ENOTDIR);
}

TEST(SourceDevice, DirectoryIsRefusedWithEisdir) {
  TempDir dir;
  DeviceSource src(dir.path());
  EXPECT_EQ(src.file_type(), DeviceSource::FileType::directory);
  EXPECT_EQ(src.poll_fd(), -1);
  std::array<std::uint8_t, 16> buf{};
  const SourceRead r = src.read(buf);
  EXPECT_EQ(r.kind, Kind::error);
  EXPECT_EQ(r.sys_errno, EISDIR);
}

TEST(SourceDevice, SocketIsRefusedWithEnotsup) {
  TempDir dir;
  const std::string path = dir.file("sock");
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  DeviceSource src(path);
  (void)::close(s);
  EXPECT_EQ(src.file_type(), DeviceSource::FileType::socket);
  EXPECT_EQ(src.poll_fd(), -1);
  std::array<std::uint8_t, 16> buf{};
  const SourceRead r = src.read(buf);
  EXPECT_EQ(r.kind, Kind::error);
  EXPECT_EQ(r.sys_errno, ENOTSUP);
}

TEST(SourceDevice, UnreadableFileFailsWithEacces) {
  TempDir dir;
  const std::string path = dir.file("secret");
  write_file(path, pattern(16, 0), 0000);
  ASSERT_EQ(::chmod(path.c_str(), 0000), 0);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  const int code = run_in_child([&] {
    DeviceSource src(path);
    std::array<std::uint8_t, 16> buf{};
    const SourceRead r = src.read(buf);
    if (r.kind != Kind::error) return 10;
    if (r.sys_errno != EACCES) return 11;
    return src.poll_fd() == -1 ? 0 : 12;
  });
  EXPECT_EQ(code, 0);
}

// ---------------------------------------------------------------------------
// hwrng.

TEST(SourceHwrng, MissingDeviceIsAbsent) {
  pool::HwrngSource src("/nonexistent/hwrng", "");
  EXPECT_STREQ(src.name(), "hwrng");
  EXPECT_EQ(src.poll_fd(), -1);
  std::array<std::uint8_t, 16> buf{};
  const SourceRead r = src.read(buf);
  EXPECT_EQ(r.kind, Kind::absent);
  EXPECT_EQ(r.sys_errno, ENOENT);
}

TEST(SourceHwrng, NoSelectedRngIsAbsent) {
  TempDir dir;
  const std::string current = dir.file("rng_current");
  const std::string none = "none\n";
  write_file(current, {reinterpret_cast<const std::uint8_t*>(none.data()),
                       none.size()});
  pool::HwrngSource src("/dev/null", current);
  EXPECT_EQ(src.current_rng(), "none");
  std::array<std::uint8_t, 16> buf{};
  const SourceRead r = src.read(buf);
  EXPECT_EQ(r.kind, Kind::absent);
  EXPECT_EQ(r.sys_errno, ENODEV);
}

TEST(SourceHwrng, NotACharacterDeviceFails) {
  TempDir dir;
  write_file(dir.file("f"), pattern(64, 0));
  pool::HwrngSource src(dir.file("f"), "");
  std::array<std::uint8_t, 16> buf{};
  const SourceRead r = src.read(buf);
  EXPECT_EQ(r.kind, Kind::error);
  EXPECT_EQ(r.sys_errno, ENOTSUP);
}

// Each read is capped, whatever the caller asks for (checked on a character
// device that would give more).
TEST(SourceHwrng, ReadsAreCappedToSmallRequests) {
  pool::HwrngSource src("/dev/urandom", "");
  ASSERT_EQ(src.open_errno(), 0);
  std::array<std::uint8_t, 4096> buf{};
  const SourceRead r = src.read(buf);
  ASSERT_EQ(r.kind, Kind::data);
  EXPECT_EQ(r.bytes, pool::HwrngSource::kMaxReadBytes);
}

TEST(SourceHwrng, ReadinessIsARetryTimerNotAnFd) {
  pool::HwrngSource src;
  EXPECT_EQ(src.poll_fd(), -1);  // the driver's poll always says readable
  EXPECT_GE(src.retry_interval(), 1ms);
  EXPECT_LE(src.retry_interval(), 50ms);
}

TEST(SourceHwrng, DeliversWithinBoundedTimeAndNoReadBlocks) {
  pool::HwrngSource src;
  if (src.open_errno() != 0)
    GTEST_SKIP() << "/dev/hwrng not usable here (" << src.current_rng()
                 << "): " << std::strerror(src.open_errno());
  std::array<std::uint8_t, 4096> buf{};
  std::size_t total = 0;
  std::chrono::microseconds slowest{0};
  const auto start = Clock::now();
  while (total < 256 && Clock::now() - start < 2s) {
    const auto t0 = Clock::now();
    const SourceRead r = src.read(buf);
    slowest = std::max(slowest, std::chrono::duration_cast<
                                    std::chrono::microseconds>(Clock::now() - t0));
    ASSERT_TRUE(r.kind == Kind::data || r.kind == Kind::would_block)
        << "errno " << r.sys_errno;
    if (r.kind == Kind::data) {
      EXPECT_LE(r.bytes, pool::HwrngSource::kMaxReadBytes);
      total += r.bytes;
    } else {
      std::this_thread::sleep_for(src.retry_interval());
    }
  }
  EXPECT_GE(total, 256u) << "from " << src.current_rng();
  EXPECT_LT(slowest, 50ms);

  // No read waits for the device: the fd is non-blocking, as the kernel
  // sees it (/proc/self/fdinfo's flags, octal). Back-to-back reads drain
  // what virtio-rng buffered and then say EAGAIN at once -- unless the host
  // answers each fetch before the next read, which a fast host does (seen
  // here: 20 reads in a row all with data), so that is not required.
  std::size_t hwrng_fds = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(entry.path(), ec) != "/dev/hwrng") continue;
    std::ifstream info("/proc/self/fdinfo/" + entry.path().filename().string());
    std::string key;
    unsigned long flags = 0;
    while (info >> key)
      if (key == "flags:" && (info >> std::oct >> flags)) break;
    EXPECT_NE(flags & O_NONBLOCK, 0u) << entry.path();
    ++hwrng_fds;
  }
  EXPECT_GE(hwrng_fds, 1u);  // src's; others of this process are checked too
  for (int i = 0; i < 20; ++i) {
    const auto t0 = Clock::now();
    const SourceRead r = src.read(buf);
    EXPECT_LT(since(t0), 50ms);
    ASSERT_TRUE(r.kind == Kind::data || r.kind == Kind::would_block)
        << "errno " << r.sys_errno;
  }
}

// ---------------------------------------------------------------------------
// rdseed.

// Independent of the source: what CPUID says, and whether the kernel lists
// the flag (true when it cannot be told).
bool test_cpuid_rdseed() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((b >> 18) & 1u);
#else
  return false;
#endif
}
bool test_kernel_lists_rdseed() {
  std::ifstream in("/proc/cpuinfo");
  if (!in) return true;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    return (line + " ").find(" rdseed ") != std::string::npos;
  }
  return true;
}

TEST(SourceRdseed, SupportFollowsCpuidAndTheKernel) {
  pool::RdseedSource src;
  EXPECT_STREQ(src.name(), "rdseed");
  EXPECT_EQ(src.poll_fd(), -1);
  EXPECT_GE(src.retry_interval(), 1ms);
  EXPECT_LE(src.retry_interval(), 5ms);
  using S = pool::RdseedSource::Support;
  S expected = S::available;
#if !defined(__x86_64__)
  expected = S::not_x86;
#else
  if (!test_cpuid_rdseed())
    expected = S::no_cpu_support;
  else if (!test_kernel_lists_rdseed())
    expected = S::disabled_by_kernel;
#endif
  EXPECT_EQ(src.support(), expected)
      << pool::rdseed_support_name(src.support()) << " vs "
      << pool::rdseed_support_name(expected);
  EXPECT_EQ(pool::RdseedSource::cpu_has_rdseed(), test_cpuid_rdseed());
}

TEST(SourceRdseed, AbsentWhereUnavailable) {
  pool::RdseedSource src;
  if (src.support() == pool::RdseedSource::Support::available)
    GTEST_SKIP() << "RDSEED is available here";
  std::array<std::uint8_t, 64> buf{};
  const SourceRead r = src.read(buf);
  EXPECT_EQ(r.kind, Kind::absent);
  EXPECT_EQ(r.sys_errno, src.support() ==
                                 pool::RdseedSource::Support::disabled_by_kernel
                             ? ENODEV
                             : ENOTSUP);
}

// The instruction path, also where the kernel disabled RDSEED (the 64-bit
// form the source uses is not the one the Zen 5 erratum names).
TEST(SourceRdseed, DeliversVaryingData) {
  pool::RdseedSource src(pool::RdseedSource::Detect::cpuid_only);
  if (src.support() != pool::RdseedSource::Support::available)
    GTEST_SKIP() << "CPU without RDSEED: "
                 << pool::rdseed_support_name(src.support());
  auto fill = [&](std::array<std::uint8_t, 64>& out) {
    std::size_t got = 0;
    for (int i = 0; i < 1000 && got < out.size(); ++i) {
      const SourceRead r = src.read(std::span(out).subspan(got));
      if (r.kind == Kind::data) {
        got += r.bytes;
      } else {
        EXPECT_EQ(r.kind, Kind::would_block);
        std::this_thread::sleep_for(src.retry_interval());
      }
    }
    return got;
  };
  std::array<std::uint8_t, 64> a{}, b{};
  ASSERT_EQ(fill(a), a.size());
  ASSERT_EQ(fill(b), b.size());
  EXPECT_FALSE(std::all_of(a.begin(), a.end(), [&](auto x) { return x == a[0]; }));
  EXPECT_NE(a, b);
  // An odd length is served too (the last word partly).
  std::array<std::uint8_t, 13> odd{};
  const SourceRead r = src.read(odd);
  if (r.kind == Kind::data) {
    EXPECT_GT(r.bytes, 0u);
    EXPECT_LE(r.bytes, odd.size());
  }
}

TEST(SourceRdseed, LargeReadIsBounded) {
  pool::RdseedSource src(pool::RdseedSource::Detect::cpuid_only);
  if (src.support() != pool::RdseedSource::Support::available)
    GTEST_SKIP() << "CPU without RDSEED";
  std::vector<std::uint8_t> buf(4096);
  const auto t0 = Clock::now();
  const SourceRead r = src.read(buf);
  EXPECT_LT(since(t0), 500ms);
  ASSERT_TRUE(r.kind == Kind::data || r.kind == Kind::would_block);
  if (r.kind == Kind::data) {
    EXPECT_LE(r.bytes, buf.size());
  }
}

// ---------------------------------------------------------------------------
// The default list's probes, kept for the pool (each source opened and
// checked once per start).

bool lists(const std::vector<pool::SourceConfig>& list, pool::SourceKind k) {
  return std::any_of(list.begin(), list.end(),
                     [k](const pool::SourceConfig& s) { return s.kind == k; });
}

TEST(ProbedSources, DefaultListKeepsExactlyWhatItFound) {
  pool::ProbedSources probed;
  const std::vector<pool::SourceConfig> list = pool::available_sources(&probed);
  // Keeping the probes does not change the answer.
  EXPECT_EQ(list, pool::available_sources());
  ASSERT_EQ(probed.hwrng != nullptr, lists(list, pool::SourceKind::hwrng));
  ASSERT_EQ(probed.rdseed != nullptr, lists(list, pool::SourceKind::rdseed));
  if (probed.hwrng) {
    EXPECT_STREQ(probed.hwrng->name(), "hwrng");
    EXPECT_EQ(static_cast<pool::HwrngSource&>(*probed.hwrng).open_errno(), 0);
  }
  if (probed.rdseed) {
    EXPECT_STREQ(probed.rdseed->name(), "rdseed");
    EXPECT_EQ(static_cast<pool::RdseedSource&>(*probed.rdseed).support(),
              pool::RdseedSource::Support::available);
  }
  // Only hwrng and rdseed are probed; each is handed over once.
  EXPECT_EQ(probed.take(pool::SourceKind::getrandom), nullptr);
  EXPECT_EQ(probed.take(pool::SourceKind::device), nullptr);
  const bool had_hwrng = probed.hwrng != nullptr;
  EXPECT_EQ(probed.take(pool::SourceKind::hwrng) != nullptr, had_hwrng);
  EXPECT_EQ(probed.take(pool::SourceKind::hwrng), nullptr);
}

// The pool takes a probed source instead of making its own, and what that
// source reports (here: absent, as a device that cannot be opened) is in
// the statistics as before.
TEST(ProbedSources, PoolUsesTheProbedSourceAndReportsItsStatus) {
  pool::ProbedSources probed;
  auto fake = std::make_unique<testing::FakeSource>(testing::FakeSource::Mode::absent);
  testing::FakeSource* const seen = fake.get();
  probed.hwrng = std::move(fake);
  pool::Config config;
  config.sources = {{pool::SourceKind::hwrng, 4}, {pool::SourceKind::getrandom, 8}};
  std::unique_ptr<pool::Pool> p;
  ASSERT_EQ(pool::Pool::create(config, p, &probed), pool::Errc::ok);
  EXPECT_EQ(probed.hwrng, nullptr);  // taken
  std::array<std::uint8_t, 32> out{};
  ASSERT_EQ(p->try_read(out, {}, false), pool::Errc::ok);
  EXPECT_GE(seen->reads.load(), 1);  // the probed object, no second open
  const pool::Stats st = p->stats();
  ASSERT_EQ(st.sources.size(), 2u);
  EXPECT_EQ(st.sources[0].name, "fake");
  EXPECT_EQ(st.sources[0].status, pool::SourceStatus::absent);
  EXPECT_EQ(st.sources[0].last_errno, ENOENT);
  EXPECT_EQ(st.sources[1].name, "getrandom");
  EXPECT_EQ(st.sources[1].status, pool::SourceStatus::ok);
  EXPECT_EQ(p->health(), pool::Health::degraded);
}

// A probe of a kind the configuration does not list is not used (and is
// closed with `probed`).
TEST(ProbedSources, UnlistedProbeIsLeftAlone) {
  pool::ProbedSources probed;
  probed.rdseed = std::make_unique<testing::FakeSource>();
  pool::Config config;  // getrandom only
  std::unique_ptr<pool::Pool> p;
  ASSERT_EQ(pool::Pool::create(config, p, &probed), pool::Errc::ok);
  EXPECT_NE(probed.rdseed, nullptr);
  ASSERT_EQ(p->stats().sources.size(), 1u);
  EXPECT_EQ(p->stats().sources[0].name, "getrandom");
}

// What the pool makes of a source's faults -- errors, absence, nothing to
// read, short reads, a FIFO's writer leaving, a file at its end -- is one
// table in source_faults_test.cc.

}  // namespace
}  // namespace seedpool
