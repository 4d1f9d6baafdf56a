// Forked children in tests: whole reads and writes on a pipe, how a child
// ended, and a scenario run in a child under a watchdog. Shared by the unit
// and provider tests (header only: each test binary links its own copy).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

namespace seedpool::testing {

// Reads exactly n bytes (a pipe from a forked child); false on EOF/error.
inline bool read_all(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<unsigned char*>(buf);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// Writes all n bytes; false on error.
inline bool write_all(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(buf);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// "exit 1", "killed by Alarm clock (the watchdog: a hang)", ...
inline std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("killed by ") + ::strsignal(WTERMSIG(status)) +
           (WTERMSIG(status) == SIGALRM ? " (the watchdog: a hang)" : "");
  return "status " + std::to_string(status);
}

// Runs `body` in a forked child with a watchdog of `watchdog_s` seconds
// (SIGALRM). The body returns what went wrong (no gtest macros in a child),
// empty when all went well; the child then ends with exit() when
// `run_exit_handlers` (atexit handlers, OpenSSL's cleanup, static
// destructors: what a real process runs) or _exit(). Returns "" when the
// child said nothing and exited 0; otherwise what it said and how it ended.
inline std::string run_in_child(unsigned watchdog_s,
                                const std::function<std::string()>& body,
                                bool run_exit_handlers = false) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(watchdog_s);
    const std::string why = body();
    (void)write_all(fds[1], why.data(), why.size());
    ::close(fds[1]);
    const int code = why.empty() ? 0 : 1;
    if (run_exit_handlers) std::exit(code);
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string said;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) said.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return "waitpid failed";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && said.empty()) return "";
  return said + (said.empty() || said.back() == '\n' ? "" : "\n") +
         "child: " + describe_status(status);
}

}  // namespace seedpool::testing
