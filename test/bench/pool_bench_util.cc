#include "pool_bench_util.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "bench_config.h"  // take_openssl_errors

namespace seedpool::bench::pb {

using std::chrono::milliseconds;

Plan plan_for(bool smoke, int rounds_override) {
  Plan p;
  p.smoke = smoke;
  if (smoke) {
    p.rounds = 2;
    p.sample_time = milliseconds(20);
    p.min_batch_time = std::chrono::microseconds(200);
    p.cycles = 100;
    p.cycle_budget = milliseconds(250);
    p.warmup_cycles = 5;
    p.settled_cycles = 5;
    p.idle_windows = 4;
    p.idle_window = milliseconds(250);  // 1 s in all
  } else {
    p.rounds = 7;
    p.sample_time = milliseconds(250);
    p.min_batch_time = milliseconds(2);
    p.cycles = 1000;
    p.cycle_budget = milliseconds(1500);
    p.warmup_cycles = 20;
    p.settled_cycles = 20;
    p.idle_windows = 10;
    p.idle_window = milliseconds(1000);  // 10 s in all
  }
  p.fill_limit = milliseconds(10000);
  // More than the device source's 20 ms retry interval after an EAGAIN.
  p.settle_delay = milliseconds(30);
  if (rounds_override > 0) p.rounds = rounds_override;
  return p;
}

RunSettings settings_of(const Plan& plan) {
  RunSettings s;
  s.rounds = plan.rounds;
  s.smoke = plan.smoke;
  s.sample_ms = std::chrono::duration<double, std::milli>(plan.sample_time).count();
  s.cycles_per_round = plan.cycles;
  s.cycle_budget_ms = static_cast<double>(plan.cycle_budget.count());
  s.settled_cycles = plan.settled_cycles;
  s.settle_delay_ms = static_cast<double>(plan.settle_delay.count());
  s.idle_windows = plan.idle_windows;
  s.idle_window_ms = static_cast<double>(plan.idle_window.count());
  return s;
}

void progress(const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::fprintf(stderr, "[pool_bench %d] ", static_cast<int>(::getpid()));
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  va_end(args);
}

// --- statistics -------------------------------------------------------------------

PoolStats::~PoolStats() { EVP_RAND_CTX_free(ctx_); }

bool PoolStats::open(OSSL_LIB_CTX* libctx, bool instantiate, std::string& error) {
  // "provider=seedpool": with the default provider loaded, SEEDPOOL is also
  // an alias of its SEED-SRC.
  EVP_RAND* rand = EVP_RAND_fetch(libctx, "SEEDPOOL", "provider=seedpool");
  if (rand == nullptr) {
    error = "cannot fetch SEEDPOOL: " + take_openssl_errors();
    return false;
  }
  ctx_ = EVP_RAND_CTX_new(rand, nullptr);
  EVP_RAND_free(rand);
  if (ctx_ == nullptr) {
    error = "cannot create a SEEDPOOL instance: " + take_openssl_errors();
    return false;
  }
  if (instantiate && EVP_RAND_instantiate(ctx_, 0, 0, nullptr, 0, nullptr) != 1) {
    error = "cannot instantiate SEEDPOOL: " + take_openssl_errors();
    return false;
  }
  return true;
}

std::optional<std::uint64_t> PoolStats::u64(const char* key) const {
  std::uint64_t v = 0;
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_uint64(key, &v), OSSL_PARAM_END};
  if (ctx_ == nullptr || EVP_RAND_CTX_get_params(ctx_, p) != 1 ||
      OSSL_PARAM_modified(&p[0]) != 1)
    return std::nullopt;
  return v;
}

std::optional<std::string> PoolStats::str(const char* key) const {
  char buf[512] = "";
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_utf8_string(key, buf, sizeof buf),
                     OSSL_PARAM_END};
  if (ctx_ == nullptr || EVP_RAND_CTX_get_params(ctx_, p) != 1 ||
      OSSL_PARAM_modified(&p[0]) != 1)
    return std::nullopt;
  return std::string(buf);
}

bool PoolStats::draw(unsigned char* out, std::size_t len) const {
  return ctx_ != nullptr &&
         EVP_RAND_generate(ctx_, out, len, 0, 0, nullptr, 0) == 1;
}

bool wait_until_full(const PoolStats& stats, milliseconds limit, milliseconds settle,
                     std::string& error) {
  const std::optional<std::uint64_t> size = stats.u64("pool_size");
  if (!size) {
    error = "cannot read seedpool's pool_size";
    return false;
  }
  const Clock::time_point end = Clock::now() + limit;
  std::optional<std::uint64_t> have;
  for (;;) {
    have = stats.u64("entropy_available");
    if (!have) {
      error = "cannot read seedpool's entropy_available";
      return false;
    }
    if (*have >= *size) break;
    if (Clock::now() >= end) {
      error = "the pool did not fill within " + std::to_string(limit.count()) +
              " ms (" + std::to_string(*have) + " of " + std::to_string(*size) +
              " bits)";
      return false;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  std::this_thread::sleep_for(settle);
  have = stats.u64("entropy_available");
  if (!have || *have < *size) {
    error = "the pool did not stay full (something drew from it)";
    return false;
  }
  return true;
}

// --- the idle gatherer --------------------------------------------------------------

namespace {

struct TaskSwitches {
  std::string comm;
  std::uint64_t switches = 0;  // voluntary + nonvoluntary
};
using TaskMap = std::map<long, TaskSwitches>;

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// Every thread of this process but `skip`; false if /proc cannot be read
// (a thread that ends while it is read is left out).
bool read_tasks(long skip, TaskMap& out, std::string& error) {
  out.clear();
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) {
    error = std::string("cannot open /proc/self/task: ") + std::strerror(errno);
    return false;
  }
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const long tid = std::strtol(e->d_name, nullptr, 10);
    if (tid == skip) continue;
    const std::string base = std::string("/proc/self/task/") + e->d_name;
    std::ifstream status(base + "/status");
    if (!status) continue;  // it ended meanwhile
    TaskSwitches t;
    t.comm = read_line(base + "/comm");
    int fields = 0;
    for (std::string line; std::getline(status, line);) {
      for (const char* key : {"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"}) {
        if (line.rfind(key, 0) == 0) {
          t.switches += std::strtoull(line.c_str() + std::strlen(key), nullptr, 10);
          ++fields;
        }
      }
    }
    if (fields != 2) {
      ::closedir(dir);
      error = base + "/status has no *_ctxt_switches lines";
      return false;
    }
    out.emplace(tid, std::move(t));
  }
  ::closedir(dir);
  return true;
}

}  // namespace

IdleResult measure_idle(const PoolStats& stats, const Plan& plan,
                        bool gatherer_expected) {
  IdleResult result;
  const long self = ::gettid();
  if (self != static_cast<long>(::getpid())) {
    result.error = "measure_idle must run on the main thread";
    return result;
  }
  TaskMap before;
  if (!read_tasks(self, before, result.error)) return result;
  bool gatherer = false;
  for (const auto& [tid, t] : before) {
    if (!result.threads.empty()) result.threads += ", ";
    result.threads += std::to_string(tid) + " " + t.comm;
    gatherer = gatherer || t.comm == "seedpool-gather";
  }
  if (!gatherer && gatherer_expected) {
    result.error =
        "no seedpool-gather thread (threads other than main: " +
        (result.threads.empty() ? std::string("none") : result.threads) + ")";
    return result;
  }
  const std::optional<std::uint64_t> wakeups_before = stats.u64("gatherer_wakeups");
  std::string changes;
  for (int w = 0; w < plan.idle_windows; ++w) {
    const Clock::time_point t0 = Clock::now();
    std::this_thread::sleep_for(plan.idle_window);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    TaskMap after;
    if (!read_tasks(self, after, result.error)) return result;
    std::uint64_t n = 0;
    for (const auto& [tid, t] : after) {
      const auto it = before.find(tid);
      if (it == before.end()) {
        n += t.switches;  // appeared during the window: all of it counts
        changes += " thread " + std::to_string(tid) + " (" + t.comm + ") appeared;";
      } else {
        n += t.switches - it->second.switches;
      }
    }
    for (const auto& [tid, t] : before)
      if (after.find(tid) == after.end())
        changes += " thread " + std::to_string(tid) + " (" + t.comm + ") ended;";
    result.per_second.push_back(static_cast<double>(n) / seconds);
    result.total += n;
    result.seconds += seconds;
    before = std::move(after);
  }
  const std::optional<std::uint64_t> wakeups_after = stats.u64("gatherer_wakeups");
  if (wakeups_before && wakeups_after) result.wakeups = *wakeups_after - *wakeups_before;
  if (!changes.empty()) result.threads += ";" + changes;
  result.ok = true;
  return result;
}

Row idle_row(const std::string& workload, const std::string& subject,
             const IdleResult& r, const std::string& setup) {
  const std::string baseline = "none: 0 expected (pool full, nothing draws)";
  if (!r.ok) return failed_row(workload, "wake-ups/s", baseline, subject, "0", r.error);
  Row row;
  row.workload = workload;
  row.unit = "wake-ups/s";
  row.baseline = baseline;
  row.subject = subject;
  row.target = "0";
  row.ran = true;
  // One "round" per window: there is no other side to alternate with.
  fill_comparison(row, r.per_second, {});
  row.met = r.total == 0;
  char text[160];
  std::snprintf(text, sizeof text,
                "%llu context switches in %.1f s (voluntary + nonvoluntary, every "
                "thread but main); seedpool's gatherer_wakeups moved by %s. ",
                static_cast<unsigned long long>(r.total), r.seconds,
                r.wakeups ? std::to_string(*r.wakeups).c_str() : "n/a");
  row.detail = text + setup + " Threads counted: " + r.threads + ".";
  return row;
}

// --- system helpers -----------------------------------------------------------------

bool kernel_random(unsigned char* out, std::size_t len) {
  std::size_t got = 0;
  while (got < len) {
    const ssize_t n = ::getrandom(out + got, len - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

bool wait_readable(int fd, milliseconds limit) {
  const Clock::time_point end = Clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::ceil<milliseconds>(end - Clock::now());
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
    if (n == 1) return (p.revents & POLLIN) != 0;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

std::vector<OSSL_ASYNC_FD> wait_fds(ASYNC_WAIT_CTX* ctx) {
  std::size_t n = 0;
  if (ASYNC_WAIT_CTX_get_all_fds(ctx, nullptr, &n) != 1) return {};
  std::vector<OSSL_ASYNC_FD> fds(n);
  if (n > 0 && ASYNC_WAIT_CTX_get_all_fds(ctx, fds.data(), &n) != 1) return {};
  return fds;
}

int finish_job(ASYNC_JOB** job, ASYNC_WAIT_CTX* ctx, int* ret, int (*fn)(void*),
               void* args, std::size_t size, int& pauses, std::string& error) {
  int r = ASYNC_PAUSE;
  for (int tries = 0; tries < 1000; ++tries) {
    const std::vector<OSSL_ASYNC_FD> fds = wait_fds(ctx);
    for (OSSL_ASYNC_FD fd : fds) {
      if (!wait_readable(fd, milliseconds(5000))) {
        error = "a paused job's wait fd did not become readable within 5 s";
        return ASYNC_ERR;
      }
    }
    r = ASYNC_start_job(job, ctx, ret, fn, args, size);
    if (r != ASYNC_PAUSE) return r;
    ++pauses;
  }
  error = "the job paused 1000 times in a row";
  return ASYNC_ERR;
}

std::string kernel_release() {
  utsname u{};
  return ::uname(&u) == 0 ? std::string(u.release) : "unknown";
}

}  // namespace seedpool::bench::pb
