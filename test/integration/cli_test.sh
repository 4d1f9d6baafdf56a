#!/usr/bin/env bash
# Integration tests of seedpool through the real openssl CLI.
#
#   bash cli_test.sh <build_dir> <source_dir> <case>
#
# Runs one named case (see the case_* functions below, and CMakeLists.txt
# next to this file for how ctest registers them). Every case runs in a
# fresh temporary directory, with OPENSSL_MODULES pointing at the build
# folder (so OpenSSL finds seedpool.so without an install) and with
# OPENSSL_CONF set explicitly, so neither the system configuration nor the
# caller's environment leaks in. Nothing outside the temporary directory is
# written.
#
# OpenSSL falls back to the OS silently when a configured seed source cannot
# be used, so a case that claims "seedpool served" proves it with the line
# the provider appends to $SEEDPOOL_STATS_FILE when it is torn down:
#   seedpool pid=3573 entropy_available=3264 ... bytes_served=80 ... health=ok ...

set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 <build_dir> <source_dir> <case>" >&2
  exit 2
fi

BUILD_DIR=$(cd "$1" && pwd)
SOURCE_DIR=$(cd "$2" && pwd)
CASE=$3

OPENSSL=${OPENSSL:-openssl}
SEED_CONF=$SOURCE_DIR/conf/seedpool.cnf
DIRECT_CONF=$SOURCE_DIR/conf/seedpool-direct.cnf
DRBG_CONF=$SOURCE_DIR/conf/seedpool-drbg.cnf
RP35_CONF=$SOURCE_DIR/conf/seedpool-35.cnf
SEEDPOOL_RAND=$BUILD_DIR/seedpool-rand

export OPENSSL_MODULES=$BUILD_DIR
unset SEEDPOOL_STATS_FILE OPENSSL_CONF_INCLUDE

TMP=$(mktemp -d "${TMPDIR:-/tmp}/seedpool-it.XXXXXX")
# Background processes (s_server, s_client) a case started: killed on exit,
# whatever the outcome. WATCHDOGS: see start_watchdog.
BG_PIDS=()
WATCHDOGS=()

cleanup() {
  local pid f
  for pid in "${BG_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${WATCHDOGS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for f in "$TMP"/watchdog-sleep.*; do
    if [[ -f $f ]]; then kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
# Without these, a signal (ctest's timeout, ^C) would end bash without
# running the EXIT trap.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# If this script is killed with SIGKILL (no trap runs), a background
# s_server would wait for its connection forever: a watchdog process
# SIGTERMs it after <seconds> unless cleanup ends the watchdog first.
start_watchdog() {  # <pid> <seconds> <expected word in its command line>
  local pid=$1 secs=$2 word=$3
  (
    trap - EXIT HUP INT TERM
    sleep "$secs" &
    echo $! >"$TMP/watchdog-sleep.$pid"
    wait $! || exit 0
    # Only if that pid is still the process we started.
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qw -- "$word"; then
      kill -TERM "$pid"
    fi
  ) >/dev/null 2>&1 </dev/null &
  WATCHDOGS+=("$!")
}

# A configuration with no provider and no [random] section, for the cases
# that load seedpool from the command line only.
EMPTY_CONF=$TMP/empty.cnf
: >"$EMPTY_CONF"
export OPENSSL_CONF=$EMPTY_CONF

# ---------------------------------------------------------------------------
# Assertion helpers: each prints what was expected and what was got.

FAILURES=0

note() { printf '    %s\n' "$*"; }

fail() {
  echo "FAIL: $1" >&2
  shift
  local line
  for line in "$@"; do printf '    %s\n' "$line" >&2; done
  FAILURES=$((FAILURES + 1))
}

pass() { echo "ok: $*"; }

# Dump a file's content indented, for failure messages.
show_file() {
  local f=$1
  if [[ -s $f ]]; then
    sed 's/^/      | /' "$f" >&2
  else
    echo "      (empty: $f)" >&2
  fi
}

assert_eq() {  # <what> <expected> <got>
  if [[ "$3" == "$2" ]]; then
    pass "$1 = '$3'"
  else
    fail "$1" "expected: '$2'" "got:      '$3'"
  fi
}

assert_ne() {  # <what> <not-expected> <got>
  if [[ "$3" != "$2" ]]; then
    pass "$1 ('$3' != '$2')"
  else
    fail "$1" "expected anything but: '$2'" "got:                   '$3'"
  fi
}

assert_int_gt() {  # <what> <bound> <got>
  if [[ "$3" =~ ^[0-9]+$ ]] && (( $3 > $2 )); then
    pass "$1 = $3 (> $2)"
  else
    fail "$1" "expected: an integer > $2" "got:      '$3'"
  fi
}

assert_int_ge() {  # <what> <bound> <got>
  if [[ "$3" =~ ^[0-9]+$ ]] && (( $3 >= $2 )); then
    pass "$1 = $3 (>= $2)"
  else
    fail "$1" "expected: an integer >= $2" "got:      '$3'"
  fi
}

assert_match() {  # <what> <extended-regex> <got>
  if [[ "$3" =~ $2 ]]; then
    pass "$1 matches /$2/"
  else
    fail "$1" "expected to match: /$2/" "got: '$3'"
  fi
}

# The file holds a line equal to <line> (fixed string, whole line).
assert_file_has_line() {  # <what> <file> <line>
  if grep -qxF -- "$3" "$2"; then
    pass "$1: has line '$3'"
  else
    fail "$1" "expected a line: '$3'" "got ($2):"
    show_file "$2"
  fi
}

# The file contains <text> (fixed string, anywhere).
assert_file_contains() {  # <what> <file> <text>
  if grep -qF -- "$3" "$2"; then
    pass "$1: contains '$3'"
  else
    fail "$1" "expected to contain: '$3'" "got ($2):"
    show_file "$2"
  fi
}

assert_file_lacks() {  # <what> <file> <text>
  if grep -qF -- "$3" "$2"; then
    fail "$1" "expected NOT to contain: '$3'" "got ($2):"
    show_file "$2"
  else
    pass "$1: does not contain '$3'"
  fi
}

assert_exit() {  # <what> <expected-rc> <got-rc> [files to show on failure...]
  local what=$1 want=$2 got=$3
  shift 3
  if [[ "$got" == "$want" ]]; then
    pass "$what: exit status $got"
  else
    fail "$what" "expected exit status: $want" "got exit status:      $got"
    local f
    for f in "$@"; do echo "    $f:" >&2; show_file "$f"; done
  fi
}

assert_exit_nonzero() {  # <what> <got-rc> [files to show on failure...]
  local what=$1 got=$2
  shift 2
  if [[ "$got" != 0 ]]; then
    pass "$what: exit status $got (non-zero)"
  else
    fail "$what" "expected a non-zero exit status" "got exit status: 0"
    local f
    for f in "$@"; do echo "    $f:" >&2; show_file "$f"; done
  fi
}

# Runs a command with stdout/stderr to files; sets RC to its exit status
# (never aborts the script on failure).
#   run <out-file> <err-file> cmd args...
run() {
  local out=$1 err=$2
  shift 2
  RC=0
  "$@" >"$out" 2>"$err" || RC=$?
}

# ---------------------------------------------------------------------------
# The stats file: one line per provider teardown.

# Prints the value of <field> in the one line of <file> (optionally: the line
# of process <pid>). If there is not exactly one such line, prints why on
# stderr and a "<...>" placeholder on stdout, which no assertion accepts.
# (It runs inside $(...), so it cannot count a failure itself.)
stats_field() {  # <file> <field> [pid]
  local file=$1 field=$2 pid=${3:-} lines n v
  if [[ ! -f $file ]]; then
    echo "    (stats file $file: missing: seedpool was never torn down; not loaded?)" >&2
    echo "<no stats file>"
    return 0
  fi
  if [[ -n $pid ]]; then
    lines=$(grep -E "^seedpool pid=$pid( |\$)" "$file" || true)
  else
    lines=$(grep -E '^seedpool pid=' "$file" || true)
  fi
  n=$(printf '%s' "$lines" | grep -c '^seedpool' || true)
  if [[ $n != 1 ]]; then
    echo "    (stats file $file: expected exactly one 'seedpool pid=${pid:-...}' line, got $n:)" >&2
    show_file "$file"
    echo "<$n stats lines>"
    return 0
  fi
  v=$(printf '%s\n' "$lines" | tr ' ' '\n' | sed -n "s/^$field=//p")
  echo "${v:-<no $field>}"
}

# ---------------------------------------------------------------------------
# Helpers for configurations written into the temporary directory.

# A configuration that loads default + seedpool (activated), with the given
# lines in [seedpool_sect] and the given [random] section body (may be
# empty: no [random] section at all).
write_conf() {  # <file> <seedpool_sect lines> <random_sect lines>
  local file=$1 sect=$2 random=$3
  {
    echo "openssl_conf = openssl_init"
    echo "[openssl_init]"
    echo "providers = provider_sect"
    [[ -n $random ]] && echo "random = random_sect"
    echo "[provider_sect]"
    echo "default = default_sect"
    echo "seedpool = seedpool_sect"
    echo "[default_sect]"
    echo "activate = 1"
    echo "[seedpool_sect]"
    [[ -n $sect ]] && printf '%s\n' "$sect"
    if [[ -n $random ]]; then
      echo "[random_sect]"
      printf '%s\n' "$random"
    fi
  } >"$file"
}

# A configuration that only passes parameters to seedpool (no provider
# activated by the file): for `-provider seedpool -provider default`, where
# the command line decides the load order. (A provider the file activates
# is loaded before any -provider one, so with `default` activated here the
# default SEED-SRC would win, as in provider_order.)
write_explicit_conf() {  # <file> <seedpool_sect lines>
  {
    echo "openssl_conf = openssl_init"
    echo "[openssl_init]"
    echo "providers = provider_sect"
    echo "[provider_sect]"
    echo "seedpool = seedpool_sect"
    echo "[seedpool_sect]"
    printf '%s\n' "$2"
  } >"$1"
}

project_version() {
  sed -n 's/^[[:space:]]*project(seedpool[[:space:]]\{1,\}VERSION[[:space:]]\{1,\}\([0-9][0-9.]*\).*/\1/p' \
    "$SOURCE_DIR/CMakeLists.txt" | head -n 1
}

# Polls until pid exits, at most <seconds>. Returns 0 if it exited, 1 if not.
wait_exit() {  # <pid> <seconds>
  local pid=$1 tenths=$(($2 * 10)) i
  for ((i = 0; i < tenths; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && return 1
  return 0
}

# ---------------------------------------------------------------------------
# Cases.

# 1. The RAND algorithm is listed under its name, from the seedpool provider.
case_list_generators() {
  run "$TMP/out" "$TMP/err" \
    "$OPENSSL" list -random-generators -provider-path "$BUILD_DIR" -provider seedpool
  assert_exit "openssl list -random-generators" 0 "$RC" "$TMP/err"
  # Lines look like "  SEEDPOOL @ seedpool": compare with the indent trimmed.
  sed 's/^[[:space:]]*//; s/[[:space:]]*$//' "$TMP/out" >"$TMP/trimmed"
  assert_file_has_line "random generators" "$TMP/trimmed" "SEEDPOOL @ seedpool"
}

# 2. The provider answers its parameters: name, version (the project's),
#    status.
case_list_providers() {
  local version
  version=$(project_version)
  assert_match "version in top-level CMakeLists.txt" '^[0-9]+\.[0-9]+\.[0-9]+$' "$version"
  run "$TMP/out" "$TMP/err" \
    "$OPENSSL" list -providers -provider-path "$BUILD_DIR" -provider seedpool
  assert_exit "openssl list -providers" 0 "$RC" "$TMP/err"
  cat "$TMP/out" "$TMP/err" >"$TMP/all"
  sed 's/^[[:space:]]*//; s/[[:space:]]*$//' "$TMP/out" >"$TMP/trimmed"
  # Only seedpool was loaded; the block is:
  #   seedpool
  #     name: seedpool
  #     version: 0.1.0
  #     status: active
  assert_file_has_line "providers" "$TMP/trimmed" "seedpool"
  assert_file_has_line "providers" "$TMP/trimmed" "name: seedpool"
  assert_file_has_line "providers" "$TMP/trimmed" "version: $version"
  assert_file_has_line "providers" "$TMP/trimmed" "status: active"
  assert_file_lacks "providers (stdout+stderr)" "$TMP/all" "Unable to query provider parameters"
}

# 3. seedpool as the seed source under OpenSSL's DRBGs (conf/seedpool.cnf).
case_rand_seed_conf() {
  local i out1 out2
  for i in 1 2; do
    run "$TMP/out$i" "$TMP/err$i" env OPENSSL_CONF="$SEED_CONF" \
      SEEDPOOL_STATS_FILE="$TMP/stats$i" "$OPENSSL" rand -hex 32
    assert_exit "run $i: openssl rand -hex 32 (seedpool.cnf)" 0 "$RC" "$TMP/err$i"
    assert_match "run $i: output" '^[0-9a-f]{64}$' "$(cat "$TMP/out$i")"
    assert_int_gt "run $i: bytes_served" 0 "$(stats_field "$TMP/stats$i" bytes_served)"
    assert_eq "run $i: requests_failed" 0 "$(stats_field "$TMP/stats$i" requests_failed)"
    assert_eq "run $i: health" ok "$(stats_field "$TMP/stats$i" health)"
  done
  out1=$(cat "$TMP/out1")
  out2=$(cat "$TMP/out2")
  assert_ne "two runs give different output" "$out1" "$out2"
}

# 4. Every byte straight from the pool (conf/seedpool-direct.cnf).
case_rand_direct_conf() {
  local n
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$DIRECT_CONF" \
    SEEDPOOL_STATS_FILE="$TMP/stats1" "$OPENSSL" rand -hex 32
  assert_exit "openssl rand -hex 32 (seedpool-direct.cnf)" 0 "$RC" "$TMP/err"
  assert_match "output" '^[0-9a-f]{64}$' "$(cat "$TMP/out")"
  assert_int_gt "bytes_served" 0 "$(stats_field "$TMP/stats1" bytes_served)"
  assert_eq "requests_failed" 0 "$(stats_field "$TMP/stats1" requests_failed)"
  assert_eq "health" ok "$(stats_field "$TMP/stats1" health)"

  run "$TMP/out2" "$TMP/err2" env OPENSSL_CONF="$DIRECT_CONF" \
    SEEDPOOL_STATS_FILE="$TMP/stats2" "$OPENSSL" rand 4096
  assert_exit "openssl rand 4096 (seedpool-direct.cnf)" 0 "$RC" "$TMP/err2"
  n=$(wc -c <"$TMP/out2" | tr -d ' ')
  assert_eq "openssl rand 4096 | wc -c" 4096 "$n"
  # Every output byte came from the pool.
  assert_int_ge "bytes_served" 4096 "$(stats_field "$TMP/stats2" bytes_served)"
  assert_eq "requests_failed" 0 "$(stats_field "$TMP/stats2" requests_failed)"
  assert_eq "health" ok "$(stats_field "$TMP/stats2" health)"
  if cmp -s "$TMP/out2" <(head -c 4096 /dev/zero); then
    fail "openssl rand 4096 output" "expected: random bytes" "got: 4096 zero bytes"
  fi
}

# 5. Seeding through -provider on the command line: the order matters.
#    OpenSSL 3.0 takes the SEED-SRC of the FIRST loaded provider that offers
#    one (with no `seed`/`seed_properties` configured, the primary DRBG
#    fetches "SEED-SRC" with no property query, and on 3.0 that resolves to
#    the provider loaded first). seedpool offers SEED-SRC as an alias of
#    SEEDPOOL, so:
#      -provider seedpool -provider default  -> seeded through seedpool
#      -provider default -provider seedpool  -> default's SEED-SRC (the OS);
#                                               seedpool is loaded but idle.
case_provider_order() {
  run "$TMP/out1" "$TMP/err1" env SEEDPOOL_STATS_FILE="$TMP/stats1" \
    "$OPENSSL" rand -provider-path "$BUILD_DIR" -provider seedpool -provider default -hex 32
  assert_exit "seedpool first: openssl rand" 0 "$RC" "$TMP/err1"
  assert_match "seedpool first: output" '^[0-9a-f]{64}$' "$(cat "$TMP/out1")"
  assert_int_gt "seedpool first: bytes_served" 0 "$(stats_field "$TMP/stats1" bytes_served)"
  assert_eq "seedpool first: requests_failed" 0 "$(stats_field "$TMP/stats1" requests_failed)"

  run "$TMP/out2" "$TMP/err2" env SEEDPOOL_STATS_FILE="$TMP/stats2" \
    "$OPENSSL" rand -provider-path "$BUILD_DIR" -provider default -provider seedpool -hex 32
  assert_exit "default first: openssl rand" 0 "$RC" "$TMP/err2"
  assert_match "default first: output" '^[0-9a-f]{64}$' "$(cat "$TMP/out2")"
  # The stats line exists (seedpool was loaded and torn down) but it served
  # nothing: the default provider's SEED-SRC was used.
  assert_eq "default first: bytes_served" 0 "$(stats_field "$TMP/stats2" bytes_served)"
}

# 6. Under random = SEEDPOOL, `openssl list -verbose -random-instances`
#    shows seedpool's instances and statistics.
case_random_instances_direct() {
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$DIRECT_CONF" \
    "$OPENSSL" list -verbose -random-instances
  assert_exit "openssl list -verbose -random-instances" 0 "$RC" "$TMP/err"
  local inst
  for inst in primary public private; do
    # The block of one instance: from "<inst>:" to the next unindented line.
    awk -v want="$inst:" '
      /^[^[:space:]]/ { on = ($0 == want); next }
      on { sub(/^[[:space:]]+/, ""); print }
    ' "$TMP/out" >"$TMP/$inst"
    if [[ ! -s $TMP/$inst ]]; then
      fail "$inst instance" "expected: a '$inst:' block" "got:"
      show_file "$TMP/out"
      continue
    fi
    assert_eq "$inst: implementation" "SEEDPOOL @ seedpool" "$(head -n 1 "$TMP/$inst")"
    assert_match "$inst: entropy_available" $'(^|\n)entropy_available: [0-9]+(\n|$)' "$(cat "$TMP/$inst")"
    assert_match "$inst: bytes_served" $'(^|\n)bytes_served: [0-9]+(\n|$)' "$(cat "$TMP/$inst")"
    assert_file_has_line "$inst" "$TMP/$inst" "health: 'ok'"
    assert_match "$inst: sources" $'(^|\n)sources: \'getrandom:[^\']+\'(\n|$)' "$(cat "$TMP/$inst")"
  done
}

# 7. seedpool-rand: exit 0 when seedpool served, 2 when OpenSSL drew nothing
#    from it (seedpool loaded but not in [random]).
case_seedpool_rand_tool() {
  local conf name served
  if [[ ! -x $SEEDPOOL_RAND ]]; then
    fail "seedpool-rand" "expected: an executable $SEEDPOOL_RAND" "got: missing"
    return
  fi
  for conf in "$SEED_CONF" "$DIRECT_CONF"; do
    name=$(basename "$conf")
    run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" "$SEEDPOOL_RAND" -n 32
    assert_exit "seedpool-rand under $name" 0 "$RC" "$TMP/out" "$TMP/err"
    assert_file_has_line "seedpool-rand under $name" "$TMP/out" "seedpool statistics:"
    served=$(awk '$1 == "bytes_served" { print $2 }' "$TMP/out")
    assert_int_gt "seedpool-rand under $name: bytes_served" 0 "$served"
  done

  # seedpool loaded and active, but no [random] section naming it: OpenSSL
  # seeds from the OS and the tool must say so with exit status 2.
  write_conf "$TMP/noseed.cnf" "activate = 1" ""
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$TMP/noseed.cnf" "$SEEDPOOL_RAND" -n 32
  assert_exit "seedpool-rand, seedpool loaded but not in [random]" 2 "$RC" "$TMP/out" "$TMP/err"
  served=$(awk '$1 == "bytes_served" { print $2 }' "$TMP/out")
  assert_eq "seedpool-rand, not in [random]: bytes_served" 0 "$served"
}

# 8. A TLS 1.3 handshake between s_server and s_client, both under the conf:
#    both processes drew from seedpool.
tls_case() {  # <conf>
  local conf=$1 port="" spid="" cpid i rc
  local stats=$TMP/stats

  "$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 1 -subj /CN=localhost -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
    >"$TMP/req.log" 2>&1 || {
      fail "making a self-signed certificate" "expected: exit 0" "got:"
      show_file "$TMP/req.log"
      return
    }

  # Pick a free port on 127.0.0.1 and start the server; if the port was
  # taken in between, the server exits at once: try another one.
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) ||
      port=$((20000 + RANDOM % 40000))
    : >"$TMP/srv.out"
    # -naccept 1: the server exits normally after one connection, so the
    # provider is torn down and writes its stats line (a signal would skip
    # that).
    env OPENSSL_CONF="$conf" SEEDPOOL_STATS_FILE="$stats" \
      "$OPENSSL" s_server -accept "127.0.0.1:$port" -cert "$TMP/cert.pem" \
      -key "$TMP/key.pem" -tls1_3 -www -naccept 1 \
      >"$TMP/srv.out" 2>"$TMP/srv.err" </dev/null &
    spid=$!
    BG_PIDS+=("$spid")
    start_watchdog "$spid" 60 s_server
    # s_server prints ACCEPT (and flushes) once it listens. Never probe the
    # port with a connection: that would use up the single accept.
    for ((i = 0; i < 100; i++)); do
      grep -qx ACCEPT "$TMP/srv.out" && break
      kill -0 "$spid" 2>/dev/null || break
      sleep 0.1
    done
    if grep -qx ACCEPT "$TMP/srv.out"; then
      break
    fi
    if kill -0 "$spid" 2>/dev/null; then
      fail "s_server" "expected: ACCEPT within 10 s" "got:"
      show_file "$TMP/srv.out"; show_file "$TMP/srv.err"
      return
    fi
    if ! grep -qiE 'address already in use|bind' "$TMP/srv.err"; then
      fail "s_server" "expected: a server listening on 127.0.0.1:$port" \
        "got: it exited at once:"
      show_file "$TMP/srv.out"; show_file "$TMP/srv.err"
      return
    fi
    note "s_server: port $port taken, trying another one"
    spid=""
  done
  if [[ -z $spid ]]; then
    fail "s_server" "expected: a server listening on 127.0.0.1" "got: 5 failed attempts"
    return
  fi
  pass "s_server (pid $spid) listening on 127.0.0.1:$port"

  env OPENSSL_CONF="$conf" SEEDPOOL_STATS_FILE="$stats" \
    "$OPENSSL" s_client -connect "127.0.0.1:$port" -tls1_3 -brief \
    </dev/null >"$TMP/cli.out" 2>"$TMP/cli.err" &
  cpid=$!
  BG_PIDS+=("$cpid")
  if ! wait_exit "$cpid" 15; then
    fail "s_client" "expected: exit within 15 s" "got: still running (killed)"
    kill -TERM "$cpid" 2>/dev/null || true
  fi
  rc=0
  wait "$cpid" || rc=$?
  assert_exit "s_client (pid $cpid)" 0 "$rc" "$TMP/cli.out" "$TMP/cli.err"
  cat "$TMP/cli.out" "$TMP/cli.err" >"$TMP/cli.all"
  assert_file_has_line "s_client -brief" "$TMP/cli.all" "CONNECTION ESTABLISHED"
  assert_file_has_line "s_client -brief" "$TMP/cli.all" "Protocol version: TLSv1.3"

  # The server exits by itself after its one connection.
  if ! wait_exit "$spid" 10; then
    fail "s_server" "expected: exit after one connection (-naccept 1) within 10 s" \
      "got: still running (killed)"
    kill -TERM "$spid" 2>/dev/null || true
  fi
  rc=0
  wait "$spid" || rc=$?
  assert_exit "s_server (pid $spid)" 0 "$rc" "$TMP/srv.out" "$TMP/srv.err"
  assert_file_contains "s_server" "$TMP/srv.out" "1 server accepts that finished"

  TLS_SERVER_PID=$spid TLS_CLIENT_PID=$cpid  # for the caller's own checks
  assert_int_gt "server (pid $spid): bytes_served" 0 "$(stats_field "$stats" bytes_served "$spid")"
  assert_eq "server (pid $spid): requests_failed" 0 "$(stats_field "$stats" requests_failed "$spid")"
  assert_eq "server (pid $spid): health" ok "$(stats_field "$stats" health "$spid")"
  assert_int_gt "client (pid $cpid): bytes_served" 0 "$(stats_field "$stats" bytes_served "$cpid")"
  assert_eq "client (pid $cpid): requests_failed" 0 "$(stats_field "$stats" requests_failed "$cpid")"
  assert_eq "client (pid $cpid): health" ok "$(stats_field "$stats" health "$cpid")"
}

case_tls_seed_conf() { tls_case "$SEED_CONF"; }
case_tls_direct_conf() { tls_case "$DIRECT_CONF"; }
# Under random = SEEDPOOL-DRBG (conf/seedpool-drbg.cnf): each process's
# per-thread generators seed themselves from the pool.
case_tls_drbg_conf() { tls_case "$DRBG_CONF"; }

# Cases for OpenSSL 3.5 and later only: exit 77, which ctest reports as
# skipped (SKIP_RETURN_CODE), on an older openssl.
require_openssl_35() {
  local v major minor
  # "OpenSSL 3.0.19 27 Jan 2026 (Library: OpenSSL 3.0.19 27 Jan 2026)": the
  # library's version, the last one on the line, is what serves.
  v=$("$OPENSSL" version | grep -oE 'OpenSSL [0-9]+\.[0-9]+' | tail -n 1)
  major=${v#OpenSSL }; minor=${major#*.}; major=${major%%.*}
  if [[ -z $v ]] || ((major < 3 || (major == 3 && minor < 5))); then
    echo "skip: ${v:-this openssl} has no random_provider (OpenSSL 3.5 and later)"
    exit 77
  fi
}

# OpenSSL 3.5's random_provider (conf/seedpool-35.cnf): `openssl rand` is
# served by seedpool's random-bytes function, and the counters that only it
# moves prove it (OpenSSL would use its own DRBGs silently otherwise).
case_rand_random_provider() {
  require_openssl_35
  local i out1 out2 n
  for i in 1 2; do
    run "$TMP/out$i" "$TMP/err$i" env OPENSSL_CONF="$RP35_CONF" \
      SEEDPOOL_STATS_FILE="$TMP/stats$i" "$OPENSSL" rand -hex 32
    assert_exit "run $i: openssl rand -hex 32 (seedpool-35.cnf)" 0 "$RC" "$TMP/err$i"
    assert_match "run $i: output" '^[0-9a-f]{64}$' "$(cat "$TMP/out$i")"
    assert_int_gt "run $i: random_provider_calls" 0 "$(stats_field "$TMP/stats$i" random_provider_calls)"
    assert_int_ge "run $i: random_provider_bytes" 32 "$(stats_field "$TMP/stats$i" random_provider_bytes)"
    assert_eq "run $i: random_provider_failed" 0 "$(stats_field "$TMP/stats$i" random_provider_failed)"
    assert_int_gt "run $i: bytes_served (the generators' seeds)" 0 "$(stats_field "$TMP/stats$i" bytes_served)"
    assert_eq "run $i: health" ok "$(stats_field "$TMP/stats$i" health)"
  done
  out1=$(cat "$TMP/out1")
  out2=$(cat "$TMP/out2")
  assert_ne "two runs give different output" "$out1" "$out2"

  # Larger than the generator's 64 KiB: served in pieces, every byte counted.
  run "$TMP/out3" "$TMP/err3" env OPENSSL_CONF="$RP35_CONF" \
    SEEDPOOL_STATS_FILE="$TMP/stats3" "$OPENSSL" rand -out "$TMP/big.bin" 200000
  assert_exit "openssl rand 200000 (seedpool-35.cnf)" 0 "$RC" "$TMP/err3"
  n=$(wc -c <"$TMP/big.bin" | tr -d ' ')
  assert_eq "openssl rand 200000 | wc -c" 200000 "$n"
  assert_int_ge "random_provider_bytes" 200000 "$(stats_field "$TMP/stats3" random_provider_bytes)"

  # The control: the same file without the random_provider line. seedpool
  # still seeds OpenSSL's DRBGs, but its random-bytes function is not
  # called, and the counters say so.
  grep -v '^random_provider' "$RP35_CONF" >"$TMP/no-rp.cnf"
  run "$TMP/out4" "$TMP/err4" env OPENSSL_CONF="$TMP/no-rp.cnf" \
    SEEDPOOL_STATS_FILE="$TMP/stats4" "$OPENSSL" rand -hex 32
  assert_exit "openssl rand without random_provider" 0 "$RC" "$TMP/err4"
  assert_eq "without random_provider: random_provider_calls" 0 \
    "$(stats_field "$TMP/stats4" random_provider_calls)"

  # seedpool-rand names the generator that served: seedpool's random
  # provider here (it used to name a CTR-DRBG it had itself made by asking
  # for the public DRBG), OpenSSL's CTR-DRBG in the control.
  run "$TMP/out5" "$TMP/err5" env OPENSSL_CONF="$RP35_CONF" "$SEEDPOOL_RAND" -n 32
  assert_exit "seedpool-rand (seedpool-35.cnf)" 0 "$RC" "$TMP/out5" "$TMP/err5"
  assert_match "seedpool-rand (seedpool-35.cnf): served by" \
    $'(^|\n)RAND_bytes served by: seedpool\'s random provider \\(random_provider = seedpool; [1-9][0-9]* calls, [0-9]+ bytes\\)(\n|$)' \
    "$(cat "$TMP/out5")"
  run "$TMP/out6" "$TMP/err6" env OPENSSL_CONF="$TMP/no-rp.cnf" "$SEEDPOOL_RAND" -n 32
  assert_exit "seedpool-rand without random_provider" 0 "$RC" "$TMP/out6" "$TMP/err6"
  assert_match "seedpool-rand without random_provider: served by" \
    $'(^|\n)RAND_bytes served by: CTR-DRBG @ default' "$(cat "$TMP/out6")"
}

# A TLS 1.3 handshake with both ends under conf/seedpool-35.cnf: both
# processes' RAND_bytes (randoms, key shares, ticket keys) were served by
# seedpool's random-bytes function.
case_tls_random_provider() {
  require_openssl_35
  TLS_SERVER_PID="" TLS_CLIENT_PID=""
  tls_case "$RP35_CONF"
  if [[ -z $TLS_SERVER_PID || -z $TLS_CLIENT_PID ]]; then
    fail "handshake" "expected: a completed handshake" "got: none (see above)"
    return
  fi
  local who pid
  for who in server client; do
    if [[ $who == server ]]; then pid=$TLS_SERVER_PID; else pid=$TLS_CLIENT_PID; fi
    assert_int_gt "$who (pid $pid): random_provider_calls" 0 \
      "$(stats_field "$TMP/stats" random_provider_calls "$pid")"
    assert_int_gt "$who (pid $pid): random_provider_bytes" 0 \
      "$(stats_field "$TMP/stats" random_provider_bytes "$pid")"
    assert_eq "$who (pid $pid): random_provider_failed" 0 \
      "$(stats_field "$TMP/stats" random_provider_failed "$pid")"
  done
}

# 9. Bad provider configuration values.
#
# What OpenSSL 3.0 does with a provider whose init FAILS while the config
# file activates it: the providers config module counts that as a non-fatal
# error and reports success, CONF_modules_load pops the error queue, and
# RAND then seeds from the OS; nothing is printed (not even with
# `config_diagnostics = 1`) and `openssl rand` exits 0. That is why seedpool
# fails closed: with a bad value its init succeeds, the provider reports
# `status: inactive`, and every request fails with an error that names the
# key and the value:
#   ...:error:40800007:seedpool:raise_not_running:bad configuration value:
#     ...:seedpool is not running: invalid value for pool_size: "abc"
#     (expected bits, 1024 to 65536)
# This case asserts that, for each bad value, in each way a user loads
# seedpool: a conf like conf/seedpool.cnf (seed source), one like
# conf/seedpool-direct.cnf (random = SEEDPOOL), and `-provider seedpool`
# with the keys in the config file.
BAD_CONFIG_VALUES=(
  'pool_size|abc'
  'pool_size|10'
  'block_timeout_ms|-1'
  'getrandom_credit|9'
  'sources|bogus'
  'sources|'
  'device_credit|9'
  'hwrng_credit|lots'
  'read_wakeup_threshold|abc'
  'read_wakeup_threshold|5000'
  'read_wakeup_threshold|-1'
  'write_wakeup_threshold|4097'
  'write_wakeup_threshold|lots'
  'seed_file|seedpool.seed'
  'seed_file_trusted|maybe'
  'async_timeout_ms|-5'
  'async_timeout_ms|3600001'
)

SEED_RANDOM_SECT=$'seed = SEEDPOOL\nseed_properties = provider=seedpool'
DIRECT_RANDOM_SECT=$'random = SEEDPOOL\nproperties = provider=seedpool\nseed = SEEDPOOL\nseed_properties = provider=seedpool'

# Prints the trimmed lines of one provider's block of `openssl list
# -providers` (blocks start with a line indented by exactly two spaces).
provider_block() {  # <file> <provider>
  awk -v want="$2" '
    /^  [^ ]/ { on = ($0 == "  " want); next }
    /^[^ ]/ { on = 0; next }
    on { sub(/^[[:space:]]+/, ""); print }
  ' "$1"
}

# Asserts that seedpool served nothing: no stats line with bytes_served > 0
# (with a bad value the pool never starts, so there is no line at all).
assert_not_served() {  # <what> <stats file>
  if [[ -f $2 ]] && grep -qE '(^| )bytes_served=[1-9]' "$2"; then
    fail "$1: seedpool must not serve" "expected: no bytes_served > 0" "got:"
    show_file "$2"
  else
    pass "$1: seedpool served nothing"
  fi
}

# The failing command's stderr names the key and the value.
assert_names_key_value() {  # <what> <err file> <key> <value>
  assert_file_contains "$1: stderr names key and value" "$2" \
    "invalid value for $3: \"$4\""
}

case_bad_config() {
  local item key value line conf form random_sect

  # Control: the same configurations with good values work (and the keys
  # reach the provider), so a failure below is down to the value.
  write_conf "$TMP/good.cnf" \
    $'activate = 1\npool_size = 2048\ngetrandom_credit = 8\nsources = getrandom\nblock_timeout_ms = 2000\nasync_timeout_ms = 5000\nread_wakeup_threshold = 64\nwrite_wakeup_threshold = 2048\nseed_file_trusted = no\nseed_file = '"$TMP/seed" \
    "$SEED_RANDOM_SECT"
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$TMP/good.cnf" \
    SEEDPOOL_STATS_FILE="$TMP/stats-good" "$OPENSSL" rand -hex 8
  assert_exit "control (good values): openssl rand" 0 "$RC" "$TMP/err"
  assert_int_gt "control: bytes_served" 0 "$(stats_field "$TMP/stats-good" bytes_served)"
  assert_eq "control: pool_size" 2048 "$(stats_field "$TMP/stats-good" pool_size)"
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$TMP/good.cnf" "$OPENSSL" list -providers
  provider_block "$TMP/out" seedpool >"$TMP/block"
  assert_file_has_line "control: openssl list -providers, seedpool" "$TMP/block" "status: active"

  for item in "${BAD_CONFIG_VALUES[@]}"; do
    key=${item%%|*}
    value=${item#*|}
    line="$key = $value"
    echo "--- $line"

    for form in seed direct; do
      if [[ $form == seed ]]; then random_sect=$SEED_RANDOM_SECT; else random_sect=$DIRECT_RANDOM_SECT; fi
      conf=$TMP/$form.cnf
      write_conf "$conf" $'activate = 1\n'"$line" "$random_sect"
      rm -f "$TMP/stats"
      run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" \
        SEEDPOOL_STATS_FILE="$TMP/stats" "$OPENSSL" rand -hex 8
      assert_exit_nonzero "[$line] $form conf: openssl rand" "$RC" "$TMP/out" "$TMP/err"
      assert_eq "[$line] $form conf: stdout (no random bytes)" "" "$(cat "$TMP/out")"
      assert_names_key_value "[$line] $form conf" "$TMP/err" "$key" "$value"
      assert_not_served "[$line] $form conf" "$TMP/stats"
    done

    # `openssl list -providers` tells the user seedpool is not running.
    run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$TMP/seed.cnf" "$OPENSSL" list -providers
    provider_block "$TMP/out" seedpool >"$TMP/block"
    assert_file_has_line "[$line] openssl list -providers, seedpool" "$TMP/block" "status: inactive"

    # seedpool-rand, the check the README recommends, fails and says why.
    run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$TMP/seed.cnf" "$SEEDPOOL_RAND" -n 8
    assert_exit "[$line] seedpool-rand" 1 "$RC" "$TMP/out" "$TMP/err"
    assert_names_key_value "[$line] seedpool-rand" "$TMP/err" "$key" "$value"

    # Loaded from the command line, with the keys in the config file.
    conf=$TMP/explicit.cnf
    write_explicit_conf "$conf" "$line"
    rm -f "$TMP/stats"
    run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" SEEDPOOL_STATS_FILE="$TMP/stats" \
      "$OPENSSL" rand -provider-path "$BUILD_DIR" -provider seedpool -provider default -hex 8
    assert_exit_nonzero "[$line] -provider seedpool: openssl rand" "$RC" "$TMP/out" "$TMP/err"
    assert_eq "[$line] -provider seedpool: stdout (no random bytes)" "" "$(cat "$TMP/out")"
    assert_names_key_value "[$line] -provider seedpool" "$TMP/err" "$key" "$value"
    assert_not_served "[$line] -provider seedpool" "$TMP/stats"
  done
}

# A misspelt key is refused like a bad value (OpenSSL hands a provider only
# the keys it asks for, so seedpool reads the file itself: conf_keys.h):
# nothing served, the key, the section and the file named; seedpool shows
# as inactive. `check_unknown_keys = no` turns the check off.
case_unknown_config_key() {
  local form random_sect conf
  for form in seed direct; do
    if [[ $form == seed ]]; then random_sect=$SEED_RANDOM_SECT; else random_sect=$DIRECT_RANDOM_SECT; fi
    conf=$TMP/$form.cnf
    write_conf "$conf" $'activate = 1\nblock_timeout_ms = 100\nblok_timeout_ms = 0' "$random_sect"
    rm -f "$TMP/stats"
    run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" \
      SEEDPOOL_STATS_FILE="$TMP/stats" "$OPENSSL" rand -hex 8
    assert_exit_nonzero "$form conf with a misspelt key: openssl rand" "$RC" "$TMP/out" "$TMP/err"
    assert_eq "$form conf: stdout (no random bytes)" "" "$(cat "$TMP/out")"
    assert_file_contains "$form conf: the reason" "$TMP/err" "unknown configuration key"
    assert_file_contains "$form conf: the key, section and file" "$TMP/err" \
      "unknown key \"blok_timeout_ms\" in [seedpool_sect] of $conf"
    assert_not_served "$form conf" "$TMP/stats"
  done
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$TMP/seed.cnf" "$OPENSSL" list -providers
  provider_block "$TMP/out" seedpool >"$TMP/block"
  assert_file_has_line "misspelt key: openssl list -providers, seedpool" "$TMP/block" "status: inactive"

  # Loaded from the command line with the keys in the file: checked too.
  write_explicit_conf "$TMP/explicit.cnf" $'pool_size = 2048\npoolsize = 4096'
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$TMP/explicit.cnf" \
    "$OPENSSL" rand -provider-path "$BUILD_DIR" -provider seedpool -provider default -hex 8
  assert_exit_nonzero "-provider seedpool with a misspelt key: openssl rand" "$RC" "$TMP/out" "$TMP/err"
  assert_file_contains "-provider seedpool: the key" "$TMP/err" "unknown key \"poolsize\""

  # Switched off: the same file works, and the known keys still apply.
  write_conf "$conf" $'activate = 1\npool_size = 2048\nblok_timeout_ms = 0\ncheck_unknown_keys = no' \
    "$SEED_RANDOM_SECT"
  rm -f "$TMP/stats"
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" \
    SEEDPOOL_STATS_FILE="$TMP/stats" "$OPENSSL" rand -hex 8
  assert_exit "check_unknown_keys = no: openssl rand" 0 "$RC" "$TMP/err"
  assert_eq "check_unknown_keys = no: pool_size applies" 2048 "$(stats_field "$TMP/stats" pool_size)"

  # A bad value of the switch itself is a bad value.
  write_conf "$conf" $'activate = 1\ncheck_unknown_keys = maybe' "$SEED_RANDOM_SECT"
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" "$OPENSSL" rand -hex 8
  assert_exit_nonzero "check_unknown_keys = maybe: openssl rand" "$RC" "$TMP/out" "$TMP/err"
  assert_names_key_value "check_unknown_keys = maybe" "$TMP/err" check_unknown_keys maybe
}

# A device path that cannot be a source (a directory, a path that does not
# exist) as the only source: every request fails at once, nothing is
# served, and the error queue says which source is out and why.
case_unusable_device() {
  local path why random_sect
  # A directory opens but cannot be read (EISDIR: failed, backed off); a
  # missing path cannot be opened (ENOENT: absent, never tried again).
  for item in "$TMP|failed (Is a directory)" "$TMP/none/such|absent (No such file or directory)"; do
    path=${item%%|*}
    why=${item#*|}
    for random_sect in "$SEED_RANDOM_SECT" "$DIRECT_RANDOM_SECT"; do
      write_conf "$TMP/dev.cnf" $'activate = 1\nsources = device\ndevice_credit = 8\ndevice = '"$path" \
        "$random_sect"
      rm -f "$TMP/stats"
      run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$TMP/dev.cnf" \
        SEEDPOOL_STATS_FILE="$TMP/stats" timeout 20 "$OPENSSL" rand -hex 8
      assert_exit_nonzero "device = $path: openssl rand" "$RC" "$TMP/out" "$TMP/err"
      assert_eq "device = $path: stdout (no random bytes)" "" "$(cat "$TMP/out")"
      assert_file_contains "device = $path: the reason" "$TMP/err" "no usable entropy source"
      assert_file_contains "device = $path: which source and why" "$TMP/err" \
        "sources: device $path: $why"
      assert_not_served "device = $path" "$TMP/stats"
    done
  done
}

# A FIFO as the only source, as an external noise source feeds the pool.
# Starved, `openssl rand` fails after block_timeout_ms with seedpool's
# reason, never with unseeded bytes; fed, it succeeds and the statistics
# credit the device. The test holds the FIFO open itself (fd 9) so that
# what it writes waits in the pipe for the next openssl process.
case_fifo_device() {
  local fifo=$TMP/noise.fifo conf=$TMP/fifo.cnf start end
  mkfifo "$fifo"
  write_conf "$conf" $'activate = 1\nsources = device\ndevice = '"$fifo"$'\ndevice_credit = 8\nblock_timeout_ms = 300' \
    "$SEED_RANDOM_SECT"
  exec 9<>"$fifo"

  start=$(date +%s%N)
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" SEEDPOOL_STATS_FILE="$TMP/stats" \
    "$OPENSSL" rand -hex 16
  end=$(date +%s%N)
  assert_exit_nonzero "starved: openssl rand" "$RC" "$TMP/out" "$TMP/err"
  assert_eq "starved: no bytes on stdout" "" "$(cat "$TMP/out")"
  assert_file_contains "starved: the reason" "$TMP/err" "timed out waiting for entropy"
  assert_int_ge "starved: waited the bound (ms)" 300 $(((end - start) / 1000000))
  assert_int_gt "starved: requests_timed_out" 0 "$(stats_field "$TMP/stats" requests_timed_out)"

  # Feed it: 1024 bytes for the health tests' start-up test, and more.
  head -c 8192 /dev/urandom >&9
  rm -f "$TMP/stats"
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" SEEDPOOL_STATS_FILE="$TMP/stats" \
    "$OPENSSL" rand -hex 16
  assert_exit "fed: openssl rand" 0 "$RC" "$TMP/err"
  assert_match "fed: 32 hex digits" '^[0-9a-f]{32}$' "$(cat "$TMP/out")"
  assert_int_gt "fed: bytes_served" 0 "$(stats_field "$TMP/stats" bytes_served)"
  assert_match "fed: the device credited" '^device:ok:[1-9][0-9]*$' \
    "$(stats_field "$TMP/stats" sources)"
  exec 9>&-
}

# 13. The gatherer wakes a waiting request: `openssl rand` starts on a
#     starved FIFO with a 5 s bound and waits in line; the FIFO is fed 300 ms
#     later; the gatherer sees POLLIN (io_uring, then poll() with
#     SEEDPOOL_NO_IO_URING=1), credits the bytes and completes the request
#     long before the bound. The statistics name the path taken.
case_gatherer_wakes_waiter() {
  local fifo=$TMP/noise.fifo conf=$TMP/fifo.cnf path env_path start end pid rc
  mkfifo "$fifo"
  write_conf "$conf" $'activate = 1\nsources = device\ndevice = '"$fifo"$'\ndevice_credit = 8\nblock_timeout_ms = 5000' \
    "$SEED_RANDOM_SECT"
  exec 9<>"$fifo"
  for path in io_uring poll; do
    env_path=()
    [[ $path == poll ]] && env_path=(SEEDPOOL_NO_IO_URING=1)
    rm -f "$TMP/stats"
    start=$(date +%s%N)
    env OPENSSL_CONF="$conf" SEEDPOOL_STATS_FILE="$TMP/stats" "${env_path[@]}" \
      "$OPENSSL" rand -hex 16 >"$TMP/out" 2>"$TMP/err" &
    pid=$!
    BG_PIDS+=("$pid")
    sleep 0.3
    # 1024 bytes for the health tests' start-up, and enough beyond.
    head -c 4096 /dev/urandom >&9
    rc=0
    wait "$pid" || rc=$?
    end=$(date +%s%N)
    assert_exit "$path: openssl rand after feeding" 0 "$rc" "$TMP/err"
    assert_match "$path: 32 hex digits" '^[0-9a-f]{32}$' "$(cat "$TMP/out")"
    assert_int_gt "$path: served well before the 5 s bound (ms left)" 1500 \
      $((5000 - (end - start) / 1000000))
    assert_eq "$path: gatherer" "$path" "$(stats_field "$TMP/stats" gatherer)"
    assert_eq "$path: requests_timed_out" 0 "$(stats_field "$TMP/stats" requests_timed_out)"
    # Drain what is left so the next round starts starved again.
    timeout 1 cat <&9 >/dev/null 2>&1 || true
  done
  exec 9>&-
}

# 14. 2.5 MB of `openssl rand` under `random = SEEDPOOL` (every byte from
#     the pool) through rngtest (FIPS 140-2 tests, rng-tools5): 1000 blocks of
#     20000 bits after rngtest's 32-bit warm-up. Ideal random data fails
#     about 0.08 % of blocks (0.8 expected here); more than 5 failures has a
#     probability below 2e-4 for ideal data.
case_rngtest_direct() { rngtest_case "$DIRECT_CONF" seedpool-direct.cnf 2500004; }

# 2.5 MB of `openssl rand` under CONF through rngtest; the stats file must
# show at least MIN_SERVED bytes served by the pool.
rngtest_case() {
  local conf=$1 label=$2 min_served=$3 failures successes
  if ! command -v rngtest >/dev/null; then
    fail "rngtest" "expected: rngtest installed (Debian rng-tools5)" "got: not found"
    return
  fi
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" \
    SEEDPOOL_STATS_FILE="$TMP/stats" "$OPENSSL" rand -out "$TMP/rand.bin" 2500004
  assert_exit "openssl rand 2500004 ($label)" 0 "$RC" "$TMP/err"
  assert_int_ge "bytes_served" "$min_served" "$(stats_field "$TMP/stats" bytes_served)"
  assert_eq "requests_failed" 0 "$(stats_field "$TMP/stats" requests_failed)"
  rngtest -c 1000 <"$TMP/rand.bin" >"$TMP/rngtest.out" 2>&1 || true
  cat "$TMP/rngtest.out"
  successes=$(sed -n 's/^rngtest: FIPS 140-2 successes: \([0-9]*\)$/\1/p' "$TMP/rngtest.out")
  failures=$(sed -n 's/^rngtest: FIPS 140-2 failures: \([0-9]*\)$/\1/p' "$TMP/rngtest.out")
  assert_eq "rngtest blocks tested" 1000 "$((successes + failures))"
  assert_int_ge "rngtest: at most 5 failures (5 - failures)" 0 "$((5 - failures))"
}

# 15. The seed file through the CLI: created at the first start, replaced at
#     every start (never the same content twice), mode 0600, credited only
#     when trusted, and the story in the statistics.
case_seed_file() {
  local conf=$TMP/seed.cnf seed=$TMP/state/seed a b c mode
  mkdir -m 0700 "$TMP/state"
  write_conf "$conf" $'activate = 1\nseed_file = '"$seed"$'\nseed_file_trusted = yes' \
    "$SEED_RANDOM_SECT"
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" SEEDPOOL_STATS_FILE="$TMP/stats1" \
    "$OPENSSL" rand -hex 8
  assert_exit "first start" 0 "$RC" "$TMP/err"
  assert_match "first start: seed_file stats" '^load=missing,credit=no_content,bits=0,replace=ok,save=ok$' \
    "$(stats_field "$TMP/stats1" seed_file)"
  mode=$(stat -c %a "$seed")
  assert_eq "seed file mode" 600 "$mode"
  a=$(sha256sum <"$seed")
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" SEEDPOOL_STATS_FILE="$TMP/stats2" \
    "$OPENSSL" rand -hex 8
  assert_exit "second start" 0 "$RC" "$TMP/err"
  assert_match "second start: loaded and credited" '^load=loaded,credit=allowed,bits=[1-9][0-9]*,replace=ok,save=ok$' \
    "$(stats_field "$TMP/stats2" seed_file)"
  b=$(sha256sum <"$seed")
  assert_ne "content after the second start" "$a" "$b"
  # Writable by others: loaded and replaced, never credited.
  chmod 0666 "$seed"
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$conf" SEEDPOOL_STATS_FILE="$TMP/stats3" \
    "$OPENSSL" rand -hex 8
  assert_exit "third start" 0 "$RC" "$TMP/err"
  assert_match "others may write: not credited" '^load=loaded,credit=writable_by_others,bits=0,' \
    "$(stats_field "$TMP/stats3" seed_file)"
  c=$(sha256sum <"$seed")
  assert_ne "content after the third start" "$b" "$c"
  assert_eq "mode restored to 0600 by the replacement" 600 "$(stat -c %a "$seed")"
}

# 16. The fast generator (conf/seedpool-drbg.cnf, random = SEEDPOOL-DRBG):
#     OpenSSL's generators are seedpool's, each seeded from the pool at its
#     first use. A generator, not the pool itself: 4096 bytes of output cost
#     the pool one 32-byte seed, not 4096 bytes.
case_rand_drbg_conf() {
  local i n out1 out2 served
  for i in 1 2; do
    run "$TMP/out$i" "$TMP/err$i" env OPENSSL_CONF="$DRBG_CONF" \
      SEEDPOOL_STATS_FILE="$TMP/stats$i" "$OPENSSL" rand -hex 32
    assert_exit "run $i: openssl rand -hex 32 (seedpool-drbg.cnf)" 0 "$RC" "$TMP/err$i"
    assert_match "run $i: output" '^[0-9a-f]{64}$' "$(cat "$TMP/out$i")"
    assert_int_gt "run $i: bytes_served" 0 "$(stats_field "$TMP/stats$i" bytes_served)"
    assert_eq "run $i: requests_failed" 0 "$(stats_field "$TMP/stats$i" requests_failed)"
    assert_eq "run $i: health" ok "$(stats_field "$TMP/stats$i" health)"
  done
  out1=$(cat "$TMP/out1")
  out2=$(cat "$TMP/out2")
  assert_ne "two runs give different output" "$out1" "$out2"

  run "$TMP/out3" "$TMP/err3" env OPENSSL_CONF="$DRBG_CONF" \
    SEEDPOOL_STATS_FILE="$TMP/stats3" "$OPENSSL" rand 4096
  assert_exit "openssl rand 4096 (seedpool-drbg.cnf)" 0 "$RC" "$TMP/err3"
  n=$(wc -c <"$TMP/out3" | tr -d ' ')
  assert_eq "openssl rand 4096 | wc -c" 4096 "$n"
  served=$(stats_field "$TMP/stats3" bytes_served)
  assert_int_gt "bytes_served" 0 "$served"
  if [[ $served =~ ^[0-9]+$ ]]; then
    assert_int_gt "4096 - bytes_served (seeds, not the output, come from the pool)" 0 \
      "$((4096 - served))"
  fi
  assert_eq "requests_failed" 0 "$(stats_field "$TMP/stats3" requests_failed)"
  if cmp -s "$TMP/out3" <(head -c 4096 /dev/zero); then
    fail "openssl rand 4096 output" "expected: random bytes" "got: 4096 zero bytes"
  fi
}

# 17. Under random = SEEDPOOL-DRBG, `openssl list -verbose -random-instances`
#     shows seedpool's generator for the primary, public and private
#     instances, each with the reseed policy OpenSSL gives it, the parent it
#     ignores (seed_source), and the pool's statistics.
case_random_instances_drbg() {
  run "$TMP/out" "$TMP/err" env OPENSSL_CONF="$DRBG_CONF" \
    "$OPENSSL" list -verbose -random-instances
  assert_exit "openssl list -verbose -random-instances" 0 "$RC" "$TMP/err"
  local inst requests interval
  for inst in primary public private; do
    # The block of one instance: from "<inst>:" to the next unindented line.
    awk -v want="$inst:" '
      /^[^[:space:]]/ { on = ($0 == want); next }
      on { sub(/^[[:space:]]+/, ""); print }
    ' "$TMP/out" >"$TMP/$inst"
    if [[ ! -s $TMP/$inst ]]; then
      fail "$inst instance" "expected: a '$inst:' block" "got:"
      show_file "$TMP/out"
      continue
    fi
    # OpenSSL's rand_new_drbg: 256 requests / 3600 s for the primary,
    # 65536 / 420 s for the per-thread instances.
    if [[ $inst == primary ]]; then requests=256 interval=3600; else requests=65536 interval=420; fi
    assert_eq "$inst: implementation" "SEEDPOOL-DRBG @ seedpool" "$(head -n 1 "$TMP/$inst")"
    assert_file_has_line "$inst" "$TMP/$inst" "state = ready"
    assert_file_has_line "$inst" "$TMP/$inst" "strength: 256"
    assert_file_has_line "$inst" "$TMP/$inst" "reseed_requests: $requests"
    assert_file_has_line "$inst" "$TMP/$inst" "reseed_time_interval: $interval"
    assert_file_has_line "$inst" "$TMP/$inst" "seed_source: 'pool (parent ignored)'"
    assert_match "$inst: drbg_memory" $'(^|\n)drbg_memory: \'mlock=(yes|no),wipeonfork=(yes|no)\'(\n|$)' "$(cat "$TMP/$inst")"
    assert_match "$inst: entropy_available" $'(^|\n)entropy_available: [0-9]+(\n|$)' "$(cat "$TMP/$inst")"
    assert_match "$inst: bytes_served" $'(^|\n)bytes_served: [0-9]+(\n|$)' "$(cat "$TMP/$inst")"
    assert_file_has_line "$inst" "$TMP/$inst" "health: 'ok'"
    assert_match "$inst: sources" $'(^|\n)sources: \'getrandom:[^\']+\'(\n|$)' "$(cat "$TMP/$inst")"
  done
}

# 18. 2.5 MB of `openssl rand` under `random = SEEDPOOL-DRBG` (the generator,
#     seeded from the pool) through rngtest, as in case 14: 1000 blocks of
#     20000 bits; more than 5 failures has a probability below 2e-4 for
#     ideal data.
case_rngtest_drbg() { rngtest_case "$DRBG_CONF" seedpool-drbg.cnf 1; }

# `cmake --install` into a staging root (DESTDIR) inside the temp dir: the
# module lands in OpenSSL's modules directory (as pkg-config reports it) and
# loads from there by name alone, without -provider-path; configs and docs
# land under the prefix. Never writes to the real system directories.
case_install_destdir() {
  local modulesdir dest=$TMP/dest
  modulesdir=$(pkg-config --variable=modulesdir libcrypto)
  assert_ne "pkg-config modulesdir" "" "$modulesdir"
  run "$TMP/out" "$TMP/err" env DESTDIR="$dest" cmake --install "$BUILD_DIR"
  assert_exit "cmake --install (DESTDIR)" 0 "$RC" "$TMP/out" "$TMP/err"
  if [[ -f $dest$modulesdir/seedpool.so ]]; then
    pass "seedpool.so installed in $modulesdir"
  else
    fail "seedpool.so not in the modules directory" "looked in: $dest$modulesdir" \
      "installed: $(cd "$dest" && find . -type f | tr '\n' ' ')"
  fi
  local docs
  docs=$(find "$dest" -path '*/doc/seedpool/examples/seedpool.cnf' | head -n1)
  assert_ne "conf/seedpool.cnf installed under share/doc/seedpool/examples" "" "$docs"
  run "$TMP/out" "$TMP/err" env OPENSSL_MODULES="$dest$modulesdir" \
    "$OPENSSL" list -providers -provider seedpool
  assert_exit "openssl list -providers -provider seedpool (no -provider-path)" 0 "$RC" "$TMP/err"
  sed 's/^[[:space:]]*//' "$TMP/out" >"$TMP/trimmed"
  assert_file_has_line "installed module" "$TMP/trimmed" "name: seedpool"
  assert_file_has_line "installed module" "$TMP/trimmed" "status: active"
  run "$TMP/out" "$TMP/err" env OPENSSL_MODULES="$dest$modulesdir" OPENSSL_CONF="$dest${docs#"$dest"}" \
    SEEDPOOL_STATS_FILE="$TMP/stats" "$OPENSSL" rand -hex 16
  assert_exit "openssl rand under the installed seedpool.cnf" 0 "$RC" "$TMP/err"
  assert_int_gt "bytes_served (installed module)" 0 "$(stats_field "$TMP/stats" bytes_served)"
}

# ---------------------------------------------------------------------------

if ! declare -F "case_$CASE" >/dev/null; then
  echo "unknown case: $CASE" >&2
  echo "known cases: $(declare -F | sed -n 's/^declare -f case_//p' | tr '\n' ' ')" >&2
  exit 2
fi

echo "== integration.$CASE (build: $BUILD_DIR, openssl: $("$OPENSSL" version))"
"case_$CASE"

if ((FAILURES > 0)); then
  echo "== integration.$CASE: $FAILURES assertion(s) FAILED" >&2
  exit 1
fi
echo "== integration.$CASE: passed"
