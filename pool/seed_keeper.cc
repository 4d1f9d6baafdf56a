#include "pool/seed_keeper.h"

#include <unistd.h>

#include <algorithm>
#include <new>
#include <utility>

#include "pool/fork.h"
#include "pool/pool.h"

namespace seedpool::pool {
namespace {

// Statistics words of this file's own (the others come from
// seed_load_status_name(), seed_credit_name() and the two describe()s).
// Credit was allowed by the file's rules but not given, because the file
// still holds the content (see start()).
constexpr char kCreditReplaceFailed[] = "replace_failed";
// Credit was allowed and the file replaced, but the pool refused the input.
constexpr char kCreditMixFailed[] = "mix_failed";
constexpr char kOk[] = "ok";
constexpr char kSkippedForkedChild[] = "skipped: forked child";
constexpr char kSkippedNotStarted[] = "skipped: not started";

std::string str(const std::atomic<const char*>& s) {
  const char* p = s.load(std::memory_order_acquire);
  return p == nullptr ? std::string() : std::string(p);
}

// A replacement of the size the old file had, so an administrator's choice
// of size survives; the default when the old file gives none to keep. An
// oversized file was read only up to kMaxBytes and gets the default, not
// kMaxBytes: its size was not a choice seedpool can keep.
std::size_t replacement_size(const SeedLoad& load) noexcept {
  if (load.status == SeedLoadStatus::loaded) {
    return std::clamp(load.content.size(), SeedFile::kMinBytes,
                      SeedFile::kMaxBytes);
  }
  return SeedKeeper::kDefaultSeedBytes;
}

}  // namespace

SeedKeeper::SeedKeeper(std::string path, bool trusted) noexcept
    : path_(std::move(path)), trusted_(trusted) {}

Errc SeedKeeper::create(std::string path, bool trusted,
                        std::unique_ptr<SeedKeeper>& out) noexcept {
  if (path.empty() || path.front() != '/') return Errc::invalid_argument;
  // new (nothrow) and a moved string: nothing here can throw.
  std::unique_ptr<SeedKeeper> k(new (std::nothrow)
                                    SeedKeeper(std::move(path), trusted));
  if (!k) return Errc::out_of_memory;
  out = std::move(k);
  return Errc::ok;
}

void SeedKeeper::start(Pool& pool) noexcept {
  if (started_.exchange(true, std::memory_order_acq_rel)) return;
  // Only the process that loaded the file saves it (see finish()).
  start_pid_.store(::getpid(), std::memory_order_relaxed);
  start_fork_generation_.store(fork_generation(), std::memory_order_relaxed);

  // The session holds the file's lock until it is destroyed at the end of
  // this function: no other seedpool process reads the file between our load
  // and our replacement, so no two processes ever credit one content.
  SeedFile session = SeedFile::open_and_lock(
      path_, trusted_ ? SeedTrust::trusted : SeedTrust::untrusted);
  const SeedLoad& load = session.load();
  load_.store(seed_load_status_name(load.status), std::memory_order_release);
  credit_.store(seed_credit_name(load.credit), std::memory_order_release);
  seed_bytes_.store(replacement_size(load), std::memory_order_relaxed);

  // The order, and why:
  //  1. Mix the content in, credited 0. Whatever happens next, the pool's
  //     state now depends on the old seed.
  //  2. Derive the replacement from that state and write it over the file.
  //     Derived after the mix, the new seed carries the old one's entropy
  //     forward even when the sources have given nothing yet (early boot);
  //     derived before, it would hold little more than our pid and the time.
  //     derive_uncounted() neither needs nor debits the estimate, so this
  //     works before any credit, and the conditioner is one-way: the file
  //     reveals nothing of the state that later serves callers.
  //  3. Only now, with the replacement in place, credit. If the replacement
  //     failed the file still holds this content and the next start (maybe
  //     another process, as soon as we unlock) reads and credits it again:
  //     one content credited twice. So no credit then -- and a credit once
  //     given cannot be taken back, which is why it cannot come first.
  //     add_entropy() credits at most 8 bits per byte of what it is given,
  //     so it gets the content again: absorbing the same bytes a second time
  //     adds nothing an attacker does not know, and takes nothing away.
  // Nobody draws from the pool before start() returns, so no output is ever
  // served on the strength of a credit that step 3 might not give.
  Errc mixed = Errc::ok;
  if (!load.content.empty()) mixed = pool.mix(load.content.bytes());

  bool replaced = false;
  if (mixed != Errc::ok) {
    // A conditioner that failed would not hold the old seed: a replacement
    // derived from it would throw that seed's entropy away. Keep the file;
    // it was not credited, so reading it again next time is harmless.
    replace_.store(describe(mixed), std::memory_order_release);
  } else {
    SeedBytes fresh;
    if (!SeedBytes::allocate(seed_bytes_.load(std::memory_order_relaxed),
                             fresh)) {
      replace_.store(describe(Errc::out_of_memory), std::memory_order_release);
    } else if (Errc rc = pool.derive_uncounted(fresh.mutable_bytes());
               rc != Errc::ok) {
      replace_.store(describe(rc), std::memory_order_release);
    } else {
      const SeedFileResult r = session.replace(fresh.bytes());
      // dir_sync_failed: renamed, so the new content is what any later
      // reader sees; only a crash before the directory reaches the disk
      // could bring the old content back (seed_file.h counts it as
      // replaced, and so do we).
      replaced = r.ok() || r.errc == SeedFileErrc::dir_sync_failed;
      replace_.store(r.ok() ? kOk : describe(r.errc), std::memory_order_release);
    }
    // `fresh` is wiped here, as it goes out of scope.
  }

  if (load.credit_allowed()) {
    if (!replaced) {
      credit_.store(kCreditReplaceFailed, std::memory_order_release);
    } else {
      // At most kMaxCreditBits (512): a seed file is conditioner output,
      // derived from a state of 512 bits, so no file holds more entropy
      // than that, however long. Its first 64 bytes carry the credit, at 8
      // bits per byte; the rest was mixed in above, uncredited.
      const std::uint64_t bits = std::min<std::uint64_t>(
          {std::uint64_t{load.content.size()} * 8, kMaxCreditBits,
           pool.config().pool_size_bits});
      if (pool.add_entropy(load.content.bytes().first(bits / 8), bits) ==
          Errc::ok) {
        bits_credited_.store(bits, std::memory_order_release);
      } else {
        credit_.store(kCreditMixFailed, std::memory_order_release);
      }
    }
  }
  // `session` ends here: the content is wiped and the lock released.
}

void SeedKeeper::finish(Pool& pool) noexcept {
  if (finished_.exchange(true, std::memory_order_acq_rel)) return;
  if (!started_.load(std::memory_order_acquire)) {
    save_.store(kSkippedNotStarted, std::memory_order_release);
    return;
  }
  // A forked child does not save. The file belongs to the process that
  // loaded it -- one load, one save -- and a child holds only a copy of that
  // process's pool state, whose credit it has forgotten: what it could save
  // is at best derived from the parent's state plus its pid. Were children
  // to save, every worker of a preforking server would rewrite the file as
  // it exits, each waiting on the file lock, the last one winning; and
  // should the pool's fork handling ever miss (a child deriving before it
  // re-keys), a child would write the very bytes its parent writes later
  // from the same state: one content on disk twice, which two later starts
  // could each read and credit. getpid() alone could match again in a
  // grandchild once the original pid is reused; the fork generation cannot.
  if (::getpid() != start_pid_.load(std::memory_order_relaxed) ||
      fork_generation() != start_fork_generation_.load(std::memory_order_relaxed)) {
    save_.store(kSkippedForkedChild, std::memory_order_release);
    return;
  }

  SeedBytes fresh;
  if (!SeedBytes::allocate(seed_bytes_.load(std::memory_order_relaxed), fresh)) {
    save_.store(describe(Errc::out_of_memory), std::memory_order_release);
    return;
  }
  // Full-entropy output when the pool can give it now (without waiting:
  // this is teardown); otherwise output derived from the state, which holds
  // at least what start() loaded and everything the sources gave since.
  Errc rc = pool.try_read(fresh.mutable_bytes(), {}, false);
  if (rc != Errc::ok) rc = pool.derive_uncounted(fresh.mutable_bytes());
  if (rc != Errc::ok) {
    save_.store(describe(rc), std::memory_order_release);
    return;
  }
  // save() takes the lock (so no start() elsewhere is between its load and
  // its replacement) and writes nothing if it cannot: the file then keeps
  // start()'s replacement, which no one has credited twice either.
  const SeedFileResult r = SeedFile::save(path_, fresh.bytes());
  save_.store(r.ok() ? kOk : describe(r.errc), std::memory_order_release);
}

SeedFileStats SeedKeeper::stats() const {
  SeedFileStats s;
  s.load = str(load_);
  s.credit = str(credit_);
  s.bits_credited = bits_credited_.load(std::memory_order_acquire);
  s.replace = str(replace_);
  s.save = str(save_);
  return s;
}

}  // namespace seedpool::pool
