#!/usr/bin/env python3
"""Soak: `openssl s_time -new` against `openssl s_server -async` under
random = SEEDPOOL-DRBG (or SEEDPOOL), the pool fed only by a FIFO that is starved and fed at
random, for minutes. Not part of CI's timed suite (ctest runs it for 20 s as
`soak_smoke` so that it keeps working).

    python3 test/soak/soak.py [--build DIR] [--seconds N] [--seed N] [--random SEEDPOOL]

What it does:
  - s_server -async (no -www: its stdin stays a pipe, and "Q" on it makes
    s_server exit cleanly, so seedpool writes its statistics at exit), on
    127.0.0.1 and a free port, pool_size 1024, async_timeout_ms 10000;
  - a feeder thread: starve for 0.5-8 s (one period in ten: 12 s, longer
    than async_timeout_ms, so that paused handshakes fail at the deadline),
    then feed 16-512 bytes every 50 ms for 1-5 s, at random; it never lets
    more than 1 KiB wait in the pipe, so a starve starves the pool;
  - load: `openssl s_time -new -time 10` runs one after another (a run ends
    at its first failed handshake; the next one starts);
  - a probe: one Python TLS handshake every 2 s, timed (30 s limit: a
    handshake that takes longer counts as a hang);
  - s_server's open fds and RSS (/proc) after a 10 s warm-up, every 30 s,
    and at the end after the load stops and the FIFO is fed for 3 s.

Prints handshakes completed and failed, probe latencies, fds and RSS at start
and end, seedpool's statistics from s_server's exit. Exit status 0 when there
was no hang, s_server ran throughout and exited cleanly, its fds did not grow
and its RSS grew by less than 2 MiB; 1 otherwise; 2 on bad usage.
"""

import argparse
import array
import fcntl
import os
import random
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import termios
import threading
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "..", "build"),
                help="the build folder holding seedpool.so (default: build)")
ap.add_argument("--seconds", type=float, default=600, help="length of the load (default 600)")
ap.add_argument("--seed", type=int, default=None, help="seed of the starve/feed schedule")
ap.add_argument("--random", default="SEEDPOOL-DRBG", choices=("SEEDPOOL-DRBG", "SEEDPOOL"),
                help="the [random] generator (default SEEDPOOL-DRBG; SEEDPOOL: every "
                     "handshake's bytes come from the pool, so every one may pause)")
args = ap.parse_args()
if args.seconds < 10:
    ap.error("--seconds must be at least 10")
BUILD = os.path.abspath(args.build)
if not os.path.exists(os.path.join(BUILD, "seedpool.so")):
    ap.error("no seedpool.so in %s (build first, or pass --build)" % BUILD)
OPENSSL = "openssl"
seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
rng = random.Random(seed)
ASYNC_TIMEOUT_S = 10.0

TMP = tempfile.mkdtemp(prefix="seedpool-soak.")
started = []  # Popen objects to stop at exit
failures = []


def now():
    return time.monotonic()


def log(msg):
    sys.stderr.write("[%6.1f s] %s\n" % (now() - T0, msg))
    sys.stderr.flush()


def fail(msg):
    failures.append(msg)
    log("FAIL: " + msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_env():
    env = dict(os.environ)
    env["OPENSSL_CONF"] = "/dev/null"  # clients: OpenSSL's defaults only
    env.pop("OPENSSL_MODULES", None)
    return env


def proc_sample(pid):
    """(open fds, RSS in KiB) of `pid`."""
    fds = len(os.listdir("/proc/%d/fd" % pid))
    with open("/proc/%d/status" % pid) as f:
        rss = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))
    return fds, rss


def cleanup():
    for p in started:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
    subprocess.run(["rm", "-rf", TMP], check=False)


T0 = now()
try:
    # --- certificate, FIFO, configuration ----------------------------------
    key, cert = os.path.join(TMP, "key.pem"), os.path.join(TMP, "cert.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2",
                    "-keyout", key, "-out", cert], check=True, timeout=30,
                   env=client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fifo = os.path.join(TMP, "noise.fifo")
    os.mkfifo(fifo, 0o600)
    # Held open read-write for the whole run: written bytes wait in the pipe.
    fifo_fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    conf = os.path.join(TMP, "soak.cnf")
    with open(conf, "w") as f:
        f.write("openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
                "random = random_sect\n[provider_sect]\ndefault = default_sect\n"
                "seedpool = seedpool_sect\n[default_sect]\nactivate = 1\n"
                "[seedpool_sect]\nactivate = 1\nsources = device\ndevice = %s\n"
                "device_credit = 8\npool_size = 1024\nblock_timeout_ms = 2000\n"
                "async_timeout_ms = %d\n"
                "[random_sect]\nrandom = %s\nproperties = provider=seedpool\n"
                "seed = SEEDPOOL\nseed_properties = provider=seedpool\n"
                % (fifo, int(ASYNC_TIMEOUT_S * 1000), args.random))
    stats_file = os.path.join(TMP, "stats")

    fed = {"bytes": 0, "starves": 0, "long_starves": 0}
    feeding = threading.Event()  # set while the feeder is in a feed period

    def pending():
        buf = array.array("i", [0])
        fcntl.ioctl(fifo_fd, termios.FIONREAD, buf)
        return buf[0]

    def feed(n):
        # Only a little waits in the pipe: a starve must starve the pool,
        # not leave it 64 KiB of pipe buffer to live on.
        if pending() >= 1024:
            return
        w = os.write(fifo_fd, os.urandom(n))
        fed["bytes"] += w

    feed(1024)  # s_server's start-up draws outside any job: fed until it listens

    # --- s_server -------------------------------------------------------------
    port = free_port()
    env = dict(os.environ, OPENSSL_CONF=conf, OPENSSL_MODULES=BUILD,
               SEEDPOOL_STATS_FILE=stats_file)
    srv_err = open(os.path.join(TMP, "s_server.err"), "w+")
    srv = subprocess.Popen([OPENSSL, "s_server", "-async", "-accept",
                            "127.0.0.1:%d" % port, "-cert", cert, "-key", key],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           stderr=srv_err, env=env, start_new_session=True)
    started.append(srv)
    deadline = now() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if srv.poll() is not None or now() > deadline:
                srv_err.seek(0)
                raise SystemExit("s_server did not start: " + srv_err.read()[-2000:])
            feed(512)
            time.sleep(0.05)
    log("s_server pid %d on 127.0.0.1:%d, random = %s, schedule seed %d, %d s of load"
        % (srv.pid, port, args.random, seed, args.seconds))

    stop = threading.Event()       # ends the load (s_time, probes)
    stop_feed = threading.Event()  # ends the feeder, once the load has ended

    def feeder():
        # Random starve/feed while the load runs; then fed until the load's
        # last handshakes are done (a starve after the end is not the load's).
        while not stop.is_set():
            if rng.random() < 0.1:
                starve, fed["long_starves"] = ASYNC_TIMEOUT_S + 2, fed["long_starves"] + 1
            else:
                starve = rng.uniform(0.5, 8)
            fed["starves"] += 1
            feeding.clear()
            if stop.wait(starve):
                break
            feeding.set()
            end = now() + rng.uniform(1, 5)
            while now() < end and not stop.is_set():
                feed(rng.randint(16, 512))
                stop.wait(0.05)
        while not stop_feed.is_set():
            feed(256)
            stop_feed.wait(0.05)

    load = {"completed": 0, "failed": 0, "runs": 0, "hung": 0}

    def loader():
        while not stop.is_set():
            t = min(10, max(1, int(T_END - now())))
            try:
                r = subprocess.run([OPENSSL, "s_time", "-connect", "127.0.0.1:%d" % port,
                                    "-new", "-time", str(t)], env=client_env(),
                                   stdin=subprocess.DEVNULL, capture_output=True,
                                   text=True, timeout=t + ASYNC_TIMEOUT_S + 20)
            except subprocess.TimeoutExpired:
                load["hung"] += 1
                fail("an s_time run of %d s did not end within %d s" % (t, t + ASYNC_TIMEOUT_S + 20))
                continue
            load["runs"] += 1
            m = re.search(r"^(\d+) connections in [\d.]+s;", r.stdout, re.M)
            if r.returncode == 0 and m:
                load["completed"] += int(m.group(1))
            else:
                # s_time stops at its first failed connection; the
                # characters it printed before are the completed ones
                # (apps/s_time.c prints one per handshake).
                line = r.stdout.split("Collecting connection statistics", 1)[-1]
                load["completed"] += len(re.findall(r"[123*]", line.split("\n", 1)[-1]))
                load["failed"] += 1

    probes = {"lat": [], "failed": 0, "hung": 0}

    def prober():
        ctx = ssl.create_default_context(cafile=cert)
        while not stop.wait(2):
            t0 = now()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
                    with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                        pass
                probes["lat"].append(now() - t0)
            except (OSError, ssl.SSLError) as e:
                if now() - t0 >= 29:
                    probes["hung"] += 1
                    fail("a probe handshake took over 30 s: %s" % e)
                else:
                    probes["failed"] += 1

    T_END = now() + args.seconds
    threads = [threading.Thread(target=f, daemon=True) for f in (feeder, loader, prober)]
    for th in threads:
        th.start()

    samples = []
    time.sleep(min(10, args.seconds / 4))
    samples.append((now() - T0,) + proc_sample(srv.pid))
    log("start: fds %d, RSS %d KiB" % samples[0][1:])
    next_sample = now() + 30
    while now() < T_END:
        time.sleep(min(1, max(0, T_END - now())))
        if srv.poll() is not None:
            fail("s_server exited during the load (status %s)" % srv.returncode)
            break
        if now() >= next_sample:
            samples.append((now() - T0,) + proc_sample(srv.pid))
            log("fds %d, RSS %d KiB; handshakes %d completed, %d failed; fed %d bytes"
                % (samples[-1][1], samples[-1][2], load["completed"], load["failed"], fed["bytes"]))
            next_sample += 30
    stop.set()
    for th in threads[1:]:
        th.join(ASYNC_TIMEOUT_S + 40)
        if th.is_alive():
            fail("a load thread did not stop")
    stop_feed.set()
    threads[0].join(5)

    # --- the end: fed and idle, then the last sample, then a clean exit -----
    if srv.poll() is None:
        end_feed = now() + 3
        while now() < end_feed:
            feed(256)
            time.sleep(0.05)
        ctx = ssl.create_default_context(cafile=cert)
        t0 = now()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                    pass
            log("after the load, fed: a handshake in %.1f ms" % ((now() - t0) * 1e3))
        except (OSError, ssl.SSLError) as e:
            fail("after the load, fed, a handshake failed: %s" % e)
        time.sleep(0.5)
        samples.append((now() - T0,) + proc_sample(srv.pid))
        # "Q" on stdin ends s_server at its next connection (apps/s_server.c,
        # sv_body); OPENSSL_cleanup then writes seedpool's statistics.
        srv.stdin.write(b"Q\n")
        srv.stdin.flush()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except OSError:
            pass
        try:
            srv.wait(15)
        except subprocess.TimeoutExpired:
            fail("s_server did not exit on Q")
        if srv.returncode not in (0, None):
            srv_err.seek(0)
            fail("s_server exited with status %s: %s" % (srv.returncode, srv_err.read()[-1000:]))

    # --- report ----------------------------------------------------------------
    lat = sorted(probes["lat"])
    print("soak: %.0f s of s_time -new against s_server -async, random = %s, "
          "a FIFO starved and fed at random (schedule seed %d)" % (args.seconds, args.random, seed))
    print("  handshakes (s_time): %d completed, %d failed, in %d runs"
          % (load["completed"], load["failed"], load["runs"]))
    if lat:
        print("  probe handshakes: %d, %d failed; latency median %.1f ms, p99 %.1f ms, max %.1f ms"
              % (len(lat), probes["failed"], statistics.median(lat) * 1e3,
                 lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3, lat[-1] * 1e3))
    print("  starved %d times (%d longer than async_timeout_ms), fed %d bytes"
          % (fed["starves"], fed["long_starves"], fed["bytes"]))
    if len(samples) >= 2:
        (t_a, fd_a, rss_a), (t_b, fd_b, rss_b) = samples[0], samples[-1]
        print("  s_server fds: %d at %.0f s, %d at the end (max %d)"
              % (fd_a, t_a, fd_b, max(s[1] for s in samples)))
        print("  s_server RSS: %d KiB at %.0f s, %d KiB at the end (max %d KiB)"
              % (rss_a, t_a, rss_b, max(s[2] for s in samples)))
        if fd_b > fd_a:
            fail("s_server's open fds grew from %d to %d" % (fd_a, fd_b))
        if rss_b - rss_a >= 2048:
            fail("s_server's RSS grew by %d KiB" % (rss_b - rss_a))
    st = None
    if os.path.exists(stats_file):
        with open(stats_file) as f:
            for line in f:
                if line.startswith("seedpool pid="):
                    st = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    if st is None:
        fail("s_server wrote no seedpool statistics at exit")
    else:
        keys = ("requests_served", "requests_failed", "requests_timed_out", "requests_paused",
                "requests_resumed", "paused_timed_out", "bytes_served", "source_bytes")
        print("  seedpool (s_server at exit): " +
              " ".join("%s=%s" % (k, st[k]) for k in keys if k in st))
    if load["completed"] == 0:
        fail("no handshake completed")
    print("soak: %s" % ("passed" if not failures else "FAILED: " + "; ".join(failures)))
    sys.exit(0 if not failures else 1)
finally:
    cleanup()
