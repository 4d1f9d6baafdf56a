// run_measured: runs one command and reports its wall-clock time and peak
// resident set size, for bench_all.py's whole-process rows.
//
//   run_measured REPORT_FILE PROGRAM [ARG...]
//
// The command inherits stdin, stdout, stderr and the environment. When it
// has ended, one line goes to REPORT_FILE:
//
//   status=<exit status, or -1> signal=<signal, or 0> wall_ns=<N> maxrss_kib=<N>
//
// Why a helper and not Python's os.wait4: Linux carries a process's peak
// RSS across exec (the kernel records the old image's high-water mark in
// ru_maxrss when it is replaced), and a child forked from Python starts
// with Python's whole resident set, so ru_maxrss of `openssl rand` run
// from Python reads ~14 MB whatever openssl itself used. This helper's own
// image is small: the command it starts (posix_spawn) begins below the
// openssl CLI's peak, and wait4 gives the command's own figure. The wall
// time is taken here too, around spawn and wait, without Python's
// fork/exec cost in it.
//
// Exit status: 0 when the report was written (whatever the command's
// status: it is in the report), 1 when the command could not be started or
// the report not written, 2 on bad usage.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

extern char** environ;

namespace {

long long now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: run_measured REPORT_FILE PROGRAM [ARG...]\n");
    return 2;
  }
  const char* report = argv[1];
  const long long t0 = now_ns();
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[2], nullptr, nullptr, argv + 2, environ);
  if (rc != 0) {
    std::fprintf(stderr, "run_measured: cannot start %s: %s\n", argv[2],
                 std::strerror(rc));
    return 1;
  }
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) {
      std::fprintf(stderr, "run_measured: wait4: %s\n", std::strerror(errno));
      return 1;
    }
  }
  const long long wall = now_ns() - t0;

  std::FILE* out = std::fopen(report, "w");
  if (out == nullptr) {
    std::fprintf(stderr, "run_measured: cannot write %s: %s\n", report,
                 std::strerror(errno));
    return 1;
  }
  std::fprintf(out, "status=%d signal=%d wall_ns=%lld maxrss_kib=%ld\n",
               WIFEXITED(status) ? WEXITSTATUS(status) : -1,
               WIFSIGNALED(status) ? WTERMSIG(status) : 0, wall, usage.ru_maxrss);
  if (std::fclose(out) != 0) {
    std::fprintf(stderr, "run_measured: cannot write %s: %s\n", report,
                 std::strerror(errno));
    return 1;
  }
  return 0;
}
