// fuzz_rand_args: the argument space of the RAND calls of both algorithms
// of the real seedpool.so: generate, reseed, nonce, get_seed / clear_seed,
// instantiate / uninstantiate, enable_locking. Three ways in:
//  - the dispatch functions themselves (from OSSL_PROVIDER_query_operation),
//    so that get_seed and nonce get any entropy / min_len / max_len,
//    including lengths far larger than any buffer where the function only
//    checks them;
//  - EVP_RAND_generate / EVP_RAND_reseed / EVP_RAND_nonce on an instance;
//  - an OpenSSL CTR-DRBG (default provider) whose parent is the instance:
//    its instantiate, generate and reseed call our get_seed and nonce the
//    way OpenSSL does, with the cipher and derivation function picked by the
//    input.
// Instances are made per input (fresh state, reproducible); the library
// contexts once. A second seedpool, loaded with a bad configuration value,
// must fail every request (fail closed).
//
// Checked on every call:
//  - never a crash, leak or UB; nothing written past the buffer (each is an
//    exact heap allocation; where a length only has to be checked, the
//    buffer is capped a little above max_request and the length passed as
//    is);
//  - a success delivers all of it: no canary or zero block left in the
//    output (fuzz_openssl.h: filled), get_seed's length within what was
//    asked (at least ceil(entropy/8) and min_len, at most max_len and
//    max_request), a nonce within min..max;
//  - arguments README/rand_common.h call bad (strength > 256, a length over
//    max_request, an impossible seed length, not instantiated, not running)
//    fail; valid ones on the running pool succeed;
//  - a failure of a dispatch call leaves an entry of library "seedpool" in
//    the error queue (of EVP calls too, unless EVP refused by itself).
#include <openssl/core_dispatch.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "test/fuzz/fuzz_openssl.h"

namespace seedpool::fuzz {
namespace {

// Largest buffer a call gets; a larger length is passed with a buffer of
// this size (only valid where the callee must refuse it).
constexpr std::size_t kCap = (std::size_t{1} << 16) + 64;
// Largest additional input / entropy / personalisation actually allocated.
constexpr std::size_t kMaxInput = std::size_t{1} << 18;
// Largest EVP_RAND_generate (EVP splits it by max_request).
constexpr std::size_t kMaxEvpOut = std::size_t{1} << 18;

struct Alg {
  const char* name;
  std::size_t max_request;
  bool is_drbg;
  OSSL_FUNC_rand_newctx_fn* newctx = nullptr;
  OSSL_FUNC_rand_freectx_fn* freectx = nullptr;
  OSSL_FUNC_rand_instantiate_fn* instantiate = nullptr;
  OSSL_FUNC_rand_uninstantiate_fn* uninstantiate = nullptr;
  OSSL_FUNC_rand_generate_fn* generate = nullptr;
  OSSL_FUNC_rand_reseed_fn* reseed = nullptr;
  OSSL_FUNC_rand_nonce_fn* nonce = nullptr;
  OSSL_FUNC_rand_get_seed_fn* get_seed = nullptr;
  OSSL_FUNC_rand_clear_seed_fn* clear_seed = nullptr;
  OSSL_FUNC_rand_enable_locking_fn* enable_locking = nullptr;
  OSSL_FUNC_rand_lock_fn* lock = nullptr;
  OSSL_FUNC_rand_unlock_fn* unlock = nullptr;
  const OSSL_DISPATCH* dispatch = nullptr;
};

struct Prov {
  const Loaded* loaded;
  bool running;
  void* provctx;
  Alg seed{"SEEDPOOL", 4096, false};
  Alg drbg{"SEEDPOOL-DRBG", 65536, true};
  EVP_RAND* evp_seed = nullptr;
  EVP_RAND* evp_drbg = nullptr;
};

void bind(Alg& a, const OSSL_DISPATCH* d) {
  a.dispatch = d;
  for (; d->function_id != 0; ++d) {
    switch (d->function_id) {
      case OSSL_FUNC_RAND_NEWCTX: a.newctx = OSSL_FUNC_rand_newctx(d); break;
      case OSSL_FUNC_RAND_FREECTX: a.freectx = OSSL_FUNC_rand_freectx(d); break;
      case OSSL_FUNC_RAND_INSTANTIATE: a.instantiate = OSSL_FUNC_rand_instantiate(d); break;
      case OSSL_FUNC_RAND_UNINSTANTIATE: a.uninstantiate = OSSL_FUNC_rand_uninstantiate(d); break;
      case OSSL_FUNC_RAND_GENERATE: a.generate = OSSL_FUNC_rand_generate(d); break;
      case OSSL_FUNC_RAND_RESEED: a.reseed = OSSL_FUNC_rand_reseed(d); break;
      case OSSL_FUNC_RAND_NONCE: a.nonce = OSSL_FUNC_rand_nonce(d); break;
      case OSSL_FUNC_RAND_GET_SEED: a.get_seed = OSSL_FUNC_rand_get_seed(d); break;
      case OSSL_FUNC_RAND_CLEAR_SEED: a.clear_seed = OSSL_FUNC_rand_clear_seed(d); break;
      case OSSL_FUNC_RAND_ENABLE_LOCKING: a.enable_locking = OSSL_FUNC_rand_enable_locking(d); break;
      case OSSL_FUNC_RAND_LOCK: a.lock = OSSL_FUNC_rand_lock(d); break;
      case OSSL_FUNC_RAND_UNLOCK: a.unlock = OSSL_FUNC_rand_unlock(d); break;
      default: break;
    }
  }
  FUZZ_CHECK(a.newctx && a.freectx && a.instantiate && a.uninstantiate && a.generate &&
                 a.reseed && a.nonce && a.get_seed && a.clear_seed && a.enable_locking &&
                 a.lock && a.unlock,
             std::string(a.name) + ": a dispatch function is missing");
}

Prov make_prov(const Loaded& l, bool running) {
  Prov p{&l, running, OSSL_PROVIDER_get0_provider_ctx(l.seedpool)};
  int no_cache = 0;
  const OSSL_ALGORITHM* algs =
      OSSL_PROVIDER_query_operation(l.seedpool, OSSL_OP_RAND, &no_cache);
  FUZZ_CHECK(algs != nullptr && p.provctx != nullptr, "seedpool offers no RAND");
  for (const OSSL_ALGORITHM* a = algs; a->algorithm_names != nullptr; ++a) {
    const std::string names = a->algorithm_names;
    if (names.rfind("SEEDPOOL:", 0) == 0 || names == "SEEDPOOL") bind(p.seed, a->implementation);
    if (names == "SEEDPOOL-DRBG") bind(p.drbg, a->implementation);
  }
  OSSL_PROVIDER_unquery_operation(l.seedpool, OSSL_OP_RAND, algs);
  FUZZ_CHECK(p.seed.dispatch && p.drbg.dispatch, "SEEDPOOL or SEEDPOOL-DRBG missing");
  p.evp_seed = EVP_RAND_fetch(l.libctx, "SEEDPOOL", "provider=seedpool");
  p.evp_drbg = EVP_RAND_fetch(l.libctx, "SEEDPOOL-DRBG", "provider=seedpool");
  FUZZ_CHECK(p.evp_seed && p.evp_drbg, "cannot fetch seedpool's RANDs");
  return p;
}

struct World {
  Prov running;
  Prov broken;
  EVP_RAND* ctr = nullptr;  // the default provider's CTR-DRBG
};

const World& world() {
  static const World w = [] {
    World w{make_prov(::seedpool::fuzz::running(), true),
            make_prov(not_running(), false)};
    w.ctr = EVP_RAND_fetch(::seedpool::fuzz::running().libctx, "CTR-DRBG", "provider=default");
    FUZZ_CHECK(w.ctr != nullptr, "no CTR-DRBG in the default provider");
    ERR_clear_error();
    return w;
  }();
  return w;
}

// --- Buffers -------------------------------------------------------------------

// An exact heap allocation (none for 0 bytes: a NULL pointer then).
struct Buf {
  std::unique_ptr<std::uint8_t[]> p;
  std::size_t n = 0;
  explicit Buf(std::size_t size) : n(size) {
    if (n > 0) p = std::make_unique<std::uint8_t[]>(n);
  }
  std::uint8_t* get() { return p.get(); }
};

// Additional input / entropy / personalisation: a pointer (maybe NULL) and
// a length (maybe far larger than the buffer when the pointer is NULL).
struct Input {
  std::unique_ptr<std::uint8_t[]> p;
  const std::uint8_t* ptr = nullptr;
  std::size_t len = 0;
};

Input pick_input(Reader& in) {
  Input x;
  switch (in.u8() % 6) {
    case 0: break;                                   // NULL, 0
    case 1: x.len = edgy_size(in, 4096); break;      // NULL, any length
    case 2: {                                        // bytes from the input
      const auto b = in.bytes(in.u8());
      x.p = std::make_unique<std::uint8_t[]>(b.size() + 1);
      std::memcpy(x.p.get(), b.data(), b.size());
      x.ptr = x.p.get();
      x.len = b.size();
      break;
    }
    case 3: x.p = std::make_unique<std::uint8_t[]>(1); x.ptr = x.p.get(); break;  // non-NULL, 0
    default: {                                       // long: up to kMaxInput
      x.len = std::min<std::size_t>(edgy_size(in, 4096), kMaxInput);
      x.p = std::make_unique<std::uint8_t[]>(x.len ? x.len : 1);
      std::memset(x.p.get(), in.u8(), x.len);
      x.ptr = x.p.get();
      break;
    }
  }
  return x;
}

unsigned int pick_strength(Reader& in) {
  switch (in.u8() % 8) {
    case 0: return 0;
    case 1: return 128;
    case 2: return 256;
    case 3: return 257;
    case 4: return UINT32_MAX;
    case 5: return 1u << (in.u8() % 32);
    default: return in.u16() % 300;
  }
}

int pick_entropy(Reader& in) {
  switch (in.u8() % 8) {
    case 0: return 0;
    case 1: return 256;
    case 2: return 512;
    case 3: return 513;
    case 4: return -1;
    case 5: return INT32_MIN;
    case 6: return INT32_MAX;
    default: return static_cast<int>(in.u16() % 1100) - 50;
  }
}

// --- Checks ----------------------------------------------------------------------

struct Ctx {
  const Prov& prov;
  const Alg& alg;
  void* algctx = nullptr;
  bool instantiated = false;
  bool ready() const { return prov.running && instantiated; }
  std::string what(const char* call) const {
    return std::string(alg.name) + (prov.running ? "" : " (not running)") + " " + call;
  }
};

// A failed call: seedpool said why.
void check_raised(const Ctx& c, const char* call, const Raised& r) {
  FUZZ_CHECK(r.seedpool > 0,
             c.what(call) + " failed with no seedpool entry in the error queue:" + r.text);
  if (!c.prov.running)
    FUZZ_CHECK(std::find(r.reasons.begin(), r.reasons.end(), "bad configuration value") !=
                       r.reasons.end() ||
                   r.reasons.back() == "invalid argument" ||
                   r.reasons.back() == "requested strength exceeds 256 bits",
               c.what(call) + ": not running, but the reason is not the configuration:" +
                   r.text);
}

void do_generate(Ctx& c, Reader& in) {
  const std::size_t outlen = edgy_size(in, c.alg.max_request);
  const unsigned int strength = pick_strength(in);
  const int pr = in.flag();
  Input adin = pick_input(in);
  const bool null_out = in.u8() % 16 == 0;
  Buf out(null_out ? 0 : std::min(outlen, kCap));
  if (out.n) fill_canary(out.get(), out.n);
  ERR_clear_error();
  const int rc = c.alg.generate(c.algctx, out.get(), outlen, strength, pr, adin.ptr, adin.len);
  const Raised r = drain_errors();
  const std::string args = " (outlen " + std::to_string(outlen) + ", strength " +
                           std::to_string(strength) + ", adin " + std::to_string(adin.len) + ")";
  const bool valid = c.ready() && strength <= 256 && outlen <= c.alg.max_request &&
                     (outlen == 0 || !null_out);
  if (rc == 1) {
    FUZZ_CHECK(valid, c.what("generate") + " accepted bad arguments" + args);
    std::string why;
    if (outlen > 0) FUZZ_CHECK(filled(out.get(), outlen, why), c.what("generate") + ": " + why + args);
  } else {
    FUZZ_CHECK(rc == 0, c.what("generate") + " returned " + std::to_string(rc));
    FUZZ_CHECK(!valid, c.what("generate") + " failed on valid arguments" + args + r.text);
    check_raised(c, "generate", r);
  }
}

void do_reseed(Ctx& c, Reader& in) {
  const int pr = in.flag();
  Input ent = pick_input(in);
  Input adin = pick_input(in);
  ERR_clear_error();
  const int rc = c.alg.reseed(c.algctx, pr, ent.ptr, ent.len, adin.ptr, adin.len);
  const Raised r = drain_errors();
  if (rc == 1) {
    FUZZ_CHECK(c.ready(), c.what("reseed") + " succeeded while not ready");
  } else {
    FUZZ_CHECK(!c.ready(), c.what("reseed") + " failed" + r.text);
    check_raised(c, "reseed", r);
  }
}

void do_nonce(Ctx& c, Reader& in) {
  const unsigned int strength = pick_strength(in);
  const std::size_t min_len = edgy_size(in, c.alg.max_request);
  const std::size_t max_len = edgy_size(in, c.alg.max_request);
  const bool query = in.u8() % 4 == 0;  // out == NULL: the length
  // OpenSSL's contract: out has room for max_noncelen bytes.
  Buf out(query ? 0 : std::min(max_len, kCap));
  if (out.n) fill_canary(out.get(), out.n);
  ERR_clear_error();
  const std::size_t got = c.alg.nonce(c.algctx, query ? nullptr : out.get(), strength, min_len,
                                      max_len);
  const Raised r = drain_errors();
  const std::string args = " (strength " + std::to_string(strength) + ", min " +
                           std::to_string(min_len) + ", max " + std::to_string(max_len) + ")";
  if (got > 0) {
    FUZZ_CHECK(got >= min_len && got <= max_len && got <= c.alg.max_request,
               c.what("nonce") + " gave " + std::to_string(got) + " bytes" + args);
    FUZZ_CHECK(strength <= 256 && c.prov.running,
               c.what("nonce") + " accepted bad arguments" + args);
    FUZZ_CHECK(!c.alg.is_drbg || c.instantiated,
               c.what("nonce") + " served while not instantiated");
    std::string why;
    if (!query) FUZZ_CHECK(filled(out.get(), got, why), c.what("nonce") + ": " + why + args);
  } else {
    // Not ready, too strong, or no length within min..max that is at most
    // max_request; a valid query on a ready instance is answered.
    const bool possible = std::max<std::size_t>(min_len, 1) <= std::min(max_len, c.alg.max_request);
    if (c.ready() && strength <= 256 && possible && min_len > 0)
      FUZZ_CHECK(false, c.what("nonce") + " failed on valid arguments" + args + r.text);
    check_raised(c, "nonce", r);
  }
}

void do_get_seed(Ctx& c, Reader& in) {
  const int entropy = pick_entropy(in);
  const std::size_t min_len = edgy_size(in, 48);
  const std::size_t max_len = edgy_size(in, c.alg.max_request);
  const int pr = in.flag();
  Input adin = pick_input(in);
  const bool null_pout = in.u8() % 32 == 0;
  unsigned char* seed = reinterpret_cast<unsigned char*>(&c);  // must be overwritten
  ERR_clear_error();
  const std::size_t got = c.alg.get_seed(c.algctx, null_pout ? nullptr : &seed, entropy,
                                         min_len, max_len, pr, adin.ptr, adin.len);
  const Raised r = drain_errors();
  const std::string args = " (entropy " + std::to_string(entropy) + ", min " +
                           std::to_string(min_len) + ", max " + std::to_string(max_len) + ")";
  // rand_common.h: enough bytes for `entropy`, at least min_len, at most
  // max_len and max_request.
  const std::size_t need =
      entropy < 0 ? 0 : std::max((static_cast<std::size_t>(entropy) + 7) / 8, min_len);
  const bool possible = entropy >= 0 && entropy <= 512 && need >= 1 &&
                        need <= std::min(max_len, c.alg.max_request);
  if (got > 0) {
    FUZZ_CHECK(!null_pout && seed != nullptr, c.what("get_seed") + " succeeded without a buffer");
    FUZZ_CHECK(c.ready() && entropy >= 0 && got >= need && got <= max_len &&
                   got <= c.alg.max_request,
               c.what("get_seed") + " gave " + std::to_string(got) + " bytes" + args);
    std::string why;
    // A fresh allocation of the provider's: no canary to look for, but
    // never zeros.
    if (got >= 8) {
      bool zero = true;
      for (std::size_t i = 0; i < got; ++i) zero = zero && seed[i] == 0;
      FUZZ_CHECK(!zero, c.what("get_seed") + " gave zeros" + args);
    }
    c.alg.clear_seed(c.algctx, seed, got);
  } else {
    FUZZ_CHECK(null_pout || !c.ready() || !possible,
               c.what("get_seed") + " failed on valid arguments" + args + r.text);
    check_raised(c, "get_seed", r);
  }
}

void do_instantiate(Ctx& c, Reader& in) {
  const unsigned int strength = pick_strength(in);
  const int pr = in.flag();
  Input pstr = pick_input(in);
  ERR_clear_error();
  const int rc = c.alg.instantiate(c.algctx, strength, pr, pstr.ptr, pstr.len, nullptr);
  const Raised r = drain_errors();
  // Succeeds when the provider is not running too (README: a failed
  // instantiate makes OpenSSL seed from the OS without a word).
  if (strength <= 256) {
    FUZZ_CHECK(rc == 1, c.what("instantiate") + " failed" + r.text);
    c.instantiated = true;
  } else {
    FUZZ_CHECK(rc == 0, c.what("instantiate") + " accepted strength " + std::to_string(strength));
    check_raised(c, "instantiate", r);
  }
}

// --- Through EVP ------------------------------------------------------------------

void do_evp(const Prov& prov, bool drbg, Reader& in) {
  EVP_RAND_CTX* ctx = EVP_RAND_CTX_new(drbg ? prov.evp_drbg : prov.evp_seed, nullptr);
  FUZZ_CHECK(ctx != nullptr, "EVP_RAND_CTX_new");
  const unsigned int strength = pick_strength(in) % 512;
  Input pstr = pick_input(in);
  ERR_clear_error();
  const bool inst = EVP_RAND_instantiate(ctx, strength, in.flag(), pstr.ptr, pstr.len, nullptr) == 1;
  FUZZ_CHECK(inst == (strength <= 256), "EVP_RAND_instantiate, strength " + std::to_string(strength));
  ERR_clear_error();
  const char* what = drbg ? "EVP SEEDPOOL-DRBG" : "EVP SEEDPOOL";
  for (int i = 0; i < 4 && !in.empty(); ++i) {
    switch (in.u8() % 3) {
      case 0: {
        const std::size_t n = std::min(edgy_size(in, drbg ? 65536 : 4096), kMaxEvpOut);
        const unsigned int st = pick_strength(in);
        const int pr = in.flag();
        Input adin = pick_input(in);
        Buf out(n);
        if (n) fill_canary(out.get(), n);
        const int rc = EVP_RAND_generate(ctx, out.get(), n, st, pr, adin.ptr, adin.len);
        const Raised r = drain_errors();
        const bool valid = inst && prov.running && st <= 256;
        std::string why;
        if (rc == 1) {
          FUZZ_CHECK(valid || n == 0, std::string(what) + " generate accepted bad arguments");
          if (n) FUZZ_CHECK(filled(out.get(), n, why), std::string(what) + " generate: " + why);
        } else {
          FUZZ_CHECK(!valid, std::string(what) + " generate failed" + r.text);
          FUZZ_CHECK(r.seedpool > 0, std::string(what) + " generate failed without seedpool's reason" + r.text);
        }
        break;
      }
      case 1: {
        Input ent = pick_input(in);
        Input adin = pick_input(in);
        const int rc = EVP_RAND_reseed(ctx, in.flag(), ent.ptr, ent.len, adin.ptr, adin.len);
        const Raised r = drain_errors();
        if (rc != 1) {
          FUZZ_CHECK(!(inst && prov.running), std::string(what) + " reseed failed" + r.text);
          FUZZ_CHECK(r.seedpool > 0, std::string(what) + " reseed failed without seedpool's reason" + r.text);
        }
        break;
      }
      default: {
        const std::size_t n = std::min(edgy_size(in, drbg ? 65536 : 4096), kMaxEvpOut);
        Buf out(n);
        if (n) fill_canary(out.get(), n);
        const int rc = EVP_RAND_nonce(ctx, out.get(), n);
        const Raised r = drain_errors();
        std::string why;
        if (rc == 1) {
          FUZZ_CHECK(prov.running && n > 0, std::string(what) + " nonce served");
          FUZZ_CHECK(filled(out.get(), n, why), std::string(what) + " nonce: " + why);
        } else if (n > 0) {  // EVP refuses a NULL or empty buffer itself
          FUZZ_CHECK(r.seedpool > 0, std::string(what) + " nonce failed without seedpool's reason" + r.text);
        }
        break;
      }
    }
  }
  EVP_RAND_CTX_free(ctx);
}

// An OpenSSL CTR-DRBG on top of a seedpool instance: our get_seed and nonce
// as OpenSSL calls them.
void do_child(const World& w, const Prov& prov, bool drbg, Reader& in) {
  EVP_RAND_CTX* parent = EVP_RAND_CTX_new(drbg ? prov.evp_drbg : prov.evp_seed, nullptr);
  FUZZ_CHECK(parent != nullptr, "EVP_RAND_CTX_new (parent)");
  FUZZ_CHECK(EVP_RAND_instantiate(parent, 0, 0, nullptr, 0, nullptr) == 1, "parent instantiate");
  EVP_RAND_CTX* child = EVP_RAND_CTX_new(w.ctr, parent);  // enables the parent's locking
  FUZZ_CHECK(child != nullptr, "EVP_RAND_CTX_new (CTR-DRBG child)");
  static const char* const kCiphers[] = {"AES-128-CTR", "AES-192-CTR", "AES-256-CTR"};
  int use_df = in.flag();
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_DRBG_PARAM_CIPHER,
                                       const_cast<char*>(kCiphers[in.u8() % 3]), 0),
      OSSL_PARAM_construct_int(OSSL_DRBG_PARAM_USE_DF, &use_df), OSSL_PARAM_construct_end()};
  const unsigned int strength = pick_strength(in) % 300;
  const int pr = in.flag();
  Input pstr = pick_input(in);
  ERR_clear_error();
  const int inst = EVP_RAND_instantiate(child, strength, pr, pstr.ptr,
                                        pstr.ptr ? pstr.len : 0, params);
  Raised r = drain_errors();
  if (inst != 1) {
    FUZZ_CHECK(r.seedpool + r.other > 0, "CTR-DRBG instantiate failed with an empty error queue");
    // A CTR-DRBG refuses a strength above its cipher's (128 for AES-128)
    // or a personalisation string longer than it takes before it asks its
    // parent; otherwise it failed because we did.
    if (!prov.running && strength <= 128 && pstr.len == 0)
      FUZZ_CHECK(r.seedpool > 0, "CTR-DRBG on a seedpool that is not running failed "
                                 "without seedpool's reason" + r.text);
  } else {
    FUZZ_CHECK(prov.running, "a CTR-DRBG was seeded by a seedpool that is not running");
    for (int i = 0; i < 3 && !in.empty(); ++i) {
      if (in.flag()) {
        const std::size_t n = std::min<std::size_t>(edgy_size(in, 4096), kMaxEvpOut);
        Input adin = pick_input(in);
        Buf out(n);
        if (n) fill_canary(out.get(), n);
        const int rc = EVP_RAND_generate(child, out.get(), n, std::min(strength, 256u),
                                         in.flag(), adin.ptr, adin.ptr ? adin.len : 0);
        r = drain_errors();
        std::string why;
        if (rc == 1 && n)
          FUZZ_CHECK(filled(out.get(), n, why), "CTR-DRBG child generate: " + why);
        if (rc != 1)
          FUZZ_CHECK(r.seedpool + r.other > 0, "CTR-DRBG generate failed with an empty queue");
      } else {
        Input adin = pick_input(in);
        const int rc = EVP_RAND_reseed(child, in.flag(), nullptr, 0, adin.ptr,
                                       adin.ptr ? adin.len : 0);
        r = drain_errors();
        if (rc != 1)
          FUZZ_CHECK(r.seedpool + r.other > 0, "CTR-DRBG reseed failed with an empty queue");
      }
    }
  }
  EVP_RAND_CTX_free(child);
  EVP_RAND_CTX_free(parent);
  ERR_clear_error();
}

}  // namespace
}  // namespace seedpool::fuzz

// Load seedpool.so before fuzzing starts, so that libFuzzer counts its
// coverage from the first input on.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)seedpool::fuzz::world();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace seedpool::fuzz;
  const World& w = world();
  Reader in(data, size);
  ERR_clear_error();

  const std::uint8_t mode = in.u8();
  const Prov& prov = (mode & 0x70) == 0x70 ? w.broken : w.running;
  const bool drbg = (mode & 1) != 0;
  if ((mode & 0x0e) == 0x02) {
    do_evp(prov, drbg, in);
    return 0;
  }
  if ((mode & 0x0e) == 0x04) {
    do_child(w, prov, drbg, in);
    return 0;
  }

  // The dispatch functions directly, on a fresh instance.
  const Alg& alg = drbg ? prov.drbg : prov.seed;
  Ctx c{prov, alg};
  // A parent is accepted and ignored; pass one (another instance) sometimes.
  void* parent = nullptr;
  if (in.u8() % 4 == 0) {
    parent = prov.seed.newctx(prov.provctx, nullptr, nullptr);
    FUZZ_CHECK(parent != nullptr, "newctx (parent)");
  }
  ERR_clear_error();
  c.algctx = alg.newctx(prov.provctx, parent, parent ? prov.seed.dispatch : nullptr);
  FUZZ_CHECK(c.algctx != nullptr, c.what("newctx") + " failed" + drain_errors().text);
  if (in.u8() % 4 != 0) do_instantiate(c, in);
  if (in.u8() % 8 == 0)
    FUZZ_CHECK(alg.enable_locking(c.algctx) == 1, c.what("enable_locking") + " failed");

  for (int ops = 0; ops < 16 && !in.empty(); ++ops) {
    switch (in.u8() % 8) {
      case 0:
      case 1: do_generate(c, in); break;
      case 2: do_reseed(c, in); break;
      case 3: do_nonce(c, in); break;
      case 4:
      case 5: do_get_seed(c, in); break;
      case 6: do_instantiate(c, in); break;
      default:
        FUZZ_CHECK(alg.uninstantiate(c.algctx) == 1, c.what("uninstantiate") + " failed");
        c.instantiated = false;
        break;
    }
    ERR_clear_error();
  }
  alg.freectx(c.algctx);
  if (parent != nullptr) prov.seed.freectx(parent);
  ERR_clear_error();
  return 0;
}
