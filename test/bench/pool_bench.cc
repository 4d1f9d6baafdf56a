// pool_bench: seedpool's async path, its idle gatherer and its direct
// output, each against what it should be compared with, in the same run.
//
//   pool_bench [--smoke] [--rounds N] [--json FILE] [--csv FILE]
//
// Rows (targets from issue 9):
//  1. RAND_bytes_ex 32 B and 4 KiB under `random = SEEDPOOL-DRBG`
//     (conf/seedpool-drbg.cnf) inside an ASYNC job -- one job makes a whole
//     batch of calls, so its start is not what is measured -- vs the same
//     batch outside a job. Target in/out >= 0.95.
//  2. A paused request (pause, wake, resume) through seedpool.so on a
//     starved FIFO-fed pool, vs a bare pause + eventfd cycle with the same
//     thread hops. Target seedpool/bare <= 1.3 (see pool_bench_fifo.cc for
//     the hops of each side). Beside it, in the same rounds, the
//     conditioning floor: the bare cycle whose helper also reads the 40
//     bytes and hashes them as the conditioner does (report).
//  3. Wake latency, the FIFO write to the wait fd readable: median (aim
//     <= 50 us) and p99; and the same with the FIFO written 30 ms after
//     the pause, once the gatherer has settled (report).
//  4. Gatherer wake-ups per second while the pool is full and nothing
//     draws: context switches of every thread but main. Target 0. Once for
//     the FIFO-fed pool, once for conf/'s pool (default sources).
//  5. `random = SEEDPOOL` (conf/seedpool-direct.cnf) 4 KiB RAND_bytes vs
//     getrandom(buf, 4096, 0) in a loop, MB/s. Target >= 0.5.
//
// Every configuration is an openssl.cnf loaded into its own OSSL_LIB_CTX
// (bench_config.cc for conf/'s). The pool is process-wide and refuses a
// second, different configuration, so 2-4 with the FIFO-fed pool run in a
// child process forked first, before this process loads anything; its rows
// come back through a pipe. The two sides of a comparison alternate round
// by round (order reversed every round); ratios are taken within a round
// and their median over the rounds reported, as rand_bench does: this
// machine's speed drifts by +-25%.
//
// Exit status: 0 when every measurement ran (timings are never judged),
// 1 when one could not run, 2 on bad usage.
#include <fcntl.h>
#include <openssl/async.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <string>
#include <utility>
#include <vector>

#include "bench_config.h"
#include "pool_bench_fifo.h"
#include "pool_bench_rows.h"
#include "pool_bench_util.h"
#include "report.h"
#include "workload.h"  // draw(): RAND_bytes_ex as rand_bench calls it

#ifndef RAND_BENCH_MODULE_DIR
#error "RAND_BENCH_MODULE_DIR (the folder of seedpool.so) must be defined"
#endif
#ifndef RAND_BENCH_SEEDPOOL_CONF_DIR
#error "RAND_BENCH_SEEDPOOL_CONF_DIR (conf/) must be defined"
#endif

namespace seedpool::bench::pb {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

struct Options {
  bool smoke = false;
  int rounds = 0;
  std::string json_path;
  std::string csv_path;
};

int usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "pool_bench: %s\n", why);
  std::fprintf(stderr,
               "usage: pool_bench [--smoke] [--rounds N] [--json FILE] [--csv FILE]\n"
               "  --smoke       everything, briefly (CI; figures meaningless); 2 rounds\n"
               "  --rounds N    rounds of alternated sides (default 7)\n"
               "  --json FILE   also write the rows as JSON\n"
               "  --csv FILE    also write the rows as CSV\n"
               "OPENSSL_MODULES, if set, must hold seedpool.so; otherwise the build\n"
               "folder is used (%s).\n",
               RAND_BENCH_MODULE_DIR);
  return 2;
}

// 0: parsed; 2: bad usage (printed); -1: --help (printed).
int parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--smoke") {
      o.smoke = true;
    } else if (arg == "--rounds") {
      char* end = nullptr;
      const long n = value != nullptr ? std::strtol(value, &end, 10) : 0;
      if (value == nullptr || *end != '\0' || end == value || n < 1 || n > 1000)
        return usage("--rounds wants 1 to 1000");
      o.rounds = static_cast<int>(n);
      ++i;
    } else if (arg == "--json" || arg == "--csv") {
      if (value == nullptr || *value == '\0') return usage((arg + " wants a file name").c_str());
      (arg == "--json" ? o.json_path : o.csv_path) = value;
      ++i;
    } else if (arg == "--help" || arg == "-h") {
      usage(nullptr);
      return -1;
    } else {
      return usage(("unknown argument " + arg).c_str());
    }
  }
  return 0;
}

// --- the FIFO-fed half, in a child -------------------------------------------------

// Runs run_fifo_part in a child process forked now (nothing loaded yet) and
// returns its rows; rows it could not send read as failed.
std::vector<Row> fifo_rows_from_child(const Plan& plan) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return failed_fifo_rows(std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return failed_fifo_rows(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    // Ends (removing its temporary files) with the parent; a parent gone
    // makes its writes fail rather than kill it.
    (void)::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) std::_Exit(1);
    (void)::signal(SIGPIPE, SIG_IGN);
    install_cleanup_on_signals();
    const std::vector<Row> rows = run_fifo_part(plan);
    std::string text;
    bool all_ran = true;
    for (const Row& r : rows) {
      text += encode_row(r) + "\n";
      all_ran = all_ran && r.ran;
    }
    std::size_t off = 0;
    while (off < text.size()) {
      const ssize_t n = ::write(fds[1], text.data() + off, text.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) std::exit(1);
      off += static_cast<std::size_t>(n);
    }
    ::close(fds[1]);
    std::exit(all_ran ? 0 : 1);
  }
  ::close(fds[1]);
  std::string text;
  std::array<char, 4096> buf{};
  for (;;) {
    const ssize_t n = ::read(fds[0], buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::vector<Row> rows;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) break;
    Row row;
    if (!decode_row(text.substr(start, end - start), row))
      return failed_fifo_rows("the child sent a row pool_bench cannot read");
    rows.push_back(std::move(row));
    start = end + 1;
  }
  const std::size_t expected = failed_fifo_rows("").size();
  if (rows.size() != expected) {
    const std::string why =
        WIFSIGNALED(status)
            ? "the child process died of signal " + std::to_string(WTERMSIG(status))
            : "the child process exited with status " +
                  std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                  " after sending " + std::to_string(rows.size()) + " rows";
    return failed_fifo_rows(why);
  }
  return rows;
}

// --- rate samples -------------------------------------------------------------------

// A batch: `calls` calls; false (with error) on failure.
using Batch = std::function<bool(std::uint64_t calls, std::string& error)>;

// Doubles the batch until one lasts at least min_batch_time; 0 on failure.
std::uint64_t calibrate(const Batch& batch, nanoseconds min_batch_time, std::string& error) {
  std::uint64_t calls = 16;
  for (;;) {
    const Clock::time_point t0 = Clock::now();
    if (!batch(calls, error)) return 0;
    if (Clock::now() - t0 >= min_batch_time || calls >= (std::uint64_t{1} << 26))
      return calls;
    calls *= 2;
  }
}

// Whole batches until sample_time has passed: calls per second.
std::optional<double> calls_per_second(const Batch& batch, std::uint64_t calls,
                                       nanoseconds sample_time, std::string& error) {
  std::uint64_t done = 0;
  const Clock::time_point t0 = Clock::now();
  Clock::time_point t1;
  do {
    if (!batch(calls, error)) return std::nullopt;
    done += calls;
    t1 = Clock::now();
  } while (t1 - t0 < sample_time);
  return static_cast<double>(done) / std::chrono::duration<double>(t1 - t0).count();
}

// Two sides, alternated round by round (order reversed every round), each
// sample the same wall-clock time.
struct Pairing {
  std::vector<double> subject;   // per round, in the row's unit
  std::vector<double> baseline;
  std::uint64_t calls_per_batch = 0;
  std::string error;
};

Pairing alternate(const Plan& plan, const std::string& what, const Batch& subject,
                  const Batch& baseline, double unit_per_call, const char* unit) {
  Pairing p;
  // One batch size for both sides, long enough for the slower one: the
  // same loop, the same number of clock reads (and, in a job, the same
  // number of calls per job).
  const std::uint64_t s_calls = calibrate(subject, plan.min_batch_time, p.error);
  if (s_calls == 0) return p;
  const std::uint64_t b_calls_alone = calibrate(baseline, plan.min_batch_time, p.error);
  if (b_calls_alone == 0) return p;
  const std::uint64_t calls = std::max(s_calls, b_calls_alone);
  p.calls_per_batch = calls;
  for (int r = 0; r < plan.rounds; ++r) {
    std::optional<double> s, b;
    for (int side = 0; side < 2; ++side) {
      const bool subject_now = (side == 0) == (r % 2 == 0);
      std::optional<double>& out = subject_now ? s : b;
      out = calls_per_second(subject_now ? subject : baseline, calls, plan.sample_time,
                             p.error);
      if (!out) return p;
    }
    p.subject.push_back(*s * unit_per_call);
    p.baseline.push_back(*b * unit_per_call);
    progress("[round %d/%d] %s: subject %.4g %s, baseline %.4g %s", r + 1, plan.rounds,
             what.c_str(), p.subject.back(), unit, p.baseline.back(), unit);
  }
  return p;
}

// --- 1. RAND_bytes inside an ASYNC job ---------------------------------------------

struct LoopArgs {
  OSSL_LIB_CTX* lib = nullptr;
  unsigned char* buf = nullptr;  // on the heap: a job's stack is 32 KiB
  std::size_t len = 0;
  std::uint64_t calls = 0;
};

int draw_loop(void* arg) {
  const LoopArgs* a = *static_cast<LoopArgs**>(arg);
  for (std::uint64_t i = 0; i < a->calls; ++i)
    if (!draw(a->lib, a->buf, a->len)) return 0;
  return 1;
}

struct WaitCtxFree {
  void operator()(ASYNC_WAIT_CTX* c) const { ASYNC_WAIT_CTX_free(c); }
};

std::vector<Row> in_job_rows(OSSL_LIB_CTX* drbg, const std::string& why_not,
                             const Plan& plan) {
  std::vector<Row> rows;
  const std::string baseline = "RAND_bytes_ex outside any job (same batch, same thread)";
  for (const std::size_t len : {std::size_t{32}, std::size_t{4096}}) {
    const bool small = len == 32;
    const std::string workload =
        std::string("RAND_bytes ") + (small ? "32 B" : "4 KiB") + " in an ASYNC job";
    const char* unit = small ? "calls/s" : "MB/s";
    const std::string subject =
        "RAND_bytes_ex inside an ASYNC job, random = SEEDPOOL-DRBG, pool not short";
    if (drbg == nullptr) {
      rows.push_back(failed_row(workload, unit, baseline, subject, ">= 0.95",
                                "conf/seedpool-drbg.cnf: " + why_not));
      continue;
    }
    if (ASYNC_is_capable() != 1) {
      rows.push_back(failed_row(workload, unit, baseline, subject, ">= 0.95",
                                "ASYNC jobs are not supported here"));
      continue;
    }
    std::vector<unsigned char> buf(len);
    std::unique_ptr<ASYNC_WAIT_CTX, WaitCtxFree> ctx(ASYNC_WAIT_CTX_new());
    int pauses = 0;
    std::uint64_t jobs = 0;
    const Batch outside = [&](std::uint64_t calls, std::string& error) {
      LoopArgs a{drbg, buf.data(), len, calls};
      LoopArgs* p = &a;
      if (draw_loop(&p) == 1) return true;
      error = "RAND_bytes_ex failed: " + take_openssl_errors();
      return false;
    };
    const Batch inside = [&](std::uint64_t calls, std::string& error) {
      LoopArgs a{drbg, buf.data(), len, calls};
      LoopArgs* p = &a;
      ASYNC_JOB* job = nullptr;
      int ret = 0;
      int r = ASYNC_start_job(&job, ctx.get(), &ret, draw_loop, &p, sizeof p);
      // Not expected with a pool that can refill inline; counted if it happens.
      if (r == ASYNC_PAUSE)
        r = finish_job(&job, ctx.get(), &ret, draw_loop, &p, sizeof p, pauses, error);
      ++jobs;
      if (r == ASYNC_FINISH && ret == 1) return true;
      if (error.empty())
        error = r == ASYNC_NO_JOBS    ? std::string("ASYNC_start_job: no jobs")
                : r == ASYNC_FINISH ? "RAND_bytes_ex failed in the job: " + take_openssl_errors()
                                    : "ASYNC_start_job failed: " + take_openssl_errors();
      return false;
    };
    if (!ctx) {
      rows.push_back(failed_row(workload, unit, baseline, subject, ">= 0.95",
                                "ASYNC_WAIT_CTX_new failed"));
      continue;
    }
    const Pairing p = alternate(plan, workload, inside, outside,
                                small ? 1.0 : static_cast<double>(len) / 1e6, unit);
    if (!p.error.empty()) {
      rows.push_back(failed_row(workload, unit, baseline, subject, ">= 0.95", p.error));
      continue;
    }
    Row row;
    row.workload = workload;
    row.unit = unit;
    row.baseline = baseline;
    row.subject = subject;
    row.target = ">= 0.95";
    row.ran = true;
    fill_comparison(row, p.subject, p.baseline);
    row.met = row.ratio && *row.ratio >= 0.95;
    row.detail = std::to_string(p.calls_per_batch) +
                 " calls per job (a batch lasts >= " +
                 std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                    plan.min_batch_time)
                                    .count()) +
                 " us; the job's start and finish are in the figure, amortized; the "
                 "same batch outside); " +
                 std::to_string(jobs) + " jobs (calibration included), " + std::to_string(pauses) +
                 " pauses; conf/seedpool-drbg.cnf.";
    rows.push_back(std::move(row));
  }
  return rows;
}

// --- 5. SEEDPOOL 4 KiB vs getrandom -----------------------------------------------

const char* const kDirectRow = "SEEDPOOL 4 KiB vs getrandom";

Row direct_row(OSSL_LIB_CTX* direct, const std::string& why_not, const Plan& plan,
               const PoolStats* stats) {
  const std::string baseline = "getrandom(buf, 4096, 0) in a loop";
  const std::string subject = "RAND_bytes_ex 4 KiB, random = SEEDPOOL (full entropy per call)";
  if (direct == nullptr)
    return failed_row(kDirectRow, "MB/s", baseline, subject, ">= 0.5",
                      "conf/seedpool-direct.cnf: " + why_not);
  std::vector<unsigned char> buf(4096);
  const Batch seedpool = [&](std::uint64_t calls, std::string& error) {
    for (std::uint64_t i = 0; i < calls; ++i) {
      if (!draw(direct, buf.data(), buf.size())) {
        error = "RAND_bytes_ex failed: " + take_openssl_errors();
        return false;
      }
    }
    return true;
  };
  const Batch kernel = [&](std::uint64_t calls, std::string& error) {
    for (std::uint64_t i = 0; i < calls; ++i) {
      std::size_t got = 0;
      while (got < buf.size()) {
        const ssize_t n = ::getrandom(buf.data() + got, buf.size() - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          error = std::string("getrandom: ") + std::strerror(errno);
          return false;
        }
        got += static_cast<std::size_t>(n);
      }
    }
    return true;
  };
  const std::optional<std::uint64_t> served0 =
      stats != nullptr ? stats->u64("bytes_served") : std::nullopt;
  const Pairing p = alternate(plan, kDirectRow, seedpool, kernel, 4096 / 1e6, "MB/s");
  if (!p.error.empty()) return failed_row(kDirectRow, "MB/s", baseline, subject, ">= 0.5", p.error);
  const std::optional<std::uint64_t> served1 =
      stats != nullptr ? stats->u64("bytes_served") : std::nullopt;
  Row row;
  row.workload = kDirectRow;
  row.unit = "MB/s";
  row.baseline = baseline;
  row.subject = subject;
  row.target = ">= 0.5";
  row.ran = true;
  fill_comparison(row, p.subject, p.baseline);
  row.met = row.ratio && *row.ratio >= 0.5;
  row.detail = "conf/seedpool-direct.cnf; seedpool's bytes_served moved by " +
               (served0 && served1 ? std::to_string(*served1 - *served0) : std::string("n/a")) +
               " during the run; sources: " +
               (stats != nullptr ? stats->str("sources").value_or("n/a") : "n/a") + ".";
  return row;
}

// --- 4. the idle gatherer of conf/'s pool -------------------------------------------

const char* const kIdleDefaultRow = "gatherer wake-ups, pool full (default sources)";

Row idle_default_row(OSSL_LIB_CTX* direct, const std::string& why_not,
                     const PoolStats* stats, const Plan& plan) {
  const std::string subject = "seedpool's gatherer, conf/'s pool, pool full";
  const std::string baseline = "none: 0 expected (pool full, nothing draws)";
  if (direct == nullptr || stats == nullptr)
    return failed_row(kIdleDefaultRow, "wake-ups/s", baseline, subject, "0",
                      "conf/seedpool-direct.cnf: " + why_not);
  // The gatherer starts, and fills the pool to the top, when a draw leaves
  // it below write_wakeup_threshold. A caller that finds the pool short
  // refills it inline instead (up to full, then takes its block: the pool
  // rests at pool_size minus that block, above the threshold, and the
  // gatherer has nothing to do). So: 32-byte draws, each far less than
  // the pool holds, until it is just below the threshold; then wait for
  // the gatherer to fill it.
  const std::optional<std::uint64_t> threshold = stats->u64("write_wakeup_threshold");
  if (!threshold)
    return failed_row(kIdleDefaultRow, "wake-ups/s", baseline, subject, "0",
                      "cannot read seedpool's write_wakeup_threshold");
  std::array<unsigned char, 32> buf{};
  int draws = 0;
  // Callers top the pool up inline before a draw would take it below the
  // threshold (pool/pool.h): while the sources keep up (getrandom does), it
  // never falls below, and the gatherer thread has nothing to fill: it is
  // not started, or (started by the earlier rows, e.g. for the hwrng's
  // gather-only reads while callers drew) asleep. That state is then what
  // is measured.
  bool kept_up_inline = false;
  for (;; ++draws) {
    const std::optional<std::uint64_t> bits = stats->u64("entropy_available");
    if (!bits)
      return failed_row(kIdleDefaultRow, "wake-ups/s", baseline, subject, "0",
                        "cannot read seedpool's entropy_available");
    if (*bits < *threshold) break;
    if (draws >= 1000) {
      kept_up_inline = true;
      break;
    }
    if (!stats->draw(buf.data(), buf.size()))
      return failed_row(kIdleDefaultRow, "wake-ups/s", baseline, subject, "0",
                        "a 32-byte SEEDPOOL draw failed: " + take_openssl_errors());
  }
  std::string error;
  if (!kept_up_inline &&
      !wait_until_full(*stats, plan.fill_limit, milliseconds(100), error))
    return failed_row(kIdleDefaultRow, "wake-ups/s", baseline, subject, "0", error);
  const IdleResult r = measure_idle(*stats, plan, !kept_up_inline);
  return idle_row(kIdleDefaultRow, subject, r,
                  "conf/'s pool (no keys in [seedpool_sect]), pool_size " +
                      std::to_string(stats->u64("pool_size").value_or(0)) +
                      " bits, sources " + stats->str("sources").value_or("n/a") +
                      ", after the SEEDPOOL 4 KiB run and " + std::to_string(draws) +
                      (kept_up_inline
                           ? " 32-byte draws, the pool kept at or above write_wakeup_threshold " +
                                 std::to_string(*threshold) +
                                 " by the callers' inline refills (nothing for a gatherer to fill)"
                           : " 32-byte draws down to write_wakeup_threshold " +
                                 std::to_string(*threshold) + ", then filled by the gatherer") +
                      "; gatherer: " + stats->str("gatherer").value_or("n/a") + ".");
}

// --- the run ---------------------------------------------------------------------------

// conf/<file> in its own library context, through bench_config's
// load_config (which checks that RAND_bytes runs through `generator`).
// Only the fields every version of ConfigSpec has are set; that seedpool
// served is checked here (proved_by_seedpool).
LoadedConfig load(const std::string& name, const std::string& file,
                  const std::string& generator) {
  ConfigSpec spec;
  spec.name = name;
  spec.conf_path = std::string(RAND_BENCH_SEEDPOOL_CONF_DIR) + "/" + file;
  spec.generator = generator;
  spec.optional = false;
  LoadedConfig c = load_config(spec);
  progress("[setup] %s (%s): %s%s%s", name.c_str(), spec.conf_path.c_str(),
           c.status == ConfigStatus::ready ? "ready" : "FAILED",
           c.detail.empty() ? "" : ": ", c.detail.c_str());
  return c;
}

// OpenSSL falls back to its own generators silently: a RAND_bytes_ex of
// `len` bytes through `lib` must move seedpool's bytes_served (every call
// does under `random = SEEDPOOL`; under SEEDPOOL-DRBG, only a reseed, so
// this takes a fresh thread, whose instances seed from the pool).
bool proved_by_seedpool(OSSL_LIB_CTX* lib, const PoolStats& stats, std::string& why) {
  const std::optional<std::uint64_t> before = stats.u64("bytes_served");
  bool drawn = false;
  try {
    std::thread t([&] {
      unsigned char b[32];
      drawn = RAND_bytes_ex(lib, b, sizeof b, 0) == 1;
      OPENSSL_thread_stop_ex(lib);
    });
    t.join();
  } catch (const std::exception& e) {
    why = std::string("cannot start a thread: ") + e.what();
    return false;
  }
  const std::optional<std::uint64_t> after = stats.u64("bytes_served");
  if (!drawn) {
    why = "RAND_bytes_ex failed: " + take_openssl_errors();
    return false;
  }
  if (!before || !after || *after <= *before) {
    why = "seedpool's bytes_served did not move at a RAND_bytes: OpenSSL is not "
          "drawing from seedpool";
    return false;
  }
  return true;
}

int run(const Options& options) {
  const Plan plan = plan_for(options.smoke, options.rounds);
  Header header;
  header.machine = read_machine_info();
  header.kernel = kernel_release();
  header.settings = settings_of(plan);

  // First, before this process loads any configuration of the pool.
  std::vector<Row> fifo = fifo_rows_from_child(plan);

  LoadedConfig drbg = load("drbg", "seedpool-drbg.cnf", "SEEDPOOL-DRBG");
  LoadedConfig direct = load("direct", "seedpool-direct.cnf", "SEEDPOOL");
  OSSL_LIB_CTX* drbg_lib = drbg.status == ConfigStatus::ready ? drbg.libctx.get() : nullptr;
  OSSL_LIB_CTX* direct_lib =
      direct.status == ConfigStatus::ready ? direct.libctx.get() : nullptr;
  std::string drbg_why = drbg_lib == nullptr ? "cannot be loaded: " + drbg.detail : "";
  std::string direct_why =
      direct_lib == nullptr ? "cannot be loaded: " + direct.detail : "";
  // seedpool's statistics, through either context (one pool serves both).
  PoolStats stats;
  const PoolStats* stats_ptr = nullptr;
  std::string error;
  if (OSSL_LIB_CTX* any = direct_lib != nullptr ? direct_lib : drbg_lib; any != nullptr) {
    if (stats.open(any, true, error)) stats_ptr = &stats;
  }
  for (auto [lib, why] : {std::pair{&drbg_lib, &drbg_why}, std::pair{&direct_lib, &direct_why}}) {
    if (*lib == nullptr) continue;
    if (stats_ptr == nullptr || !proved_by_seedpool(*lib, *stats_ptr, error)) {
      *why = stats_ptr == nullptr ? "no seedpool statistics: " + error : error;
      progress("[setup] %s: %s", lib == &drbg_lib ? "drbg" : "direct", why->c_str());
      *lib = nullptr;
    }
  }
  // The idle row wants the direct context's 4 KiB draw and the statistics.
  const PoolStats* direct_stats = direct_lib != nullptr ? stats_ptr : nullptr;

  std::vector<Row> rows = in_job_rows(drbg_lib, drbg_why, plan);
  const std::size_t idle_fifo = fifo.size() - 1;  // the FIFO pool's idle row
  for (std::size_t i = 0; i < fifo.size(); ++i)
    if (i != idle_fifo) rows.push_back(fifo[i]);
  Row direct_result = direct_row(direct_lib, direct_why, plan, direct_stats);
  progress("idle gatherer (conf/'s pool), %d x %lld ms", plan.idle_windows,
           static_cast<long long>(plan.idle_window.count()));
  rows.push_back(fifo[idle_fifo]);
  rows.push_back(idle_default_row(direct_lib, direct_why, direct_stats, plan));
  rows.push_back(std::move(direct_result));

  header.machine.load_end = read_load_average();
  print_table(stdout, header, rows);
  bool ok = true;
  for (const Row& r : rows) {
    if (!r.ran) {
      std::fprintf(stderr, "pool_bench: %s: %s\n", r.workload.c_str(), r.detail.c_str());
      ok = false;
    }
  }
  if (!options.json_path.empty() && !write_json(options.json_path, header, rows)) {
    std::fprintf(stderr, "pool_bench: cannot write %s\n", options.json_path.c_str());
    ok = false;
  }
  if (!options.csv_path.empty() && !write_csv(options.csv_path, rows)) {
    std::fprintf(stderr, "pool_bench: cannot write %s\n", options.csv_path.c_str());
    ok = false;
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace seedpool::bench::pb

int main(int argc, char** argv) {
  using namespace seedpool::bench::pb;
  Options options;
  if (const int rc = parse_options(argc, argv, options); rc != 0) return rc < 0 ? 0 : rc;
  // Before anything is loaded: where seedpool.so is. An OPENSSL_MODULES
  // already set wins.
  setenv("OPENSSL_MODULES", RAND_BENCH_MODULE_DIR, /*overwrite=*/0);
  return run(options);
}
