// The seed file in the pool: start() loads, mixes, replaces at once and only
// then credits (trusted and safe files only); finish() saves fresh output,
// never from a forked child. Pool does not drive SeedKeeper in these tests:
// each test calls start()/finish() itself, on a pool whose only source
// gives nothing (would_block), so every credited bit is the seed file's.
// Every test runs in its own temporary directory (0700, owned by us: a safe
// seed directory). Runs as root in CI.
#include "pool/seed_keeper.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "fake_source.h"
#include "seed_test_util.h"
#include "pool/pool.h"

namespace seedpool {
namespace {

using pool::Errc;
using pool::Pool;
using pool::SeedFile;
using pool::SeedKeeper;
using testing::FakeSource;
using testing::Bytes;
using testing::pattern;
using testing::read_file;
using testing::set_immutable;
using testing::write_file;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

// A pool whose one source is credited but never has data: its entropy
// estimate moves only through the seed file.
std::unique_ptr<Pool> make_pool(
    FakeSource::Mode mode = FakeSource::Mode::would_block,
    std::uint32_t pool_size_bits = 4096) {
  pool::Config cfg;
  cfg.pool_size_bits = pool_size_bits;
  std::vector<Pool::CustomSource> srcs;
  srcs.push_back({std::make_unique<FakeSource>(mode), 8});
  std::unique_ptr<Pool> p;
  EXPECT_EQ(Pool::create(cfg, std::move(srcs), p), Errc::ok);
  return p;
}

std::unique_ptr<SeedKeeper> make_keeper(const std::string& path, bool trusted) {
  std::unique_ptr<SeedKeeper> k;
  EXPECT_EQ(SeedKeeper::create(path, trusted, k), Errc::ok);
  return k;
}

class SeedKeeperTest : public testing::SeedDir {};

TEST_F(SeedKeeperTest, CreateRefusesEmptyAndRelativePaths) {
  std::unique_ptr<SeedKeeper> k;
  EXPECT_EQ(SeedKeeper::create("", true, k), Errc::invalid_argument);
  EXPECT_EQ(SeedKeeper::create("seed", true, k), Errc::invalid_argument);
  EXPECT_EQ(SeedKeeper::create("./seed", false, k), Errc::invalid_argument);
  EXPECT_EQ(k, nullptr);
  ASSERT_EQ(SeedKeeper::create(seed_, true, k), Errc::ok);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->path(), seed_);
  EXPECT_TRUE(k->trusted());
  // Nothing happened yet: no file touched, empty statistics.
  EXPECT_FALSE(std::filesystem::exists(seed_));
  const pool::SeedFileStats s = k->stats();
  EXPECT_EQ(s.load, "");
  EXPECT_EQ(s.credit, "");
  EXPECT_EQ(s.bits_credited, 0u);
  EXPECT_EQ(s.replace, "");
  EXPECT_EQ(s.save, "");
}

TEST_F(SeedKeeperTest, TrustedSafeFileIsReplacedAtOnceThenCredited) {
  const Bytes old = pattern(64, 1);
  write_file(seed_, old);
  auto p = make_pool();
  ASSERT_EQ(p->entropy_available_bits(), 0u);
  auto k = make_keeper(seed_, true);
  k->start(*p);

  const Bytes now = read_file(seed_);
  EXPECT_EQ(now.size(), old.size());  // the administrator's size is kept
  EXPECT_NE(now, old);
  EXPECT_EQ(mode_of(seed_) & 07777, 0600u);
  EXPECT_TRUE(S_ISREG(mode_of(seed_)));
  // 8 bits per byte, all of it new to the estimate.
  EXPECT_EQ(p->entropy_available_bits(), 64u * 8);
  EXPECT_EQ(p->stats().bits_credited, 64u * 8);
  const pool::SeedFileStats s = k->stats();
  EXPECT_EQ(s.load, "loaded");
  EXPECT_EQ(s.credit, "allowed");
  EXPECT_EQ(s.bits_credited, 64u * 8);
  EXPECT_EQ(s.replace, "ok");
  EXPECT_EQ(s.save, "");
  // The session ended: the lock is free for the next one at once.
  auto next = SeedFile::open_and_lock(seed_, pool::SeedTrust::trusted,
                                      std::chrono::milliseconds(0));
  EXPECT_TRUE(next.locked());
}

// A seed file is conditioner output derived from a 512-bit state: however
// long, it is credited at most 512 bits.
TEST_F(SeedKeeperTest, CreditIsCappedAtTheStateSize) {
  write_file(seed_, pattern(4000, 2));
  auto p = make_pool(FakeSource::Mode::would_block, 2048);
  auto k = make_keeper(seed_, true);
  k->start(*p);
  EXPECT_EQ(p->entropy_available_bits(), 512u);
  EXPECT_EQ(k->stats().bits_credited, 512u);
  EXPECT_EQ(read_file(seed_).size(), 4000u);
}

// Longer than kMaxBytes: the first kMaxBytes are read and (trusted, safe)
// credited (at most 512 bits); the replacement gets the default size.
TEST_F(SeedKeeperTest, OversizedFileIsCreditedAndGetsTheDefaultSize) {
  write_file(seed_, pattern(SeedFile::kMaxBytes + 1, 14));
  auto p = make_pool();
  auto k = make_keeper(seed_, true);
  k->start(*p);
  EXPECT_EQ(k->stats().load, "oversized");
  EXPECT_EQ(k->stats().credit, "allowed");
  EXPECT_EQ(k->stats().bits_credited, 512u);
  EXPECT_EQ(p->entropy_available_bits(), 512u);
  EXPECT_EQ(read_file(seed_).size(), SeedKeeper::kDefaultSeedBytes);
}

TEST_F(SeedKeeperTest, UntrustedFileIsMixedReplacedButNotCredited) {
  const Bytes old = pattern(512, 3);
  write_file(seed_, old);
  auto p = make_pool();
  auto k = make_keeper(seed_, false);
  k->start(*p);
  EXPECT_EQ(p->entropy_available_bits(), 0u);
  EXPECT_EQ(p->stats().bits_credited, 0u);
  const Bytes now = read_file(seed_);
  EXPECT_EQ(now.size(), 512u);
  EXPECT_NE(now, old);
  const pool::SeedFileStats s = k->stats();
  EXPECT_EQ(s.load, "loaded");
  EXPECT_EQ(s.credit, "not_trusted");
  EXPECT_EQ(s.bits_credited, 0u);
  EXPECT_EQ(s.replace, "ok");
}

TEST_F(SeedKeeperTest, FileWritableByOthersIsNotCreditedAndBecomes0600) {
  const Bytes old = pattern(128, 4);
  write_file(seed_, old, 0666);
  auto p = make_pool();
  auto k = make_keeper(seed_, true);
  k->start(*p);
  EXPECT_EQ(p->entropy_available_bits(), 0u);
  EXPECT_EQ(k->stats().credit, "writable_by_others");
  EXPECT_EQ(k->stats().bits_credited, 0u);
  EXPECT_NE(read_file(seed_), old);
  EXPECT_EQ(mode_of(seed_) & 07777, 0600u);
}

TEST_F(SeedKeeperTest, MissingFileIsCreatedForTheNextStart) {
  auto p = make_pool();
  auto k = make_keeper(seed_, true);
  k->start(*p);
  EXPECT_EQ(p->entropy_available_bits(), 0u);
  const pool::SeedFileStats s = k->stats();
  EXPECT_EQ(s.load, "missing");
  EXPECT_EQ(s.credit, "no_content");
  EXPECT_EQ(s.replace, "ok");
  EXPECT_EQ(read_file(seed_).size(), SeedKeeper::kDefaultSeedBytes);
  EXPECT_EQ(mode_of(seed_) & 07777, 0600u);

  // The next start finds it, and (trusted, ours, 0600) credits it.
  auto p2 = make_pool();
  auto k2 = make_keeper(seed_, true);
  k2->start(*p2);
  EXPECT_EQ(k2->stats().load, "loaded");
  EXPECT_EQ(k2->stats().credit, "allowed");
  EXPECT_EQ(p2->entropy_available_bits(), SeedKeeper::kMaxCreditBits);
}

TEST_F(SeedKeeperTest, ShortFileIsNotCreditedAndGetsTheDefaultSize) {
  const Bytes old = pattern(SeedFile::kMinBytes - 1, 5);
  write_file(seed_, old);
  auto p = make_pool();
  auto k = make_keeper(seed_, true);
  k->start(*p);
  EXPECT_EQ(p->entropy_available_bits(), 0u);
  EXPECT_EQ(k->stats().load, "short_file");
  EXPECT_EQ(k->stats().credit, "too_short");
  EXPECT_EQ(k->stats().bits_credited, 0u);
  EXPECT_EQ(read_file(seed_).size(), SeedKeeper::kDefaultSeedBytes);
}

TEST_F(SeedKeeperTest, MissingDirectoryIsAStatusNotAFailure) {
  auto p = make_pool(FakeSource::Mode::data);
  auto k = make_keeper(dir_ + "/no/such/dir/seed", true);
  k->start(*p);
  const pool::SeedFileStats s = k->stats();
  EXPECT_EQ(s.load, "missing");
  EXPECT_EQ(s.credit, "no_content");
  EXPECT_EQ(s.replace, pool::describe(pool::SeedFileErrc::dir_open_failed));
  // The pool serves from its sources as usual.
  std::uint8_t out[32];
  EXPECT_EQ(p->try_read(out, {}, false), Errc::ok);
  k->finish(*p);
  EXPECT_EQ(k->stats().save, pool::describe(pool::SeedFileErrc::dir_open_failed));
}

// Credit is allowed by the file's rules, but the replacement cannot be
// written (an immutable directory: read-only even for root): the file still
// holds the content, so it must not be credited.
TEST_F(SeedKeeperTest, NoCreditWhenTheReplacementFails) {
  const Bytes old = pattern(64, 6);
  write_file(seed_, old);
  // The lock file must already exist: it cannot be created later.
  write_file(seed_ + ".lock", {});
  if (!set_immutable(dir_, true))
    GTEST_SKIP() << "cannot set FS_IMMUTABLE_FL here: " << std::strerror(errno);
  immutable_ = true;
  auto p = make_pool();
  auto k = make_keeper(seed_, true);
  k->start(*p);
  const pool::SeedFileStats s = k->stats();
  EXPECT_EQ(s.load, "loaded");
  EXPECT_EQ(s.credit, "replace_failed");
  EXPECT_EQ(s.bits_credited, 0u);
  EXPECT_EQ(s.replace, pool::describe(pool::SeedFileErrc::temp_create_failed));
  EXPECT_EQ(p->entropy_available_bits(), 0u);
  EXPECT_EQ(read_file(seed_), old);
}

// Two starts one after the other (two processes' pools, or two pools in one
// process) each credit a different content: the second reads the first's
// replacement, never the content the first credited.
TEST_F(SeedKeeperTest, ConsecutiveStartsNeverCreditTheSameContent) {
  const Bytes c0 = pattern(256, 7);
  write_file(seed_, c0);
  auto p1 = make_pool();
  auto k1 = make_keeper(seed_, true);
  k1->start(*p1);
  const Bytes c1 = read_file(seed_);
  auto p2 = make_pool();
  auto k2 = make_keeper(seed_, true);
  k2->start(*p2);
  const Bytes c2 = read_file(seed_);
  EXPECT_EQ(k1->stats().credit, "allowed");
  EXPECT_EQ(k2->stats().credit, "allowed");
  EXPECT_EQ(p1->entropy_available_bits(), SeedKeeper::kMaxCreditBits);
  EXPECT_EQ(p2->entropy_available_bits(), SeedKeeper::kMaxCreditBits);
  // Each credited content was gone from the disk before the next load.
  EXPECT_NE(c1, c0);
  EXPECT_NE(c2, c1);
  EXPECT_NE(c2, c0);
  EXPECT_EQ(c1.size(), 256u);
  EXPECT_EQ(c2.size(), 256u);
}

// Two processes starting at the same moment: the lock serialises them (so
// neither times out or loses the lock, and both may credit), and each
// replaces the file before the other loads it (seed_file_test's lock tests
// show the loads never see the same content).
TEST_F(SeedKeeperTest, ConcurrentProcessesEachReplaceWhatTheyLoaded) {
  write_file(seed_, pattern(128, 8));
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> kids;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      (void)::close(go[1]);
      char c;
      if (::read(go[0], &c, 1) != 0) ::_exit(3);  // wait for the start signal
      auto p = make_pool();
      std::unique_ptr<SeedKeeper> k;
      if (!p || SeedKeeper::create(seed_, true, k) != Errc::ok) ::_exit(2);
      k->start(*p);
      const pool::SeedFileStats s = k->stats();
      ::_exit(s.credit == "allowed" && s.replace == "ok" &&
                      p->entropy_available_bits() == SeedKeeper::kMaxCreditBits
                  ? 0
                  : 1);
    }
    kids.push_back(pid);
  }
  (void)::close(go[0]);
  (void)::close(go[1]);  // both children start now
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  EXPECT_NE(read_file(seed_), pattern(128, 8));
}

TEST_F(SeedKeeperTest, FinishWritesFreshContent) {
  write_file(seed_, pattern(96, 9));
  // A source with data: finish() saves full-entropy pool output.
  auto p = make_pool(FakeSource::Mode::data);
  auto k = make_keeper(seed_, true);
  k->start(*p);
  const Bytes after_start = read_file(seed_);
  const std::uint64_t served = p->stats().bytes_served;
  k->finish(*p);
  const Bytes after_finish = read_file(seed_);
  EXPECT_EQ(after_finish.size(), 96u);
  EXPECT_NE(after_finish, after_start);
  EXPECT_EQ(mode_of(seed_) & 07777, 0600u);
  EXPECT_EQ(k->stats().save, "ok");
  EXPECT_EQ(p->stats().bytes_served, served + 96);
}

TEST_F(SeedKeeperTest, FinishFallsBackToDerivedOutputWhenThePoolIsShort) {
  write_file(seed_, pattern(64, 10));
  auto p = make_pool();  // no data, and the seed is untrusted: nothing credited
  auto k = make_keeper(seed_, false);
  k->start(*p);
  ASSERT_EQ(p->entropy_available_bits(), 0u);
  const Bytes after_start = read_file(seed_);
  k->finish(*p);
  const Bytes after_finish = read_file(seed_);
  EXPECT_EQ(after_finish.size(), 64u);
  EXPECT_NE(after_finish, after_start);
  EXPECT_EQ(k->stats().save, "ok");
}

TEST_F(SeedKeeperTest, FinishBeforeStartWritesNothing) {
  const Bytes old = pattern(64, 11);
  write_file(seed_, old);
  auto p = make_pool(FakeSource::Mode::data);
  auto k = make_keeper(seed_, true);
  k->finish(*p);
  EXPECT_EQ(read_file(seed_), old);
  EXPECT_EQ(k->stats().save, "skipped: not started");
  EXPECT_EQ(k->stats().load, "");
}

TEST_F(SeedKeeperTest, StartRunsOnce) {
  write_file(seed_, pattern(64, 12));
  auto p = make_pool();
  auto k = make_keeper(seed_, true);
  k->start(*p);
  const Bytes after_first = read_file(seed_);
  k->start(*p);
  EXPECT_EQ(read_file(seed_), after_first);
  EXPECT_EQ(p->entropy_available_bits(), 64u * 8);
}

// Only the process that loaded the file saves it: a forked child's finish()
// leaves the file alone, and the parent's still saves.
TEST_F(SeedKeeperTest, ForkedChildDoesNotSave) {
  write_file(seed_, pattern(64, 13));
  auto p = make_pool(FakeSource::Mode::data);
  auto k = make_keeper(seed_, true);
  k->start(*p);
  const Bytes after_start = read_file(seed_);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    k->finish(*p);
    const bool unchanged = read_file(seed_) == after_start;
    const bool skipped = k->stats().save == "skipped: forked child";
    ::_exit(unchanged && skipped ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(read_file(seed_), after_start);
  EXPECT_EQ(k->stats().save, "");  // the child's record stays in the child
  k->finish(*p);
  EXPECT_NE(read_file(seed_), after_start);
  EXPECT_EQ(k->stats().save, "ok");
}

}  // namespace
}  // namespace seedpool
