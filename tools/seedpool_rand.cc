// seedpool-rand: random bytes through OpenSSL, and the pool's statistics
// proving where they came from.
//
//   OPENSSL_CONF=conf/seedpool.cnf OPENSSL_MODULES=build build/seedpool-rand
//
// Exit status: 0 when seedpool served the process (bytes_served > 0), 2 when
// OpenSSL did not draw from seedpool at all (it falls back to the OS
// silently when a configured seed source cannot be used), 1 on errors.
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: seedpool-rand [-n BYTES] [--quiet]\n"
               "  draws BYTES (default 32, at most 1048576) with RAND_bytes and\n"
               "  prints them in hex, then the seedpool statistics.\n"
               "  Load seedpool through OPENSSL_CONF (see conf/).\n");
  return 1;
}

int fail(const char* what) {
  std::fprintf(stderr, "seedpool-rand: %s\n", what);
  ERR_print_errors_fp(stderr);
  return 1;
}

// seedpool's random_provider counters (OpenSSL 3.5's `random_provider =
// seedpool`: RAND_bytes calls seedpool's random-bytes function and no DRBG
// at all). Provider parameters, read from the loaded provider object; 0
// where the provider does not serve that way (or OpenSSL is older).
struct RandomProviderCounters {
  std::uint64_t calls = 0;
  std::uint64_t bytes = 0;
};

RandomProviderCounters random_provider_counters() {
  RandomProviderCounters c;
  (void)OSSL_PROVIDER_do_all(
      nullptr,
      [](OSSL_PROVIDER* prov, void* arg) -> int {
        if (std::strcmp(OSSL_PROVIDER_get0_name(prov), "seedpool") != 0) return 1;
        auto* out = static_cast<RandomProviderCounters*>(arg);
        OSSL_PARAM p[3] = {OSSL_PARAM_construct_uint64("random_provider_calls", &out->calls),
                           OSSL_PARAM_construct_uint64("random_provider_bytes", &out->bytes),
                           OSSL_PARAM_END};
        (void)OSSL_PROVIDER_get_params(prov, p);
        return 0;  // found: stop
      },
      &c);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  long n = 32;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
      char* end = nullptr;
      n = std::strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || n <= 0 || n > (1L << 20))
        return usage();
    } else if (std::strcmp(argv[i], "--quiet") == 0) {
      quiet = true;
    } else {
      return usage();
    }
  }
  if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr) != 1)
    return fail("cannot load the OpenSSL configuration");
  if (!OSSL_PROVIDER_available(nullptr, "seedpool"))
    return fail(
        "the seedpool provider is not loaded: set OPENSSL_CONF to a file "
        "from conf/ (and OPENSSL_MODULES to the build folder if not installed)");

  std::vector<unsigned char> buf(static_cast<std::size_t>(n));
  if (RAND_bytes(buf.data(), static_cast<int>(n)) != 1)
    return fail("RAND_bytes failed");
  if (!quiet) {
    for (unsigned char b : buf) std::printf("%02x", b);
    std::printf("\n");
  }
  OPENSSL_cleanse(buf.data(), buf.size());

  // Which generator served RAND_bytes: seedpool's random-bytes function
  // (random_provider = seedpool, OpenSSL 3.5: no DRBG chain, so asking for
  // the public DRBG would only make one), CTR-DRBG @ default over a seedpool
  // seed source, or seedpool's own algorithm (random = SEEDPOOL or
  // SEEDPOOL-DRBG).
  if (const RandomProviderCounters rp = random_provider_counters(); rp.calls > 0) {
    std::printf("RAND_bytes served by: seedpool's random provider (random_provider "
                "= seedpool; %" PRIu64 " calls, %" PRIu64 " bytes)\n",
                rp.calls, rp.bytes);
  } else if (EVP_RAND_CTX* pub = RAND_get0_public(nullptr); pub != nullptr) {
    const EVP_RAND* r = EVP_RAND_CTX_get0_rand(pub);
    char source[64] = "";
    OSSL_PARAM sp[2] = {
        OSSL_PARAM_construct_utf8_string("seed_source", source, sizeof(source)),
        OSSL_PARAM_END};
    const bool has_source =
        EVP_RAND_CTX_get_params(pub, sp) == 1 && source[0] != '\0';
    std::printf("RAND_bytes served by: %s @ %s%s%s\n", EVP_RAND_get0_name(r),
                OSSL_PROVIDER_get0_name(EVP_RAND_get0_provider(r)),
                has_source ? ", seed_source: " : "", has_source ? source : "");
  }

  // Any SEEDPOOL instance reports the process-wide pool.
  EVP_RAND* rand = EVP_RAND_fetch(nullptr, "SEEDPOOL", "provider=seedpool");
  EVP_RAND_CTX* ctx = rand ? EVP_RAND_CTX_new(rand, nullptr) : nullptr;
  EVP_RAND_free(rand);
  if (ctx == nullptr) return fail("cannot open a SEEDPOOL instance");

  std::uint64_t served = 0;
  std::printf("seedpool statistics:\n");
  for (const OSSL_PARAM* g = EVP_RAND_CTX_gettable_params(ctx);
       g != nullptr && g->key != nullptr; ++g) {
    OSSL_PARAM p[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
    std::uint64_t u = 0;
    char s[1024] = "";
    if (g->data_type == OSSL_PARAM_UTF8_STRING)
      p[0] = OSSL_PARAM_construct_utf8_string(g->key, s, sizeof(s));
    else
      p[0] = OSSL_PARAM_construct_uint64(g->key, &u);
    if (std::strcmp(g->key, OSSL_RAND_PARAM_STATE) == 0) continue;
    if (!EVP_RAND_CTX_get_params(ctx, p)) continue;
    if (g->data_type == OSSL_PARAM_UTF8_STRING)
      std::printf("  %-24s %s\n", g->key, s);
    else
      std::printf("  %-24s %" PRIu64 "\n", g->key, u);
    if (std::strcmp(g->key, "bytes_served") == 0) served = u;
  }
  EVP_RAND_CTX_free(ctx);
  if (served == 0) {
    std::fprintf(stderr,
                 "seedpool-rand: OpenSSL drew nothing from seedpool: check the "
                 "[random] section of the configuration\n");
    return 2;
  }
  return 0;
}
