// Helpers shared by the seed-file tests (seed_file_test, seed_keeper_test):
// byte patterns, exact-mode file writes, whole-file reads, the immutable
// flag, and a fresh temporary directory per test.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace seedpool::testing {

using Bytes = std::vector<std::uint8_t>;

inline Bytes pattern(std::size_t len, std::uint8_t seed) {
  Bytes b(len);
  for (std::size_t i = 0; i < len; ++i)
    b[i] = static_cast<std::uint8_t>(seed * 31u + i * 7u + 1u);
  return b;
}

// Writes `b` to `path` with exactly `mode` (fchmod, so the umask plays no
// part).
inline void write_file(const std::string& path, const Bytes& b,
                       mode_t mode = 0600) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(::fchmod(fd, mode), 0);
  if (!b.empty()) {
    ASSERT_EQ(::write(fd, b.data(), b.size()),
              static_cast<ssize_t>(b.size()));
  }
  ASSERT_EQ(::close(fd), 0);
}

// Empty when the file cannot be opened.
inline Bytes read_file(const std::string& path) {
  Bytes out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  std::uint8_t buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  (void)::close(fd);
  return out;
}

// Sets or clears FS_IMMUTABLE_FL on a directory: the one way to make a
// directory unwritable for root. False where the file system or the
// container does not allow it.
inline bool set_immutable(const std::string& path, bool on) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok) {
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  (void)::close(fd);
  return ok;
}

// A fresh directory per test (0700, owned by us: a safe seed directory),
// removed afterwards; `seed_` is a path in it.
class SeedDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir();
    if (tmpl.empty() || tmpl.back() != '/') tmpl += '/';
    tmpl += "seedpool_seed_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    seed_ = dir_ + "/seed";
  }
  void TearDown() override {
    if (immutable_) (void)set_immutable(dir_, false);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string dir_;
  std::string seed_;
  bool immutable_ = false;
};

}  // namespace seedpool::testing
