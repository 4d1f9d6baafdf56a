#!/usr/bin/env bash
# The README's two commands:
#   scripts/quickstart.sh demo   install what is missing, build, draw random
#                                bytes through seedpool and print the pool's
#                                statistics
#   scripts/quickstart.sh test   install what is missing, build, run the
#                                whole test suite (this is what CI runs)
#   scripts/quickstart.sh bench  install what is missing, build, run every
#                                benchmark (test/bench/bench_all.py; extra
#                                arguments go to it): one table, and
#                                bench.csv, bench.json, bench.png in
#                                $SEEDPOOL_BUILD_DIR/bench-results
# For a fresh Debian 12 machine; run as root or with sudo available.
set -euo pipefail

mode=${1:-demo}
case "$mode" in demo|test|bench) ;; *) echo "usage: $0 demo|test|bench [bench_all.py args]" >&2; exit 64 ;; esac
[ $# -gt 0 ] && shift

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SEEDPOOL_BUILD_DIR:-$src/build}
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==> %s\n' "$*"; }
# shellcheck source=scripts/install_missing.sh
. "$src/scripts/install_missing.sh"

# --- 1. Debian packages -------------------------------------------------------
packages=(build-essential cmake pkg-config openssl libssl-dev liburing-dev
          libgtest-dev libbenchmark-dev python3)
# rngtest (FIPS 140-2 tests on 2.5 MB of output) and HAProxy (async mode
# against a real server) for the test suite.
[ "$mode" = test ] && packages+=(rng-tools5 haproxy)
# The benchmarks' plot (bench_all_smoke in the suite draws it too), and
# strace for their system call counts.
[ "$mode" = test ] && packages+=(python3-matplotlib)
[ "$mode" = bench ] && packages+=(python3-matplotlib strace)
install_missing "${packages[@]}"

# --- 2. Build ------------------------------------------------------------------
step "building into $build"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEEDPOOL_WERROR=ON >/dev/null
cmake --build "$build" -j"$jobs"

# The configs in conf/ load seedpool.so from OpenSSL's modules directory;
# until `cmake --install`, point OpenSSL at the build folder instead.
export OPENSSL_MODULES=$build

# --- 3. The main job or the tests --------------------------------------------
if [ "$mode" = demo ]; then
  step "seedpool as the seed source of OpenSSL's DRBGs (conf/seedpool.cnf)"
  OPENSSL_CONF=$src/conf/seedpool.cnf "$build/seedpool-rand" -n 32
  step "every byte from the pool (conf/seedpool-direct.cnf)"
  OPENSSL_CONF=$src/conf/seedpool-direct.cnf "$build/seedpool-rand" -n 32
  step "the fast generator seeded straight from the pool (conf/seedpool-drbg.cnf)"
  OPENSSL_CONF=$src/conf/seedpool-drbg.cnf "$build/seedpool-rand" -n 32
  step "the openssl CLI under conf/seedpool.cnf"
  OPENSSL_CONF=$src/conf/seedpool.cnf openssl rand -hex 32
  exit 0
fi

if [ "$mode" = bench ]; then
  # Debian's python3-matplotlib serves /usr/bin/python3. The 3.5 column:
  # rand_bench rebuilt and run in the Debian 13 root of test/openssl35/run.sh
  # when that root exists and this runs as root; otherwise it says why not.
  step "every benchmark, OpenSSL's default provider against seedpool (bench_all.py)"
  exec /usr/bin/python3 "$src/test/bench/bench_all.py" --build-dir "$build" \
    --out "$build/bench-results" --openssl35 refresh "$@"
fi

step "running the test suite"
(cd "$build" && ctest --output-on-failure -j"$jobs" --timeout 300)

# The same unit and provider tests, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc's runtimes): any report fails the run.
step "unit and provider tests under ASan + UBSan"
asan_build=${build}-asan
cmake -S "$src" -B "$asan_build" -DCMAKE_BUILD_TYPE=Debug -DSEEDPOOL_WERROR=ON \
  -DSEEDPOOL_SANITIZE=address,undefined >/dev/null
cmake --build "$asan_build" -j"$jobs" --target seedpool pool_unit_tests \
  provider_tests async_unit_tests provider_async_tests provider_lifecycle_tests
(cd "$asan_build" &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" --timeout 300 -L 'unit|provider' \
    -E 'ForkedChildRestartsTheGatherer|WhilePaused')
# Tests that free a paused job's wait ctx (as SSL_free does) leave that job
# to OpenSSL, which never releases it (its 32 KiB stack and ASYNC_JOB), or
# keep a paused job's wait ctx to the end (OPENSSL_cleanup / exit): the
# same tests without the leak check, every other check on.
(cd "$asan_build" &&
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" --timeout 300 -R 'WhilePaused')
# Left out above: a test that forks while the parent's gatherer thread runs
# and then starts a thread in the child. Debian 12's libasan (GCC 12) has no
# fork handler for its allocator, so the child's new thread can block for
# good on an allocator lock the parent's thread held at fork (seen here: the
# child's gatherer in futex_wait, never woken). glibc's malloc has those
# handlers; the test runs in the plain build above.

step "the gatherer, requests and cancellation races under ThreadSanitizer"
# TSan on the tests that run threads against each other. Tests that fork
# with threads running are left out: TSan does not support starting threads
# in a child forked from a multi-threaded process (they run above, and
# under ASan).
tsan_build=${build}-tsan
cmake -S "$src" -B "$tsan_build" -DCMAKE_BUILD_TYPE=Debug -DSEEDPOOL_WERROR=ON \
  -DSEEDPOOL_SANITIZE=thread >/dev/null
cmake --build "$tsan_build" -j"$jobs" --target pool_unit_tests
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  "$tsan_build/test/pool_unit_tests" \
  --gtest_filter='Paths/Gatherer.*:Paths/ReactorPaths*:PoolConcurrency*:PoolReadAhead.*:Table/SourceFaults.*:PoolShutdown.*:-*Fork*'

step "libFuzzer: config keys, RAND params, RAND arguments, health tests (30 s each)"
# clang-14 with ASan + UBSan over the checked-in corpus (test/fuzz/corpus,
# including the regression inputs of bugs the fuzzers found); any report
# fails the run. See test/fuzz/README.md.
SEEDPOOL_FUZZ_BUILD_DIR="${build}-fuzz" bash "$src/test/fuzz/run.sh"

step "the whole suite against OpenSSL 3.5 (a Debian 13 root made with debootstrap)"
# Unit, provider and integration tests, built against trixie's OpenSSL 3.5
# and run with its openssl CLI; the root is kept in the build folder and
# reused. See test/openssl35/run.sh.
bash "$src/test/openssl35/run.sh"
