#!/usr/bin/env bash
# Builds seedpool's libFuzzer targets (clang-14, ASan + UBSan, in a build
# folder of their own) and runs each one over its checked-in corpus for a
# short time. Fails on any crash, sanitizer report, leak, timeout or broken
# promise of a target (see test/fuzz/README.md). This is what CI runs.
#
#   test/fuzz/run.sh                            every target, 30 s each
#   SEEDPOOL_FUZZ_SECONDS=300 test/fuzz/run.sh  longer
#   SEEDPOOL_FUZZ_TARGETS="fuzz_config fuzz_health" test/fuzz/run.sh
#   SEEDPOOL_FUZZ_BUILD_DIR=/tmp/bf test/fuzz/run.sh   (default: build-fuzz)
#   SEEDPOOL_FUZZ_TIMEOUT=20                    seconds one input may take
#
# New inputs the fuzzers find go to <build>/fuzz-work/<target>/ (the
# checked-in corpus is only read); a failing input to
# <build>/fuzz-artifacts/<target>/, and the log to <build>/fuzz-logs/.
# Debian 12; installs clang-14 and libclang-rt-14-dev when missing (as root,
# or with sudo).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${SEEDPOOL_FUZZ_BUILD_DIR:-$src/build-fuzz}
seconds=${SEEDPOOL_FUZZ_SECONDS:-30}
per_input=${SEEDPOOL_FUZZ_TIMEOUT:-20}
targets=${SEEDPOOL_FUZZ_TARGETS:-fuzz_config fuzz_health fuzz_params fuzz_rand_args}
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==> %s\n' "$*"; }
# shellcheck source=scripts/install_missing.sh
. "$src/scripts/install_missing.sh"

# --- 1. Packages ----------------------------------------------------------------
packages=(clang-14 libclang-rt-14-dev cmake pkg-config libssl-dev liburing-dev)
install_missing "${packages[@]}"

# --- 2. Build -------------------------------------------------------------------
# The whole tree with clang and ASan + UBSan (the fuzzers link the static
# libraries and load seedpool.so); test/fuzz/CMakeLists.txt adds the coverage
# instrumentation. -Werror off: clang warns where gcc does not (reported, not
# fixed here). The test suite is not needed.
if [ -f "$build/CMakeCache.txt" ] && ! grep -q '^CMAKE_CXX_COMPILER:.*clang' "$build/CMakeCache.txt"; then
  echo "$build was configured with another compiler; remove it or set SEEDPOOL_FUZZ_BUILD_DIR" >&2
  exit 1
fi
step "building the fuzz targets into $build"
CC=clang-14 CXX=clang++-14 cmake -S "$src" -B "$build" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEEDPOOL_FUZZ=ON \
  -DSEEDPOOL_SANITIZE=address,undefined -DSEEDPOOL_WERROR=OFF \
  -DSEEDPOOL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target seedpool_fuzz

# --- 3. Run -----------------------------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in $targets; do
  bin=$build/test/fuzz/$t
  corpus=$here/corpus/$t
  [ -x "$bin" ] || { echo "no such target: $t" >&2; exit 1; }
  work=$build/fuzz-work/$t
  artifacts=$build/fuzz-artifacts/$t
  log=$build/fuzz-logs/$t.log
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  args=(-max_total_time="$seconds" -timeout="$per_input" -rss_limit_mb=4096
        -print_final_stats=1 -artifact_prefix="$artifacts/")
  [ -f "$here/$t.dict" ] && args+=(-dict="$here/$t.dict")
  step "$t: ${seconds}s over corpus/$t ($(ls "$corpus" | wc -l) inputs)"
  # The first directory receives new inputs; the checked-in corpus is read.
  if "$bin" "${args[@]}" "$work" "$corpus" >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)' "$log" || true
  else
    echo "FAILED (log: $log)"
    grep -E 'broken promise|ERROR: |SUMMARY: |Test unit written|^  ' "$log" | head -20 || true
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  step "fuzzing failed: ${failed[*]}"
  echo "Reproduce: <build>/test/fuzz/<target> <input>; failing inputs in $build/fuzz-artifacts/" >&2
  exit 1
fi
step "fuzzing passed: $targets"
