#!/usr/bin/env python3
"""Async mode against real servers: openssl s_server -async and HAProxy.

    python3 async_servers.py <build_dir> <source_dir> <case>

Cases (ctest: integration.async_<case>, label `integration`):

  s_server            `openssl s_server -async -www`, the pool fed only by a
                      FIFO. Fed, with random = SEEDPOOL-DRBG: s_client, s_time
                      -new and Python's ssl module complete. Starved, with
                      random = SEEDPOOL: a handshake waits, completes once the
                      FIFO is fed, and the statistics show its job paused.
  haproxy             HAProxy (Debian 12's 2.6, Debian 13's 3.0) with
                      conf/haproxy-async.cfg, a TLS and a plain HTTP frontend
                      in one thread, random = SEEDPOOL-DRBG fed only by a
                      FIFO. While a handshake waits
                      for entropy the plain frontend answers in milliseconds;
                      fed, the handshake completes. The same with
                      ssl-mode-async off shows the process stall. Both figures
                      are printed.
  haproxy_disconnect  A client that goes away while its handshake waits:
                      HAProxy closes it at `timeout client`, keeps the SSL
                      object on the job's wait fd (ssl_async_fd_free in
                      `show fd`) and frees it at seedpool's deadline
                      (async_timeout_ms); past the deadline no fd stays open.

Why HAProxy runs in daemon mode (-D, master-worker off, nbthread 1): with
random = SEEDPOOL-DRBG, HAProxy's start-up (SSL_CTX_new's ticket keys, its
random seed) seeds the main thread's generators outside any job, so in a
single foreground process no later handshake would ever ask the pool. The
worker that daemon mode forks after start-up starts with a pool that holds no
credited bits and generators that must reseed before their first byte: its
first handshake needs the pool, inside a job. That is also what happens to
Debian's master-worker service at every start. The worker is not under
`timeout`; a watchdog process kills it if this script dies.

Every process binds 127.0.0.1 only, on free ports; everything started is
killed on exit (and by a watchdog if this script is SIGKILLed); each case has
a hard time limit. The clients (and this script's own OpenSSL) run with an
empty OPENSSL_CONF: only the servers load seedpool.
"""

import array
import ctypes
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time

if len(sys.argv) != 4:
    sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
    sys.exit(2)

BUILD_DIR = os.path.abspath(sys.argv[1])
SOURCE_DIR = os.path.abspath(sys.argv[2])
CASE = sys.argv[3]
CASE_TIME_LIMIT = 55  # seconds; ctest's TIMEOUT is above this

TMP = tempfile.mkdtemp(prefix="seedpool-async.")
EMPTY_CONF = os.path.join(TMP, "empty.cnf")
open(EMPTY_CONF, "w").close()
# Before `ssl` is imported: this process's OpenSSL (Python's ssl module) and
# every client it starts must not load seedpool.
os.environ["OPENSSL_CONF"] = EMPTY_CONF
for var in ("SEEDPOOL_STATS_FILE", "OPENSSL_CONF_INCLUDE", "OPENSSL_MODULES"):
    os.environ.pop(var, None)

import ssl  # noqa: E402  (after OPENSSL_CONF is set)

OPENSSL = os.environ.get("OPENSSL", "openssl")
HAPROXY = os.environ.get("HAPROXY") or shutil.which("haproxy") or "/usr/sbin/haproxy"
HAPROXY_CFG = os.path.join(SOURCE_DIR, "conf", "haproxy-async.cfg")

FAILURES = []


def now():
    return time.monotonic()


def ms(seconds):
    return int(round(seconds * 1000))


def ok(msg):
    print("ok: " + msg, flush=True)


def note(msg):
    print("    " + msg, flush=True)


def fail(msg, *details):
    FAILURES.append(msg)
    print("FAIL: " + msg, flush=True)
    for d in details:
        for line in str(d).rstrip().splitlines():
            print("    | " + line, flush=True)


def check(cond, msg, *details):
    if cond:
        ok(msg)
    else:
        fail(msg, *details)
    return cond


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no %s)" % path


# ---------------------------------------------------------------------------
# Clean-up: every process started, killed whatever happens.

PROCS = []       # subprocess.Popen objects (foreground servers)
PIDS = []        # daemons (HAProxy's worker), by pid and a word of their cmdline
WATCHDOGS = []   # process groups of the watchdogs


def pid_alive(pid, word=None):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read()
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        return False
    return word is None or word.encode() in cmd


def start_watchdog(pid, secs, word):
    """Kills <pid> after <secs> unless clean-up ends the watchdog first: for
    when this script is SIGKILLed and no clean-up runs."""
    script = ('sleep %d; if tr "\\0" " " </proc/%d/cmdline 2>/dev/null | grep -q -- %s; '
              'then kill -KILL %d; fi' % (secs, pid, word, pid))
    w = subprocess.Popen(["sh", "-c", script], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    WATCHDOGS.append(w)


def become_subreaper():
    """HAProxy's worker outlives its parent (daemon mode): as a subreaper,
    this script inherits it and reaps it, instead of leaving a zombie under
    an init that may never reap."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill_pid(pid, word, sig=signal.SIGTERM, wait=3.0):
    if not pid_alive(pid, word):
        return
    try:
        os.kill(pid, sig)
    except OSError:
        return
    end = now() + wait
    while now() < end and pid_alive(pid, word):
        time.sleep(0.02)
    if pid_alive(pid, word):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    for pid, word in PIDS:
        kill_pid(pid, word)
        reap(pid)
    for w in WATCHDOGS:
        try:
            os.killpg(w.pid, signal.SIGKILL)
        except OSError:
            pass
        w.wait()
    if not os.environ.get("SEEDPOOL_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


class CaseTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise CaseTimeout("case %s ran over %d s" % (CASE, CASE_TIME_LIMIT))


def on_term(signum, frame):
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------------------
# Ports, certificates, the FIFO, configurations.

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert():
    key = os.path.join(TMP, "key.pem")
    cert = os.path.join(TMP, "cert.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-days", "2", "-keyout", key, "-out", cert],
                   check=True, timeout=30, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    both = os.path.join(TMP, "cert+key.pem")
    with open(both, "w") as out:
        for p in (cert, key):
            with open(p) as f:
                out.write(f.read())
    return cert, key, both


class Fifo:
    """The pool's only source. Opened read-write and non-blocking here, as
    seedpool opens it: writes never block (up to the pipe's 64 KiB), and
    reading empties what seedpool has not read yet."""

    def __init__(self, name):
        self.path = os.path.join(TMP, name)
        os.mkfifo(self.path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        self.written = 0
        self.drained = 0

    def pending(self):
        buf = array.array("i", [0])
        fcntl.ioctl(self.fd, termios.FIONREAD, buf)
        return buf[0]

    def feed(self, n):
        data = os.urandom(n)
        os.write(self.fd, data)
        self.written += n

    def drain(self):
        n = 0
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            n += len(chunk)
        self.drained += n
        return n

    def consumed(self):
        """Bytes the server's seedpool has read."""
        return self.written - self.drained - self.pending()


class Feeder(threading.Thread):
    """Keeps at least `low` bytes in the FIFO."""

    def __init__(self, fifo, low=8192):
        super().__init__(daemon=True)
        self.fifo, self.low, self.stop = fifo, low, threading.Event()

    def run(self):
        while not self.stop.wait(0.02):
            if self.fifo.pending() < self.low:
                self.fifo.feed(self.low)


_async_timeout_supported = None


def async_timeout_supported():
    """Whether this seedpool.so accepts async_timeout_ms (the async work);
    before it, the key is refused as not supported."""
    global _async_timeout_supported
    if _async_timeout_supported is None:
        conf = os.path.join(TMP, "probe.cnf")
        write_seedpool_conf(conf, None, "SEEDPOOL", {"async_timeout_ms": "1000",
                                                     "sources": "getrandom"})
        r = subprocess.run([OPENSSL, "rand", "-hex", "4"], env=server_env(conf),
                           capture_output=True, text=True, timeout=20)
        _async_timeout_supported = r.returncode == 0
        why = [ln for ln in r.stderr.splitlines() if "async_timeout_ms" in ln] or \
            r.stderr.strip().splitlines() or ["?"]
        note("async_timeout_ms: %s" % ("accepted" if _async_timeout_supported else
             "refused, left out of the configurations (%s)" %
             why[-1].split(":seedpool is not running: ")[-1]))
    return _async_timeout_supported


def write_seedpool_conf(path, fifo, random, keys):
    """A configuration like conf/seedpool-drbg.cnf with the pool fed only by
    `fifo` (credited 8 bits a byte)."""
    sect = {}
    if fifo is not None:
        sect.update({"sources": "device", "device": fifo.path, "device_credit": "8"})
    sect.update(keys)
    with open(path, "w") as f:
        f.write("openssl_conf = openssl_init\n\n[openssl_init]\n"
                "providers = provider_sect\nrandom = random_sect\n\n"
                "[provider_sect]\ndefault = default_sect\nseedpool = seedpool_sect\n\n"
                "[default_sect]\nactivate = 1\n\n[seedpool_sect]\nactivate = 1\n")
        for k, v in sect.items():
            f.write("%s = %s\n" % (k, v))
        f.write("\n[random_sect]\nrandom = %s\nproperties = provider=seedpool\n"
                "seed = SEEDPOOL\nseed_properties = provider=seedpool\n" % random)


def seedpool_keys(block_ms, async_ms, pool_size=1024):
    keys = {"pool_size": str(pool_size), "block_timeout_ms": str(block_ms)}
    if async_timeout_supported():
        keys["async_timeout_ms"] = str(async_ms)
    return keys


def server_env(conf, stats=None):
    env = dict(os.environ)
    env["OPENSSL_CONF"] = conf
    env["OPENSSL_MODULES"] = BUILD_DIR
    if stats:
        env["SEEDPOOL_STATS_FILE"] = stats
    return env


def stats_line(path, pid):
    """The statistics seedpool appended for <pid> at its exit, as a dict."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("seedpool pid=%d " % pid):
            return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    return None


def show_stats(st, keys=("requests_served", "requests_failed", "requests_timed_out",
                         "requests_paused", "requests_resumed", "paused_timed_out",
                         "async_callbacks", "bytes_served", "source_bytes")):
    return " ".join("%s=%s" % (k, st[k]) for k in keys if k in st)


# ---------------------------------------------------------------------------
# Clients (this process's OpenSSL: no seedpool).

def client_ctx(cafile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    return ctx


def read_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def tls_get(ctx, port, timeout):
    """One HTTPS request; times of the handshake and of the response."""
    r = {"t0": now()}
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost",
                                 do_handshake_on_connect=False) as s:
                s.do_handshake()
                r["t_hs"] = now()
                r["version"] = s.version()
                s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                data = read_all(s)
        r["t_done"] = now()
        r["status"] = data.split(b"\r\n", 1)[0].decode(errors="replace")
        r["body"] = data
    except Exception as e:  # noqa: BLE001 -- reported by the caller
        r["error"] = "%s: %s" % (type(e).__name__, e)
        r["t_done"] = now()
    return r


class TlsThread(threading.Thread):
    def __init__(self, ctx, port, timeout):
        super().__init__(daemon=True)
        self.args = (ctx, port, timeout)
        self.result = None

    def run(self):
        self.result = tls_get(*self.args)


def plain_get(port, timeout=5.0):
    """One plain HTTP request: (seconds, status line or error)."""
    t0 = now()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            data = read_all(s)
        return now() - t0, data.split(b"\r\n", 1)[0].decode(errors="replace")
    except Exception as e:  # noqa: BLE001
        return now() - t0, "%s: %s" % (type(e).__name__, e)


class PlainProbe(threading.Thread):
    """Plain requests one after another, `count` of them, starting every
    `every` seconds (or as soon as the previous one answered)."""

    def __init__(self, port, count, every):
        super().__init__(daemon=True)
        self.port, self.count, self.every = port, count, every
        self.results = []

    def run(self):
        t_next = now()
        for _ in range(self.count):
            time.sleep(max(0.0, t_next - now()))
            t_next = now() + self.every
            self.results.append(plain_get(self.port))


def send_client_hello(ctx, port):
    """A TCP connection that has sent its ClientHello and reads nothing."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(out.read())
    return s


# ---------------------------------------------------------------------------
# openssl s_server -async

def start_s_server(conf, stats, cert, key, port, naccept=None):
    out = os.path.join(TMP, "s_server.%d.out" % port)
    err = os.path.join(TMP, "s_server.%d.err" % port)
    cmd = ["timeout", "-s", "TERM", str(CASE_TIME_LIMIT + 5), OPENSSL, "s_server",
           "-async", "-www", "-accept", "127.0.0.1:%d" % port, "-cert", cert,
           "-key", key]
    if naccept is not None:
        cmd += ["-naccept", str(naccept)]
    with open(out, "w") as o, open(err, "w") as e:
        p = subprocess.Popen(cmd, env=server_env(conf, stats), stdin=subprocess.DEVNULL,
                             stdout=o, stderr=e)
    PROCS.append(p)
    end = now() + 15
    while now() < end:
        with open(out) as f:
            if "ACCEPT" in f.read():
                return p, out, err
        if p.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError("s_server did not start\n" + tail(err) + tail(out))


def case_s_server():
    cert, key, _ = make_cert()
    ctx = client_ctx(cert)

    # -- Fed: random = SEEDPOOL-DRBG, the FIFO kept full.
    print("== s_server -async, random = SEEDPOOL-DRBG, the pool fed by a FIFO")
    fifo = Fifo("fed.fifo")
    conf = os.path.join(TMP, "fed.cnf")
    write_seedpool_conf(conf, fifo, "SEEDPOOL-DRBG", seedpool_keys(2000, 10000))
    fifo.feed(1024 + 7168)  # the health tests' start-up 1024 bytes, and more
    port = free_port()
    feeder = Feeder(fifo)
    feeder.start()
    srv, out, err = start_s_server(conf, None, cert, key, port)
    try:
        r = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port,
                            "-servername", "localhost", "-CAfile", cert,
                            "-verify_return_error", "-ign_eof"],
                           input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True,
                           timeout=20)
        text = r.stdout.decode(errors="replace")
        check(r.returncode == 0 and "HTTP/1.0 200 ok" in text,
              "fed: s_client got s_server's page (exit %d)" % r.returncode,
              r.stderr.decode(errors="replace")[-2000:])

        r = subprocess.run([OPENSSL, "s_time", "-connect", "127.0.0.1:%d" % port,
                            "-new", "-time", "3", "-www", "/", "-CAfile", cert],
                           capture_output=True, text=True, timeout=30)
        m = re.search(r"(\d+) connections in (\d+) real seconds", r.stdout)
        n = int(m.group(1)) if m else 0
        check(r.returncode == 0 and n >= 10,
              "fed: s_time -new: %d handshakes (new sessions) in %s s" %
              (n, m.group(2) if m else "?"), r.stdout[-1500:], r.stderr[-1500:])

        res = tls_get(ctx, port, 10)
        check("error" not in res and "200 ok" in res.get("status", ""),
              "fed: Python ssl (%s): %r in %d ms" %
              (res.get("version"), res.get("status", res.get("error")),
               ms(res["t_done"] - res["t0"])))
        check(srv.poll() is None, "fed: s_server still running", tail(err))
        check(fifo.consumed() >= 1024,
              "fed: seedpool read %d bytes from the FIFO" % fifo.consumed())
    finally:
        feeder.stop.set()
        feeder.join()
        srv.terminate()
        srv.wait(5)

    # -- Starved: random = SEEDPOOL (each handshake draws from the pool;
    # with SEEDPOOL-DRBG a single-process s_server seeded its generators at
    # start-up and no later handshake asks the pool).
    print("== s_server -async, random = SEEDPOOL, the pool starved, then fed")
    fifo = Fifo("starved.fifo")
    conf = os.path.join(TMP, "starved.cnf")
    stats = os.path.join(TMP, "starved.stats")
    # Outside a job (start-up) a request waits up to 5 s; inside, 10 s.
    write_seedpool_conf(conf, fifo, "SEEDPOOL", seedpool_keys(5000, 10000))
    fifo.feed(1024 + 2048)
    port = free_port()
    naccept = 8
    srv, out, err = start_s_server(conf, stats, cert, key, port, naccept)
    accepted = 0
    try:
        left = fifo.drain()
        note("after start-up: drained %d bytes the pool had not read; the pool "
             "holds at most 1024 bits (3 draws of 32 bytes)" % left)
        waited = None
        for attempt in range(1, 5):
            t = TlsThread(ctx, port, 15)
            t.start()
            accepted += 1
            t.join(1.5)
            if not t.is_alive():
                res = t.result
                note("handshake %d did not wait (%s in %d ms): the pool still "
                     "had entropy" % (attempt, res.get("status", res.get("error")),
                                      ms(res["t_done"] - res["t0"])))
                continue
            t_feed = now()
            fifo.feed(4096)
            t.join(8)
            res = t.result or {}
            waited = (attempt, t_feed - res.get("t0", t_feed), res)
            # s_server -www does not poll the wait fd: on a paused handshake
            # it prints "read R BLOCK", sleeps 1 s and tries again.
            check(not t.is_alive() and "200 ok" in res.get("status", "")
                  and res.get("t_hs", now()) - t_feed < 2.5,
                  "starved: handshake %d waited %d ms, completed %d ms after "
                  "the FIFO was fed: %r" %
                  (attempt, ms(t_feed - res.get("t0", t_feed)),
                   ms(res.get("t_hs", now()) - t_feed),
                   res.get("status", res.get("error", "still waiting"))),
                  tail(err))
            note("(s_server -www retries a paused handshake once a second, "
                 "\"read R BLOCK\": up to 1 s after feeding is s_server's)")
            break
        check(waited is not None, "starved: a handshake waited for entropy")
        check(srv.poll() is None, "starved: s_server still running", tail(err))
        res = tls_get(ctx, port, 10)
        accepted += 1
        check("200 ok" in res.get("status", ""),
              "starved: after feeding, the next handshake completes: %r" %
              res.get("status", res.get("error")))
    finally:
        # -naccept: s_server exits on its own (and seedpool writes its
        # statistics at exit) after that many connections.
        for _ in range(naccept + 2):
            if srv.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            except OSError:
                pass
            time.sleep(0.1)
        try:
            srv.wait(5)
        except subprocess.TimeoutExpired:
            srv.terminate()
            srv.wait(5)
    # Only s_server (under timeout(1), so not srv.pid) writes this file.
    st = None
    if os.path.exists(stats):
        with open(stats) as f:
            for line in f:
                if line.startswith("seedpool pid="):
                    st = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    if check(st is not None, "starved: s_server wrote seedpool's statistics at exit",
             tail(err)):
        note("s_server's pool: " + show_stats(st))
        check(int(st.get("requests_paused", "0")) >= 1,
              "starved: the waiting handshake paused its ASYNC job "
              "(requests_paused=%s)" % st.get("requests_paused"),
              "requests_paused=0: the handshake blocked s_server's thread "
              "instead; pausing inside ASYNC jobs is not in this build")


# ---------------------------------------------------------------------------
# HAProxy

def haproxy_versions():
    r = subprocess.run([HAPROXY, "-vv"], capture_output=True, text=True, timeout=20)
    built = re.search(r"Built with OpenSSL version : (.*)", r.stdout)
    running = re.search(r"Running on OpenSSL version : (.*)", r.stdout)
    version = r.stdout.splitlines()[0] if r.stdout else "?"
    ldd = subprocess.run(["ldd", HAPROXY], capture_output=True, text=True, timeout=20)
    libssl = [ln.strip() for ln in ldd.stdout.splitlines() if "libssl" in ln]
    note("%s; built with %s, running on %s; %s" %
         (version, built.group(1) if built else "?",
          running.group(1) if running else "?", ", ".join(libssl) or "no libssl?"))
    check(running is not None and running.group(1).startswith("OpenSSL 3.")
          and any("libssl.so.3" in ln for ln in libssl),
          "haproxy runs on the system's libssl3 (providers, OPENSSL_CONF)",
          r.stdout[-1500:])


class Haproxy:
    """One HAProxy started with conf/haproxy-async.cfg in daemon mode: the
    worker forked after start-up is the process under test."""

    def __init__(self, name, async_mode, block_ms, async_ms, timeout_client="30s"):
        self.name = name
        self.fifo = Fifo(name + ".fifo")
        self.conf = os.path.join(TMP, name + ".cnf")
        self.stats = os.path.join(TMP, name + ".stats")
        self.sock = os.path.join(TMP, name + ".sock")
        self.pidfile = os.path.join(TMP, name + ".pid")
        self.log = os.path.join(TMP, name + ".log")
        write_seedpool_conf(self.conf, self.fifo, "SEEDPOOL-DRBG",
                            seedpool_keys(block_ms, async_ms))
        self.tls_port, self.http_port = free_port(), free_port()
        while self.http_port == self.tls_port:
            self.http_port = free_port()
        env = server_env(self.conf, self.stats)
        env.update({"CERT": CERT_KEY, "TLS_BIND": "127.0.0.1:%d" % self.tls_port,
                    "HTTP_BIND": "127.0.0.1:%d" % self.http_port,
                    "HAPROXY_STATS_SOCKET": self.sock,
                    "HAPROXY_TIMEOUT_CLIENT": timeout_client})
        if not async_mode:
            env["SEEDPOOL_DEMO_NO_ASYNC"] = "1"
        # Start-up draws from the pool outside any job: feed it first.
        self.fifo.feed(1024 + 3072)
        with open(self.log, "w") as log:
            r = subprocess.run([HAPROXY, "-D", "-f", HAPROXY_CFG, "-p", self.pidfile],
                               env=env, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT, timeout=20)
        if r.returncode != 0 or not os.path.exists(self.pidfile):
            raise RuntimeError("haproxy did not start (exit %d)\n%s" %
                               (r.returncode, tail(self.log)))
        with open(self.pidfile) as f:
            self.pid = int(f.read().split()[0])
        PIDS.append((self.pid, "haproxy"))
        start_watchdog(self.pid, CASE_TIME_LIMIT + 5, "haproxy")
        # The parent has exited; the worker does nothing with the pool until
        # a handshake. Take out what start-up left in the FIFO: the worker's
        # pool holds no credited bits after fork, so its first handshake must
        # wait for the FIFO.
        self.leftover = self.fifo.drain()

    def alive(self):
        return pid_alive(self.pid, "haproxy")

    def fds(self):
        out = {}
        d = "/proc/%d/fd" % self.pid
        for n in os.listdir(d):
            try:
                out[int(n)] = os.readlink(os.path.join(d, n))
            except OSError:
                pass
        return out

    def cli(self, cmd):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect(self.sock)
            s.sendall(cmd.encode() + b"\n")
            return read_all(s).decode(errors="replace")

    def async_fds(self):
        """HAProxy's own view: fds it polls for OpenSSL async jobs, with
        their handler (ssl_async_fd_handler; ssl_async_fd_free once the
        connection is closed and only the SSL object waits). `show fd`
        prints the handler as `iocb=0x...(ssl_async_fd_handler)` on 2.6 and
        `iocb=0x...(ssl_async_fd_handler+0)` on 3.0 (symbol+offset)."""
        out = {}
        for line in self.cli("show fd").splitlines():
            m = re.match(r"\s*(\d+) :.*\((ssl_async_fd_\w+)(?:\+(?:0x)?[0-9a-fA-F]+)?\)",
                         line)
            if m:
                out[int(m.group(1))] = m.group(2)
        return out

    def stop(self):
        """Soft stop (SIGUSR1): the worker exits through OpenSSL's clean-up,
        and seedpool appends its statistics."""
        if self.alive():
            os.kill(self.pid, signal.SIGUSR1)
        end = now() + 5
        while now() < end and self.alive():
            time.sleep(0.02)
        if self.alive():
            kill_pid(self.pid, "haproxy")
        reap(self.pid)
        return stats_line(self.stats, self.pid)


def starved_handshake_scenario(h, ctx):
    """A handshake starts on a starved pool; plain requests meanwhile; the
    FIFO fed at +1.2 s. Returns (plain latencies, tls result, t_feed)."""
    t = TlsThread(ctx, h.tls_port, 15)
    t.start()
    time.sleep(0.2)
    probe = PlainProbe(h.http_port, 6, 0.15)
    probe.start()
    time.sleep(1.0)
    still_waiting = t.is_alive()
    t_feed = now()
    h.fifo.feed(4096)
    t.join(10)
    probe.join(10)
    return probe.results, t.result or {"error": "still waiting", "t0": t_feed}, \
        t_feed, still_waiting


def case_haproxy():
    global CERT_KEY
    cert, _, CERT_KEY = make_cert()
    ctx = client_ctx(cert)
    haproxy_versions()
    figures = {}
    for async_mode in (True, False):
        label = "ssl-mode-async" if async_mode else "ssl-mode-async off"
        print("== HAProxy, %s, random = SEEDPOOL-DRBG fed only by a FIFO" % label)
        # block_timeout_ms: how long a draw outside a job waits (start-up,
        # and every handshake with async mode off).
        h = Haproxy("async" if async_mode else "sync", async_mode, 3000, 5000)
        note("worker pid %d; start-up left %d bytes in the FIFO (drained)" %
             (h.pid, h.leftover))
        lat, st0 = plain_get(h.http_port)
        check("200" in st0, "%s: plain frontend answers before (%.1f ms)" % (label, lat * 1000))
        plain, tls, t_feed, waiting = starved_handshake_scenario(h, ctx)
        lats = [round(x[0] * 1000, 1) for x in plain]
        bad = [x[1] for x in plain if "200" not in x[1]]
        tls_ok = "200" in tls.get("status", "")
        hs_after_feed = ms(tls.get("t_hs", now()) - t_feed) if tls_ok else None
        figures[label] = (lats, hs_after_feed)
        print("    plain requests while the handshake waited (ms): %s; max %s ms" %
              (lats, max(lats) if lats else -1))
        print("    TLS handshake: waited until the FIFO was fed at +%d ms, "
              "completed %s ms after it: %r" %
              (ms(t_feed - tls["t0"]), hs_after_feed,
               tls.get("status", tls.get("error"))))
        check(waiting, "%s: the handshake waited for entropy (not done 1.2 s in)" % label)
        check(not bad and len(plain) == 6, "%s: every plain request answered" % label,
              "; ".join(bad))
        check(tls_ok and hs_after_feed is not None and hs_after_feed < 2000,
              "%s: fed, the handshake completed and got its response" % label)
        if async_mode:
            check(lats and max(lats) < 200,
                  "async: the plain frontend kept answering while the handshake "
                  "waited (max %s ms < 200)" % (max(lats) if lats else "?"),
                  "the process stalled: seedpool blocked the handshake's thread "
                  "instead of pausing its ASYNC job (pausing not in this build?)")
        else:
            check(lats and max(lats) >= 500,
                  "sync: the process stalled while the handshake waited "
                  "(max %s ms >= 500)" % (max(lats) if lats else "?"))
        check(h.alive(), "%s: worker still running" % label, tail(h.log))
        st = h.stop()
        if check(st is not None, "%s: worker's seedpool statistics at exit" % label,
                 tail(h.log)):
            note("worker's pool: " + show_stats(st))
            paused = int(st.get("requests_paused", "0"))
            if async_mode:
                check(paused >= 1, "async: the handshake's job paused "
                      "(requests_paused=%d)" % paused,
                      "pausing inside ASYNC jobs is not in this build")
            else:
                check(paused == 0, "sync: no job, no pause (requests_paused=%d)" % paused)
    print("== evidence: plain HTTP latency while one TLS handshake waits for entropy")
    for label, (lats, hs) in figures.items():
        print("    %-19s plain max %5s ms  (all: %s); handshake done %s ms after feeding"
              % (label, max(lats) if lats else "?", lats, hs))


def case_haproxy_disconnect():
    global CERT_KEY
    cert, _, CERT_KEY = make_cert()
    ctx = client_ctx(cert)
    haproxy_versions()
    deadline_ms = 2500
    print("== HAProxy, ssl-mode-async, timeout client 1s, async_timeout_ms %d: "
          "clients that leave while their handshake waits" % deadline_ms)
    h = Haproxy("disc", True, 3000, deadline_ms, timeout_client="1s")
    note("worker pid %d; start-up left %d bytes in the FIFO (drained)" %
         (h.pid, h.leftover))
    for rnd in (1, 2):
        # Round 1 also starts the worker's gatherer thread (its fds stay):
        # round 2 compares the whole fd table.
        before = h.fds()
        t_conn = now()
        s = send_client_hello(ctx, h.tls_port)
        time.sleep(0.4)
        probe = PlainProbe(h.http_port, 1, 0)
        probe.start()
        during = h.fds()
        afds = h.async_fds()
        probe.join(10)
        lat, st = probe.results[0] if probe.results else (99.0, "no answer")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        s.close()  # RST: gone
        t_close = now()
        new = {fd: tgt for fd, tgt in during.items() if before.get(fd) != tgt}
        # The job's wait fd may reuse a number that held an eventfd before
        # (the parent's, closed after fork): name it from `show fd`.
        note("round %d: while paused, new fds %s; HAProxy's async fds %s (%s)" %
             (rnd, sorted(new.items()), afds,
              ", ".join("%d: %s" % (fd, during.get(fd, "not open")) for fd in afds)
              or "none"))
        check(afds and all(v == "ssl_async_fd_handler" for v in afds.values())
              and all(during.get(fd) == "anon_inode:[eventfd]" for fd in afds),
              "round %d: HAProxy polls the job's wait fd, an eventfd (show fd: %s)" %
              (rnd, afds),
              "no async fd: the handshake did not pause its job, or `show fd`'s "
              "format is not understood")
        check("200" in st and lat < 0.2,
              "round %d: plain frontend answered in %.1f ms while the handshake "
              "waited" % (rnd, lat * 1000))
        # HAProxy closes the embryonic connection at `timeout client` (1 s);
        # the SSL object, its paused job and the wait fd stay until the fd
        # becomes readable: at seedpool's deadline. Freed means: none of the
        # async fds seen while paused is still in `show fd`.
        t_freed_async = None
        saw_free_handler = False
        end = t_conn + deadline_ms / 1000 + 3
        while afds and now() < end:
            a = h.async_fds()
            saw_free_handler |= any(a.get(fd) == "ssl_async_fd_free" for fd in afds)
            if not any(fd in a for fd in afds):
                t_freed_async = now()
                break
            time.sleep(0.05)
        # Count fds only once the deadline has passed (with a margin),
        # whatever `show fd` said.
        time.sleep(max(0.1, t_conn + (deadline_ms + 300) / 1000 - now()))
        after = h.fds()
        freed = ms(t_freed_async - t_conn) if t_freed_async else None
        note("round %d: connection freed %s ms after connect (deadline %d ms; "
             "client closed at %d ms); fds counted at %d ms" %
             (rnd, freed, deadline_ms, ms(t_close - t_conn), ms(now() - t_conn)))
        check(saw_free_handler, "round %d: HAProxy closed the connection first and "
              "waited on the fd (ssl_async_fd_free)" % rnd)
        # Not before the deadline: the job was never resumed, only its
        # deadline makes the fd readable.
        check(freed is not None and deadline_ms - 200 <= freed <= deadline_ms + 1000,
              "round %d: freed at the deadline (%d <= %s ms <= %d)" %
              (rnd, deadline_ms - 200, freed, deadline_ms + 1000))
        still = {fd: after[fd] for fd in afds if after.get(fd) == during.get(fd)}
        check(afds and not still, "round %d: the job's wait fd is closed" % rnd,
              "still open: %s" % still)
        leaked_sockets = [fd for fd, tgt in after.items()
                          if tgt.startswith("socket:") and before.get(fd) != tgt]
        check(not leaked_sockets, "round %d: no socket left open" % rnd,
              str(leaked_sockets))
        if rnd == 2:
            extra = {fd: tgt for fd, tgt in after.items() if before.get(fd) != tgt}
            gone = {fd: tgt for fd, tgt in before.items() if after.get(fd) != tgt}
            check(not extra and not gone,
                  "round 2: fd table as before: %d fds before, %d while paused, "
                  "%d after" % (len(before), len(during), len(after)),
                  "new: %s" % extra, "gone: %s" % gone)
    # The generators were never seeded (both jobs were abandoned): feed, and a
    # handshake completes.
    h.fifo.feed(4096)
    res = tls_get(ctx, h.tls_port, 10)
    check("200" in res.get("status", ""),
          "after two abandoned handshakes, fed: a handshake completes (%d ms): %r" %
          (ms(res["t_done"] - res["t0"]), res.get("status", res.get("error"))))
    check(h.alive(), "worker still running", tail(h.log))
    st = h.stop()
    if check(st is not None, "worker's seedpool statistics at exit", tail(h.log)):
        note("worker's pool: " + show_stats(st))
        ended = int(st.get("paused_timed_out", "0"))
        check(ended == 2, "both abandoned jobs ended by seedpool's deadline "
              "(paused_timed_out=%d)" % ended)


CERT_KEY = None
CASES = {"s_server": case_s_server, "haproxy": case_haproxy,
         "haproxy_disconnect": case_haproxy_disconnect}


def main():
    if CASE not in CASES:
        sys.stderr.write("unknown case %r; known: %s\n" % (CASE, " ".join(CASES)))
        return 2
    if not os.path.exists(os.path.join(BUILD_DIR, "seedpool.so")):
        print("FAIL: no seedpool.so in %s" % BUILD_DIR)
        return 1
    if CASE.startswith("haproxy") and not os.access(HAPROXY, os.X_OK):
        print("FAIL: haproxy not found (%s); install Debian's haproxy" % HAPROXY)
        return 1
    become_subreaper()
    signal.signal(signal.SIGALRM, on_alarm)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_term)
    signal.alarm(CASE_TIME_LIMIT)
    t0 = now()
    try:
        CASES[CASE]()
    except (CaseTimeout, RuntimeError, subprocess.SubprocessError, OSError) as e:
        fail("%s: %s" % (type(e).__name__, e))
    finally:
        signal.alarm(0)
        cleanup()
    print("%s: %s in %.1f s" % (CASE, "FAILED (%d)" % len(FAILURES) if FAILURES
                                 else "passed", now() - t0))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
