#!/usr/bin/env bash
# The whole test suite (unit, provider, integration) against OpenSSL 3.5,
# in a Debian 13 "trixie" root made with debootstrap:
#
#   sudo test/openssl35/run.sh
#
# 1. debootstrap --variant=minbase trixie into $BUILD/trixie-root (once);
# 2. apt-get install, inside it, what the suite needs (once; again when the
#    package list or the mirror changes: both are recorded in a stamp file);
# 3. copy the source tree (files git tracks, plus untracked files that are not
#    ignored, as they are in the work tree; never the build folders) into the
#    root, build seedpool there with cmake against the root's OpenSSL 3.5;
# 4. run ctest there: the integration tests drive the root's openssl 3.5 CLI.
#
# With the root in place, a run is only steps 3 and 4. Each step prints its
# time; a failing step prints one line naming it and the tail of its log.
# Logs: $BUILD/openssl35-logs/. Needs root (debootstrap, chroot, mount).
#
# Environment:
#   SEEDPOOL_BUILD_DIR          the build tree (default <src>/build); the root
#                               is $SEEDPOOL_BUILD_DIR/trixie-root
#   SEEDPOOL_TRIXIE_MIRROR      Debian mirror (default: the host's, read from
#                               its apt sources; else http://deb.debian.org/debian)
#   SEEDPOOL_OPENSSL35_CLEAN=1  wipe the build folder inside the root first
#                               (default: incremental build)
#   SEEDPOOL_WERROR             passed to cmake (default ON, as in CI)
#   SEEDPOOL_CTEST_ARGS         extra ctest arguments, e.g. "-L integration"
#
# While it runs, /proc, /sys (read-only), a private /dev (tmpfs with a few
# device nodes, a new devpts instance) and /dev/shm are mounted in the root;
# they are unmounted on every exit (success, failure, ^C, SIGTERM). The
# root's /tmp is NOT a tmpfs: it stays on disk like the host's (emptied at
# each run), because fsync() there takes time as on the host, and at least
# one test (SeedFileReplace.ReaderNeverSeesAPartialFile) races on tmpfs. A
# run killed with SIGKILL leaves them mounted: the next run unmounts them
# first. The host's /dev is never bind-mounted, so even an `rm -rf` of the
# build tree during a run cannot reach the host's device nodes.
set -euo pipefail

PROG=openssl35
SUITE=trixie
# What scripts/quickstart.sh installs for `test`, and what the suite (or
# finding out why it failed) needs beyond minbase.
PACKAGES=(build-essential cmake pkg-config openssl libssl-dev liburing-dev
          libgtest-dev python3 rng-tools5 procps libbenchmark-dev haproxy)

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
build=${SEEDPOOL_BUILD_DIR:-$src/build}
root=$build/trixie-root
logs=$build/openssl35-logs
stamp_boot=$root/.seedpool-debootstrap.stamp
stamp_setup=$root/.seedpool-setup.stamp
# Inside the root.
in_src=/seedpool/src
in_build=/seedpool/build

say() { printf '%s: %s\n' "$PROG" "$*"; }
step() { printf '\n==> %s: %s\n' "$PROG" "$*"; }

# die <message> [log]: one line naming what failed, then the log's tail.
die() {
  local msg=$1 log=${2:-}
  if [[ -n $log ]]; then
    echo "$PROG: $msg (see $log)" >&2
    if [[ -s $log ]]; then
      echo "---- last 40 lines of $log ----" >&2
      tail -n 40 "$log" >&2
      echo "---- end of $log ----" >&2
      echo "$PROG: $msg (see $log)" >&2
    fi
  else
    echo "$PROG: $msg" >&2
  fi
  exit 1
}

if [[ $(id -u) -ne 0 ]]; then
  die "must run as root (debootstrap, chroot and mount need it): try: sudo $0"
fi
for tool in chroot mount umount mountpoint flock tar mknod; do
  command -v "$tool" >/dev/null || die "host tool '$tool' not found"
done

mkdir -p "$build" "$logs"
# Physical paths: /proc/*/root and mountinfo show them so.
build=$(cd "$build" && pwd -P)
root=$build/trixie-root
logs=$build/openssl35-logs
stamp_boot=$root/.seedpool-debootstrap.stamp
stamp_setup=$root/.seedpool-setup.stamp

# One run at a time per root. Children do not inherit the lock (nor fds 5
# and 6): after a SIGKILL, the next run ends what is left in the root.
exec 8>"$build/trixie-root.lock"
flock -n 8 || die "another run is using $root (lock $build/trixie-root.lock)"

# --- timings -----------------------------------------------------------------
declare -A took=()
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
summary() {
  local k
  echo
  say "timings:"
  for k in debootstrap apt copy build tests; do
    printf '  %-12s %s\n' "$k" "${took[$k]:-not run}"
  done
}

# --- mounts ------------------------------------------------------------------
# Mount points below $root in /proc/self/mountinfo, deepest first.
mounts_below_root() {
  local mp
  while read -r _ _ _ _ mp _; do
    mp=$(printf '%b' "${mp//\\/\\0}")   # mountinfo escapes as \040 (octal)
    [[ $mp == "$root" || $mp == "$root"/* ]] && printf '%s\n' "$mp"
  done </proc/self/mountinfo | sort -r
}

# Processes whose root directory is $root: only this script (under the lock)
# starts them. Ended by pid before unmounting, else the mounts stay busy.
kill_root_processes() {
  local p pids=() sig
  for sig in TERM KILL; do
    pids=()
    for p in /proc/[0-9]*; do
      [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] && pids+=("${p#/proc/}")
    done
    [[ ${#pids[@]} -eq 0 ]] && return 0
    say "ending ${#pids[@]} process(es) still running in the root (SIG$sig): ${pids[*]}" >&2
    kill -"$sig" "${pids[@]}" 2>/dev/null || true
    sleep 1
  done
}

unmount_all() {
  local mp
  kill_root_processes
  while read -r mp; do
    [[ -n $mp ]] || continue
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null ||
      echo "$PROG: WARNING: could not unmount $mp" >&2
  done < <(mounts_below_root)
}

# The script's own stdout and stderr: bash may run a trap while the
# redirection of the command it interrupted (e.g. ctest's >log) is still in
# force, so the traps write here.
exec 5>&1 6>&2

# A long step runs as a background child that the script waits for: bash
# runs a trap only once the foreground command has ended, but interrupts a
# `wait` at once, so a SIGTERM (CI's timeout) or ^C ends the run now.
CHILD=""
run_child() {  # <command> [args...]: its exit status
  local rc=0
  "$@" 5>&- 6>&- 8>&- &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

MOUNTED=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  exec 1>&5 2>&6
  if [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null; then
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  if ((MOUNTED)) || [[ -n $(mounts_below_root) ]]; then
    unmount_all
  fi
  if [[ -n $(mounts_below_root) ]]; then
    echo "$PROG: WARNING: still mounted below $root:" >&2
    mounts_below_root >&2
  fi
  summary
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "$PROG: interrupted" >&6; exit 130' INT
trap 'echo "$PROG: terminated" >&6; exit 143' TERM
trap 'exit 129' HUP

# A node in the private /dev, with the host's major:minor.
dev_node() {  # <name> <mode>
  local name=$1 mode=$2 major minor
  [[ -c /dev/$name ]] || return 0
  major=$((16#$(stat -c %t "/dev/$name")))
  minor=$((16#$(stat -c %T "/dev/$name")))
  mknod -m "$mode" "$root/dev/$name" c "$major" "$minor"
}

mount_all() {
  local log=$logs/mount.log
  : >"$log"
  MOUNTED=1
  {
    mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" &&
    chmod 1777 "$root/tmp" &&
    find "$root/tmp" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} + &&
    mount -t proc proc "$root/proc" &&
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys" &&
    mount -t tmpfs -o mode=0755,nosuid,size=16m tmpfs "$root/dev" &&
    dev_node null 666 && dev_node zero 666 && dev_node full 666 &&
    dev_node random 666 && dev_node urandom 666 && dev_node tty 666 &&
    dev_node hwrng 600 &&
    ln -s /proc/self/fd "$root/dev/fd" &&
    ln -s /proc/self/fd/0 "$root/dev/stdin" &&
    ln -s /proc/self/fd/1 "$root/dev/stdout" &&
    ln -s /proc/self/fd/2 "$root/dev/stderr" &&
    mkdir -p "$root/dev/pts" "$root/dev/shm" &&
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts" &&
    ln -s pts/ptmx "$root/dev/ptmx" &&
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
  } >>"$log" 2>&1 || die "mounting /proc, /sys, /dev in $root failed" "$log"
}

# Runs a command inside the root with a clean environment (nothing from the
# caller's OPENSSL_* / SEEDPOOL_* leaks in).
in_root() {
  chroot "$root" /usr/bin/env -i 5>&- 6>&- 8>&- \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb TMPDIR=/tmp \
    DEBIAN_FRONTEND=noninteractive "$@"
}

# --- the host's mirror -----------------------------------------------------
host_mirror() {
  local codename="" f uri
  if [[ -n ${SEEDPOOL_TRIXIE_MIRROR:-} ]]; then
    echo "${SEEDPOOL_TRIXIE_MIRROR%/}"; return
  fi
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || true
  if [[ -n $codename ]]; then
    # deb822 (.sources): the first URI of an enabled "deb" stanza whose
    # Suites has the host's codename itself (not -security, -updates).
    for f in /etc/apt/sources.list.d/*.sources; do
      [[ -f $f ]] || continue
      uri=$(awk -v want="$codename" '
        function flush() {
          if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " want " ") && uris != "") {
            split(uris, u, " "); print u[1]; found = 1; exit
          }
          types = suites = uris = ""; enabled = "yes"
        }
        BEGIN { enabled = "yes" }
        /^[[:space:]]*#/ { next }
        /^[[:space:]]*$/ { flush(); next }
        {
          key = tolower($1); sub(/:$/, "", key)
          val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
          if (key == "types") types = val
          else if (key == "suites") suites = val
          else if (key == "uris") uris = val
          else if (key == "enabled") enabled = tolower(val)
        }
        END { if (!found) flush() }' "$f")
      [[ -n $uri ]] && { echo "${uri%/}"; return; }
    done
    # one-line format: deb [options] URI suite components
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -f $f ]] || continue
      uri=$(sed -E 's/\[[^]]*\]//' "$f" |
            awk -v want="$codename" '$1 == "deb" && $3 == want { print $2; exit }')
      [[ -n $uri ]] && { echo "${uri%/}"; return; }
    done
  fi
  echo "http://deb.debian.org/debian"
}

MIRROR=$(host_mirror)
PKG_LINE=$(printf '%s\n' "${PACKAGES[@]}" | sort -u | tr '\n' ' ')
SETUP_STAMP_TEXT="suite=$SUITE
mirror=$MIRROR
packages=${PKG_LINE% }"

say "source:  $src"
say "root:    $root"
say "mirror:  $MIRROR ($SUITE)"
say "logs:    $logs"

# Leftovers of a run that was killed with SIGKILL.
if [[ -n $(mounts_below_root) ]]; then
  say "unmounting what an earlier run left mounted in $root"
  unmount_all
  [[ -z $(mounts_below_root) ]] || die "cannot unmount leftovers below $root: $(mounts_below_root | tr '\n' ' ')"
fi

# --- 1. debootstrap ----------------------------------------------------------
if [[ -f $stamp_boot ]]; then
  took[debootstrap]="reused"
  say "debootstrap: reusing $root"
else
  step "debootstrap --variant=minbase $SUITE $root (log: $logs/debootstrap.log)"
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap on the host"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } \
      >"$logs/host-apt.log" 2>&1 || die "installing debootstrap on the host failed" "$logs/host-apt.log"
  fi
  t0=$(now)
  if [[ -e $root ]]; then
    say "removing an incomplete root (no stamp) at $root"
    rm -rf --one-file-system "$root" || die "cannot remove the incomplete root $root"
  fi
  run_child debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$logs/debootstrap.log" 2>&1 ||
    die "debootstrap of $SUITE failed" "$logs/debootstrap.log"
  date -u +%FT%TZ >"$stamp_boot"
  took[debootstrap]=$(elapsed "$t0")
  say "debootstrap: ${took[debootstrap]}"
fi

mount_all

# --- 2. apt ------------------------------------------------------------------
if [[ -f $stamp_setup && "$(cat "$stamp_setup")" == "$SETUP_STAMP_TEXT" ]]; then
  took[apt]="reused"
  say "apt: packages already installed (stamp $stamp_setup)"
else
  step "apt-get install in the root: ${PKG_LINE% } (log: $logs/apt.log)"
  t0=$(now)
  rm -f "$stamp_setup"
  {
    printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$root/etc/apt/sources.list" &&
    # The host's acquire settings that matter for the same mirror (proxy,
    # snapshot mirrors' expired Release files).
    { apt-config dump 2>/dev/null |
        grep -E '^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date)( |::)' || true; } \
      >"$root/etc/apt/apt.conf.d/90seedpool-host" &&
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
      >"$root/etc/apt/apt.conf.d/91seedpool-norecommends" &&
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" &&
    chmod 0755 "$root/usr/sbin/policy-rc.d" &&
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" &&
    cp /etc/hosts "$root/etc/hosts"
  } >"$logs/apt.log" 2>&1 || die "preparing apt in the root failed" "$logs/apt.log"
  run_child in_root apt-get update >>"$logs/apt.log" 2>&1 ||
    die "apt-get update in the $SUITE root failed" "$logs/apt.log"
  # shellcheck disable=SC2086
  run_child in_root apt-get install -y --no-install-recommends ${PKG_LINE} >>"$logs/apt.log" 2>&1 ||
    die "apt-get install in the $SUITE root failed" "$logs/apt.log"
  in_root apt-get clean >>"$logs/apt.log" 2>&1 || true
  printf '%s' "$SETUP_STAMP_TEXT" >"$stamp_setup"
  took[apt]=$(elapsed "$t0")
  say "apt: ${took[apt]}"
fi

ossl_version=$(in_root openssl version 2>&1) || die "openssl version in the root failed: $ossl_version"
ossl_dev=$(in_root dpkg-query -W -f='${Version}' libssl-dev 2>&1) || ossl_dev="?"
say "OpenSSL in the root: $ossl_version (libssl-dev $ossl_dev)"
case $ossl_version in
  "OpenSSL 3.5."*) ;;
  *) die "the root's openssl is not 3.5: $ossl_version" ;;
esac

# --- 3. copy and build -------------------------------------------------------
# The tree is first extracted into a staging folder, then synced into
# $in_src by content: a file whose content (or mode, or link target) changed
# is replaced and gets the current time as its mtime; an unchanged file keeps
# its old mtime; a file gone from the tree is removed. So the incremental
# build inside the root rebuilds exactly what changed. (Extracting with the
# work tree's own mtimes is NOT safe while people edit the tree: a file saved
# between one run's copy and its compile carries an mtime older than the
# object built from its previous content, and make never rebuilds it.)
in_stage=/seedpool/stage
sync_scheme="content-sync 1"

# sync_tree <stage> <dest>: prints how many files it replaced and removed.
sync_tree() {
  local stage=$1 dest=$2 f s d changed=0 removed=0
  while IFS= read -r -d '' f; do
    s=$stage/$f d=$dest/$f
    if [[ -L $s ]]; then
      [[ -L $d && $(readlink "$s") == "$(readlink "$d")" ]] && continue
    else
      [[ -f $d && ! -L $d ]] && cmp -s "$s" "$d" &&
        [[ $(stat -c %a "$s") == "$(stat -c %a "$d")" ]] && continue
    fi
    mkdir -p "$(dirname "$d")" && rm -rf "$d" &&
      cp -P --preserve=mode "$s" "$d" || return 1   # a new file: mtime now
    changed=$((changed + 1))
  done < <(cd "$stage" && find . \( -type f -o -type l \) -print0)
  while IFS= read -r -d '' f; do
    [[ -e $stage/$f || -L $stage/$f ]] && continue
    rm -f "$dest/$f" || return 1
    removed=$((removed + 1))
  done < <(cd "$dest" && find . \( -type f -o -type l \) -print0)
  find "$dest" -mindepth 1 -type d -empty -delete
  echo "$changed changed, $removed removed"
}

step "copying the source tree into $root$in_src"
t0=$(now)
copy_log=$logs/copy.log
: >"$copy_log"
# A root whose copy was made another way: start its source and build afresh.
if [[ "$(cat "$root/seedpool/.sync-scheme" 2>/dev/null)" != "$sync_scheme" ]]; then
  rm -rf --one-file-system "$root$in_src" "$root$in_build"
fi
rm -rf --one-file-system "$root$in_stage"
mkdir -p "$root$in_src" "$root$in_build" "$root$in_stage"
printf '%s\n' "$sync_scheme" >"$root/seedpool/.sync-scheme"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Files git tracks (as they are in the work tree) and untracked files that
  # are not ignored; skipped: tracked files deleted in the work tree, and
  # anything under the build tree (when SEEDPOOL_BUILD_DIR is inside $src
  # but not ignored).
  build_rel=""
  [[ $build == "$src"/* ]] && build_rel=${build#"$src"/}/
  {
    git -c safe.directory='*' -C "$src" ls-files -co --exclude-standard -z |
      while IFS= read -r -d '' f; do
        [[ -n $build_rel && $f == "$build_rel"* ]] && continue
        [[ -f $src/$f || -L $src/$f ]] && printf '%s\0' "$f"
      done |
      tar -C "$src" --null -T - -cf - |
      tar -C "$root$in_stage" -xf -
  } >>"$copy_log" 2>&1 || die "copying the source tree (git ls-files | tar) failed" "$copy_log"
else
  say "$src is not a git work tree: copying it without .git and build*/" | tee -a "$copy_log"
  tar -C "$src" --exclude=./.git --exclude='./build*' -cf - . 2>>"$copy_log" |
    tar -C "$root$in_stage" -xf - >>"$copy_log" 2>&1 ||
    die "copying the source tree (tar) failed" "$copy_log"
fi
synced=$(sync_tree "$root$in_stage" "$root$in_src" 2>>"$copy_log") ||
  die "syncing the staged tree into $root$in_src failed" "$copy_log"
rm -rf --one-file-system "$root$in_stage"
nfiles=$(find "$root$in_src" -type f | wc -l)
took[copy]=$(elapsed "$t0")
say "copied $nfiles files ($synced since the last run): ${took[copy]}"

step "building seedpool against $ossl_version (log: $logs/build.log)"
t0=$(now)
if [[ ${SEEDPOOL_OPENSSL35_CLEAN:-0} == 1 ]]; then
  rm -rf --one-file-system "$root$in_build"
  mkdir -p "$root$in_build"
fi
jobs=$(in_root nproc 2>/dev/null || echo 2)
{
  run_child in_root cmake -S "$in_src" -B "$in_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSEEDPOOL_WERROR="${SEEDPOOL_WERROR:-ON}" &&
  run_child in_root cmake --build "$in_build" -j"$jobs"
} >"$logs/build.log" 2>&1 || die "build against OpenSSL 3.5 failed" "$logs/build.log"
# In the chroot the build can only have found the root's libcrypto.
found=$(in_root pkg-config --modversion libcrypto 2>/dev/null || echo "?")
took[build]=$(elapsed "$t0")
say "build: ${took[build]} (against libcrypto $found)"

# --- 4. tests ----------------------------------------------------------------
step "ctest in the root (log: $logs/ctest.log)"
t0=$(now)
ctest_rc=0
# shellcheck disable=SC2086
run_child in_root bash -c 'cd "$1" && shift && exec ctest --output-on-failure -j"$@"' _ \
  "$in_build" "$jobs" --timeout 300 ${SEEDPOOL_CTEST_ARGS:-} >"$logs/ctest.log" 2>&1 || ctest_rc=$?
took[tests]=$(elapsed "$t0")
# ctest's closing block: "NN% tests passed, ..." and the list of failures.
sed -n '/% tests passed/,$p' "$logs/ctest.log"
say "tests: ${took[tests]} on $ossl_version"
if ((ctest_rc != 0)); then
  if grep -q '% tests passed' "$logs/ctest.log"; then
    echo "$PROG: tests failed on $ossl_version (see $logs/ctest.log)" >&2
    exit 1
  fi
  die "ctest did not run to its end (exit $ctest_rc)" "$logs/ctest.log"
fi
say "all tests passed on $ossl_version"
