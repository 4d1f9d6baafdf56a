#!/usr/bin/env python3
"""Writes the hand-made seeds of corpus/<target>/ (seed-*, regress-*).

Each target reads its input front to back (fuzz_util.h: Reader, little-endian),
so a seed is a short program for the harness; the comments say what each one
does. Run from anywhere: python3 test/fuzz/make_corpus.py. Files the fuzzers
added (named by their SHA-1) are left alone.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(*v):
    return bytes(x & 0xFF for x in v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# --- fuzz_config: openssl.cnf lines, key=value ------------------------------
C = "fuzz_config"
write(C, "seed-defaults", "")
write(C, "seed-getrandom-only", "sources=getrandom\n")
write(C, "seed-every-key",
      "sources = getrandom, hwrng ,rdseed,device\n"
      "device = /run/seedpool/noise\n"
      "getrandom_credit = 8\nhwrng_credit = 4\nrdseed_credit = 4\ndevice_credit = 6\n"
      "pool_size = 8192\nblock_timeout_ms = 0\n"
      "read_wakeup_threshold = 64\nwrite_wakeup_threshold = 896\n"
      "seed_file = /var/lib/seedpool/seed\nseed_file_trusted = Yes\n")
write(C, "seed-device", "sources=device\ndevice=/tmp/fifo\ndevice_credit=8\n")
write(C, "seed-device-joins-defaults", "device=\t/dev/ttyUSB0 \ndevice_credit=1\n")
write(C, "seed-edges",
      "pool_size=1024\nread_wakeup_threshold=1024\nwrite_wakeup_threshold=1024\n"
      "block_timeout_ms=3600000\n")
write(C, "seed-bad-pool-size", "pool_size=lots\n")
write(C, "seed-bad-timeout", "block_timeout_ms=3600001\n")
write(C, "seed-threshold-above-pool", "pool_size=2048\nread_wakeup_threshold=4096\n")
write(C, "seed-relative-seed-file", "seed_file=var/lib/seed\n")
write(C, "seed-trust-without-file", "seed_file_trusted=on\n")
write(C, "seed-async-timeout", "async_timeout_ms=100\n")
write(C, "seed-unknown-source", "sources=getrandom,,hwrng\n")
write(C, "seed-no-core", "!nocore\npool_size=lots\n")
write(C, "seed-core-fails", "!fail=pool_size\npool_size=lots\n")
# Regression: every source credited 0. The error named only `sources`, which
# was not set, not the <source>_credit keys that were (see README of
# test/fuzz, finding 2).
write(C, "regress-all-credits-zero",
      "getrandom_credit=0\nhwrng_credit=0\nrdseed_credit=0\n")

# --- fuzz_health: credit byte, then operations --------------------------------
H = "fuzz_health"


def random_bytes(seed, n, chunk=0):  # op 2: xorshift bytes
    return u8(2) + u32(seed) + u16(n & 0xFFFF) + u8(n >> 16) + u16(chunk)


def run(value, n, chunk=0):  # op 1
    return u8(1, value) + u16(n) + u16(chunk)


def window(value, count, chunk=0):  # op 4
    return u8(4, value) + u16(count) + u16(chunk)


write(H, "seed-h8-healthy", u8(8) + random_bytes(1, 4096, 100))
write(H, "seed-h8-startup-fails", u8(8) + run(0x41, 5))
write(H, "seed-h8-stuck", u8(8) + random_bytes(7, 2048) + run(0xAA, 9, 3))
write(H, "seed-h8-intermittent-then-ok",
      u8(8) + random_bytes(3, 2048) + run(0x55, 5) + random_bytes(4, 4096, 512))
write(H, "seed-h1-apt-at-cutoff",
      u8(1) + random_bytes(5, 1024) + window(0xA5, 324) + window(0xA5, 325)
      + window(0xA5, 355))
write(H, "seed-h4-recurring",
      u8(4) + random_bytes(9, 2048) + run(0x10, 9) + random_bytes(10, 100)
      + run(0x20, 9) + random_bytes(11, 100) + run(0x30, 9))
write(H, "seed-bad-credit", u8(0) + random_bytes(2, 2000, 7) + u8(3))
write(H, "seed-literal", u8(6) + u8(0) + u16(64) + bytes(range(64)) + u16(1))
write(H, "seed-cutoff-functions",
      u8(8) + u8(5, 1) + u64(0x7FF8000000000000) + u8(1) + u64(0x0000000000000001)
      + u8(1) + u32(2000) + u16(4096) + u16(512)
      + u8(5, 0) + u16(256) + u8(0) + u16(32768) + u8(0, 30) + u16(511) + u16(512))

# --- fuzz_params: operations on the instances -----------------------------------
# Instances (index % 8): 0 SEEDPOOL, 1 SEEDPOOL-DRBG, 2 SEEDPOOL-DRBG with a
# parent, 3 that parent (locking), 4 SEEDPOOL uninstantiated, 5 SEEDPOOL-DRBG
# uninstantiated, 6 SEEDPOOL not running, 7 SEEDPOOL-DRBG not running.
# Operations (% 6): 0/1 get, 2/3 set, 4 every gettable param, 5 generate.
# Known keys (pick % 26, in the order the gettable lists give them): 0 state,
# 1 strength, 2 max_request, 3 reseed_counter, 4 entropy_available, ...,
# 15 health, 16 sources, ..., 21 reseed_requests, 22 reseed_time_interval,
# 23 reseed_bytes, 24 seed_source, 25 drbg_memory.
P = "fuzz_params"


def param_natural(key_index, value=b"", null=False):
    # pick, how (< 0x80: declared type and size), data or NULL, value bytes
    return u8(key_index, 0x00, 0 if null else 1) + value


def set_op(inst, *params):
    return u8(inst, 2, len(params)) + b"".join(params)


def get_op(inst, *params):
    return u8(inst, 0, len(params)) + b"".join(params)


for i in range(8):
    write(P, "seed-get-each-%d" % i, u8(i, 4))
write(P, "seed-set-policy",
      set_op(1, param_natural(21, u32(1)), param_natural(22, u64(86400)),
             param_natural(23, u64(1 << 40))) + u8(1, 5, 16, 0) + u8(1, 4))
write(P, "seed-set-out-of-bounds",
      set_op(1, param_natural(22, u64(0))) + set_op(1, param_natural(22, u64(86401)))
      + set_op(2, param_natural(23, u64((1 << 40) + 1)))
      + set_op(7, param_natural(21, u32(0))))
write(P, "seed-set-wrong-type",
      # reseed_requests as a UTF8 string (how 0x81 -> kTypes[3]), size 8
      u8(1, 2, 1, 21, 0x81, 4, 1) + b"12345678")
write(P, "seed-get-strings-small",
      # health (15) and sources (16) with buffers of 16 and 256 bytes
      u8(0, 0, 2, 15, 0x00, 1, 1, 16, 0x00, 5, 1))
write(P, "seed-get-null-data", get_op(1, param_natural(2, null=True),
                                      param_natural(24, u8(0), null=True)))
write(P, "seed-random-keys", u8(1, 0, 2, 0xFF, 6) + b"health" + u8(0x40, 4, 1)
      + u8(0xFE, 0, 0x40, 4, 1))
# Regression: prediction resistance when the reservoir has less room than
# the request needs: 32 bytes through SEEDPOOL-DRBG's first reseed (320 bits
# spent), then 59 bytes with prediction resistance from SEEDPOOL (536 bits
# needed fresh). Spun ~1-3 minutes with the pool's lock held, then failed
# with "timed out waiting for entropy" (finding 1).
write(P, "regress-pr-full-reservoir", u8(1, 5, 31, 0) + u8(0, 5, 58, 1))

# --- fuzz_rand_args ---------------------------------------------------------------
# First byte: bit 0 SEEDPOOL-DRBG, (b & 0x0e) == 2 EVP path, == 4 CTR-DRBG
# child, (b & 0x70) == 0x70 the seedpool that is not running; else the
# dispatch functions directly: then a parent byte (% 4 == 0: a parent), an
# instantiate byte (% 4 != 0: instantiate with strength, pr, pstr), a
# locking byte (% 8 == 0: enable_locking), and operations (% 8):
# 0/1 generate, 2 reseed, 3 nonce, 4/5 get_seed, 6 instantiate,
# 7 uninstantiate.
R = "fuzz_rand_args"
STRENGTH_256 = u8(2)
NO_INPUT = u8(0)


def direct(mode, *ops, instantiate=True, parent=False, locking=False):
    head = u8(mode, 0 if parent else 1, 1 if instantiate else 0)
    if instantiate:
        head += STRENGTH_256 + u8(0) + NO_INPUT
    return head + u8(0 if locking else 1) + b"".join(ops)


def generate(n, pr=0, strength=STRENGTH_256, adin=NO_INPUT):
    return u8(0, 10) + u32(n) + strength + u8(pr) + adin + u8(1)


def get_seed(entropy_case, min_case, max_case, pr=0):
    return u8(4, entropy_case, min_case, max_case, pr) + NO_INPUT + u8(1)


def nonce(min_len, max_len, query=False):
    return u8(3) + STRENGTH_256 + u8(10) + u32(min_len) + u8(10) + u32(max_len) \
        + u8(0 if query else 1)


for mode, name in ((0, "seedpool"), (1, "drbg")):
    write(R, "seed-%s-generate" % name,
          direct(mode, generate(32), generate(4096), generate(65536), generate(65537),
                 generate(0), generate(16, pr=1)))
    write(R, "seed-%s-get-seed" % name,
          # entropy 256, min 48, max = max_request; entropy 512, min 0, max 1;
          # entropy -1; entropy 0 and min 0
          direct(mode, get_seed(1, 3, 3), get_seed(2, 0, 1), get_seed(4, 3, 3),
                 get_seed(0, 0, 3), get_seed(1, 3, 3, pr=1)))
    write(R, "seed-%s-nonce" % name,
          direct(mode, nonce(16, 16), nonce(0, 64, query=True), nonce(0, 8),
                 nonce(70000, 1 << 31)))
    write(R, "seed-%s-uninstantiated" % name,
          direct(mode, generate(16), get_seed(1, 3, 3), u8(2, 0, 0, 0), nonce(16, 16),
                 instantiate=False))
    write(R, "seed-%s-reseed-adin" % name,
          direct(mode, u8(2, 1) + u8(2, 5) + b"hello" + u8(4) + u8(10) + u32(70000) + u8(0x33),
                 generate(64, adin=u8(5) + u8(10) + u32(1 << 17) + u8(7)),
                 locking=True, parent=True))
    write(R, "seed-%s-not-running" % name,
          direct(0x70 | mode, generate(16), get_seed(1, 3, 3), nonce(16, 16), u8(6, 2, 0, 0)))
    write(R, "seed-%s-evp" % name,
          u8(0x02 | mode) + STRENGTH_256 + NO_INPUT + u8(0)
          + u8(0, 10) + u32(200000) + STRENGTH_256 + u8(0) + NO_INPUT
          + u8(1) + NO_INPUT + u8(2, 5) + b"adin!" + u8(1)
          + u8(2, 10) + u32(48))
    write(R, "seed-%s-ctr-child" % name,
          u8(0x04 | mode) + u8(1, 2) + STRENGTH_256 + u8(0) + NO_INPUT
          + u8(1, 10) + u32(4096) + u8(2, 3) + b"abc" + u8(0)
          + u8(0, 0, 0))
# Regression (finding 1): 32 bytes, then 59 bytes with prediction resistance.
write(R, "regress-pr-full-reservoir", direct(0, generate(32), generate(59, pr=1)))
