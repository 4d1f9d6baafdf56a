// The seed file on disk: what is loaded and whether it may be credited, how
// it is replaced (atomically, 0600, never through a link), and that two
// processes sharing one seed file never read the same content under the lock.
// Every test runs in its own temporary directory. Runs as root in CI, so
// "another user" is nobody (65534) and unwritable means an immutable
// directory or a path through a regular file.
#include "pool/seed_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "seed_test_util.h"

namespace seedpool {
namespace {

using namespace std::chrono_literals;
using pool::SeedCredit;
using pool::SeedFile;
using pool::SeedFileErrc;
using pool::SeedLoadStatus;
using pool::SeedTrust;
using testing::Bytes;
using testing::pattern;
using testing::read_file;
using testing::SeedDir;
using testing::set_immutable;
using testing::write_file;

constexpr uid_t kNobody = 65534;

Bytes to_bytes(std::span<const std::uint8_t> s) { return {s.begin(), s.end()}; }

struct stat lstat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

std::set<std::string> dir_entries(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.insert(e.path().filename().string());
  return names;
}

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t m) : old_(::umask(m)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

class SeedFileLoad : public SeedDir {};
class SeedFileSymlink : public SeedDir {};
class SeedFileReplace : public SeedDir {};
class SeedFileErrors : public SeedDir {};
class SeedFileLock : public SeedDir {};

// ---------------------------------------------------------------------------
// Loading and the credit rules

TEST_F(SeedFileLoad, TrustedGoodFileIsReturnedAndCredited) {
  const Bytes content = pattern(512, 1);
  write_file(seed_, content);
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  EXPECT_TRUE(s.locked());
  EXPECT_TRUE(s.lock_result().ok());
  EXPECT_EQ(s.load().status, SeedLoadStatus::loaded);
  EXPECT_EQ(to_bytes(s.load().content.bytes()), content);
  EXPECT_EQ(s.load().credit, SeedCredit::allowed);
  EXPECT_TRUE(s.load().credit_allowed());
  // The lock file exists, 0600, and stays (it is never deleted).
  const struct stat lock_st = lstat_of(seed_ + ".lock");
  EXPECT_TRUE(S_ISREG(lock_st.st_mode));
  EXPECT_EQ(lock_st.st_mode & 07777, 0600u);
}

TEST_F(SeedFileLoad, UntrustedFileIsReturnedButNotCredited) {
  const Bytes content = pattern(64, 2);
  write_file(seed_, content);
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::untrusted);
  EXPECT_EQ(s.load().status, SeedLoadStatus::loaded);
  EXPECT_EQ(to_bytes(s.load().content.bytes()), content);
  EXPECT_EQ(s.load().credit, SeedCredit::not_trusted);
  EXPECT_STREQ(pool::seed_credit_name(s.load().credit), "not_trusted");
}

TEST_F(SeedFileLoad, GroupOrOtherWritableIsNotCredited) {
  for (mode_t mode : {0620, 0602, 0666, 0622}) {
    SCOPED_TRACE(mode);
    write_file(seed_, pattern(64, 3), mode);
    auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
    EXPECT_EQ(s.load().status, SeedLoadStatus::loaded);
    EXPECT_FALSE(s.load().content.empty());  // still mixed
    EXPECT_EQ(s.load().credit, SeedCredit::writable_by_others);
  }
  // Group- or other-readable is fine: only writers can plant a seed.
  write_file(seed_, pattern(64, 3), 0644);
  EXPECT_EQ(SeedFile::open_and_lock(seed_, SeedTrust::trusted).load().credit,
            SeedCredit::allowed);
}

TEST_F(SeedFileLoad, FileOwnedByAnotherUserIsNotCredited) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to chown";
  write_file(seed_, pattern(64, 4));
  ASSERT_EQ(::chown(seed_.c_str(), kNobody, kNobody), 0);
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  EXPECT_EQ(s.load().status, SeedLoadStatus::loaded);
  EXPECT_EQ(s.load().credit, SeedCredit::wrong_owner);
}

// In a child with real uid 0 and effective uid nobody, nobody's file is
// credited and root's is not: the rule follows the effective uid.
TEST_F(SeedFileLoad, OwnerRuleUsesTheEffectiveUid) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to chown and seteuid";
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);  // nobody must get in
  const std::string nobodys = dir_ + "/nobodys";
  const std::string roots = dir_ + "/roots";
  write_file(nobodys, pattern(64, 5), 0600);
  write_file(roots, pattern(64, 6), 0644);  // readable, so owner is the issue
  ASSERT_EQ(::chown(nobodys.c_str(), kNobody, kNobody), 0);
  // nobody cannot create files in the root-owned directory: provide locks.
  for (const std::string& p : {nobodys, roots}) {
    write_file(p + ".lock", {}, 0600);
    ASSERT_EQ(::chown((p + ".lock").c_str(), kNobody, kNobody), 0);
  }

  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::seteuid(kNobody) != 0) ::_exit(10);
    if (::getuid() != 0 || ::geteuid() != kNobody) ::_exit(11);
    auto mine = SeedFile::open_and_lock(nobodys, SeedTrust::trusted);
    if (!mine.locked()) ::_exit(12);
    if (mine.load().credit != SeedCredit::allowed) ::_exit(13);
    auto theirs = SeedFile::open_and_lock(roots, SeedTrust::trusted);
    if (theirs.load().status != SeedLoadStatus::loaded) ::_exit(14);
    if (theirs.load().credit != SeedCredit::wrong_owner) ::_exit(15);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // And as root, the verdicts swap.
  EXPECT_EQ(SeedFile::open_and_lock(nobodys, SeedTrust::trusted).load().credit,
            SeedCredit::wrong_owner);
  EXPECT_EQ(SeedFile::open_and_lock(roots, SeedTrust::trusted).load().credit,
            SeedCredit::allowed);
}

TEST_F(SeedFileLoad, UnsafeDirectoryIsNotCreditedUnlessSticky) {
  write_file(seed_, pattern(64, 7));
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
  EXPECT_EQ(SeedFile::open_and_lock(seed_, SeedTrust::trusted).load().credit,
            SeedCredit::unsafe_directory);
  ASSERT_EQ(::chmod(dir_.c_str(), 0770), 0);
  EXPECT_EQ(SeedFile::open_and_lock(seed_, SeedTrust::trusted).load().credit,
            SeedCredit::unsafe_directory);
  // Sticky, like /tmp: only the file's owner can rename or unlink it.
  ASSERT_EQ(::chmod(dir_.c_str(), 01777), 0);
  EXPECT_EQ(SeedFile::open_and_lock(seed_, SeedTrust::trusted).load().credit,
            SeedCredit::allowed);
  // A directory owned by another (non-root) user: its owner can swap files.
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(::chown(dir_.c_str(), kNobody, kNobody), 0);
  EXPECT_EQ(SeedFile::open_and_lock(seed_, SeedTrust::trusted).load().credit,
            SeedCredit::unsafe_directory);
}

TEST_F(SeedFileLoad, HardLinkedFileIsNotCredited) {
  write_file(seed_, pattern(64, 8));
  ASSERT_EQ(::link(seed_.c_str(), (dir_ + "/other").c_str()), 0);
  EXPECT_EQ(SeedFile::open_and_lock(seed_, SeedTrust::trusted).load().credit,
            SeedCredit::hard_linked);
}

TEST_F(SeedFileLoad, MissingFileIsAWarningAndReplaceCreatesIt0600) {
  // Whatever the umask says, the result is 0600: even 0 (would give the
  // open() mode as is) and 0277 (would drop the owner's write bit).
  for (mode_t mask : {0000, 0022, 0077, 0277}) {
    SCOPED_TRACE(mask);
    ScopedUmask um(mask);
    std::filesystem::remove(seed_);
    std::filesystem::remove(seed_ + ".lock");
    auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
    EXPECT_TRUE(s.locked());
    EXPECT_EQ(s.load().status, SeedLoadStatus::missing);
    EXPECT_EQ(s.load().sys_errno, ENOENT);
    EXPECT_TRUE(s.load().content.empty());
    EXPECT_EQ(s.load().credit, SeedCredit::no_content);
    const Bytes fresh = pattern(512, 9);
    ASSERT_TRUE(s.replace(fresh).ok());
    const struct stat st = lstat_of(seed_);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(st.st_uid, ::geteuid());
    EXPECT_EQ(lstat_of(seed_ + ".lock").st_mode & 07777, 0600u);
    EXPECT_EQ(read_file(seed_), fresh);
  }
}

TEST_F(SeedFileLoad, ShortFileIsReturnedButNeverCredited) {
  const Bytes content = pattern(SeedFile::kMinBytes - 1, 10);
  write_file(seed_, content);
  {
    auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
    EXPECT_TRUE(s.locked());
    EXPECT_EQ(s.load().status, SeedLoadStatus::short_file);
    EXPECT_EQ(to_bytes(s.load().content.bytes()), content);
    EXPECT_EQ(s.load().credit, SeedCredit::too_short);
  }  // a session holds the lock, also against this process: end it

  write_file(seed_, {});
  {
    auto empty = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
    EXPECT_TRUE(empty.locked());
    EXPECT_EQ(empty.load().status, SeedLoadStatus::short_file);
    EXPECT_TRUE(empty.load().content.empty());
  }

  write_file(seed_, pattern(SeedFile::kMinBytes, 10));
  EXPECT_EQ(SeedFile::open_and_lock(seed_, SeedTrust::trusted).load().status,
            SeedLoadStatus::loaded);
}

TEST_F(SeedFileLoad, OversizedFileIsReadUpToTheCap) {
  const Bytes big = pattern(SeedFile::kMaxBytes + 1000, 11);
  write_file(seed_, big);
  {
    auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
    EXPECT_EQ(s.load().status, SeedLoadStatus::oversized);
    EXPECT_EQ(to_bytes(s.load().content.bytes()),
              Bytes(big.begin(), big.begin() + SeedFile::kMaxBytes));
    EXPECT_EQ(s.load().credit, SeedCredit::allowed);
  }

  // Exactly the cap is an ordinary load.
  write_file(seed_, pattern(SeedFile::kMaxBytes, 11));
  EXPECT_EQ(SeedFile::open_and_lock(seed_, SeedTrust::trusted).load().status,
            SeedLoadStatus::loaded);
}

TEST_F(SeedFileLoad, DirectoryOrFifoIsNotReadAndDoesNotHang) {
  ASSERT_EQ(::mkdir(seed_.c_str(), 0700), 0);
  {
    auto d = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
    EXPECT_EQ(d.load().status, SeedLoadStatus::not_regular);
    EXPECT_EQ(d.load().credit, SeedCredit::no_content);
  }
  ASSERT_EQ(::rmdir(seed_.c_str()), 0);

  // A FIFO with no writer would block a plain open() forever.
  ASSERT_EQ(::mkfifo(seed_.c_str(), 0600), 0);
  auto f = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  EXPECT_TRUE(f.locked());
  EXPECT_EQ(f.load().status, SeedLoadStatus::not_regular);
  EXPECT_TRUE(f.load().content.empty());
  EXPECT_STREQ(pool::seed_load_status_name(f.load().status), "not_regular");
}

// ---------------------------------------------------------------------------
// Symbolic links: the last component is never followed

TEST_F(SeedFileSymlink, LinkIsNotFollowedForReading) {
  const std::string target = dir_ + "/target";
  write_file(target, pattern(64, 12));
  ASSERT_EQ(::symlink(target.c_str(), seed_.c_str()), 0);
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  EXPECT_EQ(s.load().status, SeedLoadStatus::symlink);
  EXPECT_TRUE(s.load().content.empty());
  EXPECT_EQ(s.load().credit, SeedCredit::no_content);
}

TEST_F(SeedFileSymlink, ReplaceReplacesTheLinkNeverItsTarget) {
  const std::string target = dir_ + "/target";
  const Bytes target_content = pattern(64, 13);
  write_file(target, target_content);
  ASSERT_EQ(::symlink(target.c_str(), seed_.c_str()), 0);
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  const Bytes fresh = pattern(256, 14);
  ASSERT_TRUE(s.replace(fresh).ok());
  const struct stat st = lstat_of(seed_);
  EXPECT_TRUE(S_ISREG(st.st_mode));  // the link is gone, a file is in place
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(read_file(seed_), fresh);
  EXPECT_EQ(read_file(target), target_content);
}

TEST_F(SeedFileSymlink, LockFileLinkIsNotFollowed) {
  write_file(seed_, pattern(64, 15));
  const std::string elsewhere = dir_ + "/elsewhere";
  ASSERT_EQ(::symlink(elsewhere.c_str(), (seed_ + ".lock").c_str()), 0);
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  EXPECT_FALSE(s.locked());
  EXPECT_EQ(s.lock_result().errc, SeedFileErrc::lock_failed);
  EXPECT_EQ(s.lock_result().sys_errno, ELOOP);
  EXPECT_FALSE(std::filesystem::exists(elsewhere));  // nothing created there
  // Still read for mixing, but without the lock it cannot be credited.
  EXPECT_EQ(s.load().status, SeedLoadStatus::loaded);
  EXPECT_EQ(s.load().credit, SeedCredit::not_locked);
}

// ---------------------------------------------------------------------------
// Replacing

TEST_F(SeedFileReplace, ReplacesWhatWasLoadedWithNewInodeAndNoTempLeft) {
  const Bytes old_content = pattern(512, 16);
  write_file(seed_, old_content);
  const ino_t old_ino = lstat_of(seed_).st_ino;
  const Bytes fresh = pattern(512, 17);
  ASSERT_NE(old_content, fresh);
  {
    auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
    ASSERT_EQ(to_bytes(s.load().content.bytes()), old_content);
    ASSERT_TRUE(s.replace(fresh).ok());
  }
  EXPECT_EQ(read_file(seed_), fresh);
  EXPECT_NE(lstat_of(seed_).st_ino, old_ino);  // renamed in, not rewritten
  EXPECT_EQ(lstat_of(seed_).st_mode & 07777, 0600u);
  EXPECT_EQ(dir_entries(dir_), (std::set<std::string>{"seed", "seed.lock"}));
  // The next load sees the replacement, never the old content.
  auto next = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  EXPECT_EQ(to_bytes(next.load().content.bytes()), fresh);
}

// A reader racing many replacements only ever sees one whole version.
TEST_F(SeedFileReplace, ReaderNeverSeesAPartialFile) {
  const Bytes a = pattern(SeedFile::kMaxBytes, 18);
  const Bytes b = pattern(SeedFile::kMaxBytes, 19);
  write_file(seed_, a);
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!stop.load()) {
      Bytes got = read_file(seed_);
      if (got != a && got != b) torn.fetch_add(1);
      reads.fetch_add(1);
    }
  });
  // Writes start once the reader has read: where fsync() returns at once
  // (tmpfs) the 200 saves could be over before the reader first runs.
  while (reads.load() == 0) std::this_thread::yield();
  for (int i = 0; i < 200; ++i) {
    auto r = SeedFile::save(seed_, (i % 2) ? a : b);
    ASSERT_TRUE(r.ok()) << pool::describe(r.errc);
  }
  stop.store(true);
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(dir_entries(dir_), (std::set<std::string>{"seed", "seed.lock"}));
}

TEST_F(SeedFileReplace, BadReplacementSizesAreRefusedAndChangeNothing) {
  const Bytes content = pattern(64, 20);
  write_file(seed_, content);
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  for (std::size_t len : {std::size_t{0}, SeedFile::kMinBytes - 1,
                          SeedFile::kMaxBytes + 1}) {
    SCOPED_TRACE(len);
    const Bytes bad(len, 0x5a);
    auto r = s.replace(bad);
    EXPECT_EQ(r.errc, SeedFileErrc::invalid_argument);
    EXPECT_EQ(SeedFile::save(seed_, bad).errc, SeedFileErrc::invalid_argument);
  }
  EXPECT_EQ(read_file(seed_), content);
}

TEST_F(SeedFileReplace, FailedRenameLeavesNoTemporaryFile) {
  ASSERT_EQ(::mkdir(seed_.c_str(), 0700), 0);  // cannot rename a file over it
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  auto r = s.replace(pattern(64, 21));
  EXPECT_EQ(r.errc, SeedFileErrc::rename_failed);
  EXPECT_EQ(r.sys_errno, EISDIR);
  EXPECT_EQ(dir_entries(dir_), (std::set<std::string>{"seed", "seed.lock"}));
}

TEST_F(SeedFileReplace, MovedFromSessionRefusesToReplace) {
  write_file(seed_, pattern(64, 22));
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  SeedFile moved = std::move(s);
  EXPECT_TRUE(moved.locked());
  EXPECT_EQ(moved.load().content.size(), 64u);
  EXPECT_FALSE(s.locked());                  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(s.load().content.empty());     // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(s.replace(pattern(64, 23)).errc,  // NOLINT(bugprone-use-after-move)
            SeedFileErrc::invalid_argument);
  EXPECT_TRUE(moved.replace(pattern(64, 23)).ok());
}

// ---------------------------------------------------------------------------
// Places that cannot be written: clear errors, no crash

TEST_F(SeedFileErrors, ParentIsARegularFile) {
  const std::string file = dir_ + "/file";
  write_file(file, pattern(64, 24));
  const std::string path = file + "/seed";
  auto s = SeedFile::open_and_lock(path, SeedTrust::trusted);
  EXPECT_FALSE(s.locked());
  EXPECT_EQ(s.lock_result().errc, SeedFileErrc::dir_open_failed);
  EXPECT_EQ(s.lock_result().sys_errno, ENOTDIR);
  EXPECT_EQ(s.load().status, SeedLoadStatus::unreadable);
  EXPECT_EQ(s.load().sys_errno, ENOTDIR);
  auto r = s.replace(pattern(64, 25));
  EXPECT_EQ(r.errc, SeedFileErrc::dir_open_failed);
  EXPECT_EQ(r.sys_errno, ENOTDIR);
  auto saved = SeedFile::save(path, pattern(64, 25));
  EXPECT_EQ(saved.errc, SeedFileErrc::dir_open_failed);
  EXPECT_STREQ(pool::describe(saved.errc),
               "cannot open the seed file's directory");
}

TEST_F(SeedFileErrors, DirectoryDoesNotExist) {
  const std::string path = dir_ + "/no/such/dir/seed";
  auto s = SeedFile::open_and_lock(path, SeedTrust::trusted);
  EXPECT_EQ(s.load().status, SeedLoadStatus::missing);  // a warning
  EXPECT_EQ(s.load().sys_errno, ENOENT);
  auto r = s.replace(pattern(64, 26));
  EXPECT_EQ(r.errc, SeedFileErrc::dir_open_failed);
  EXPECT_EQ(r.sys_errno, ENOENT);
  EXPECT_EQ(SeedFile::save(path, pattern(64, 26)).errc,
            SeedFileErrc::dir_open_failed);
}

// An immutable directory is read-only even for root. The seed is still read
// (to be mixed) but, with no lock and no replacement possible, not credited.
TEST_F(SeedFileErrors, ImmutableDirectoryCannotBeWrittenEvenByRoot) {
  const Bytes content = pattern(64, 27);
  write_file(seed_, content);
  if (!set_immutable(dir_, true))
    GTEST_SKIP() << "cannot set FS_IMMUTABLE_FL here: " << std::strerror(errno);
  immutable_ = true;
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted);
  EXPECT_FALSE(s.locked());
  EXPECT_EQ(s.lock_result().errc, SeedFileErrc::lock_failed);
  EXPECT_EQ(s.lock_result().sys_errno, EPERM);
  EXPECT_EQ(s.load().status, SeedLoadStatus::loaded);
  EXPECT_EQ(to_bytes(s.load().content.bytes()), content);
  EXPECT_EQ(s.load().credit, SeedCredit::not_locked);
  auto r = s.replace(pattern(64, 28));
  EXPECT_EQ(r.errc, SeedFileErrc::temp_create_failed);
  EXPECT_EQ(r.sys_errno, EPERM);
  auto saved = SeedFile::save(seed_, pattern(64, 28));
  EXPECT_EQ(saved.errc, SeedFileErrc::lock_failed);
  EXPECT_EQ(read_file(seed_), content);
  EXPECT_EQ(dir_entries(dir_), (std::set<std::string>{"seed"}));
}

TEST_F(SeedFileErrors, InvalidPaths) {
  const std::string too_long = dir_ + "/" + std::string(NAME_MAX, 'x');
  for (const std::string& p :
       {std::string(), dir_ + "/", dir_ + "/.", dir_ + "/..", too_long}) {
    SCOPED_TRACE(p);
    auto s = SeedFile::open_and_lock(p, SeedTrust::trusted);
    EXPECT_FALSE(s.locked());
    EXPECT_EQ(s.lock_result().errc, SeedFileErrc::invalid_argument);
    EXPECT_EQ(s.load().status, SeedLoadStatus::unreadable);
    EXPECT_EQ(s.replace(pattern(64, 29)).errc, SeedFileErrc::invalid_argument);
    EXPECT_EQ(SeedFile::save(p, pattern(64, 29)).errc,
              SeedFileErrc::invalid_argument);
  }
  EXPECT_EQ(dir_entries(dir_), std::set<std::string>{});
}

// ---------------------------------------------------------------------------
// Two processes, one seed file

// Children start together and each loads, holds the lock a while, and
// replaces with its own bytes. Each must read either the original content or
// exactly one other child's replacement, and no two may read the same.
TEST_F(SeedFileLock, NextProcessReadsThePreviousOnesReplacement) {
  constexpr int kChildren = 6;
  constexpr std::size_t kLen = 64;
  const Bytes original = pattern(kLen, 100);
  write_file(seed_, original);
  auto replacement_of = [&](int child) {
    return pattern(kLen, static_cast<std::uint8_t>(child));
  };

  int go[2];
  int results[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(results), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < kChildren; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(go[1]);
      ::close(results[0]);
      char c;
      if (::read(go[0], &c, 1) != 0) ::_exit(20);  // EOF is the start signal
      auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted, 10s);
      if (!s.locked()) ::_exit(21);
      if (s.load().credit != SeedCredit::allowed) ::_exit(22);
      std::uint8_t record[1 + kLen];  // one write < PIPE_BUF: atomic
      record[0] = static_cast<std::uint8_t>(i);
      if (s.load().content.size() != kLen) ::_exit(23);
      std::memcpy(record + 1, s.load().content.bytes().data(), kLen);
      if (::write(results[1], record, sizeof record) != sizeof record)
        ::_exit(24);
      // Hold the lock so the others pile up behind it.
      std::this_thread::sleep_for(20ms);
      if (!s.replace(replacement_of(i)).ok()) ::_exit(25);
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  ::close(go[0]);
  ::close(results[1]);
  ::close(go[1]);  // start
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child " << pid;
  }
  std::vector<Bytes> reads(kChildren);
  std::uint8_t record[1 + kLen];
  for (int n = 0; n < kChildren; ++n) {
    ASSERT_EQ(::read(results[0], record, sizeof record),
              static_cast<ssize_t>(sizeof record));
    ASSERT_LT(record[0], kChildren);
    reads[record[0]] = Bytes(record + 1, record + 1 + kLen);
  }
  ::close(results[0]);

  std::set<Bytes> distinct(reads.begin(), reads.end());
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kChildren))
      << "two processes read the same seed";
  int read_original = 0;
  std::set<int> predecessors;
  for (int i = 0; i < kChildren; ++i) {
    if (reads[i] == original) {
      ++read_original;
      continue;
    }
    int from = -1;
    for (int j = 0; j < kChildren; ++j)
      if (j != i && reads[i] == replacement_of(j)) from = j;
    EXPECT_GE(from, 0) << "child " << i << " read neither the original nor "
                       << "another child's replacement";
    predecessors.insert(from);
  }
  EXPECT_EQ(read_original, 1);
  // A chain: every child but the last was read by exactly one successor, and
  // the file ends with the last one's bytes, which nobody read.
  EXPECT_EQ(predecessors.size(), static_cast<std::size_t>(kChildren - 1));
  const Bytes final_content = read_file(seed_);
  EXPECT_EQ(distinct.count(final_content), 0u);
  EXPECT_EQ(dir_entries(dir_), (std::set<std::string>{"seed", "seed.lock"}));
}

// Holds the lock in a child until told to let go.
class LockHolder {
 public:
  explicit LockHolder(const std::string& path) {
    if (::pipe(locked_) != 0 || ::pipe(release_) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      auto s = SeedFile::open_and_lock(path, SeedTrust::trusted);
      char c = s.locked() ? 'L' : 'F';
      if (::write(locked_[1], &c, 1) != 1) ::_exit(1);
      // Any outcome (a byte, EOF when the parent dies) means let go.
      if (::read(release_[0], &c, 1) < 0) ::_exit(2);
      ::_exit(0);
    }
    char c = 0;
    holding_ = pid_ > 0 && ::read(locked_[0], &c, 1) == 1 && c == 'L';
  }
  ~LockHolder() {
    release();
    for (int fd : {locked_[0], locked_[1], release_[0], release_[1]})
      if (fd >= 0) ::close(fd);
  }
  bool holding() const { return holding_; }
  void release() {
    if (pid_ <= 0) return;
    char c = 'R';
    EXPECT_EQ(::write(release_[1], &c, 1), 1);
    int status = 0;
    EXPECT_EQ(::waitpid(pid_, &status, 0), pid_);
    pid_ = -1;
  }

 private:
  int locked_[2] = {-1, -1};
  int release_[2] = {-1, -1};
  pid_t pid_ = -1;
  bool holding_ = false;
};

TEST_F(SeedFileLock, WaitIsBoundedAndAnUnlockedLoadIsNotCredited) {
  const Bytes content = pattern(64, 30);
  write_file(seed_, content);
  LockHolder holder(seed_);
  ASSERT_TRUE(holder.holding());

  const auto start = std::chrono::steady_clock::now();
  auto s = SeedFile::open_and_lock(seed_, SeedTrust::trusted, 100ms);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(s.locked());
  EXPECT_EQ(s.lock_result().errc, SeedFileErrc::lock_timed_out);
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 5s);
  EXPECT_EQ(to_bytes(s.load().content.bytes()), content);  // still mixed
  EXPECT_EQ(s.load().credit, SeedCredit::not_locked);

  EXPECT_EQ(SeedFile::save(seed_, pattern(64, 31), 50ms).errc,
            SeedFileErrc::lock_timed_out);
  EXPECT_EQ(read_file(seed_), content);  // save wrote nothing

  holder.release();
  auto after = SeedFile::open_and_lock(seed_, SeedTrust::trusted, 100ms);
  EXPECT_TRUE(after.locked());
  EXPECT_EQ(after.load().credit, SeedCredit::allowed);
}

TEST_F(SeedFileLock, SaveWaitsForTheHolderThenWrites) {
  write_file(seed_, pattern(64, 32));
  LockHolder holder(seed_);
  ASSERT_TRUE(holder.holding());
  std::thread releaser([&] {
    std::this_thread::sleep_for(200ms);
    holder.release();
  });
  const auto start = std::chrono::steady_clock::now();
  const Bytes fresh = pattern(64, 33);
  auto r = SeedFile::save(seed_, fresh, 5s);
  const auto waited = std::chrono::steady_clock::now() - start;
  releaser.join();
  EXPECT_TRUE(r.ok()) << pool::describe(r.errc);
  EXPECT_GE(waited, 150ms);  // it did wait for the holder
  EXPECT_EQ(read_file(seed_), fresh);
}

// ---------------------------------------------------------------------------
// SeedBytes

TEST(SeedFileSeedBytes, TruncateKeepsThePrefixAndMoveEmptiesTheSource) {
  pool::SeedBytes b;
  ASSERT_TRUE(pool::SeedBytes::allocate(8, b));
  for (std::size_t i = 0; i < 8; ++i)
    b.mutable_bytes()[i] = static_cast<std::uint8_t>(i + 1);
  b.truncate(3);
  EXPECT_EQ(to_bytes(b.bytes()), (Bytes{1, 2, 3}));
  pool::SeedBytes c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(to_bytes(c.bytes()), (Bytes{1, 2, 3}));
  c.clear();
  EXPECT_TRUE(c.empty());
}

}  // namespace
}  // namespace seedpool
