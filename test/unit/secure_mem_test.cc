// Unit tests of SecureRegion: page rounding, zero fill, and that every
// recorded outcome (mlock, MADV_DONTDUMP, MADV_WIPEONFORK) is what the
// kernel says -- checked against a direct mlock, against /proc/self/smaps'
// VmFlags ("lo" locked, "dd" do-not-dump, "wf" wipe-on-fork), and in forked
// children.
#include "pool/secure_mem.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace seedpool {
namespace {

using pool::Errc;
using pool::SecureRegion;

// The VmFlags of the mapping that contains `addr`; empty if none is found.
std::set<std::string> vm_flags(const void* addr) {
  const auto a = reinterpret_cast<std::uintptr_t>(addr);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    const std::size_t colon = line.find(':');
    const std::size_t space = line.find(' ');
    const std::size_t dash = line.find('-');
    if (dash != std::string::npos && dash < space &&
        (colon == std::string::npos || colon > space)) {
      // A mapping header: "start-end perms offset dev inode path".
      unsigned long start = 0, end = 0;
      if (std::sscanf(line.c_str(), "%lx-%lx", &start, &end) == 2)
        inside = a >= start && a < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) {
      std::istringstream in(line.substr(8));
      std::set<std::string> flags;
      for (std::string f; in >> f;) flags.insert(f);
      return flags;
    }
  }
  return {};
}

bool has(const std::set<std::string>& flags, const char* f) {
  return flags.count(f) != 0;
}

// What mlock says right now for one fresh page: 0 or the errno. The system
// call itself: AddressSanitizer turns the libc mlock into a no-op.
int direct_mlock_errno() {
  const std::size_t page = SecureRegion::page_size();
  void* p = mmap(nullptr, page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return -1;
  const int rc = syscall(SYS_mlock, p, page) == 0 ? 0 : errno;
  if (rc == 0) syscall(SYS_munlock, p, page);
  munmap(p, page);
  return rc;
}

bool cap_ipc_lock_effective() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) == 0) {
      const unsigned long long caps = std::stoull(line.substr(7), nullptr, 16);
      return (caps >> CAP_IPC_LOCK) & 1;
    }
  }
  return false;
}

// Drops CAP_IPC_LOCK from this process's effective and permitted sets.
bool drop_cap_ipc_lock() {
  __user_cap_header_struct hdr{};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  hdr.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  const unsigned bit = 1u << (CAP_IPC_LOCK % 32);
  data[CAP_IPC_LOCK / 32].effective &= ~bit;
  data[CAP_IPC_LOCK / 32].permitted &= ~bit;
  return syscall(SYS_capset, &hdr, data) == 0;
}

// Runs `child` in a forked child; returns its exit status (or -1 if it did
// not exit normally). `child` returns the exit code; 0 means pass.
template <typename F>
int in_child(F child) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    alarm(10);
    _exit(child());
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

bool all_equal(std::span<const std::uint8_t> b, std::uint8_t v) {
  return std::all_of(b.begin(), b.end(), [v](std::uint8_t x) { return x == v; });
}

TEST(SecureRegion, RoundsToPagesZeroFilledAndWritable) {
  const std::size_t page = SecureRegion::page_size();
  ASSERT_GT(page, 0u);
  ASSERT_EQ(page & (page - 1), 0u);
  for (std::size_t n : {std::size_t{1}, page - 1, page, page + 1,
                        3 * page + 5}) {
    SCOPED_TRACE(n);
    SecureRegion r;
    ASSERT_EQ(SecureRegion::create(n, {}, r), Errc::ok);
    ASSERT_FALSE(r.empty());
    EXPECT_EQ(r.size(), (n + page - 1) / page * page);
    EXPECT_EQ(r.bytes().size(), r.size());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.bytes().data()) % page, 0u);
    EXPECT_TRUE(all_equal(r.bytes(), 0));
    std::fill(r.bytes().begin(), r.bytes().end(), std::uint8_t{0x5c});
    EXPECT_TRUE(all_equal(r.bytes(), 0x5c));
  }
}

TEST(SecureRegion, BadSizesFailWithoutTouchingOut) {
  SecureRegion r;
  ASSERT_EQ(SecureRegion::create(1, {}, r), Errc::ok);
  std::uint8_t* const before = r.bytes().data();
  EXPECT_EQ(SecureRegion::create(0, {}, r), Errc::invalid_argument);
  EXPECT_EQ(SecureRegion::create(std::numeric_limits<std::size_t>::max(), {}, r),
            Errc::out_of_memory);
  // Far more than any address space: mmap itself fails.
  EXPECT_EQ(SecureRegion::create(std::size_t{1} << 62, {}, r),
            Errc::out_of_memory);
  EXPECT_EQ(r.bytes().data(), before);
}

TEST(SecureRegion, MoveTransfersOwnership) {
  SecureRegion a;
  ASSERT_EQ(SecureRegion::create(100, {}, a), Errc::ok);
  a.bytes()[0] = 7;
  std::uint8_t* const p = a.bytes().data();
  const bool locked = a.locked();
  SecureRegion b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(a.bytes().empty());
  EXPECT_FALSE(a.locked());
  EXPECT_EQ(b.bytes().data(), p);
  EXPECT_EQ(b.bytes()[0], 7);
  EXPECT_EQ(b.locked(), locked);
  SecureRegion c;
  ASSERT_EQ(SecureRegion::create(100, {}, c), Errc::ok);
  c = std::move(b);  // c's own region is cleansed and unmapped
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.bytes().data(), p);
  EXPECT_EQ(c.bytes()[0], 7);
}

TEST(SecureRegion, MlockOutcomeIsWhatTheKernelSays) {
  const int direct = direct_mlock_errno();
  ASSERT_NE(direct, -1);
  SecureRegion r;
  ASSERT_EQ(SecureRegion::create(3 * SecureRegion::page_size(), {}, r),
            Errc::ok);
  EXPECT_EQ(r.mlock_errno(), direct);
  EXPECT_EQ(r.locked(), direct == 0);
  const auto flags = vm_flags(r.bytes().data());
  ASSERT_FALSE(flags.empty()) << "mapping not found in /proc/self/smaps";
  EXPECT_EQ(has(flags, "lo"), r.locked());
}

TEST(SecureRegion, CreateSucceedsUnlockedWithZeroMemlockLimit) {
  // In a child: RLIMIT_MEMLOCK = 0, and (root) CAP_IPC_LOCK dropped, since
  // that capability lets mlock ignore the limit.
  enum : int { kPass = 0, kSetrlimit, kCreate, kLockedWithoutCap,
               kWrongErrno, kNotLockedWithCap, kDumpLost, kPassWithCap };
  const int rc = in_child([]() -> int {
    const rlimit zero{0, 0};
    if (setrlimit(RLIMIT_MEMLOCK, &zero) != 0) return kSetrlimit;
    if (cap_ipc_lock_effective()) (void)drop_cap_ipc_lock();
    const bool cap = cap_ipc_lock_effective();
    SecureRegion r;
    if (SecureRegion::create(100, {}, r) != Errc::ok) return kCreate;
    if (!r.dump_excluded()) return kDumpLost;
    if (cap) return r.locked() ? kPassWithCap : kNotLockedWithCap;
    if (r.locked()) return kLockedWithoutCap;
    if (r.mlock_errno() != EPERM && r.mlock_errno() != ENOMEM)
      return kWrongErrno;
    if (has(vm_flags(r.bytes().data()), "lo")) return kLockedWithoutCap;
    return kPass;
  });
  if (rc == kPassWithCap) {
    // CAP_IPC_LOCK could not be dropped: mlock ignores the limit.
    std::printf("note: CAP_IPC_LOCK kept, region locked despite the limit\n");
    return;
  }
  EXPECT_EQ(rc, kPass) << "child failed step " << rc;
}

TEST(SecureRegion, DumpExclusionShowsInSmaps) {
  SecureRegion r;
  ASSERT_EQ(SecureRegion::create(1, {}, r), Errc::ok);
  if (!r.dump_excluded()) {
    EXPECT_EQ(r.dontdump_errno(), EINVAL) << "only pre-3.4 kernels refuse";
    GTEST_SKIP() << "MADV_DONTDUMP unsupported: " << std::strerror(r.dontdump_errno());
  }
  EXPECT_EQ(r.dontdump_errno(), 0);
  const auto flags = vm_flags(r.bytes().data());
  ASSERT_FALSE(flags.empty()) << "mapping not found in /proc/self/smaps";
  EXPECT_TRUE(has(flags, "dd"));
  EXPECT_FALSE(has(flags, "wf")) << "wipe-on-fork was not asked for";
  EXPECT_FALSE(r.wipe_on_fork());
  EXPECT_EQ(r.wipe_on_fork_errno(), 0);
}

TEST(SecureRegion, WipeOnForkChildSeesZeros) {
  SecureRegion r;
  ASSERT_EQ(SecureRegion::create(2 * SecureRegion::page_size(),
                                 {.wipe_on_fork = true}, r),
            Errc::ok);
  if (!r.wipe_on_fork()) {
    EXPECT_EQ(r.wipe_on_fork_errno(), EINVAL) << "only pre-4.14 kernels refuse";
    GTEST_SKIP() << "MADV_WIPEONFORK unsupported: "
                 << std::strerror(r.wipe_on_fork_errno());
  }
  EXPECT_TRUE(has(vm_flags(r.bytes().data()), "wf"));
  std::fill(r.bytes().begin(), r.bytes().end(), std::uint8_t{0xa5});
  const int rc = in_child([&r]() -> int {
    if (!all_equal(r.bytes(), 0)) return 1;
    if (!has(vm_flags(r.bytes().data()), "wf")) return 2;
    return 0;
  });
  EXPECT_EQ(rc, 0) << (rc == 1 ? "child saw the parent's bytes" : "no wf flag");
  EXPECT_TRUE(all_equal(r.bytes(), 0xa5)) << "the parent keeps its bytes";
}

TEST(SecureRegion, WithoutWipeOnForkChildInheritsBytes) {
  SecureRegion r;
  ASSERT_EQ(SecureRegion::create(1, {}, r), Errc::ok);
  std::fill(r.bytes().begin(), r.bytes().end(), std::uint8_t{0x3c});
  const int rc = in_child([&r]() -> int {
    if (!all_equal(r.bytes(), 0x3c)) return 1;
    if (has(vm_flags(r.bytes().data()), "wf")) return 2;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(SecureRegion, ChildIsUnlockedUntilRelock) {
  SecureRegion r;
  ASSERT_EQ(SecureRegion::create(1, {}, r), Errc::ok);
  if (!r.locked())
    GTEST_SKIP() << "mlock not allowed here: " << std::strerror(r.mlock_errno());
  const int rc = in_child([&r]() -> int {
    // fork(2): memory locks are not inherited by the child.
    if (has(vm_flags(r.bytes().data()), "lo")) return 1;
    r.relock();
    if (!r.locked()) return 2;
    if (!has(vm_flags(r.bytes().data()), "lo")) return 3;
    if (!has(vm_flags(r.bytes().data()), "dd")) return 4;  // inherited
    return 0;
  });
  EXPECT_EQ(rc, 0) << "child failed step " << rc;
}

// ---------------------------------------------------------------------------
// Several regions from one mapping (the pool's secrets).

// Whether [p, p + n) is mapped: mincore(2) says ENOMEM for an unmapped page.
bool mapped(const void* p, std::size_t n) {
  std::vector<unsigned char> vec((n + SecureRegion::page_size() - 1) /
                                 SecureRegion::page_size());
  return mincore(const_cast<void*>(p), n, vec.data()) == 0;
}

TEST(SecureRegionParts, OneMappingInOrderEachWithItsOwnAdvice) {
  const std::size_t page = SecureRegion::page_size();
  const int direct = direct_mlock_errno();
  ASSERT_NE(direct, -1);
  SecureRegion a, b, c;
  const SecureRegion::Part parts[] = {{1, {}},
                                      {page + 1, {.wipe_on_fork = true}},
                                      {2 * page, {.wipe_on_fork = true}}};
  SecureRegion* const out[] = {&a, &b, &c};
  ASSERT_EQ(SecureRegion::create_parts(parts, out), Errc::ok);
  EXPECT_EQ(a.size(), page);
  EXPECT_EQ(b.size(), 2 * page);
  EXPECT_EQ(c.size(), 2 * page);
  // Adjacent, in order: one mapping.
  EXPECT_EQ(b.bytes().data(), a.bytes().data() + a.size());
  EXPECT_EQ(c.bytes().data(), b.bytes().data() + b.size());
  for (SecureRegion* r : out) {
    EXPECT_TRUE(all_equal(r->bytes(), 0));
    EXPECT_EQ(r->mlock_errno(), direct);
    EXPECT_TRUE(r->dump_excluded());
    const auto flags = vm_flags(r->bytes().data());
    ASSERT_FALSE(flags.empty());
    EXPECT_EQ(has(flags, "lo"), r->locked());
    EXPECT_TRUE(has(flags, "dd"));
  }
  EXPECT_FALSE(a.wipe_on_fork());
  EXPECT_FALSE(has(vm_flags(a.bytes().data()), "wf"));
  for (SecureRegion* r : {&b, &c}) {
    if (r->wipe_on_fork_errno() == EINVAL) continue;  // kernel < 4.14
    EXPECT_TRUE(r->wipe_on_fork());
    EXPECT_TRUE(has(vm_flags(r->bytes().data()), "wf"));
  }
  // In a child: the wipe-on-fork parts read zero, the other is kept.
  std::fill(a.bytes().begin(), a.bytes().end(), std::uint8_t{0x11});
  std::fill(b.bytes().begin(), b.bytes().end(), std::uint8_t{0x22});
  std::fill(c.bytes().begin(), c.bytes().end(), std::uint8_t{0x33});
  const bool wipes = b.wipe_on_fork() && c.wipe_on_fork();
  const int rc = in_child([&]() -> int {
    if (!all_equal(a.bytes(), 0x11)) return 1;
    if (wipes && !all_equal(b.bytes(), 0)) return 2;
    if (wipes && !all_equal(c.bytes(), 0)) return 3;
    return 0;
  });
  EXPECT_EQ(rc, 0) << "child failed step " << rc;
}

TEST(SecureRegionParts, OverTheMemlockLimitThePartsThatFitAreLocked) {
  // In a child: RLIMIT_MEMLOCK of two pages, CAP_IPC_LOCK dropped. The
  // parts (1, 4 and 1 pages) do not fit together, so the one mlock fails;
  // the first and last still fit on their own, the middle one does not.
  enum : int { kPass = 0, kSetrlimit, kCreate, kFirst, kMiddle, kLast, kSmaps,
               kPassWithCap };
  const int rc = in_child([]() -> int {
    const std::size_t page = SecureRegion::page_size();
    const rlimit two_pages{2 * page, 2 * page};
    if (setrlimit(RLIMIT_MEMLOCK, &two_pages) != 0) return kSetrlimit;
    if (cap_ipc_lock_effective()) (void)drop_cap_ipc_lock();
    const bool cap = cap_ipc_lock_effective();
    SecureRegion a, b, c;
    const SecureRegion::Part parts[] = {{page, {}},
                                        {4 * page, {.wipe_on_fork = true}},
                                        {page, {.wipe_on_fork = true}}};
    SecureRegion* const out[] = {&a, &b, &c};
    if (SecureRegion::create_parts(parts, out) != Errc::ok) return kCreate;
    if (cap) return kPassWithCap;
    if (!a.locked()) return kFirst;
    if (b.locked() || (b.mlock_errno() != ENOMEM && b.mlock_errno() != EPERM))
      return kMiddle;
    if (!c.locked()) return kLast;
    if (!has(vm_flags(a.bytes().data()), "lo") ||
        has(vm_flags(b.bytes().data()), "lo") ||
        !has(vm_flags(c.bytes().data()), "lo"))
      return kSmaps;
    return kPass;
  });
  if (rc == kPassWithCap) {
    std::printf("note: CAP_IPC_LOCK kept, every part locked despite the limit\n");
    return;
  }
  EXPECT_EQ(rc, kPass) << "child failed step " << rc;
}

TEST(SecureRegionParts, EachPartGoesOnItsOwn) {
  const std::size_t page = SecureRegion::page_size();
  SecureRegion a, b, c;
  const SecureRegion::Part parts[] = {{page, {}}, {page, {}}, {page, {}}};
  SecureRegion* const out[] = {&a, &b, &c};
  ASSERT_EQ(SecureRegion::create_parts(parts, out), Errc::ok);
  std::fill(a.bytes().begin(), a.bytes().end(), std::uint8_t{0x11});
  std::fill(c.bytes().begin(), c.bytes().end(), std::uint8_t{0x33});
  std::uint8_t* const middle = b.bytes().data();
  b = SecureRegion{};  // cleansed and unmapped: only its own page
  EXPECT_FALSE(mapped(middle, page));
  ASSERT_TRUE(mapped(a.bytes().data(), page));
  ASSERT_TRUE(mapped(c.bytes().data(), page));
  EXPECT_TRUE(all_equal(a.bytes(), 0x11));
  EXPECT_TRUE(all_equal(c.bytes(), 0x33));
  // A part moved elsewhere stays intact, and relock() is its own.
  SecureRegion moved(std::move(c));
  EXPECT_TRUE(all_equal(moved.bytes(), 0x33));
  moved.relock();
  EXPECT_EQ(moved.locked(), a.locked());
}

TEST(SecureRegionParts, BadArgumentsTouchNothing) {
  SecureRegion a;
  ASSERT_EQ(SecureRegion::create(1, {}, a), Errc::ok);
  std::uint8_t* const before = a.bytes().data();
  SecureRegion b;
  SecureRegion* const one[] = {&a};
  SecureRegion* const two[] = {&a, &b};
  const SecureRegion::Part good[] = {{1, {}}};
  const SecureRegion::Part with_zero[] = {{1, {}}, {0, {}}};
  const SecureRegion::Part overflow[] = {
      {1, {}}, {std::numeric_limits<std::size_t>::max() - 1, {}}};
  EXPECT_EQ(SecureRegion::create_parts({}, {}), Errc::invalid_argument);
  EXPECT_EQ(SecureRegion::create_parts(good, two), Errc::invalid_argument);
  EXPECT_EQ(SecureRegion::create_parts(with_zero, two), Errc::invalid_argument);
  EXPECT_EQ(SecureRegion::create_parts(overflow, two), Errc::out_of_memory);
  EXPECT_EQ(a.bytes().data(), before);
  EXPECT_TRUE(b.empty());
  ASSERT_EQ(SecureRegion::create_parts(good, one), Errc::ok);
  EXPECT_NE(a.bytes().data(), nullptr);
}

}  // namespace
}  // namespace seedpool
