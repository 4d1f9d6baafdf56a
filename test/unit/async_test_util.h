// Helpers for tests that drive OpenSSL ASYNC jobs (test/unit/async_test.cc,
// test/provider/async_provider_test.cc): open fds, a readable wait fd, the
// fds of a wait ctx.
#pragma once

#include <dirent.h>
#include <openssl/async.h>
#include <poll.h>

#include <chrono>
#include <vector>

namespace seedpool::testing {

// The process's open file descriptors (/proc/self/fd).
inline int open_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the DIR's own fd
}

inline bool readable(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(wait.count())) == 1 &&
         (p.revents & POLLIN) != 0;
}

// The wait ctx's fds (seedpool's is the only one in these tests).
inline std::vector<OSSL_ASYNC_FD> wait_fds(ASYNC_WAIT_CTX* ctx) {
  std::size_t n = 0;
  if (ASYNC_WAIT_CTX_get_all_fds(ctx, nullptr, &n) != 1) return {};
  std::vector<OSSL_ASYNC_FD> fds(n);
  if (n > 0 && ASYNC_WAIT_CTX_get_all_fds(ctx, fds.data(), &n) != 1) return {};
  return fds;
}

}  // namespace seedpool::testing
