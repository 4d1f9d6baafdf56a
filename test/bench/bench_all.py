#!/usr/bin/env python3
"""bench_all.py: every seedpool benchmark in one table.

    test/bench/bench_all.py [--smoke] [--rounds N] [--out DIR] [--build-dir DIR]
                            [--no-plot] [--openssl35 auto|refresh|skip]

Puts seedpool beside OpenSSL's default provider, workload by workload, and
prints ONE table (stdout): the default's figure, seedpool's, the ratio
(seedpool / default, taken within each round, median over the rounds, with
the quartiles of the per-round ratios), the project's target and whether it
was met, and the same ratio measured against OpenSSL 3.5 (a Debian 13 root).
Progress goes to stderr. Written to --out (default <build>/bench-results):
bench.txt (the table), bench.csv, bench.json, bench.png (the ratios with
their spread, a line at 1.0 and a mark at each target), and each tool's own
report (rand_bench.txt, pool_bench.txt, ...).

The parts, each with its sides alternated round by round so that the
machine's drift (+-25 % here) cancels in the ratios:

  rand_bench   RAND_bytes_ex in one process, every configuration of conf/ in
               its own library context (test/bench/rand_bench.cc): its JSON
               "rows" are merged.
  pool_bench   the pool itself: async requests, wake-up latency, gatherer
               wake-ups, `random = SEEDPOOL` against raw getrandom
               (test/bench/pool_bench.cc): its JSON "rows" are merged; a
               missing or failing pool_bench is a row that says so.
  process      whole `openssl rand -hex 32` processes (the system CLI) under
               test/bench/default.cnf against conf/seedpool.cnf,
               seedpool-drbg.cnf and seedpool-direct.cnf: wall time and peak
               RSS (run_measured), the configurations alternated run by run.
  tls          TLS 1.3 handshakes per second: `openssl s_time -new` against
               `openssl s_server -www -async -tls1_3`, the server under the
               default configuration or under conf/seedpool-drbg.cnf, paired
               rounds in alternating order, on 127.0.0.1 only.
  openssl35    rand_bench of the OpenSSL 3.5 build inside the Debian 13 root
               that test/openssl35/run.sh makes (chroot, as root): default,
               `random = SEEDPOOL-DRBG` and `random_provider = seedpool`; the
               table's "3.5" column. Not in --smoke (CI runs bench_smoke
               inside the root).

Nothing here judges a timing: the exit status is 0 when every measurement
ran (a target missed is reported, not failed), 1 when something could not
run or its output could not be written, 2 on bad usage. A measurement that
cannot exist here (rand_bench's `random_provider` row on OpenSSL 3.0, the
3.5 column without the root) reads "not available: <why>" and is no failure.
"""

import argparse
import csv
import datetime
import fcntl
import json
import math
import os
import platform
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH_DIR = os.path.join(SRC, "test", "bench")
CONF_DIR = os.path.join(SRC, "conf")
DEFAULT_CNF = os.path.join(BENCH_DIR, "default.cnf")

# The project's targets for the parts measured here (issue 9).
PROCESS_WALL_TARGET = 1.10  # wall time, seedpool / default, at most
PROCESS_RSS_TARGET_KIB = 2048  # peak RSS added by loading seedpool, at most
TLS_TARGET = 0.97  # handshakes/s, seedpool / default, at least

SECTIONS = {
    "rand_bench": "RAND_bytes in one process (rand_bench)",
    "pool_bench": "the pool (pool_bench)",
    "process": "whole process: openssl rand -hex 32 (system CLI)",
    "tls": "TLS 1.3 handshakes: openssl s_server -async, s_time -new",
    "bench_all": "bench_all",
}

# Rows are dicts with the fields of the schema every benchmark writes (see
# rand_bench's write_json); bench_all adds "source", "section", "delta"
# (RSS), "target_ratio" (a target as a ratio, for the plot) and "r35" (the
# OpenSSL 3.5 measurement of the same row).
ROW_FIELDS = ["key", "source", "workload", "subject", "baseline", "unit", "status",
              "rounds", "baseline_median", "baseline_q1", "baseline_q3", "median", "q1",
              "q3", "min", "max", "ratio", "ratio_q1", "ratio_q3", "delta", "target",
              "met", "detail"]


class PartError(Exception):
    """A measurement could not run: becomes an "error" row."""


class NotAvailable(Exception):
    """A measurement that cannot exist here: a "not available" row, no failure."""


# --- output -------------------------------------------------------------------

T_START = time.monotonic()


def log(msg):
    sys.stderr.write("[bench_all %6.1fs] %s\n" % (time.monotonic() - T_START, msg))
    sys.stderr.flush()


def tail(path_or_text, lines=15):
    text = path_or_text
    if path_or_text and os.path.isfile(path_or_text):
        with open(path_or_text, errors="replace") as f:
            text = f.read()
    text = (text or "").strip()
    return " | ".join(text.splitlines()[-lines:]) if text else "(empty)"


# --- statistics ---------------------------------------------------------------

def quantile(sorted_values, q):
    """Linear interpolation, as rand_bench's report.cc."""
    pos = q * (len(sorted_values) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def spread(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    return {"n": len(v), "median": quantile(v, 0.5), "q1": quantile(v, 0.25),
            "q3": quantile(v, 0.75), "min": v[0], "max": v[-1]}


def paired_ratios(subject, baseline):
    return [s / b for s, b in zip(subject, baseline)
            if s is not None and b is not None and b > 0]


def check_target(target, value):
    """">= 0.97" / "<= 1.10" against value; None when not applicable."""
    m = re.match(r"^\s*(>=|<=)\s*([0-9.]+)\s*$", target or "")
    if not m or value is None:
        return None
    limit = float(m.group(2))
    return value >= limit if m.group(1) == ">=" else value <= limit


def make_row(source, key, workload, unit, baseline, subject, status="ran", subj=None,
             base=None, ratio=None, target="report", met=None, detail="", **extra):
    row = dict.fromkeys(ROW_FIELDS)
    row.update(source=source, key=key, workload=workload, unit=unit, baseline=baseline,
               subject=subject, status=status, target=target, met=met, detail=detail)
    for prefix, sp in (("", subj), ("baseline_", base)):
        if sp:
            for k in ("median", "q1", "q3"):
                row[prefix + k] = sp[k]
            if prefix == "":
                row["min"], row["max"] = sp["min"], sp["max"]
    if ratio:
        row["ratio"], row["ratio_q1"], row["ratio_q3"] = ratio["median"], ratio["q1"], ratio["q3"]
        row["rounds"] = ratio["n"]
        if met is None:
            row["met"] = check_target(target, ratio["median"])
    elif subj:
        row["rounds"] = subj["n"]
    row.update(extra)
    return row


PART_NAMES = {"rand_bench": "rand_bench", "pool_bench": "pool_bench",
              "process": "openssl rand processes", "tls": "TLS 1.3 handshakes"}


def part_row(source, status, detail, workload=None):
    """One row standing for a whole part (or tool run) that did not run."""
    return make_row(source, source + "/" + status.replace(" ", "_"),
                    workload or PART_NAMES.get(source, source), "", "", "-", status=status,
                    target="", detail=detail)


# --- child processes ----------------------------------------------------------

LIVE = []  # Popen objects of processes that must not outlive this script


try:
    import ctypes
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (ImportError, OSError, AttributeError):
    _PRCTL = None


def _child_setup():
    # In the child before exec: SIGTERM when this script dies, however it
    # dies (a ctest timeout's SIGKILL included). The child also gets its own
    # session (start_new_session), so it is killed as a group.
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG


def spawn(cmd, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_child_setup, **kw)
    LIVE.append(p)
    return p


def kill(p, grace=3.0):
    """Ends p's process group: SIGTERM, then SIGKILL after `grace` s."""
    if p.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    if p in LIVE:
        LIVE.remove(p)


def kill_all():
    for p in list(LIVE):
        kill(p, grace=1.0)


def run(cmd, timeout, what, env=None, **kw):
    """Runs cmd to its end; PartError if it cannot start or overruns."""
    try:
        p = spawn(cmd, env=env, **kw)
    except OSError as e:
        raise PartError("%s: cannot run %s: %s" % (what, cmd[0], e)) from e
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as e:
        kill(p)
        raise PartError("%s: still running after %d s (killed)" % (what, timeout)) from e
    finally:
        if p.poll() is not None and p in LIVE:
            LIVE.remove(p)
    return p.returncode, out, err


def child_env(ctx, conf=None, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OPENSSL_") and not k.startswith("SEEDPOOL_")}
    env["OPENSSL_MODULES"] = ctx.build
    if conf:
        env["OPENSSL_CONF"] = conf
    env.update(extra)
    return env


def read_stats_lines(path):
    """SEEDPOOL_STATS_FILE lines: [{field: value}]."""
    lines = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
                if line.startswith("seedpool "):
                    lines.append(fields)
    return lines


# --- machine ------------------------------------------------------------------

def machine_info(ctx):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "load_start": os.getloadavg()[0],
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "openssl_cli": "?", "openssl_cli_path": ctx.openssl}
    if ctx.openssl:
        try:
            rc, out, _ = run([ctx.openssl, "version"], 20, "openssl version",
                             env=child_env(ctx, DEFAULT_CNF), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            if rc == 0:
                info["openssl_cli"] = out.strip()
        except PartError:
            pass
    try:
        with open("/etc/os-release") as f:
            m = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
            info["os"] = m.group(1) if m else "?"
    except OSError:
        info["os"] = "?"
    return info


# --- part: rand_bench / pool_bench (JSON rows) -----------------------------------

def normalise_rows(rows, source):
    out = []
    for r in rows:
        row = dict.fromkeys(ROW_FIELDS)
        row.update(r)
        row["source"] = source
        if not row.get("key"):
            row["key"] = "%s/%s" % (row.get("workload"), row.get("subject"))
        if not row.get("status"):
            has = row.get("median") is not None or row.get("ratio") is not None
            row["status"] = "ran" if has else "error"
            if not has and not row.get("detail"):
                row["detail"] = "no figure in %s's JSON" % source
        row.setdefault("target", "report")
        row["detail"] = row.get("detail") or ""
        out.append(row)
    return out


def run_json_tool(ctx, name, argv, timeout):
    """Runs a benchmark that writes --json; returns (exit status, JSON or None)."""
    json_path = os.path.join(ctx.out, name + ".json")
    txt_path = os.path.join(ctx.out, name + ".txt")
    if os.path.exists(json_path):
        os.remove(json_path)
    log("%s: %s" % (name, " ".join(argv + ["--json", json_path])))
    with open(txt_path, "w") as txt:
        rc, _, _ = run(argv + ["--json", json_path], timeout, name,
                       env=child_env(ctx), stdout=txt, stderr=None)
    data = None
    if os.path.exists(json_path):
        try:
            with open(json_path) as f:
                data = json.load(f)
        except ValueError as e:
            raise PartError("%s wrote unreadable JSON %s: %s" % (name, json_path, e)) from e
    log("%s: exit status %d; its own report: %s" % (name, rc, txt_path))
    return rc, data


def part_rand_bench(ctx):
    exe = os.path.join(ctx.build, "test", "bench", "rand_bench")
    if not os.access(exe, os.X_OK):
        raise PartError("%s is not built (it needs Google Benchmark, Debian: "
                        "libbenchmark-dev; cmake --build %s --target rand_bench)" % (exe, ctx.build))
    argv = [exe] + (["--smoke"] if ctx.args.smoke else [])
    if ctx.args.rounds:
        argv += ["--rounds", str(ctx.args.rounds)]
    rc, data = run_json_tool(ctx, "rand_bench", argv, 3600)
    rows = []
    if data is None or "rows" not in data:
        rows.append(part_row("rand_bench", "error",
                             "rand_bench (exit status %d) wrote %s" %
                             (rc, "no JSON" if data is None else
                              "JSON without \"rows\" (built from older sources? rebuild)")))
        return rows, data
    rows = normalise_rows(data["rows"], "rand_bench")
    if rc != 0:
        rows.append(part_row("rand_bench", "error",
                             "rand_bench exited %d: a configuration or measurement "
                             "failed (see %s)" % (rc, os.path.join(ctx.out, "rand_bench.txt"))))
    return rows, data


def pool_bench_required(ctx):
    if ctx.args.require_pool_bench or not ctx.args.smoke:
        return True
    # By hand, in smoke mode: required once the build has a pool_bench target.
    try:
        with open(os.path.join(BENCH_DIR, "CMakeLists.txt")) as f:
            return re.search(r"add_executable\(\s*pool_bench\b", f.read()) is not None
    except OSError:
        return False


def part_pool_bench(ctx):
    exe = os.path.join(ctx.build, "test", "bench", "pool_bench")
    if not os.access(exe, os.X_OK):
        why = "%s is not built" % exe
        if pool_bench_required(ctx):
            raise PartError(why)
        raise NotAvailable(why + " (this build has no pool_bench target)")
    argv = [exe] + (["--smoke"] if ctx.args.smoke else [])
    if ctx.args.rounds:
        rc, out, _ = run([exe, "--help"], 30, "pool_bench --help", env=child_env(ctx),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if "--rounds" in (out or ""):
            argv += ["--rounds", str(ctx.args.rounds)]
        else:
            log("pool_bench: takes no --rounds; running its own number of rounds")
    rc, data = run_json_tool(ctx, "pool_bench", argv, 3600)
    if data is None or not isinstance(data.get("rows"), list):
        return [part_row("pool_bench", "error",
                         "pool_bench (exit status %d) wrote %s (see %s)" %
                         (rc, "no JSON" if data is None else "JSON without \"rows\"",
                          os.path.join(ctx.out, "pool_bench.txt")))], data
    rows = normalise_rows(data["rows"], "pool_bench")
    if not rows:
        rows.append(part_row("pool_bench", "error", "pool_bench's JSON has no rows"))
    if rc != 0:
        rows.append(part_row("pool_bench", "error",
                             "pool_bench exited %d (see %s)" %
                             (rc, os.path.join(ctx.out, "pool_bench.txt"))))
    return rows, data


# --- part: whole openssl rand processes ------------------------------------------

PROCESS_CONFIGS = [
    ("default", "default provider", DEFAULT_CNF),
    ("seed", "seed = SEEDPOOL", os.path.join(CONF_DIR, "seedpool.cnf")),
    ("drbg", "random = SEEDPOOL-DRBG", os.path.join(CONF_DIR, "seedpool-drbg.cnf")),
    ("direct", "random = SEEDPOOL", os.path.join(CONF_DIR, "seedpool-direct.cnf")),
]
HEX64 = re.compile(r"^[0-9a-f]{64}\n?$")


def round_order(items, r):
    """Rotated by r and reversed on odd rounds, as rand_bench does."""
    order = [items[(i + r) % len(items)] for i in range(len(items))]
    return order[::-1] if r % 2 else order


def measured_rand(ctx, conf, report, extra_env=None):
    """One `openssl rand -hex 32` under run_measured: (wall ms, maxrss KiB)."""
    env = child_env(ctx, conf, **(extra_env or {}))
    rc, out, err = run([ctx.run_measured, report, ctx.openssl, "rand", "-hex", "32"], 60,
                       "openssl rand", env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if rc != 0:
        raise PartError("run_measured failed (exit %d): %s" % (rc, tail(err)))
    with open(report) as f:
        fields = dict(kv.split("=", 1) for kv in f.read().split())
    status, sig = int(fields["status"]), int(fields["signal"])
    name = os.path.basename(conf)
    if status != 0 or sig != 0:
        raise PartError("openssl rand -hex 32 under %s: %s: %s" %
                        (name, "exit status %d" % status if sig == 0 else "signal %d" % sig,
                         tail(err)))
    if not HEX64.match(out):
        raise PartError("openssl rand -hex 32 under %s printed %r, not 64 hex digits"
                        % (name, out[:100]))
    return int(fields["wall_ns"]) / 1e6, int(fields["maxrss_kib"])


def part_process(ctx):
    if not ctx.openssl:
        raise PartError("no openssl CLI in PATH (Debian: openssl)")
    if not os.access(ctx.run_measured, os.X_OK):
        raise PartError("%s is not built (cmake --build %s --target run_measured)"
                        % (ctx.run_measured, ctx.build))
    tmp = tempfile.mkdtemp(prefix="bench_all_process.")
    try:
        report = os.path.join(tmp, "report")
        # Proof: under each seedpool configuration the process drew from the
        # pool (its stats line at exit); under the default none is written.
        stats = os.path.join(tmp, "stats")
        for name, _, conf in PROCESS_CONFIGS:
            if os.path.exists(stats):
                os.remove(stats)
            measured_rand(ctx, conf, report, {"SEEDPOOL_STATS_FILE": stats})
            lines = read_stats_lines(stats)
            if name == "default":
                if lines:
                    raise PartError("under %s seedpool was loaded (a stats line was "
                                    "written): not a default baseline" % conf)
                continue
            if len(lines) != 1 or int(lines[0].get("bytes_served", "0")) <= 0 \
                    or lines[0].get("health") != "ok":
                raise PartError("openssl rand under %s: seedpool's statistics at exit do "
                                "not show it served (SEEDPOOL_STATS_FILE: %s)"
                                % (os.path.basename(conf), lines or "no line written"))
        log("process: seedpool served under each of its configurations (stats at exit); "
            "the default loads no seedpool")

        runs = ctx.args.process_runs or (3 if ctx.args.smoke else 401)
        walls = {name: [] for name, _, _ in PROCESS_CONFIGS}
        rss = {name: [] for name, _, _ in PROCESS_CONFIGS}
        for name, _, conf in PROCESS_CONFIGS:  # warm-up: page cache, dynamic loader
            measured_rand(ctx, conf, report)
        for i in range(runs):
            for name, _, conf in round_order(PROCESS_CONFIGS, i):
                wall, maxrss = measured_rand(ctx, conf, report)
                walls[name].append(wall)
                rss[name].append(maxrss)
            if (i + 1) % max(1, runs // 4) == 0 or i + 1 == runs:
                log("process: %d/%d runs of each configuration (last: %s)" % (
                    i + 1, runs, ", ".join("%s %.1f ms %d KiB" % (n, walls[n][-1], rss[n][-1])
                                           for n, _, _ in PROCESS_CONFIGS)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    base_wall, base_rss = spread(walls["default"]), spread(rss["default"])
    for name, label, conf in PROCESS_CONFIGS[1:]:
        rows.append(make_row(
            "process", "process_wall/" + name, "openssl rand -hex 32: wall time", "ms",
            "default provider", label, subj=spread(walls[name]), base=base_wall,
            ratio=spread(paired_ratios(walls[name], walls["default"])),
            target="<= %.2f" % PROCESS_WALL_TARGET,
            detail="%d runs each, configurations alternated run by run; %s"
                   % (runs, os.path.relpath(conf, SRC))))
        delta = spread([s - b for s, b in zip(rss[name], rss["default"])])
        row = make_row(
            "process", "process_rss/" + name, "openssl rand -hex 32: peak RSS", "KiB",
            "default provider", label, subj=spread(rss[name]), base=base_rss,
            ratio=spread(paired_ratios(rss[name], rss["default"])),
            target="<= +%d KiB" % PROCESS_RSS_TARGET_KIB,
            met=delta["median"] <= PROCESS_RSS_TARGET_KIB,
            detail="seedpool adds %+.0f KiB (median of per-run differences; ru_maxrss)"
                   % delta["median"])
        row["delta"] = delta["median"]
        row["target_ratio"] = 1 + PROCESS_RSS_TARGET_KIB / base_rss["median"]
        rows.append(row)
    return rows


# --- part: TLS 1.3 handshakes ---------------------------------------------------

ACCEPT_RE = re.compile(r"^ACCEPT\s+\[?([0-9.:a-f]+)\]?:(\d+)\s*$", re.M)


def start_server(ctx, tmp, tag, conf, cert, key, extra_args=(), extra_env=None):
    out = os.path.join(tmp, "s_server.%s.out" % tag)
    err = os.path.join(tmp, "s_server.%s.err" % tag)
    cmd = [ctx.openssl, "s_server", "-www", "-async", "-tls1_3",
           "-accept", "127.0.0.1:0", "-cert", cert, "-key", key] + list(extra_args)
    with open(out, "w") as o, open(err, "w") as e:
        p = spawn(cmd, env=child_env(ctx, conf, **(extra_env or {})), stdout=o, stderr=e)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(out) as f:
            m = ACCEPT_RE.search(f.read())
        if m:
            if m.group(1) != "127.0.0.1":
                kill(p)
                raise PartError("s_server listens on %s, not 127.0.0.1" % m.group(1))
            return p, int(m.group(2)), err
        if p.poll() is not None:
            break
        time.sleep(0.02)
    rc = p.poll()
    kill(p)
    raise PartError("s_server under %s did not start listening (%s): %s" % (
        os.path.basename(conf), "exit status %d" % rc if rc is not None else "no ACCEPT in 20 s",
        tail(err)))


def s_time(ctx, port, seconds):
    """Handshakes per second of one `s_time -new` run, timed here.

    s_time prints one character per finished connection (and flushes) and
    its own totals at the end, but it times in whole seconds (time(NULL)):
    its run lasts between -time and -time + 1 s. So the rate is taken from
    the characters as they arrive: (count at the last read - count at the
    first) / (time between those reads), reading every 20 ms."""
    cmd = [ctx.openssl, "s_time", "-connect", "127.0.0.1:%d" % port, "-new",
           "-time", str(seconds)]
    p = spawn(cmd, env=child_env(ctx, DEFAULT_CNF), stdout=subprocess.PIPE,
              stderr=subprocess.PIPE)
    fd = p.stdout.fileno()
    text = b""
    samples = []  # (time of the read, connections counted by then)
    deadline = time.monotonic() + seconds + 30
    try:
        while True:
            if time.monotonic() > deadline:
                raise PartError("s_time still running %d s after its -time (killed)"
                                % (seconds + 30))
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            t = time.monotonic()
            if not chunk:
                break
            text += chunk
            # The header line, then one mark per connection up to the totals.
            nl = text.find(b"\n")
            if nl >= 0 and b"\n" not in text[nl + 1:]:
                samples.append((t, len(text) - nl - 1))
            time.sleep(0.02)
        err = p.stderr.read().decode(errors="replace")
        rc = p.wait(30)
    finally:
        kill(p)
    out = text.decode(errors="replace")
    # The first line is "Collecting connection statistics for N seconds",
    # then the connection characters, then the totals.
    m_head = re.match(r"Collecting connection statistics for \d+ seconds\n", out)
    m = re.search(r"(\d+) connections in ([0-9.]+)s; ([0-9.]+) connections/user sec", out)
    m_real = re.search(r"(\d+) connections in (\d+) real seconds", out)
    if rc != 0 or not m_head or not m or not m_real:
        raise PartError("s_time -new against port %d: exit status %d, output %r, stderr %s"
                        % (port, rc, out[-300:], tail(err)))
    marks = out[m_head.end():].split("\n", 1)[0]
    n = int(m_real.group(1))
    if len(marks) != n or n < 2:
        raise PartError("s_time: %d connections reported, %d marks seen (want >= 2)"
                        % (n, len(marks)))
    if set(marks) - {"*"}:
        raise PartError("s_time: connections that were not new TLS 1.3 sessions: %r"
                        % "".join(sorted(set(marks))))
    pts = [(t, c) for t, c in samples if c > 0]
    rate = None
    if len(pts) >= 2 and pts[-1][0] > pts[0][0] and pts[-1][1] > pts[0][1]:
        rate = (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])
    if rate is None:
        # Too few reads (a very short run): s_time's own whole seconds.
        rate = n / max(1, int(m_real.group(2)))
    return rate, "%d connections in %s real s; %s conn/user-s (client CPU)" % (
        n, m_real.group(2), m.group(3))


def check_seedpool_server(ctx, tmp, conf, cert, key):
    """A server exactly like the timed one, under conf, with -naccept 1 and
    SEEDPOOL_STATS_FILE: one handshake, a clean exit, and its statistics
    must show the pool served. Also `openssl list -random-instances` under
    the same conf names SEEDPOOL-DRBG for public and private."""
    stats = os.path.join(tmp, "server.stats")
    srv, port, err = start_server(ctx, tmp, "check", conf, cert, key, ["-naccept", "1"],
                                  {"SEEDPOOL_STATS_FILE": stats})
    try:
        rc, out, cerr = run([ctx.openssl, "s_client", "-connect", "127.0.0.1:%d" % port,
                             "-tls1_3", "-brief"], 30, "s_client",
                            env=child_env(ctx, DEFAULT_CNF), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
        both = out + cerr
        if rc != 0 or "Protocol version: TLSv1.3" not in both:
            raise PartError("s_client to the seedpool server: exit status %d: %s"
                            % (rc, tail(both)))
        try:
            src = srv.wait(15)
        except subprocess.TimeoutExpired as e:
            raise PartError("s_server -naccept 1 did not exit after its connection") from e
        if src != 0:
            raise PartError("s_server -naccept 1 exited %d: %s" % (src, tail(err)))
    finally:
        kill(srv)
    mine = [s for s in read_stats_lines(stats) if s.get("pid") == str(srv.pid)]
    if not mine or int(mine[0].get("bytes_served", "0")) <= 0 or mine[0].get("health") != "ok":
        raise PartError("s_server under %s: seedpool's statistics at exit do not show it "
                        "served: %s" % (os.path.basename(conf), mine or "no stats line"))
    rc, out, lerr = run([ctx.openssl, "list", "-random-instances"], 30, "openssl list",
                        env=child_env(ctx, conf), stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    for which in ("public", "private"):
        if not re.search(r"^%s:\n\s+SEEDPOOL-DRBG @ seedpool" % which, out, re.M):
            raise PartError("openssl list -random-instances under %s: the %s instance is "
                            "not SEEDPOOL-DRBG @ seedpool (exit %d): %s"
                            % (os.path.basename(conf), which, rc, tail(out + lerr)))
    return int(mine[0]["bytes_served"])


def part_tls(ctx):
    if not ctx.openssl:
        raise PartError("no openssl CLI in PATH (Debian: openssl)")
    seconds = ctx.args.tls_seconds or (1 if ctx.args.smoke else 5)
    rounds = ctx.args.rounds or (2 if ctx.args.smoke else 7)
    seedpool_conf = os.path.join(CONF_DIR, "seedpool-drbg.cnf")
    sides = [("default", DEFAULT_CNF), ("seedpool", seedpool_conf)]
    tmp = tempfile.mkdtemp(prefix="bench_all_tls.")
    servers = {}
    try:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        rc, out, err = run([ctx.openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                            "-out", cert, "-days", "2", "-subj", "/CN=localhost"], 60,
                           "openssl req", env=child_env(ctx, DEFAULT_CNF),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if rc != 0:
            raise PartError("openssl req (a self-signed P-256 certificate) exited %d: %s"
                            % (rc, tail(err)))
        served = check_seedpool_server(ctx, tmp, seedpool_conf, cert, key)
        log("tls: s_server under %s: seedpool served (%d bytes of pool output at exit); "
            "public and private are SEEDPOOL-DRBG" % (os.path.basename(seedpool_conf), served))
        for tag, conf in sides:
            p, port, err = start_server(ctx, tmp, tag, conf, cert, key)
            servers[tag] = (p, port, err)
            log("tls: s_server (%s) pid %d on 127.0.0.1:%d" % (tag, p.pid, port))
        if not ctx.args.smoke:
            for tag, _ in sides:  # warm-up: the servers' first handshakes, caches
                s_time(ctx, servers[tag][1], 1)
        rates = {tag: [] for tag, _ in sides}
        for r in range(rounds):
            for tag, _ in (sides if r % 2 == 0 else sides[::-1]):
                rate, note = s_time(ctx, servers[tag][1], seconds)
                rates[tag].append(rate)
                log("tls: round %d/%d %-8s %.0f handshakes/s (%s)"
                    % (r + 1, rounds, tag, rate, note))
        for tag, (p, _, err) in servers.items():
            if p.poll() is not None:
                raise PartError("s_server (%s) died during the rounds (exit %s): %s"
                                % (tag, p.returncode, tail(err)))
    finally:
        for p, _, _ in servers.values():
            kill(p)
        shutil.rmtree(tmp, ignore_errors=True)
    return [make_row(
        "tls", "tls13_handshakes/drbg", "TLS 1.3 handshakes, new sessions", "handshakes/s",
        "default provider", "random = SEEDPOOL-DRBG", subj=spread(rates["seedpool"]),
        base=spread(rates["default"]),
        ratio=spread(paired_ratios(rates["seedpool"], rates["default"])),
        target=">= %.2f" % TLS_TARGET,
        detail="server's side changes (client always default); %d rounds of %d s, order "
               "alternated; P-256 certificate, s_server -www -async -tls1_3" % (rounds, seconds))]


# --- part: OpenSSL 3.5 in the Debian 13 root ---------------------------------------

# Mounts made in a private mount namespace (unshare): they vanish with the
# last process in it, however it ends.
CHROOT_SCRIPT = r'''set -e
root=$1; shift
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=0755,nosuid,size=1m tmpfs "$root/dev"
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/zero" c 1 5
mknod -m 666 "$root/dev/random" c 1 8
mknod -m 666 "$root/dev/urandom" c 1 9
exec chroot "$root" /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 TMPDIR=/tmp "$@"
'''
IN_ROOT_BUILD = "/seedpool/build"
IN_ROOT_SRC = "/seedpool/src"


# What the root's rand_bench is built from or reads (conf/ at run time), as
# prefixes of paths in the tree; the rest (tests, docs, pool_bench, this
# script) does not change its figures.
RAND_BENCH_INPUTS = ("CMakeLists.txt", "cmake/", "pool/", "async/", "provider/", "conf/",
                     "test/CMakeLists.txt", "test/bench/")
RAND_BENCH_NOT_INPUTS = ("pool_bench", "bench_all")


def tree_differences(root):
    """Files rand_bench depends on (RAND_BENCH_INPUTS) whose content in the
    host's tree (as test/openssl35/run.sh copies it) differs from the root's
    copy; None when git cannot tell."""
    try:
        r = subprocess.run(["git", "-c", "safe.directory=*", "-C", SRC, "ls-files", "-co",
                            "--exclude-standard", "-z"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    differ = []
    copy = root + IN_ROOT_SRC
    for rel in r.stdout.decode(errors="surrogateescape").split("\0"):
        if not rel or not rel.startswith(RAND_BENCH_INPUTS) or rel.endswith(".md") \
                or os.path.basename(rel).startswith(RAND_BENCH_NOT_INPUTS):
            continue
        host = os.path.join(SRC, rel)
        if not os.path.isfile(host) or os.path.islink(host):
            continue
        mine = os.path.join(copy, rel)
        try:
            with open(host, "rb") as a, open(mine, "rb") as b:
                if a.read() != b.read():
                    differ.append(rel)
        except OSError:
            differ.append(rel)
    return differ


def part_openssl35(ctx):
    """rand_bench of the 3.5 build inside the root: {key: row} and info."""
    args = ctx.args
    if args.smoke:
        raise NotAvailable("skipped in --smoke (CI runs bench_smoke inside the root: "
                           "test/openssl35/run.sh)")
    if args.openssl35 == "skip":
        raise NotAvailable("skipped (--openssl35 skip)")
    root = ctx.trixie_root
    if not os.path.isfile(os.path.join(root, ".seedpool-debootstrap.stamp")):
        raise NotAvailable("no Debian 13 root at %s (sudo test/openssl35/run.sh makes it)"
                           % root)
    if os.geteuid() != 0:
        raise NotAvailable("chroot into %s needs root (run bench_all.py as root)" % root)
    for tool in ("unshare", "mount", "chroot", "mknod", "sh"):
        if not shutil.which(tool):
            raise NotAvailable("host tool %s not found" % tool)

    if args.openssl35 == "refresh":
        logf = os.path.join(ctx.out, "openssl35-refresh.log")
        log("openssl35: refreshing the root's build: test/openssl35/run.sh, ctest -R "
            "^bench_smoke$ (log: %s)" % logf)
        env = dict(os.environ, SEEDPOOL_BUILD_DIR=os.path.dirname(root),
                   SEEDPOOL_CTEST_ARGS="-R ^bench_smoke$")
        with open(logf, "w") as f:
            rc, _, _ = run(["bash", os.path.join(SRC, "test", "openssl35", "run.sh")], 7200,
                           "test/openssl35/run.sh", env=env, stdout=f, stderr=subprocess.STDOUT)
        if rc != 0:
            raise PartError("test/openssl35/run.sh exited %d: %s" % (rc, tail(logf, 8)))

    exe = root + IN_ROOT_BUILD + "/test/bench/rand_bench"
    if not os.access(exe, os.X_OK):
        raise NotAvailable("no rand_bench in the root's build %s (sudo test/openssl35/run.sh "
                           "builds it, or --openssl35 refresh)" % (root + IN_ROOT_BUILD))
    if args.openssl35 == "auto":
        differ = tree_differences(root)
        if differ:
            raise NotAvailable("the root's build is older than this tree: %d file(s) differ "
                               "(%s); --openssl35 refresh rebuilds it"
                               % (len(differ), ", ".join(differ[:3])))

    lock_path = os.path.join(os.path.dirname(root), "trixie-root.lock")
    lock = open(lock_path, "w")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise NotAvailable("another run (test/openssl35/run.sh) holds %s" % lock_path) from e
        tmp = tempfile.mkdtemp(prefix="bench_all.", dir=os.path.join(root, "tmp"))
        try:
            inside = "/tmp/" + os.path.basename(tmp)
            argv = [IN_ROOT_BUILD + "/test/bench/rand_bench", "--configs", "default,drbg,rp,aes",
                    "--json", inside + "/rand_bench.json"]
            if args.rounds:
                argv += ["--rounds", str(args.rounds)]
            txt = os.path.join(ctx.out, "rand_bench-openssl35.txt")
            log("openssl35: in %s: %s" % (root, " ".join(argv)))
            with open(txt, "w") as f:
                rc, _, _ = run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                CHROOT_SCRIPT, "sh", root] + argv, 3600, "rand_bench in the root",
                               env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
                               stdout=f, stderr=None)
            log("openssl35: exit status %d; its own report: %s" % (rc, txt))
            try:
                with open(tmp + "/rand_bench.json") as f:
                    data = json.load(f)
            except (OSError, ValueError) as e:
                raise PartError("rand_bench in the root (exit status %d) wrote no readable "
                                "JSON: %s; see %s" % (rc, e, txt)) from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        lock.close()
    if "rows" not in data:
        raise NotAvailable("the root's rand_bench writes no JSON rows (built from older "
                           "sources): --openssl35 refresh rebuilds it")
    rows = {r["key"]: r for r in normalise_rows(data["rows"], "rand_bench")}
    info = {"status": "ran", "openssl": data.get("machine", {}).get("openssl", "?"),
            "root": root, "exit_status": rc}
    if rc != 0:
        info["status"] = "error"
        info["detail"] = "rand_bench in the root exited %d (see %s)" % (rc, txt)
    return rows, info


# --- the table --------------------------------------------------------------------

def fmt(v, unit=""):
    if v is None:
        return "-"
    a = abs(v)
    if unit == "per call":
        return "%.3f" % v
    if a >= 1e6:
        return "%.2f M" % (v / 1e6)
    if a >= 1e4:
        return "%.1f k" % (v / 1e3)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v if a >= 0.1 or a == 0 else "%.3g" % v


def fmt_spread(row, prefix):
    med = row.get(prefix + "median")
    if med is None:
        return "-"
    text = fmt(med, row.get("unit"))
    q1, q3 = row.get(prefix + "q1"), row.get(prefix + "q3")
    if q1 is not None and q3 is not None and med and q3 != q1:
        text += " ±%.0f%%" % (50 * (q3 - q1) / abs(med))
    return text


def fmt_ratio(ratio, q1, q3):
    if ratio is None:
        return "-", ""
    spread_text = "%.2f..%.2f" % (q1, q3) if q1 is not None and q3 is not None else ""
    return "%.2fx" % ratio, spread_text


def met_text(row):
    if row["status"] == "error":
        return "ERROR"
    if row["status"] != "ran":
        return "n/a"
    return {True: "yes", False: "NO", None: "-"}[row.get("met")]


def r35_text(row, info35):
    r = row.get("r35")
    if r is None:
        return "-" if info35.get("status") == "ran" else ""
    if r["status"] != "ran":
        return "n/a" if r["status"] == "not available" else "ERROR"
    ratio, sp = fmt_ratio(r.get("ratio"), r.get("ratio_q1"), r.get("ratio_q3"))
    if r.get("ratio") is None and r.get("median") is not None:
        return fmt(r["median"], r.get("unit"))  # a per-call count
    return ratio + (" (%s)" % sp if sp else "")


def clip(text, width):
    text = text or ""
    return text if len(text) <= width else text[:width - 3] + "..."


CLIP = {"workload": 46, "subject": 40, "baseline": 32}


def subject_cell(row):
    if row["status"] == "ran":
        return fmt_spread(row, "")
    return "ERROR" if row["status"] == "error" else "n/a"


def render_table(rows, meta, info35):
    m = meta["machine"]
    out = []
    out.append("bench_all: seedpool against OpenSSL's default provider (%s)%s"
               % (m["date_utc"], "  -- SMOKE: figures meaningless" if meta["settings"]["smoke"] else ""))
    out.append("machine:  %s, %s cores; %s; Linux %s; load average %.2f at the start, %.2f at the end"
               % (m["cpu"], m["cores"], m.get("os", "?"), m["kernel"], m["load_start"], m["load_end"]))
    out.append("OpenSSL:  %s (CLI: %s); rand_bench's libcrypto: %s; modules from %s"
               % (m["openssl_cli"], m["openssl_cli_path"], meta.get("openssl_library", "?"),
                  meta["build"]))
    if info35.get("status") == "ran" or info35.get("status") == "error":
        out.append("3.5:      %s, rand_bench built and run in the Debian 13 root %s"
                   % (info35.get("openssl", "?"), info35.get("root", "")))
    else:
        out.append("3.5:      not available: %s" % info35.get("detail", "?"))
    out.append("method:   each side's median over the rounds ±half its interquartile range; "
               "ratio = subject / baseline taken within")
    out.append("          each round (the sides alternate, the order flips round by round), "
               "median over the rounds, q1..q3 of those ratios;")
    out.append("          'target' is the project's, informational (never asserted); "
               "lower is better for times and memory")
    out.append("")
    header = ["#", "workload", "subject", "unit", "baseline", "default", "seedpool", "ratio",
              "q1..q3", "target", "met", "3.5 ratio (q1..q3)"]
    table = []
    notes = {}  # text: the rows it belongs to
    section = None
    for i, row in enumerate(rows, 1):
        if row["source"] != section:
            section = row["source"]
            table.append(("section", SECTIONS.get(section, section)))
        ratio, sp = fmt_ratio(row.get("ratio"), row.get("ratio_q1"), row.get("ratio_q3"))
        if row["status"] != "ran":
            ratio, sp = "", ""
        baseline = row.get("baseline") or ""
        if baseline == "default provider":
            baseline = ""
        clipped = ["%s: %s" % (k, row.get(k)) for k in ("workload", "subject", "baseline")
                   if len(row.get(k) or "") > CLIP[k]]
        table.append(("row", [str(i), clip(row.get("workload"), CLIP["workload"]),
                              clip(row.get("subject"), CLIP["subject"]),
                              row.get("unit") or "", clip(baseline, CLIP["baseline"]),
                              fmt_spread(row, "baseline_") if row["status"] == "ran" else "",
                              subject_cell(row), ratio, sp, row.get("target") or "",
                              met_text(row), r35_text(row, info35)]))
        detail = row.get("detail") or ""
        r = row.get("r35")
        if r and r.get("status") != "ran" and r.get("detail"):
            detail += ("; " if detail else "") + "3.5: " + r["detail"]
        if not (detail and (row["status"] != "ran" or row["source"] != "rand_bench"
                            or detail.startswith("warning"))):
            detail = ""
        if clipped:
            detail = "; ".join(clipped) + ("; " + detail if detail else "")
        if detail:
            notes.setdefault(detail, []).append(str(i))
    widths = [len(h) for h in header]
    for kind, cells in table:
        if kind == "row":
            widths = [max(w, len(c)) for w, c in zip(widths, cells)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out.append(line(header))
    out.append("-" * min(200, len(line(header)) + 8))
    for kind, cells in table:
        out.append("-- %s" % cells if kind == "section" else line(cells))
    out.append("")
    out.append("'default' and 'seedpool': the baseline's and the subject's figures; "
               "'baseline' empty: OpenSSL's default provider (test/bench/default.cnf).")
    out.append("rand_bench's configurations: seed = SEEDPOOL conf/seedpool.cnf,")
    out.append("random = SEEDPOOL conf/seedpool-direct.cnf, random = SEEDPOOL-DRBG "
               "conf/seedpool-drbg.cnf, random_provider = seedpool conf/seedpool-35.cnf (3.5).")
    if notes:
        out.append("")
        out.append("notes:")
        out.extend("  [%s] %s" % (",".join(rows_of), text) for text, rows_of in notes.items())
    return "\n".join(out) + "\n"


# --- CSV, JSON, plot ----------------------------------------------------------------

R35_FIELDS = ["status", "ratio", "ratio_q1", "ratio_q3", "median", "baseline_median", "detail"]


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(ROW_FIELDS + ["target_ratio"] + ["openssl35_" + k for k in R35_FIELDS])
        for row in rows:
            r = row.get("r35") or {}
            w.writerow([row.get(k) if row.get(k) is not None else "" for k in ROW_FIELDS] +
                       [row.get("target_ratio") or ""] +
                       [r.get(k) if r.get(k) is not None else "" for k in R35_FIELDS])


def target_ratio(row):
    if row.get("target_ratio") is not None:
        return row["target_ratio"]
    m = re.match(r"^\s*(>=|<=)\s*([0-9.]+)\s*$", row.get("target") or "")
    return float(m.group(2)) if m else None


def draw_plot(path, rows, meta, info35):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.get("ratio") is not None or r["status"] == "error"
             or (r.get("r35") or {}).get("ratio") is not None]
    if not shown:
        raise PartError("nothing to plot: no row has a ratio")
    n = len(shown)
    fig, ax = plt.subplots(figsize=(12, 1.6 + 0.32 * n))
    labels = []
    xs = [v for r in shown for v in (r.get("ratio"), r.get("ratio_q1"), r.get("ratio_q3"),
                                     target_ratio(r), (r.get("r35") or {}).get("ratio"))
          if v is not None and v > 0]
    lo, hi = min(xs + [1.0]) / 1.5, max(xs + [1.0]) * 1.5
    colours = {True: "tab:green", False: "tab:red", None: "tab:blue"}
    for i, r in enumerate(shown):
        y = n - 1 - i
        labels.append(clip("%s | %s" % (r.get("workload") or "", r.get("subject") or ""), 80))
        if r["status"] == "error" or r.get("ratio") is None:
            if r["status"] != "ran":
                ax.text(1.0, y, "  %s" % ("ERROR" if r["status"] == "error" else "n/a on this OpenSSL"),
                        va="center", fontsize=7, color="tab:red" if r["status"] == "error" else "grey")
        else:
            ratio = r["ratio"]
            q1 = r.get("ratio_q1") if r.get("ratio_q1") is not None else ratio
            q3 = r.get("ratio_q3") if r.get("ratio_q3") is not None else ratio
            c = colours[r.get("met")]
            # From parity (1.0) to the ratio: on a log scale, as far right
            # or left as the subject is better or worse than the baseline.
            ax.barh(y, ratio - 1.0, left=1.0, height=0.55, color=c, alpha=0.35)
            ax.errorbar([ratio], [y], xerr=[[max(0, ratio - q1)], [max(0, q3 - ratio)]],
                        fmt="o", color=c, ecolor="black", elinewidth=1, capsize=3, markersize=4)
            ax.text(ratio * 1.04, y + 0.18, "%.2fx" % ratio, fontsize=6.5, va="bottom")
        t = target_ratio(r)
        if t is not None:
            # The target: a bar, and a triangle pointing to the side that meets it.
            ax.plot([t, t], [y - 0.38, y + 0.38], color="black", linewidth=1.5)
            at_least = (r.get("target") or "").lstrip().startswith(">")
            ax.plot([t], [y + 0.38], marker=">" if at_least else "<", color="black",
                    markersize=4)
        r35 = r.get("r35") or {}
        if r35.get("ratio") is not None:
            v = r35["ratio"]
            q1 = r35.get("ratio_q1") if r35.get("ratio_q1") is not None else v
            q3 = r35.get("ratio_q3") if r35.get("ratio_q3") is not None else v
            ax.errorbar([v], [y - 0.2], xerr=[[max(0, v - q1)], [max(0, q3 - v)]], fmt="D",
                        mfc="none", color="tab:purple", elinewidth=0.8, capsize=2, markersize=4)
    ax.axvline(1.0, color="black", linewidth=1, linestyle="--")
    ax.set_xscale("log")
    ax.set_xlim(max(lo, 1e-4), hi)
    ax.set_yticks(range(n))
    ax.set_yticklabels(list(reversed(labels)), fontsize=7)
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_xlabel("ratio subject / baseline: median of the per-round ratios, whiskers q1..q3 "
                  "(log scale)\nfor rates higher is better, for times and memory lower; "
                  "the triangle points to the side that meets the target", fontsize=8)
    m = meta["machine"]
    title = "seedpool / OpenSSL's default provider (%s)\n%s, %s cores, %s" % (
        m["date_utc"], m["cpu"], m["cores"], m["openssl_cli"].split("(")[0].strip())
    if info35.get("status") == "ran":
        title += "; diamonds: %s" % info35.get("openssl", "3.5").split("(")[0].strip()
    if meta["settings"]["smoke"]:
        title += " - SMOKE: figures meaningless"
    ax.set_title(title, fontsize=9)
    from matplotlib.lines import Line2D
    handles = [Line2D([0], [0], marker="o", color=colours[k], linestyle="", label=lab)
               for k, lab in ((True, "target met"), (False, "target not met"), (None, "no target"))]
    handles.append(Line2D([0], [0], color="black", linewidth=1.5, marker=">",
                          markersize=4, label="target"))
    if info35.get("status") == "ran":
        handles.append(Line2D([0], [0], marker="D", mfc="none", color="tab:purple",
                              linestyle="", label="OpenSSL 3.5"))
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    ax.grid(axis="x", which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- main -------------------------------------------------------------------------

class Ctx:
    pass


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Every seedpool benchmark in one table (stdout), written to "
                    "--out as bench.txt, bench.csv, bench.json and bench.png.")
    ap.add_argument("--smoke", action="store_true",
                    help="every part very briefly (CI): figures meaningless; no 3.5 column")
    ap.add_argument("--rounds", type=int, default=0,
                    help="rounds of each round-based part (default: 7; smoke: each "
                         "tool's own smoke count, 2 for TLS)")
    ap.add_argument("--out", default=None,
                    help="output folder (default: <build>/bench-results)")
    ap.add_argument("--build-dir", default=None,
                    help="the build folder with seedpool.so and test/bench/ "
                         "(default: $SEEDPOOL_BUILD_DIR or <src>/build)")
    ap.add_argument("--no-plot", action="store_true", help="do not draw bench.png")
    ap.add_argument("--openssl", default=None, help="the openssl CLI (default: from PATH)")
    ap.add_argument("--openssl35", choices=["auto", "refresh", "skip"], default="auto",
                    help="the 3.5 column: auto = use the root's build if it matches this "
                         "tree; refresh = run test/openssl35/run.sh first (builds in the "
                         "root); skip")
    ap.add_argument("--trixie-root", default=None,
                    help="the Debian 13 root (default: <$SEEDPOOL_BUILD_DIR or "
                         "<src>/build>/trixie-root, as test/openssl35/run.sh)")
    ap.add_argument("--process-runs", type=int, default=0,
                    help="openssl rand runs per configuration (default 401; smoke 3)")
    ap.add_argument("--tls-seconds", type=int, default=0,
                    help="seconds of each s_time run (default 5; smoke 1)")
    ap.add_argument("--require-pool-bench", action="store_true",
                    help="a missing pool_bench is an error in --smoke too (the ctest "
                         "passes this once the build has a pool_bench target)")
    ap.add_argument("--parts", default="rand_bench,pool_bench,process,tls,openssl35",
                    help="comma list of the parts to run (default: all)")
    args = ap.parse_args(argv)
    if args.rounds < 0 or args.rounds > 1000:
        ap.error("--rounds wants 1 to 1000")
    if args.process_runs < 0 or args.tls_seconds < 0:
        ap.error("--process-runs and --tls-seconds want positive numbers")
    known = {"rand_bench", "pool_bench", "process", "tls", "openssl35"}
    args.parts = [p for p in args.parts.split(",") if p]
    unknown = set(args.parts) - known
    if unknown:
        ap.error("--parts: unknown part(s) %s (known: %s)" % (", ".join(sorted(unknown)),
                                                             ", ".join(sorted(known))))
    return args


def main(argv):
    args = parse_args(argv)
    ctx = Ctx()
    ctx.args = args
    default_build = os.environ.get("SEEDPOOL_BUILD_DIR") or os.path.join(SRC, "build")
    ctx.build = os.path.abspath(args.build_dir or default_build)
    ctx.out = os.path.abspath(args.out or os.path.join(ctx.build, "bench-results"))
    ctx.trixie_root = os.path.abspath(args.trixie_root or os.path.join(default_build, "trixie-root"))
    ctx.openssl = args.openssl or shutil.which("openssl")
    ctx.run_measured = os.path.join(ctx.build, "test", "bench", "run_measured")

    if not args.no_plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            sys.stderr.write("bench_all: matplotlib is not installed for %s, so bench.png "
                             "cannot be drawn: install it (Debian: apt-get install "
                             "python3-matplotlib, for /usr/bin/python3) or pass --no-plot\n"
                             % sys.executable)
            return 1
    if not os.path.isfile(os.path.join(ctx.build, "seedpool.so")):
        sys.stderr.write("bench_all: no seedpool.so in %s: build first (cmake --build %s) or "
                         "pass --build-dir\n" % (ctx.build, ctx.build))
        return 1
    os.makedirs(ctx.out, exist_ok=True)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    meta = {"tool": "bench_all", "build": ctx.build, "source": SRC,
            "settings": {"smoke": args.smoke, "rounds": args.rounds or None,
                         "process_runs": args.process_runs or (3 if args.smoke else 401),
                         "tls_seconds": args.tls_seconds or (1 if args.smoke else 5),
                         "openssl35": args.openssl35, "parts": args.parts}}
    meta["machine"] = machine_info(ctx)
    log("machine: %s, %s cores, load %.2f; %s; build %s; out %s" % (
        meta["machine"]["cpu"], meta["machine"]["cores"], meta["machine"]["load_start"],
        meta["machine"]["openssl_cli"], ctx.build, ctx.out))

    rows, parts = [], []
    info35 = {"status": "not available", "detail": "not run (--parts)"}
    rows35 = {}
    tool_json = {}
    try:
        for name, fn in (("rand_bench", part_rand_bench), ("pool_bench", part_pool_bench),
                         ("process", part_process), ("tls", part_tls),
                         ("openssl35", part_openssl35)):
            if name not in args.parts:
                if name != "openssl35":
                    parts.append({"name": name, "status": "skipped", "detail": "--parts"})
                continue
            t0 = time.monotonic()
            log("== %s" % name)
            status, detail = "ran", ""
            try:
                result = fn(ctx)
                if name == "openssl35":
                    rows35, info35 = result
                    status = info35["status"]
                    detail = info35.get("detail", "")
                elif name in ("rand_bench", "pool_bench"):
                    part_rows, tool_json[name] = result
                    rows += part_rows
                else:
                    rows += result
            except NotAvailable as e:
                status, detail = "not available", str(e)
                if name == "openssl35":
                    info35 = {"status": status, "detail": detail}
                else:
                    rows.append(part_row(name, status, detail))
            except PartError as e:
                status, detail = "error", str(e)
                if name == "openssl35":
                    info35 = {"status": status, "detail": detail}
                rows.append(part_row(name if name != "openssl35" else "bench_all", status,
                                     detail, None if name != "openssl35" else
                                     "OpenSSL 3.5 column"))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # noqa: BLE001 - a bug here must still show in the table
                traceback.print_exc()
                status, detail = "error", "%s: %s" % (type(e).__name__, e)
                rows.append(part_row(name if name != "openssl35" else "bench_all", status, detail))
            finally:
                kill_all()
            secs = time.monotonic() - t0
            parts.append({"name": name, "status": status, "detail": detail,
                          "seconds": round(secs, 1)})
            log("%s: %s in %.1f s%s" % (name, status, secs, (": " + detail) if detail else ""))
    finally:
        kill_all()

    # The 3.5 column: the same rows of the root's rand_bench.
    if info35.get("status") in ("ran", "error"):
        keys = {r["key"] for r in rows}
        for row in rows:
            if row["source"] == "rand_bench" and row["key"] in rows35:
                row["r35"] = {k: rows35[row["key"]].get(k) for k in R35_FIELDS + ["unit"]}
        for key, r in rows35.items():
            if key not in keys:
                extra = dict(r)
                extra["status"] = "not available"
                extra["detail"] = "measured on OpenSSL 3.5 only"
                extra["r35"] = {k: r.get(k) for k in R35_FIELDS + ["unit"]}
                for k in ("median", "q1", "q3", "min", "max", "baseline_median", "baseline_q1",
                          "baseline_q3", "ratio", "ratio_q1", "ratio_q3", "met"):
                    extra[k] = None
                rows.append(extra)
        if info35.get("status") == "error":
            rows.append(part_row("bench_all", "error", info35.get("detail", ""),
                                 "OpenSSL 3.5 column"))
    # Rows of one source together, in the order the parts ran.
    order = {s: i for i, s in enumerate(["rand_bench", "pool_bench", "process", "tls", "bench_all"])}
    rows.sort(key=lambda r: order.get(r["source"], len(order)))

    meta["machine"]["load_end"] = os.getloadavg()[0]
    rb = tool_json.get("rand_bench") or {}
    meta["openssl_library"] = rb.get("machine", {}).get("openssl", "?")
    meta["parts"] = parts
    meta["openssl35"] = info35

    failed = [r for r in rows if r["status"] == "error"]
    table = render_table(rows, meta, info35)
    sys.stdout.write("\n" + table)
    sys.stdout.flush()

    write_ok = True
    outputs = []
    try:
        with open(os.path.join(ctx.out, "bench.txt"), "w") as f:
            f.write(table)
        write_csv(os.path.join(ctx.out, "bench.csv"), rows)
        with open(os.path.join(ctx.out, "bench.json"), "w") as f:
            json.dump(dict(meta, rows=rows, tools=tool_json), f, indent=1)
        outputs += ["bench.txt", "bench.csv", "bench.json"]
    except OSError as e:
        sys.stderr.write("bench_all: cannot write the results to %s: %s\n" % (ctx.out, e))
        write_ok = False
    if not args.no_plot:
        try:
            draw_plot(os.path.join(ctx.out, "bench.png"), rows, meta, info35)
            outputs.append("bench.png")
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            sys.stderr.write("bench_all: the plot failed: %s\n" % e)
            write_ok = False
    else:
        log("plot: not drawn (--no-plot)")
    log("wrote %s in %s" % (", ".join(outputs) or "nothing", ctx.out))

    for r in failed:
        sys.stderr.write("bench_all: FAILED: %s | %s: %s\n"
                         % (r.get("workload"), r.get("subject"), r.get("detail")))
    if failed or not write_ok:
        sys.stderr.write("bench_all: %d measurement(s) could not run%s\n"
                         % (len(failed), "" if write_ok else "; output not fully written"))
        return 1
    log("every measurement ran (targets are reported, never asserted)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        kill_all()
        sys.stderr.write("bench_all: interrupted\n")
        sys.exit(130)
