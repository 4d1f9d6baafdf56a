// A paused request through seedpool.so, against the bare cost of pausing
// and waking an ASYNC job, and how fast entropy arriving reaches the wait fd.
//
// The seedpool cycle (`random = SEEDPOOL`, the pool's only source a FIFO,
// starved before the first cycle and after every one):
//   main   ASYNC_start_job -> RAND_bytes_ex(32 B) -> SEEDPOOL generate ->
//          async::draw: the pool is short (an inline refill reads the FIFO:
//          EAGAIN), the waiter drains its eventfd (EAGAIN), queues a pool
//          Request (which tries the FIFO once more: EAGAIN; the gatherer,
//          asleep on the FIFO, is not woken), sets ASYNC_STATUS_OK and
//          pauses: ASYNC_PAUSE back in main. (strace shows exactly these
//          three system calls; the same for every cycle.)
//   main   write(FIFO, 40 bytes)                         <- t_feed
//   hop 1  the gatherer thread, asleep in io_uring_enter (or poll) on the
//          FIFO, wakes; reads the 40 bytes, runs the health tests, credits
//          320 bits, extracts one 32-byte block (SHA-512 conditioning),
//          copies it to the waiter, write(job's eventfd), looks for a
//          wait-ctx callback (none here).
//   hop 2  main, asleep in poll() on the wait fd, wakes  <- t_ready
//   main   ASYNC_start_job resumes the job: drain the eventfd, copy the
//          bytes out, RAND_bytes_ex returns 1: ASYNC_FINISH.
// The bare cycle, the least any pause-and-wake-by-fd design costs:
//   main   ASYNC_start_job -> ASYNC_pause_job: ASYNC_PAUSE back in main.
//   main   write(pipe, 1 byte)                           <- t_feed
//   hop 1  a helper thread, asleep in poll() on the pipe, wakes; read(pipe),
//          write(eventfd).
//   hop 2  main, asleep in poll() on the eventfd, wakes  <- t_ready
//   main   resume: the job reads the eventfd (a drain) and returns: FINISH.
// The conditioning floor, a third side in the same rounds: the bare cycle
// with the FIFO's 40 bytes sent through the pipe, and the helper reading
// them and hashing them as the conditioner does for one block (SHA-512 of
// 105 bytes, twice) before it writes the eventfd: the least any design
// that reads and conditions its entropy on another thread costs.
// So both sides have the same two thread hops on the critical path
// (main -> other thread -> main). What seedpool has on top: a wake-up of
// the gatherer when the request is queued, should the wait it planned not
// end in time (the gatherer wake-ups per cycle are in the row's detail),
// the three EAGAIN reads before pausing, and the work itself (OpenSSL's RAND path, the
// pool's lock, health tests, conditioning, copies). And whatever the
// gatherer does between finding the FIFO empty and polling it again: the
// device source backs off its retry interval after an EAGAIN, which is
// what the "settled" cycles below step around.
//
// All three sides run twice: as the scheduler places the threads, and then
// with every thread of the process on one CPU, where a cycle is the work of
// both threads plus two context switches -- on a VM whose cross-CPU wake-ups
// cost anywhere from ~3 to ~50 us, the figure that compares the work.
//
// Wake latency is t_ready - t_feed: from just before the write that brings
// the entropy (or, bare, the byte) to poll() returning in the waiting
// thread, i.e. hop 1 + the serving work + hop 2.
//
// In the cycle above the FIFO is written right after the pause: the case of
// a server whose entropy arrives while the handshake waits. The "settled"
// cycles write it settle_delay (30 ms) after the pause instead, on both
// sides (so that both threads have slept as long): past any timer the
// gatherer armed when it last found the FIFO empty (the device source
// backs off 20 ms after an EAGAIN before it polls the FIFO again), so that
// latency is the wake path itself.
#include "pool_bench_fifo.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "bench_config.h"  // LibCtxPtr, take_openssl_errors

namespace seedpool::bench::pb {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t kDrawBytes = 32;
// 320 bits at device_credit = 8: exactly what one 32-byte block costs
// (8 * 32 + 64 bits of margin), so every cycle leaves the pool as starved
// as it found it.
constexpr std::size_t kFeedBytes = 40;
// Below the cost of the smallest block (8 + 64 bits): nothing can be served.
constexpr std::uint64_t kStarvedBits = 72;

const char* const kCycleRow = "paused request: pause + wake + resume";
const char* const kFloorRow = "paused request: conditioning floor";
const char* const kFloorLabel =
    "floor: bare, 40 bytes through the pipe, read and hashed (two SHA-512 compressions)";
const char* const kCycleOneCpuRow = "paused request, one CPU: pause + wake + resume";
const char* const kFloorOneCpuRow = "paused request, one CPU: conditioning floor";
const char* const kLatencyRow = "wake latency";
const char* const kLatencyP99Row = "wake latency p99";
const char* const kSettledRow = "wake latency, fed 30 ms after the pause";
const char* const kIdleRow = "gatherer wake-ups, pool full (FIFO source)";
const char* const kBareLabel = "bare: ASYNC_pause_job + pipe -> helper thread -> eventfd";
const char* const kSeedpoolLabel =
    "seedpool: RAND_bytes 32 B, starved FIFO-fed pool, FIFO write -> gatherer -> wait fd";

// --- temporary files, removed at exit and on SIGINT/SIGTERM/SIGHUP -------------------

char g_fifo_path[PATH_MAX];
char g_conf_path[PATH_MAX];
char g_dir_path[PATH_MAX];

void remove_temp_files() noexcept {
  if (g_fifo_path[0] != '\0') (void)::unlink(g_fifo_path);
  if (g_conf_path[0] != '\0') (void)::unlink(g_conf_path);
  if (g_dir_path[0] != '\0') (void)::rmdir(g_dir_path);
}

extern "C" void on_fatal_signal(int sig) {
  remove_temp_files();  // unlink and rmdir are async-signal-safe
  (void)::signal(sig, SIG_DFL);
  (void)::raise(sig);
}

bool copy_path(char (&to)[PATH_MAX], const std::string& from) {
  if (from.size() >= PATH_MAX) return false;
  std::memcpy(to, from.c_str(), from.size() + 1);
  return true;
}

class TempFiles {
 public:
  bool create(std::string& error) {
    char dir[] = "/tmp/pool_bench.XXXXXX";
    if (::mkdtemp(dir) == nullptr) {
      error = std::string("mkdtemp /tmp/pool_bench.XXXXXX: ") + std::strerror(errno);
      return false;
    }
    dir_ = dir;
    fifo_ = dir_ + "/source.fifo";
    conf_ = dir_ + "/seedpool-fifo.cnf";
    if (!copy_path(g_dir_path, dir_) || !copy_path(g_fifo_path, fifo_) ||
        !copy_path(g_conf_path, conf_)) {
      error = "temporary path too long";
      return false;
    }
    return true;
  }
  ~TempFiles() {
    remove_temp_files();
    g_fifo_path[0] = g_conf_path[0] = g_dir_path[0] = '\0';
  }
  const std::string& fifo() const { return fifo_; }
  const std::string& conf() const { return conf_; }

 private:
  std::string dir_, fifo_, conf_;
};

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void reset(int fd = -1) {
    if (fd_ >= 0) (void)::close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

struct WaitCtxFree {
  void operator()(ASYNC_WAIT_CTX* c) const { ASYNC_WAIT_CTX_free(c); }
};
using WaitCtxPtr = std::unique_ptr<ASYNC_WAIT_CTX, WaitCtxFree>;

// The configuration: seedpool's pool fed by the FIFO alone, credited 8 bits
// a byte (the bench feeds it kernel random bytes), a caller that cannot
// pause fails at once (block_timeout_ms = 0), and every RAND_bytes straight
// from the pool (`random = SEEDPOOL`): each call is one pool request.
// The module comes from OPENSSL_MODULES, as for conf/*.cnf.
std::string fifo_conf(const std::string& fifo) {
  return "openssl_conf = init\n"
         "[init]\nproviders = provs\nrandom = rand_sect\n"
         "[provs]\nseedpool = sp\ndefault = dflt\n"
         "[dflt]\nactivate = 1\n"
         "[sp]\nactivate = 1\n"
         "sources = device\ndevice = " +
         fifo +
         "\ndevice_credit = 8\npool_size = 1024\nwrite_wakeup_threshold = 512\n"
         "block_timeout_ms = 0\nasync_timeout_ms = 10000\n"
         "[rand_sect]\nrandom = SEEDPOOL\nproperties = provider=seedpool\n"
         "seed = SEEDPOOL\nseed_properties = provider=seedpool\n";
}

bool write_file(const std::string& path, const std::string& text, std::string& error) {
  std::ofstream f(path);
  f << text;
  f.flush();
  if (!f) {
    error = "cannot write " + path;
    return false;
  }
  return true;
}

// A FIFO-fed seedpool in its own library context.
struct FifoPool {
  Fd fifo;  // opened read-write: writes never fail for want of a reader
  LibCtxPtr lib;
  PoolStats stats;  // an instantiated SEEDPOOL instance: statistics, starving

  bool feed(std::size_t len, std::string& error) const {
    std::array<unsigned char, 4096> buf{};
    while (len > 0) {
      const std::size_t n = std::min(len, buf.size());
      if (!kernel_random(buf.data(), n)) {
        error = std::string("getrandom: ") + std::strerror(errno);
        return false;
      }
      if (::write(fifo.get(), buf.data(), n) != static_cast<ssize_t>(n)) {
        error = std::string("write to the FIFO: ") + std::strerror(errno);
        return false;
      }
      len -= n;
    }
    return true;
  }
  // Bytes written to the FIFO that the pool has not read yet.
  int unread() const {
    int n = -1;
    return ::ioctl(fifo.get(), FIONREAD, &n) == 0 ? n : -1;
  }
};

bool open_pool(const TempFiles& files, FifoPool& p, std::string& error) {
  if (::mkfifo(files.fifo().c_str(), 0600) != 0) {
    error = "mkfifo " + files.fifo() + ": " + std::strerror(errno);
    return false;
  }
  p.fifo.reset(::open(files.fifo().c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (p.fifo.get() < 0) {
    error = "open " + files.fifo() + ": " + std::strerror(errno);
    return false;
  }
  if (!write_file(files.conf(), fifo_conf(files.fifo()), error)) return false;
  ERR_clear_error();
  p.lib.reset(OSSL_LIB_CTX_new());
  if (!p.lib) {
    error = "OSSL_LIB_CTX_new failed";
    return false;
  }
  if (OSSL_LIB_CTX_load_config(p.lib.get(), files.conf().c_str()) != 1) {
    error = "cannot load " + files.conf() + ": " + take_openssl_errors();
    return false;
  }
  if (!p.stats.open(p.lib.get(), true, error)) return false;

  // Past the device source's start-up health test, then a first draw.
  if (!p.feed(2048, error)) return false;
  std::array<unsigned char, kDrawBytes> b{};
  const Clock::time_point end = Clock::now() + milliseconds(5000);
  while (!p.stats.draw(b.data(), b.size())) {
    if (Clock::now() >= end) {
      error = "the pool never took the FIFO's bytes: " + take_openssl_errors();
      return false;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  // This thread's public instance exists before the first cycle, and is a
  // SEEDPOOL: OpenSSL falls back silently otherwise.
  ERR_clear_error();
  if (RAND_bytes_ex(p.lib.get(), b.data(), b.size(), 0) != 1) {
    error = "the first RAND_bytes_ex failed: " + take_openssl_errors();
    return false;
  }
  EVP_RAND_CTX* pub = RAND_get0_public(p.lib.get());
  if (pub == nullptr || !EVP_RAND_is_a(EVP_RAND_CTX_get0_rand(pub), "SEEDPOOL")) {
    error = "RAND_bytes does not run through SEEDPOOL";
    return false;
  }
  return true;
}

// Takes everything the pool holds and waits until the FIFO is empty too:
// the next request must pause.
bool starve(FifoPool& p, std::string& error) {
  std::array<unsigned char, 64> b{};
  const Clock::time_point end = Clock::now() + milliseconds(5000);
  for (;;) {
    for (std::size_t len : {std::size_t{64}, std::size_t{1}})
      for (int i = 0; i < 10000 && p.stats.draw(b.data(), len); ++i) {
      }
    ERR_clear_error();
    std::this_thread::sleep_for(milliseconds(20));  // a gathering round in flight
    const std::optional<std::uint64_t> bits = p.stats.u64("entropy_available");
    if (!bits) {
      error = "cannot read entropy_available";
      return false;
    }
    if (p.unread() == 0 && *bits < kStarvedBits) return true;
    if (Clock::now() >= end) {
      error = "could not starve the pool (" + std::to_string(*bits) + " bits, " +
              std::to_string(p.unread()) + " bytes unread in the FIFO)";
      return false;
    }
  }
}

// --- the two jobs ------------------------------------------------------------------

struct SeedpoolJob {
  OSSL_LIB_CTX* lib = nullptr;
  std::array<unsigned char, kDrawBytes> out{};  // not on the job's stack
  int rc = -1;
};

int seedpool_job(void* arg) {
  SeedpoolJob* j = *static_cast<SeedpoolJob**>(arg);
  j->rc = RAND_bytes_ex(j->lib, j->out.data(), j->out.size(), 0);
  return j->rc;
}

struct BareJob {
  int efd = -1;
  int rc = -1;
};

int bare_job(void* arg) {
  BareJob* j = *static_cast<BareJob**>(arg);
  j->rc = 0;
  if (ASYNC_pause_job() != 1) return 0;
  std::uint64_t v = 0;  // drain, as seedpool's waiter does on resume
  ssize_t n;
  while ((n = ::read(j->efd, &v, sizeof v)) < 0 && errno == EINTR) {
  }
  j->rc = n == static_cast<ssize_t>(sizeof v) ? 1 : 0;
  return j->rc;
}

// What the conditioning floor's helper hashes per served block, as
// pool/conditioner.cc does: SHA-512 over label || 32-byte chain || 72-byte
// input block (105 bytes, one compression), once for the output and once
// for the next chain. Through EVP with the digest fetched once; seedpool
// calls the provider's functions directly, which is a little cheaper.
struct FloorHash {
  EVP_MD* md = nullptr;
  EVP_MD_CTX* ctx = nullptr;
  bool ok() const { return md != nullptr && ctx != nullptr; }
  bool two_blocks(const unsigned char* in, std::size_t len) {
    std::array<unsigned char, 105> msg{};
    std::memcpy(msg.data() + 33, in, std::min(len, std::size_t{72}));
    std::array<unsigned char, 64> out{};
    unsigned int outl = 0;
    for (const unsigned char label : {std::uint8_t{1}, std::uint8_t{2}}) {
      msg[0] = label;
      if (EVP_DigestInit_ex2(ctx, md, nullptr) != 1 ||
          EVP_DigestUpdate(ctx, msg.data(), msg.size()) != 1 ||
          EVP_DigestFinal_ex(ctx, out.data(), &outl) != 1)
        return false;
      std::memcpy(msg.data() + 1, out.data(), 32);  // the next chain
    }
    return true;
  }
  ~FloorHash() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
};

// The bare side's helper: woken through the pipe, it reads what is there
// and writes the eventfd; with `hash`, it first hashes it as the pool would
// (the conditioning floor). Ends at EOF (the write end closed) or on an
// error (`failed`).
void bare_helper(int pipe_read, int efd, FloorHash* hash, std::atomic<bool>& failed) {
  for (;;) {
    pollfd p{pipe_read, POLLIN, 0};
    const int n = ::poll(&p, 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) break;
    std::array<unsigned char, 64> c{};
    const ssize_t r = ::read(pipe_read, c.data(), c.size());
    if (r == 0) return;  // EOF: done
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 1) break;
    if (hash != nullptr && !hash->two_blocks(c.data(), static_cast<std::size_t>(r))) break;
    const std::uint64_t one = 1;
    if (::write(efd, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) break;
  }
  failed.store(true);
}

struct Cycle {
  bool ok = false;
  double cycle_us = 0;    // start of the job to its finish
  double latency_us = 0;  // the write that wakes to poll() returning
  int extra_pauses = 0;
  std::string error;
};

double us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

class SeedpoolSide {
 public:
  SeedpoolSide(FifoPool& pool, ASYNC_WAIT_CTX* ctx) : pool_(pool), ctx_(ctx) {
    job_.lib = pool.lib.get();
  }

  // `settle`: how long after the pause the FIFO is written.
  Cycle cycle(milliseconds settle) {
    Cycle c;
    std::array<unsigned char, kFeedBytes> feed{};
    if (!kernel_random(feed.data(), feed.size())) {
      c.error = std::string("getrandom: ") + std::strerror(errno);
      return c;
    }
    SeedpoolJob* p = &job_;
    ASYNC_JOB* job = nullptr;
    int ret = 0;
    job_.rc = -1;
    const Clock::time_point t0 = Clock::now();
    int r = ASYNC_start_job(&job, ctx_, &ret, seedpool_job, &p, sizeof p);
    if (r != ASYNC_PAUSE) {
      c.error = r == ASYNC_FINISH
                    ? "the job finished without pausing (rc " + std::to_string(job_.rc) +
                          "): the pool was not starved"
                    : "ASYNC_start_job failed: " + take_openssl_errors();
      return c;
    }
    if (fd_ < 0) {  // the first pause: seedpool's fd, set once per wait ctx
      const std::vector<OSSL_ASYNC_FD> fds = wait_fds(ctx_);
      if (fds.size() != 1) {
        c.error = "the paused job's wait ctx has " + std::to_string(fds.size()) +
                  " fds, not seedpool's one";
        (void)abandon(job, ret);
        return c;
      }
      fd_ = fds[0];
    }
    if (settle.count() > 0) std::this_thread::sleep_for(settle);
    const Clock::time_point t_feed = Clock::now();
    if (::write(pool_.fifo.get(), feed.data(), feed.size()) !=
        static_cast<ssize_t>(feed.size())) {
      c.error = std::string("write to the FIFO: ") + std::strerror(errno);
      (void)abandon(job, ret);
      return c;
    }
    if (!wait_readable(fd_, milliseconds(5000))) {
      c.error = "the wait fd did not become readable within 5 s of feeding the FIFO";
      (void)abandon(job, ret);
      return c;
    }
    const Clock::time_point t_ready = Clock::now();
    r = ASYNC_start_job(&job, ctx_, &ret, seedpool_job, &p, sizeof p);
    if (r == ASYNC_PAUSE)
      r = finish_job(&job, ctx_, &ret, seedpool_job, &p, sizeof p, c.extra_pauses,
                     c.error);
    const Clock::time_point t1 = Clock::now();
    if (r != ASYNC_FINISH || job_.rc != 1) {
      if (c.error.empty())
        c.error = "the resumed job failed (rc " + std::to_string(job_.rc) +
                  "): " + take_openssl_errors();
      return c;
    }
    c.cycle_us = us_between(t0, t1);
    c.latency_us = us_between(t_feed, t_ready);
    c.ok = true;
    return c;
  }

 private:
  // A cycle gone wrong: feed the FIFO until the job ends (its request
  // times out at async_timeout_ms at worst), so that no job is left paused.
  bool abandon(ASYNC_JOB* job, int& ret) {
    SeedpoolJob* p = &job_;
    std::string ignored;
    int r = ASYNC_PAUSE;
    for (int i = 0; i < 20 && r == ASYNC_PAUSE; ++i) {
      (void)pool_.feed(kFeedBytes, ignored);
      if (fd_ >= 0) (void)wait_readable(fd_, milliseconds(1000));
      r = ASYNC_start_job(&job, ctx_, &ret, seedpool_job, &p, sizeof p);
    }
    ERR_clear_error();
    return r == ASYNC_FINISH;
  }

  FifoPool& pool_;
  ASYNC_WAIT_CTX* ctx_;
  SeedpoolJob job_;
  int fd_ = -1;
};

class BareSide {
 public:
  // `conditioning`: the floor side -- 40 bytes through the pipe, read and
  // hashed as the pool's conditioner does before the eventfd is written.
  explicit BareSide(bool conditioning = false) : conditioning_(conditioning) {}

  bool start(std::string& error) {
    if (conditioning_) {
      hash_.md = EVP_MD_fetch(nullptr, "SHA512", nullptr);
      hash_.ctx = EVP_MD_CTX_new();
      if (!hash_.ok()) {
        error = "floor side: cannot fetch SHA-512: " + take_openssl_errors();
        return false;
      }
    }
    ctx_.reset(ASYNC_WAIT_CTX_new());
    efd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    int fds[2];
    if (!ctx_ || efd_.get() < 0 || ::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      error = std::string("bare side: wait ctx, eventfd or pipe: ") + std::strerror(errno);
      return false;
    }
    pipe_read_.reset(fds[0]);
    pipe_write_.reset(fds[1]);
    job_.efd = efd_.get();
    try {
      helper_ = std::thread(bare_helper, pipe_read_.get(), efd_.get(),
                            conditioning_ ? &hash_ : nullptr, std::ref(failed_));
    } catch (const std::exception& e) {
      error = std::string("bare side: cannot start the helper thread: ") + e.what();
      return false;
    }
    return true;
  }
  // Ends the helper (EOF on its pipe) and joins it.
  void stop() {
    pipe_write_.reset();
    if (helper_.joinable()) helper_.join();
  }
  ~BareSide() { stop(); }

  Cycle cycle(milliseconds settle) {
    Cycle c;
    BareJob* p = &job_;
    ASYNC_JOB* job = nullptr;
    int ret = 0;
    job_.rc = -1;
    const Clock::time_point t0 = Clock::now();
    int r = ASYNC_start_job(&job, ctx_.get(), &ret, bare_job, &p, sizeof p);
    if (r != ASYNC_PAUSE) {
      c.error = "the bare job did not pause";
      return c;
    }
    if (settle.count() > 0) std::this_thread::sleep_for(settle);
    const Clock::time_point t_feed = Clock::now();
    // One byte wakes the bare helper; the floor's gets what the FIFO gets.
    const std::array<unsigned char, kFeedBytes> feed{'x'};
    const std::size_t len = conditioning_ ? feed.size() : 1;
    if (::write(pipe_write_.get(), feed.data(), len) != static_cast<ssize_t>(len)) {
      c.error = std::string("write to the helper's pipe: ") + std::strerror(errno);
      return c;  // the job stays paused; the wait ctx goes at exit
    }
    if (!wait_readable(efd_.get(), milliseconds(5000))) {
      c.error = failed_.load() ? "the helper thread failed"
                               : "the eventfd did not become readable within 5 s";
      return c;
    }
    const Clock::time_point t_ready = Clock::now();
    r = ASYNC_start_job(&job, ctx_.get(), &ret, bare_job, &p, sizeof p);
    const Clock::time_point t1 = Clock::now();
    if (r != ASYNC_FINISH || job_.rc != 1) {
      c.error = "the resumed bare job failed";
      return c;
    }
    c.cycle_us = us_between(t0, t1);
    c.latency_us = us_between(t_feed, t_ready);
    c.ok = true;
    return c;
  }

 private:
  const bool conditioning_;
  FloorHash hash_;  // before helper_: the thread is joined first
  WaitCtxPtr ctx_;
  Fd efd_, pipe_read_, pipe_write_;
  std::atomic<bool> failed_{false};
  std::thread helper_;
  BareJob job_;
};

// One side's cycles of one round.
struct Block {
  std::vector<double> cycle_us;
  std::vector<double> latency_us;
  int extra_pauses = 0;
  std::string error;  // the first failure ends the block
};

// Up to `cycles` cycles, fewer if they take longer than `budget` (at
// least 3).
template <typename Side>
Block run_block(Side& side, int cycles, milliseconds budget, milliseconds settle) {
  Block b;
  b.cycle_us.reserve(static_cast<std::size_t>(cycles));
  b.latency_us.reserve(static_cast<std::size_t>(cycles));
  const Clock::time_point end = Clock::now() + budget;
  for (int i = 0; i < cycles && (i < 3 || Clock::now() < end); ++i) {
    const Cycle c = side.cycle(settle);
    if (!c.ok) {
      b.error = c.error;
      return b;
    }
    b.cycle_us.push_back(c.cycle_us);
    b.latency_us.push_back(c.latency_us);
    b.extra_pauses += c.extra_pauses;
  }
  return b;
}

// "12.3" (one decimal) or "0.25" (two).
std::string fixed(double v, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

// Per round, per side: the median cycle, the median and p99 latency, the
// settled cycles' median latency; and every cycle's latency.
struct SideFigures {
  std::vector<double> cycle, latency, p99, settled;
  std::vector<double> latency_all, settled_all;
  std::uint64_t cycles = 0;
  int extra_pauses = 0;

  void add(const Block& main, const Block& settled_block) {
    cycle.push_back(*quantile(main.cycle_us, 0.5));
    latency.push_back(*quantile(main.latency_us, 0.5));
    p99.push_back(*quantile(main.latency_us, 0.99));
    settled.push_back(*quantile(settled_block.latency_us, 0.5));
    latency_all.insert(latency_all.end(), main.latency_us.begin(), main.latency_us.end());
    settled_all.insert(settled_all.end(), settled_block.latency_us.begin(),
                       settled_block.latency_us.end());
    cycles += main.cycle_us.size();
    extra_pauses += main.extra_pauses + settled_block.extra_pauses;
  }
};

struct CycleRun {
  bool ok = false;
  std::string error;
  SideFigures sp, bare;
  // The conditioning floor (BareSide(true)): per-round median cycles.
  std::vector<double> floor_cycle;
  std::uint64_t floor_cycles = 0;
  std::optional<std::uint64_t> gatherer_wakeups;  // during seedpool's main blocks
  std::optional<std::uint64_t> paused;            // requests_paused, the same
};

CycleRun run_cycles(FifoPool& pool, BareSide& bare, BareSide& floor, const Plan& plan) {
  CycleRun run;
  WaitCtxPtr ctx(ASYNC_WAIT_CTX_new());
  if (!ctx) {
    run.error = "ASYNC_WAIT_CTX_new failed";
    return run;
  }
  SeedpoolSide sp(pool, ctx.get());
  const milliseconds none{0};
  // Warm-up: the job pool, seedpool's waiter and its eventfd, caches.
  for (const Block& b : {run_block(sp, plan.warmup_cycles, plan.cycle_budget, none),
                         run_block(bare, plan.warmup_cycles, plan.cycle_budget, none),
                         run_block(floor, plan.warmup_cycles, plan.cycle_budget, none)}) {
    if (!b.error.empty()) {
      run.error = "warm-up: " + b.error;
      return run;
    }
  }
  std::uint64_t wakeups = 0, paused = 0;
  bool counted = true;
  for (int r = 0; r < plan.rounds; ++r) {
    Block sb, bb, ss, bs, fb;
    auto seedpool_blocks = [&] {
      const std::optional<std::uint64_t> w0 = pool.stats.u64("gatherer_wakeups");
      const std::optional<std::uint64_t> p0 = pool.stats.u64("requests_paused");
      sb = run_block(sp, plan.cycles, plan.cycle_budget, none);
      const std::optional<std::uint64_t> w1 = pool.stats.u64("gatherer_wakeups");
      const std::optional<std::uint64_t> p1 = pool.stats.u64("requests_paused");
      if (w0 && w1 && p0 && p1) {
        wakeups += *w1 - *w0;
        paused += *p1 - *p0;
      } else {
        counted = false;
      }
      if (sb.error.empty())
        ss = run_block(sp, plan.settled_cycles, plan.cycle_budget * 4, plan.settle_delay);
    };
    auto bare_blocks = [&] {
      bb = run_block(bare, plan.cycles, plan.cycle_budget, none);
      if (bb.error.empty())
        bs = run_block(bare, plan.settled_cycles, plan.cycle_budget * 4, plan.settle_delay);
    };
    auto floor_blocks = [&] { fb = run_block(floor, plan.cycles, plan.cycle_budget, none); };
    if (r % 2 == 0) {
      seedpool_blocks();
      bare_blocks();
      floor_blocks();
    } else {
      floor_blocks();
      bare_blocks();
      seedpool_blocks();
    }
    for (const auto& [b, what] : {std::pair{&sb, "seedpool cycle: "},
                                  std::pair{&ss, "seedpool settled cycle: "},
                                  std::pair{&bb, "bare cycle: "},
                                  std::pair{&bs, "bare settled cycle: "},
                                  std::pair{&fb, "floor cycle: "}}) {
      if (!b->error.empty()) {
        run.error = what + b->error;
        return run;
      }
    }
    run.sp.add(sb, ss);
    run.bare.add(bb, bs);
    run.floor_cycle.push_back(*quantile(fb.cycle_us, 0.5));
    run.floor_cycles += fb.cycle_us.size();
    progress("[round %d/%d] pause cycle: seedpool %.1f us (%zu cycles), bare %.1f us (%zu), "
             "floor %.1f us (%zu); wake latency: seedpool %.1f us, bare %.1f us; settled: "
             "seedpool %.1f us, bare %.1f us (medians)",
             r + 1, plan.rounds, run.sp.cycle.back(), sb.cycle_us.size(),
             run.bare.cycle.back(), bb.cycle_us.size(), run.floor_cycle.back(),
             fb.cycle_us.size(), run.sp.latency.back(),
             run.bare.latency.back(), run.sp.settled.back(), run.bare.settled.back());
  }
  if (counted) {
    run.gatherer_wakeups = wakeups;
    run.paused = paused;
  }
  run.ok = true;
  return run;
}

// median, q1, q3, min, max over every cycle (rather than over the rounds).
void pooled_figures(Row& row, const std::vector<double>& subject_all,
                    const std::vector<double>& baseline_all) {
  row.median = quantile(subject_all, 0.5);
  row.q1 = quantile(subject_all, 0.25);
  row.q3 = quantile(subject_all, 0.75);
  row.min = quantile(subject_all, 0);
  row.max = quantile(subject_all, 1);
  row.baseline_median = quantile(baseline_all, 0.5);
  row.baseline_q1 = quantile(baseline_all, 0.25);
  row.baseline_q3 = quantile(baseline_all, 0.75);
}

// `one_cpu`: the run with every thread on one CPU -- only the cycle and
// floor rows, named so, reported beside the headline rows.
std::vector<Row> cycle_rows(const CycleRun& run, const std::string& gatherer,
                            bool one_cpu = false) {
  const double n = static_cast<double>(run.sp.cycles);
  const std::string per_round = std::to_string(run.sp.cycles) + " seedpool and " +
                                std::to_string(run.bare.cycles) + " bare cycles in " +
                                std::to_string(run.sp.cycle.size()) + " rounds";
  Row cycle;
  cycle.workload = kCycleRow;
  cycle.unit = "us/cycle";
  cycle.baseline = kBareLabel;
  cycle.subject = kSeedpoolLabel;
  cycle.target = "<= 1.3";
  cycle.ran = true;
  fill_comparison(cycle, run.sp.cycle, run.bare.cycle);
  cycle.met = cycle.ratio && *cycle.ratio <= 1.3;
  cycle.detail =
      "figure per round: the median cycle, ASYNC_start_job to ASYNC_FINISH, the FIFO "
      "written right after the pause; " + per_round +
      ". Same two thread hops on both sides (main -> other thread -> main); seedpool "
      "wakes its gatherer when it queues the request only if its planned wait would not end in time. Gatherer wake-ups per cycle " +
      (run.gatherer_wakeups ? fixed(static_cast<double>(*run.gatherer_wakeups) / n, 2)
                            : std::string("n/a")) +
      ", requests_paused per cycle " +
      (run.paused ? fixed(static_cast<double>(*run.paused) / n, 2) : std::string("n/a")) +
      ", extra pauses " + std::to_string(run.sp.extra_pauses) + "; gatherer: " + gatherer +
      ".";

  // The floor: what a helper that must read the entropy and condition it
  // costs at the least, in the same rounds.
  Row floor;
  floor.workload = kFloorRow;
  floor.unit = "us/cycle";
  floor.baseline = kBareLabel;
  floor.subject = kFloorLabel;
  floor.target = "report";
  floor.ran = true;
  fill_comparison(floor, run.floor_cycle, run.bare.cycle);
  floor.detail =
      "the least a pause cycle that conditions its entropy costs: the bare cycle with "
      "the FIFO's 40 bytes sent through the pipe and, in the helper, read and hashed "
      "as the pool's conditioner does per block (SHA-512 of 105 bytes, twice, through "
      "EVP with the digest fetched once); " +
      std::to_string(run.floor_cycles) + " cycles in " +
      std::to_string(run.floor_cycle.size()) +
      " rounds, alternated with the other two sides.";
  if (!run.floor_cycle.empty()) {
    std::vector<double> vs_floor;
    for (std::size_t i = 0; i < run.floor_cycle.size() && i < run.sp.cycle.size(); ++i)
      if (run.floor_cycle[i] > 0) vs_floor.push_back(run.sp.cycle[i] / run.floor_cycle[i]);
    cycle.detail += " The conditioning floor (next row): " +
                    fixed(*quantile(run.floor_cycle, 0.5), 2) + " us, " +
                    (floor.ratio ? fixed(*floor.ratio, 2) : std::string("n/a")) +
                    "x the bare cycle; seedpool / floor " +
                    (vs_floor.empty() ? std::string("n/a")
                                      : fixed(*quantile(vs_floor, 0.5), 2)) +
                    "x (median of the rounds).";
  }

  Row lat;
  lat.workload = kLatencyRow;
  lat.unit = "us";
  lat.baseline = "bare: write(pipe) -> helper thread -> eventfd readable in main";
  lat.subject = "seedpool: write(FIFO) right after the pause -> gatherer serves -> "
                "wait fd readable in main";
  lat.target = "<= 50 us";
  lat.ran = true;
  fill_comparison(lat, run.sp.latency, run.bare.latency);  // the ratio, per round
  pooled_figures(lat, run.sp.latency_all, run.bare.latency_all);
  lat.met = lat.median && *lat.median <= 50;
  const std::optional<double> p99 = quantile(run.sp.latency_all, 0.99);
  const std::optional<double> bare_p99 = quantile(run.bare.latency_all, 0.99);
  lat.detail = "p99 " + fixed(p99.value_or(0), 1) + " us (bare p99 " +
               fixed(bare_p99.value_or(0), 1) +
               " us). Median, q1..q3, min, max over every cycle (" + per_round +
               "); ratio: median over the rounds of the rounds' medians. From just "
               "before the write that brings the entropy to poll() returning.";

  Row tail;
  tail.workload = kLatencyP99Row;
  tail.unit = "us";
  tail.baseline = lat.baseline;
  tail.subject = lat.subject;
  tail.target = "report";
  tail.ran = true;
  fill_comparison(tail, run.sp.p99, run.bare.p99);  // spread and ratio per round
  tail.median = p99;
  tail.baseline_median = bare_p99;  // q1/q3: the baseline rounds' p99s
  tail.detail = "p99 over every cycle (" + per_round +
                "); q1..q3, min, max and ratio over the rounds' own p99s.";

  Row settled;
  settled.workload = kSettledRow;
  settled.unit = "us";
  settled.baseline = "bare, the pipe written 30 ms after the pause";
  settled.subject = "seedpool, the FIFO written 30 ms after the pause (gatherer settled)";
  settled.target = "report";
  settled.ran = true;
  fill_comparison(settled, run.sp.settled, run.bare.settled);
  pooled_figures(settled, run.sp.settled_all, run.bare.settled_all);
  settled.detail =
      "the wake path without the device source's retry timer: median, q1..q3, min, max "
      "over every cycle (" + std::to_string(run.sp.settled_all.size()) + " per side); p99 " +
      fixed(quantile(run.sp.settled_all, 0.99).value_or(0), 1) + " us (bare " +
      fixed(quantile(run.bare.settled_all, 0.99).value_or(0), 1) +
      " us); ratio: median over the rounds of the rounds' medians.";
  if (one_cpu) {
    const std::string why =
        " Every thread of the process (main, seedpool's gatherer, the helpers) on one "
        "CPU: a cycle is then the work of both threads and two context switches, "
        "without the cross-CPU wake-ups whose cost this VM varies from ~3 to ~50 us.";
    cycle.workload = kCycleOneCpuRow;
    cycle.target = "report";
    cycle.met.reset();
    cycle.detail += why;
    floor.workload = kFloorOneCpuRow;
    floor.detail += why;
    return {cycle, floor};
  }
  return {cycle, floor, lat, tail, settled};
}

// Sets the CPU affinity of every thread of this process (seedpool's
// gatherer included, which sched_setaffinity on the process would miss).
bool set_all_threads_affinity(const cpu_set_t& set, std::string& error) {
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) {
    error = std::string("opendir /proc/self/task: ") + std::strerror(errno);
    return false;
  }
  bool ok = true;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const pid_t tid = static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10));
    if (::sched_setaffinity(tid, sizeof set, &set) != 0 && errno != ESRCH) {
      error = std::string("sched_setaffinity: ") + std::strerror(errno);
      ok = false;
      break;
    }
  }
  (void)::closedir(d);
  return ok;
}

Row idle_fifo_row(FifoPool& pool, const Plan& plan, const std::string& gatherer) {
  std::string error;
  // More than the pool holds: the FIFO stays readable during the windows,
  // so a gatherer still polling it would show.
  if (!pool.feed(512, error) ||
      !wait_until_full(pool.stats, plan.fill_limit, milliseconds(100), error))
    return failed_row(kIdleRow, "wake-ups/s", "none: 0 expected (pool full, nothing draws)",
                      "seedpool's gatherer, FIFO source, pool full", "0", error);
  const int unread = pool.unread();
  const IdleResult r = measure_idle(pool.stats, plan);
  return idle_row(kIdleRow, "seedpool's gatherer, FIFO source, pool full", r,
                  "sources = device (a FIFO, 8 bits a byte), pool_size 1024 bits, after "
                  "the pause cycles; " +
                      std::to_string(unread) +
                      " bytes unread in the FIFO during the windows; gatherer: " +
                      gatherer + ".");
}

}  // namespace

void install_cleanup_on_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) (void)::sigaction(sig, &sa, nullptr);
}

std::vector<Row> failed_fifo_rows(const std::string& why) {
  return {failed_row(kCycleRow, "us/cycle", kBareLabel, kSeedpoolLabel, "<= 1.3", why),
          failed_row(kFloorRow, "us/cycle", kBareLabel, kFloorLabel, "report", why),
          failed_row(kLatencyRow, "us", kBareLabel, kSeedpoolLabel, "<= 50 us", why),
          failed_row(kLatencyP99Row, "us", kBareLabel, kSeedpoolLabel, "report", why),
          failed_row(kSettledRow, "us", kBareLabel, kSeedpoolLabel, "report", why),
          failed_row(kCycleOneCpuRow, "us/cycle", kBareLabel, kSeedpoolLabel, "report", why),
          failed_row(kFloorOneCpuRow, "us/cycle", kBareLabel, kFloorLabel, "report", why),
          failed_row(kIdleRow, "wake-ups/s", "none: 0 expected (pool full, nothing draws)",
                     "seedpool's gatherer, FIFO source, pool full", "0", why)};
}

std::vector<Row> run_fifo_part(const Plan& plan) {
  if (ASYNC_is_capable() != 1) return failed_fifo_rows("ASYNC jobs are not supported here");
  TempFiles files;
  FifoPool pool;
  std::string error;
  progress("FIFO-fed pool: setting up");
  if (!files.create(error) || !open_pool(files, pool, error))
    return failed_fifo_rows("set-up: " + error);
  const std::string gatherer = pool.stats.str("gatherer").value_or("n/a");

  std::vector<Row> rows;
  {
    BareSide bare;
    BareSide floor(/*conditioning=*/true);
    if (!bare.start(error) || !floor.start(error) || !starve(pool, error))
      return failed_fifo_rows("set-up: " + error);
    progress("FIFO-fed pool: %d rounds of %d pause cycles per side", plan.rounds, plan.cycles);
    const CycleRun run = run_cycles(pool, bare, floor, plan);
    if (run.ok) {
      // Read now: at set-up the gatherer may not have started yet.
      rows = cycle_rows(run, pool.stats.str("gatherer").value_or("n/a"));
    } else {
      rows = failed_fifo_rows(run.error);
      // The headline rows only: the one-CPU and idle rows may still run.
      rows.resize(5);
    }
    // Again with every thread on the CPU main runs on, then as before.
    cpu_set_t all, one;
    CPU_ZERO(&one);
    const int cpu = ::sched_getcpu();
    CycleRun pinned;
    if (::sched_getaffinity(0, sizeof all, &all) != 0 || cpu < 0) {
      pinned.error = std::string("sched_getaffinity / sched_getcpu: ") + std::strerror(errno);
    } else {
      CPU_SET(cpu, &one);
      progress("FIFO-fed pool: the same, every thread on CPU %d", cpu);
      if (!set_all_threads_affinity(one, error) || !starve(pool, error))
        pinned.error = error;
      else
        pinned = run_cycles(pool, bare, floor, plan);
      if (!set_all_threads_affinity(all, error) && pinned.ok) {
        pinned.ok = false;
        pinned.error = "restoring the affinity: " + error;
      }
    }
    if (pinned.ok) {
      for (Row& r : cycle_rows(pinned, pool.stats.str("gatherer").value_or("n/a"), true))
        rows.push_back(std::move(r));
    } else {
      rows.push_back(failed_row(kCycleOneCpuRow, "us/cycle", kBareLabel, kSeedpoolLabel,
                                "report", pinned.error));
      rows.push_back(failed_row(kFloorOneCpuRow, "us/cycle", kBareLabel, kFloorLabel,
                                "report", pinned.error));
    }
    bare.stop();  // the helper threads must not be counted as the gatherer
    floor.stop();
  }
  progress("FIFO-fed pool: idle gatherer, %d x %lld ms", plan.idle_windows,
           static_cast<long long>(plan.idle_window.count()));
  rows.push_back(idle_fifo_row(pool, plan, gatherer));
  return rows;
}

}  // namespace seedpool::bench::pb
