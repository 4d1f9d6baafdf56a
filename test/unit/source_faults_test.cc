// What the pool does when a noise source fails, as ONE table (issue 8): for
// each fault, the status and errno the statistics show, whether the source
// is backed off or waited on (no busy loop), how a request ends while the
// fault lasts (which reason; or served by another source), that output is
// never short or unseeded, and whether requests are served from the source
// again once it recovers. Each row runs with the faulty source alone and
// with a healthy second source beside it.
//
// This is the one place for these cases: the single-fault tests that were
// in gatherer_test.cc (a failing source backed off; the only source failing
// fails its waiters), pool_test.cc (failed source reported and never
// credited, bounded wait on a source with nothing, waiter served when the
// source becomes ready, one absent source of two) and sources_test.cc (the
// pool with a source read to its end) are rows here now. sources_test.cc
// keeps what a source itself reports (how read(2) and open(2) results map
// to a SourceRead); this file is about what the pool makes of it.
//
// The faults: EIO and ENODEV are injected into a pipe-backed source (the
// result a read(2) error gives through source_io::read_once: error with
// the errno, absent for ENODEV); EAGAIN, short reads and the data are the
// pipe's own. EOF comes from real files: a FIFO whose writer closes (the
// device source is its own writer, so that is "nothing now") and a regular
// file read to its end.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fake_source.h"
#include "pool/device_source.h"
#include "pool/pool.h"
#include "pool/request.h"
#include "pool/source_io.h"

namespace seedpool {
namespace {

using namespace std::chrono_literals;
using pool::Errc;
using pool::Health;
using pool::Request;
using pool::SourceRead;
using pool::SourceStatus;
using testing::FakeSource;
using Clock = std::chrono::steady_clock;

// How long a request waits in the rows where it can only time out, and the
// window in which reads of the faulty source are counted.
constexpr auto kWait = 400ms;
// Bytes per read in the short-reads row.
constexpr std::size_t kShortRead = 3;

// A source over a pipe the test writes to. Data, EAGAIN (empty pipe) and
// short reads are the kernel's; EIO and ENODEV are injected.
class ScriptedPipe final : public pool::Source {
 public:
  enum class Fault { none, eio, enodev, short_reads };

  explicit ScriptedPipe(bool use_fd) : use_fd_(use_fd) {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      rd_ = fds[0];
      wr_ = fds[1];
    }
  }
  ~ScriptedPipe() override {
    if (rd_ >= 0) ::close(rd_);
    if (wr_ >= 0) ::close(wr_);
  }
  bool ok() const { return rd_ >= 0; }
  const char* name() const noexcept override { return "scripted"; }
  SourceRead read(std::span<std::uint8_t> out) noexcept override {
    reads.fetch_add(1);
    switch (fault.load()) {
      case Fault::eio: return {SourceRead::Kind::error, 0, EIO};
      case Fault::enodev: return {SourceRead::Kind::absent, 0, ENODEV};
      case Fault::short_reads:
        out = out.first(std::min(out.size(), kShortRead));
        break;
      case Fault::none: break;
    }
    // The writer end stays open: read(2) never says 0 here.
    return pool::source_io::read_once(rd_, out, SourceRead::Kind::error);
  }
  // Without the fd the gatherer paces the source with its retry timer.
  int poll_fd() const noexcept override { return use_fd_ ? rd_ : -1; }

  // Writes n varied bytes (they pass the health tests).
  bool feed(std::size_t n) {
    std::vector<std::uint8_t> b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng_());
    return ::write(wr_, b.data(), n) == static_cast<ssize_t>(n);
  }

  std::atomic<Fault> fault{Fault::none};
  std::atomic<int> reads{0};

 private:
  const bool use_fd_;
  int rd_ = -1;
  int wr_ = -1;
  std::mt19937 rng_{4242};
};

// Counts the reads of a real source.
class Counted final : public pool::Source {
 public:
  explicit Counted(std::unique_ptr<pool::Source> inner) : inner_(std::move(inner)) {}
  const char* name() const noexcept override { return inner_->name(); }
  SourceRead read(std::span<std::uint8_t> out) noexcept override {
    reads.fetch_add(1);
    return inner_->read(out);
  }
  bool wait_ready(std::chrono::milliseconds t) noexcept override {
    return inner_->wait_ready(t);
  }
  int poll_fd() const noexcept override { return inner_->poll_fd(); }
  std::chrono::milliseconds retry_interval() const noexcept override {
    return inner_->retry_interval();
  }
  bool reads_inline() const noexcept override { return inner_->reads_inline(); }
  std::atomic<int> reads{0};

 private:
  std::unique_ptr<pool::Source> inner_;
};

std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

bool all_of(std::span<const std::uint8_t> b, std::uint8_t v) {
  return std::all_of(b.begin(), b.end(), [v](std::uint8_t x) { return x == v; });
}

template <typename F>
bool eventually(F f, std::chrono::milliseconds bound = 5s) {
  const auto end = Clock::now() + bound;
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

// A request's callback, waited for.
struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Errc rc = Errc::pending;
  std::vector<std::uint8_t> bytes;
  Request::Callback callback() {
    return [this](Errc e, std::span<const std::uint8_t> b) {
      std::lock_guard<std::mutex> g(mu);
      rc = e;
      bytes.assign(b.begin(), b.end());
      done = true;
      cv.notify_all();
    };
  }
  bool wait(std::chrono::milliseconds bound = 5s) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, bound, [&] { return done; });
  }
};

// ---------------------------------------------------------------------------
// The table.

enum class Fault { eio, enodev, eagain_fd, eagain_timer, short_reads, eof_fifo, eof_file };

struct Row {
  const char* name;
  Fault fault;
  // While the fault lasts:
  SourceStatus status;
  int last_errno;       // in the statistics (0: none recorded)
  Errc alone;           // a request when it is the only source
  Health health_alone;  // the pool's health then
  Health health_backup; // ... and beside a healthy source (which serves)
  int max_reads;        // reads of it in kWait with a waiter (alone): no busy loop
  int min_reads;        // ... and at least (it is still tried)
  // After it recovers, requests are served from it again. False: it is out
  // for good (absent, exhausted), by design: the fd that said ENODEV is
  // dead, a file at its end gives nothing more, and the pool reopens
  // nothing.
  bool recovers;
};

const Row kRows[] = {
    // EIO: failed, backed off 1 s (doubling to 64 s), then tried again.
    // Alone, no request waits for it: they fail at once with the reason.
    {"Eio", Fault::eio, SourceStatus::failed, EIO, Errc::no_usable_source,
     Health::failed, Health::degraded, 1, 0, true},
    // ENODEV (the device went away): absent, never read again.
    {"Enodev", Fault::enodev, SourceStatus::absent, ENODEV,
     Errc::no_usable_source, Health::failed, Health::degraded, 1, 0, false},
    // EAGAIN on a source with an fd: the gatherer waits for POLLIN.
    {"EagainWithFd", Fault::eagain_fd, SourceStatus::not_ready, 0,
     Errc::timed_out, Health::ok, Health::ok, 4, 0, true},
    // EAGAIN on a source without an fd: retried on its 10 ms timer.
    {"EagainOnTimer", Fault::eagain_timer, SourceStatus::not_ready, 0,
     Errc::timed_out, Health::ok, Health::ok, 60, 3, true},
    // Reads that give 3 bytes at a time: served, every byte accounted.
    {"ShortReads", Fault::short_reads, SourceStatus::ok, 0, Errc::ok, Health::ok,
     Health::ok, -1, 0, true},
    // A FIFO whose writer closed: "nothing now", not EOF; a new writer brings
    // data again.
    {"EofFifoWriterClosed", Fault::eof_fifo, SourceStatus::not_ready, 0,
     Errc::timed_out, Health::ok, Health::ok, 4, 0, true},
    // A regular file at its end: exhausted, not failed (what it gave was
    // credited and served), never read again.
    {"EofRegularFile", Fault::eof_file, SourceStatus::exhausted, 0,
     Errc::timed_out, Health::degraded, Health::degraded, 0, 0, false},
};

// One row's pool and faulty source.
class Harness {
 public:
  Harness(Fault fault, bool with_backup) : fault_(fault) {
    dir_ = ::testing::TempDir() + "seedpool-faults." + std::to_string(::getpid()) +
           "." + std::to_string(counter_++);
    std::vector<pool::Pool::CustomSource> srcs;
    switch (fault) {
      case Fault::eof_fifo: {
        path_ = dir_ + ".fifo";
        ::unlink(path_.c_str());
        EXPECT_EQ(::mkfifo(path_.c_str(), 0600), 0);
        auto c = std::make_unique<Counted>(std::make_unique<pool::DeviceSource>(path_));
        counted_ = c.get();
        srcs.push_back({std::move(c), 8});
        // The source opened it read-write: a writer may open without blocking.
        writer_ = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        EXPECT_GE(writer_, 0);
        break;
      }
      case Fault::eof_file: {
        path_ = dir_ + ".file";
        // 1024 bytes for the start-up health test, then 512 creditable.
        const auto content = random_bytes(1024 + 512, 7);
        FILE* f = std::fopen(path_.c_str(), "wb");
        EXPECT_NE(f, nullptr);
        if (f != nullptr) {
          EXPECT_EQ(std::fwrite(content.data(), 1, content.size(), f), content.size());
          std::fclose(f);
        }
        auto c = std::make_unique<Counted>(std::make_unique<pool::DeviceSource>(path_));
        counted_ = c.get();
        srcs.push_back({std::move(c), 8});
        break;
      }
      default: {
        auto p = std::make_unique<ScriptedPipe>(fault != Fault::eagain_timer);
        EXPECT_TRUE(p->ok());
        pipe_ = p.get();
        srcs.push_back({std::move(p), 8});
        break;
      }
    }
    if (with_backup) {
      // Quiet while the faulty source is primed, then always ready.
      auto b = std::make_unique<FakeSource>(FakeSource::Mode::would_block);
      backup_ = b.get();
      srcs.push_back({std::move(b), 8});
    }
    pool::Config cfg;
    cfg.pool_size_bits = 1024;
    cfg.write_wakeup_threshold_bits = 512;
    EXPECT_EQ(pool::Pool::create(cfg, std::move(srcs), pool_), Errc::ok);
  }
  ~Harness() {
    pool_.reset();
    if (writer_ >= 0) ::close(writer_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }

  pool::Pool& pool() { return *pool_; }
  bool has_backup() const { return backup_ != nullptr; }
  int reads() const { return pipe_ ? pipe_->reads.load() : counted_->reads.load(); }
  pool::SourceStats faulty() const { return pool_->stats().sources[0]; }
  pool::SourceStats backup() const { return pool_->stats().sources[1]; }

  // Gets the faulty source past its start-up health test with credited
  // bytes, then drains the pool: what follows starts with (almost) nothing.
  void prime() {
    switch (fault_) {
      case Fault::eof_fifo:
        ASSERT_EQ(::write(writer_, random_bytes(1024, 3).data(), 1024), 1024);
        break;
      case Fault::eof_file: break;  // its content
      default: ASSERT_TRUE(pipe_->feed(1024)); break;
    }
    drain();
    // The file is read through to its end by the draining.
    if (fault_ == Fault::eof_file) {
      ASSERT_TRUE(eventually([&] {
        drain();
        return faulty().status == SourceStatus::exhausted;
      }));
      EXPECT_EQ(faulty().bytes_read, 1024u + 512u) << "the whole file, once";
    }
    const pool::SourceStats s = faulty();
    EXPECT_GT(s.bits_credited, 0u);
    // Never more credit than 8 bits per byte read (what a full reservoir
    // cannot hold is mixed in, credited to nobody).
    EXPECT_LE(s.bits_credited + s.bits_withheld, s.bytes_read * 8);
    EXPECT_LT(pool_->entropy_available_bits(), 72u);
    if (backup_ != nullptr) backup_->mode = FakeSource::Mode::data;
  }
  void drain() {
    std::array<std::uint8_t, 64> b{};
    std::size_t got = 0;
    for (int i = 0; i < 200 && pool_->read_some(b, got) == Errc::ok; ++i) {
    }
    for (int i = 0; i < 200 && pool_->read_some({b.data(), 1}, got) == Errc::ok; ++i) {
    }
  }

  // Starts the fault. For the injected ones, one byte in the pipe makes the
  // fd readable, so the gatherer reads the source and meets it.
  void inject() {
    switch (fault_) {
      case Fault::eio:
        pipe_->fault = ScriptedPipe::Fault::eio;
        ASSERT_TRUE(pipe_->feed(1));
        break;
      case Fault::enodev:
        pipe_->fault = ScriptedPipe::Fault::enodev;
        ASSERT_TRUE(pipe_->feed(1));
        break;
      case Fault::eagain_fd:
      case Fault::eagain_timer: break;  // the pipe is empty
      case Fault::short_reads:
        pipe_->fault = ScriptedPipe::Fault::short_reads;
        ASSERT_TRUE(pipe_->feed(512));
        break;
      case Fault::eof_fifo:
        ASSERT_EQ(::close(writer_), 0);  // the only writer leaves
        writer_ = -1;
        break;
      case Fault::eof_file: break;  // at its end already
    }
  }

  // Ends the fault and brings data.
  void recover() {
    switch (fault_) {
      case Fault::eof_fifo: {
        // A new writer comes, writes, and leaves again.
        const int w = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        ASSERT_GE(w, 0);
        ASSERT_EQ(::write(w, random_bytes(512, 5).data(), 512), 512);
        ASSERT_EQ(::close(w), 0);
        break;
      }
      case Fault::eof_file: {
        // Appended content: the source is done with the file, it is not read.
        FILE* f = std::fopen(path_.c_str(), "ab");
        ASSERT_NE(f, nullptr);
        const auto more = random_bytes(512, 9);
        ASSERT_EQ(std::fwrite(more.data(), 1, more.size(), f), more.size());
        std::fclose(f);
        break;
      }
      default:
        pipe_->fault = ScriptedPipe::Fault::none;
        ASSERT_TRUE(pipe_->feed(512));
        break;
    }
  }

 private:
  static inline int counter_ = 0;
  const Fault fault_;
  std::string dir_;
  std::string path_;
  int writer_ = -1;
  ScriptedPipe* pipe_ = nullptr;
  Counted* counted_ = nullptr;
  FakeSource* backup_ = nullptr;
  std::unique_ptr<pool::Pool> pool_;
};

// Each row with the faulty source alone and beside a healthy one, on
// io_uring and on the poll() fallback (the gatherer's two ways to wait).
class SourceFaults
    : public ::testing::TestWithParam<
          std::tuple<Row, bool /*with_backup*/, bool /*poll fallback*/>> {
 protected:
  void SetUp() override {
    if (std::get<2>(GetParam()))
      ::setenv("SEEDPOOL_NO_IO_URING", "1", 1);
    else
      ::unsetenv("SEEDPOOL_NO_IO_URING");
  }
  void TearDown() override { ::unsetenv("SEEDPOOL_NO_IO_URING"); }
};

// The faulty source alone: how requests end, the statistics, no busy loop,
// and recovery.
void run_alone(const Row& row) {
  Harness h(row.fault, false);
  ASSERT_NO_FATAL_FAILURE(h.prime());
  pool::Pool& p = h.pool();
  const pool::Stats s0 = p.stats();
  const int reads_at0 = h.reads();
  const std::uint64_t credited0 = h.faulty().bits_credited;

  // A request already waiting when the fault comes ends the way the row
  // says: with the reason at once (no_usable_source, not timed_out: it is
  // not left to its deadline), at its deadline, or served.
  Outcome waiter;
  Request r(p, 32, waiter.callback());
  ASSERT_EQ(r.schedule(Clock::now() + kWait), Errc::pending);
  ASSERT_NO_FATAL_FAILURE(h.inject());
  ASSERT_TRUE(waiter.wait()) << "the queued request never ended";
  EXPECT_EQ(waiter.rc, row.alone) << pool::describe(waiter.rc);
  if (row.alone == Errc::ok)
    EXPECT_FALSE(all_of(waiter.bytes, 0));
  else
    EXPECT_TRUE(waiter.bytes.empty()) << "no bytes with an error";

  // A blocking read while it lasts, and the reads of the source meanwhile
  // (over kWait in all, even when the read fails at once).
  const int reads0 = h.reads();
  const std::uint64_t wakeups0 = p.stats().gatherer_wakeups;
  const auto t0 = Clock::now();
  std::array<std::uint8_t, 32> out;
  out.fill(0x77);
  const Errc rc = p.read(out, {}, false, kWait);
  EXPECT_EQ(rc, row.alone) << pool::describe(rc);
  if (rc == Errc::timed_out) {
    EXPECT_GE(Clock::now() - t0, kWait) << "gave up before its bound";
  }
  if (rc == Errc::ok) {
    EXPECT_FALSE(all_of(out, 0x77));
    EXPECT_FALSE(all_of(out, 0));
  } else {
    EXPECT_TRUE(all_of(out, 0)) << "a failed request leaves nothing behind";
  }
  std::this_thread::sleep_until(t0 + kWait);
  const int window_reads = h.reads() - reads0;
  if (row.max_reads >= 0) {
    EXPECT_LE(window_reads, row.max_reads) << "read in a loop";
    EXPECT_GE(window_reads, row.min_reads) << "never tried again";
    // The gatherer sleeps too: no more wake-ups than reads plus the
    // request's own (its start, its deadline).
    EXPECT_LE(p.stats().gatherer_wakeups - wakeups0,
              static_cast<std::uint64_t>(row.max_reads) + 6);
  }

  pool::Stats s = p.stats();
  EXPECT_EQ(s.sources[0].status, row.status)
      << pool::source_status_name(s.sources[0].status);
  EXPECT_EQ(s.sources[0].last_errno, row.last_errno);
  EXPECT_NE(pool::format_sources(s).find(std::string(":") +
                                         pool::source_status_name(row.status) + ":"),
            std::string::npos)
      << pool::format_sources(s);
  EXPECT_EQ(s.health, row.health_alone) << pool::health_name(s.health);
  EXPECT_EQ(s.requests_queued, 0u);
  EXPECT_EQ(s.gatherer, std::getenv("SEEDPOOL_NO_IO_URING") ? "poll" : "io_uring");
  // Nothing served that was not credited (8n + 64 bits a block).
  EXPECT_LE(s.bits_debited, s.bits_credited);
  if (row.alone == Errc::ok) {
    EXPECT_EQ(s.requests_served - s0.requests_served, 2u);
    // Each read gave at most kShortRead bytes, and every bit is accounted.
    if (row.fault == Fault::short_reads) {
      const std::uint64_t bytes = s.sources[0].bytes_read - s0.sources[0].bytes_read;
      EXPECT_GE(bytes, 2u * (32 + 8)) << "two requests of 32 bytes, 8n + 64 bits each";
      EXPECT_GE(static_cast<std::uint64_t>(h.reads() - reads_at0) * kShortRead, bytes);
      EXPECT_LE(s.sources[0].bits_credited + s.sources[0].bits_withheld,
                s.sources[0].bytes_read * 8);
    }
  } else {
    EXPECT_EQ(s.sources[0].bits_credited, credited0) << "credited while failing";
    EXPECT_EQ(s.requests_failed - s0.requests_failed, 2u);
    EXPECT_EQ(s.requests_timed_out - s0.requests_timed_out,
              row.alone == Errc::timed_out ? 2u : 0u);
    EXPECT_EQ(s.requests_served, s0.requests_served);
    // Now, without waiting: "short" while there is hope, the reason when
    // there is none.
    out.fill(0x77);
    EXPECT_EQ(p.try_read(out, {}, false), row.health_alone == Health::failed
                                              ? Errc::no_usable_source
                                              : Errc::entropy_short);
    EXPECT_TRUE(all_of(out, 0));
  }

  // Recovery, from a drained pool: what is served next comes from new input.
  h.drain();
  const int reads1 = h.reads();
  const std::uint64_t credited1 = h.faulty().bits_credited;
  if (!row.recovers) {
    ASSERT_NO_FATAL_FAILURE(h.recover());
    out.fill(0x77);
    EXPECT_EQ(p.read(out, {}, false, 200ms), row.alone);
    EXPECT_TRUE(all_of(out, 0));
    EXPECT_EQ(h.reads(), reads1) << "read again after it was out for good";
    EXPECT_EQ(h.faulty().status, row.status);
    return;
  }
  if (row.health_alone != Health::failed) {
    // A reader already waiting is served when the data comes, without
    // asking again.
    Errc waited = Errc::pending;
    std::array<std::uint8_t, 32> got{};
    std::thread reader([&] { waited = p.read(got, {}, false, 10s); });
    std::this_thread::sleep_for(50ms);
    ASSERT_NO_FATAL_FAILURE(h.recover());
    reader.join();
    EXPECT_EQ(waited, Errc::ok) << pool::describe(waited);
    EXPECT_FALSE(all_of(got, 0));
  } else {
    // Backed off: requests fail with the reason until the back-off ends
    // (1 s after the error), then the source is read again and serves.
    ASSERT_NO_FATAL_FAILURE(h.recover());
    EXPECT_TRUE(eventually([&] { return p.read(out, {}, false, 100ms) == Errc::ok; }))
        << "not served again after the source recovered";
    EXPECT_FALSE(all_of(out, 0));
  }
  EXPECT_GT(h.faulty().bits_credited, credited1) << "served from the source again";
  EXPECT_EQ(h.faulty().status, SourceStatus::ok);
  EXPECT_EQ(p.stats().health, Health::ok);
}

// Beside a healthy source: requests are served by that one meanwhile.
void run_with_backup(const Row& row) {
  Harness h(row.fault, true);
  ASSERT_NO_FATAL_FAILURE(h.prime());
  pool::Pool& p = h.pool();
  ASSERT_NO_FATAL_FAILURE(h.inject());
  const std::uint64_t credited0 = h.faulty().bits_credited;
  const std::uint64_t h_bytes0 = h.faulty().bytes_read;
  const std::uint64_t backup0 = h.backup().bits_credited;

  // Requests all along kWait: every one served.
  const int reads0 = h.reads();
  int requests = 0;
  const auto t0 = Clock::now();
  while (Clock::now() < t0 + kWait) {
    std::array<std::uint8_t, 64> out;
    out.fill(0x77);
    ASSERT_EQ(p.read(out, {}, false, 2s), Errc::ok) << "request " << requests;
    EXPECT_FALSE(all_of(out, 0x77));
    ++requests;
    std::this_thread::sleep_for(5ms);
  }
  const int window_reads = h.reads() - reads0;
  const pool::Stats s = p.stats();
  if (row.fault == Fault::short_reads) {
    // Each read gives data, so a refill reads on: not a loop. Its input is
    // credited meanwhile, at most kShortRead bytes a read.
    EXPECT_GT(s.sources[0].bits_credited, credited0);
    EXPECT_GE(static_cast<std::uint64_t>(window_reads) * kShortRead,
              s.sources[0].bytes_read - h_bytes0);
  } else if (row.status == SourceStatus::failed ||
             row.status == SourceStatus::absent ||
             row.status == SourceStatus::exhausted) {
    // Backed off or out for good: hardly read at all.
    EXPECT_LE(window_reads, row.max_reads) << "read while backed off or out";
  } else {
    // Nothing to read: at most one non-blocking read per request (a refill
    // tries every live source once), none by the gatherer in a loop.
    EXPECT_LE(window_reads, requests + 4) << "read in a loop";
  }
  if (row.fault != Fault::short_reads) {  // its pipe may run dry meanwhile
    EXPECT_EQ(s.sources[0].status, row.status)
        << pool::source_status_name(s.sources[0].status);
  }
  EXPECT_EQ(s.sources[0].last_errno, row.last_errno);
  EXPECT_EQ(s.health, row.health_backup) << pool::health_name(s.health);
  EXPECT_GT(s.sources[1].bits_credited, backup0) << "served by the other source";
  if (row.fault != Fault::short_reads) {
    EXPECT_EQ(s.sources[0].bits_credited, credited0) << "credited while failing";
  }

  // After recovery its input is credited again (requests keep draining
  // the pool, so refills read it; the EIO row waits out its back-off).
  const int reads1 = h.reads();
  const std::uint64_t credited1 = h.faulty().bits_credited;
  ASSERT_NO_FATAL_FAILURE(h.recover());
  auto drawn_from_it = [&] {
    std::array<std::uint8_t, 64> out{};
    EXPECT_EQ(p.read(out, {}, false, 2s), Errc::ok);
    return h.faulty().bits_credited > credited1;
  };
  if (row.recovers) {
    EXPECT_TRUE(eventually(drawn_from_it)) << "its input is not credited again";
    EXPECT_EQ(h.faulty().status, SourceStatus::ok);
    EXPECT_EQ(p.stats().health, Health::ok);
  } else {
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(drawn_from_it());
    EXPECT_EQ(h.reads(), reads1) << "read again after it was out for good";
    EXPECT_EQ(h.faulty().status, row.status);
  }
}

TEST_P(SourceFaults, PoolReactsAsTheTableSays) {
  const auto& [row, with_backup, poll_fallback] = GetParam();
  (void)poll_fallback;  // SetUp
  if (with_backup)
    run_with_backup(row);
  else
    run_alone(row);
}

INSTANTIATE_TEST_SUITE_P(
    Table, SourceFaults,
    ::testing::Combine(::testing::ValuesIn(kRows), ::testing::Bool(),
                       ::testing::Bool()),
    [](const auto& param_info) {
      return std::string(std::get<0>(param_info.param).name) +
             (std::get<1>(param_info.param) ? "_WithBackup" : "_Alone") +
             (std::get<2>(param_info.param) ? "_poll" : "_io_uring");
    });

}  // namespace
}  // namespace seedpool
