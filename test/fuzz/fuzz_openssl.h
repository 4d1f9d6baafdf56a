// Shared by the fuzz targets that go through OpenSSL (fuzz_params,
// fuzz_rand_args): library contexts with the real seedpool.so (from the build
// folder, SEEDPOOL_MODULE_DIR) loaded once per process, seedpool's entries in
// the error queue, and the check that an output buffer was filled.
//
// Library contexts are made once: every provider object OpenSSL 3.0 creates
// takes a new error library number that is never given back (past 255 they
// wrap onto libcrypto's own), so a fuzzer must not create one per input.
#pragma once

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "test/fuzz/fuzz_util.h"

#ifndef SEEDPOOL_MODULE_DIR
#error "SEEDPOOL_MODULE_DIR: the build folder that holds seedpool.so"
#endif

namespace seedpool::fuzz {

// A library context whose seedpool provider section holds `keys` (lines of
// `key = value`), loaded through OSSL_LIB_CTX_load_config with the module
// found through OSSL_PROVIDER_set_default_search_path; with the default
// provider too when `with_default`. Exits if seedpool.so cannot be loaded:
// a fuzzer that cannot reach the code must not pass.
struct Loaded {
  OSSL_LIB_CTX* libctx = nullptr;
  OSSL_PROVIDER* seedpool = nullptr;
};

inline Loaded load_seedpool(const char* name, const std::string& keys,
                            bool with_default) {
  std::string conf = "openssl_conf = init\n[init]\nproviders = provs\n[provs]\n"
                     "seedpool = sp\n";
  if (with_default) conf += "default = dflt\n[dflt]\nactivate = 1\n";
  conf += "[sp]\nactivate = 1\n" + keys;
  char path[] = "/tmp/seedpool-fuzz-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0 || write(fd, conf.data(), conf.size()) != static_cast<ssize_t>(conf.size())) {
    std::perror("seedpool fuzz: writing a config file");
    std::exit(1);
  }
  close(fd);
  Loaded l;
  l.libctx = OSSL_LIB_CTX_new();
  if (l.libctx == nullptr ||
      OSSL_PROVIDER_set_default_search_path(l.libctx, SEEDPOOL_MODULE_DIR) != 1 ||
      OSSL_LIB_CTX_load_config(l.libctx, path) != 1 ||
      (l.seedpool = OSSL_PROVIDER_load(l.libctx, "seedpool")) == nullptr) {
    std::fprintf(stderr, "seedpool fuzz: cannot load seedpool.so from %s (%s)\n",
                 SEEDPOOL_MODULE_DIR, name);
    ERR_print_errors_fp(stderr);
    std::remove(path);
    std::exit(1);
  }
  std::remove(path);
  ERR_clear_error();
  return l;
}

// The pool the fuzzers run against: getrandom only (the same on every
// machine: no hwrng, no rdseed), and a short bound on a wait.
inline const Loaded& running() {
  static const Loaded l = load_seedpool(
      "running", "sources = getrandom\nblock_timeout_ms = 500\n", true);
  return l;
}

// A seedpool that is loaded but not running: a bad configuration value. It
// must fail every request, with the reason (README: "A bad value fails
// closed").
inline const Loaded& not_running() {
  static const Loaded l = load_seedpool("not running", "pool_size = lots\n", false);
  return l;
}

// The entries seedpool put in this thread's error queue, drained.
struct Raised {
  int seedpool = 0;  // entries under library "seedpool"
  int other = 0;     // anything else (EVP, the default provider, ...)
  std::vector<std::string> reasons;  // seedpool's reason strings
  std::string text;                  // every entry, for a report
};

inline Raised drain_errors() {
  Raised r;
  const char* data = nullptr;
  int flags = 0;
  unsigned long e;
  while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    const char* lib = ERR_lib_error_string(e);
    const char* why = ERR_reason_error_string(e);
    const bool ours = lib != nullptr && std::strcmp(lib, "seedpool") == 0;
    if (ours) {
      ++r.seedpool;
      r.reasons.emplace_back(why != nullptr ? why : "(no reason string)");
    } else {
      ++r.other;
    }
    r.text += std::string("\n    ") + (lib ? lib : "?") + ": " + (why ? why : "?");
    if (data != nullptr && (flags & ERR_TXT_STRING)) r.text += std::string(" (") + data + ")";
  }
  return r;
}

// A recognisable pattern put in an output buffer before a call.
inline std::uint8_t canary(std::size_t i) {
  return static_cast<std::uint8_t>(0x5A ^ (i * 131) ^ (i >> 8));
}

inline void fill_canary(std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = canary(i);
}

// After a successful call that promised `n` random bytes: none of it still
// holds the canary, and none of it is a block of zeros (a partial result, or
// a buffer cleansed instead of filled). Checked in 16-byte blocks, plus the
// last 16 bytes; 8 to 15 bytes are checked whole. A false alarm needs 16
// random bytes to match a fixed pattern: 2^-128 per block.
inline bool filled(const std::uint8_t* p, std::size_t n, std::string& why) {
  auto bad_block = [&](std::size_t off, std::size_t len) {
    bool all_canary = true, all_zero = true;
    for (std::size_t i = off; i < off + len; ++i) {
      all_canary = all_canary && p[i] == canary(i);
      all_zero = all_zero && p[i] == 0;
    }
    if (all_canary || all_zero) {
      why = std::string(all_canary ? "untouched" : "zero") + " bytes at " +
            std::to_string(off) + ".." + std::to_string(off + len) + " of " +
            std::to_string(n);
      return true;
    }
    return false;
  };
  if (n < 8) return true;  // too short to tell from chance
  if (n < 16) return !bad_block(0, n);
  for (std::size_t off = 0; off + 16 <= n; off += 16)
    if (bad_block(off, 16)) return false;
  return !bad_block(n - 16, 16);
}

}  // namespace seedpool::fuzz
