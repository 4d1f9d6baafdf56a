// fuzz_params: OSSL_PARAM get/set on both RAND algorithms of the real
// seedpool.so, through EVP_RAND_CTX_get_params / EVP_RAND_CTX_set_params.
// Instances are made once: SEEDPOOL and SEEDPOOL-DRBG, instantiated or not,
// a SEEDPOOL-DRBG with a parent (whose locking is then enabled), and both
// algorithms of a seedpool that is not running (bad configuration).
//
// Each input builds OSSL_PARAM arrays: keys from the gettable/settable lists
// or random ones, data types, sizes and buffers chosen by the input (NULL
// data, too-small buffers, wrong types, *_PTR types, unknown types); every
// buffer is its own heap allocation of exactly data_size bytes, so a write
// past it is an ASan report. Checked:
//  - never a crash; a param the algorithm does not know is left untouched;
//  - a get that succeeds gives sane values (strength 256, max_request,
//    state, health, NUL-terminated strings when there is room);
//  - every gettable param can be got with its own type;
//  - after any set the policy reads back within README's bounds
//    (reseed_requests 1..2^32-1, reseed_time_interval 1..86400 s,
//    reseed_bytes 1..2^40); a set that succeeds took the values given, one
//    that fails changed nothing and raised seedpool's `bad parameter value`
//    naming the param.
//
// Input: a sequence of operations (see LLVMFuzzerTestOneInput).
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "test/fuzz/fuzz_openssl.h"

namespace seedpool::fuzz {
namespace {

constexpr std::uint64_t kMaxReseedRequests = 0xffffffffULL;
constexpr std::int64_t kMaxReseedInterval = 86400;
constexpr std::uint64_t kMaxReseedBytes = std::uint64_t{1} << 40;

struct Instance {
  const char* what;
  EVP_RAND_CTX* ctx;
  bool drbg;
  bool running;       // the provider's pool runs
  bool instantiated;
};

struct Setup {
  std::vector<Instance> instances;
  // The union of both algorithms' gettable and settable params: key and the
  // type/size the algorithm declares.
  std::vector<OSSL_PARAM> known;
};

EVP_RAND_CTX* make(OSSL_LIB_CTX* libctx, const char* alg, EVP_RAND_CTX* parent,
                   bool instantiate) {
  EVP_RAND* rand = EVP_RAND_fetch(libctx, alg, "provider=seedpool");
  EVP_RAND_CTX* ctx = rand ? EVP_RAND_CTX_new(rand, parent) : nullptr;
  EVP_RAND_free(rand);
  if (ctx == nullptr || (instantiate && !EVP_RAND_instantiate(ctx, 0, 0, nullptr, 0, nullptr))) {
    std::fprintf(stderr, "seedpool fuzz: cannot make %s\n", alg);
    ERR_print_errors_fp(stderr);
    std::exit(1);
  }
  return ctx;
}

void add_known(Setup& s, const OSSL_PARAM* list) {
  for (const OSSL_PARAM* p = list; p != nullptr && p->key != nullptr; ++p) {
    bool have = false;
    for (const OSSL_PARAM& k : s.known) have = have || std::strcmp(k.key, p->key) == 0;
    if (!have) s.known.push_back(*p);
  }
}

const Setup& setup() {
  // Never destroyed: the instances stay reachable (no leak report at exit).
  static const Setup& s = *[] {
    auto* ps = new Setup;
    Setup& s = *ps;
    const Loaded& ok = running();
    const Loaded& bad = not_running();
    EVP_RAND_CTX* parent = make(ok.libctx, "SEEDPOOL", nullptr, true);
    s.instances = {
        {"SEEDPOOL", make(ok.libctx, "SEEDPOOL", nullptr, true), false, true, true},
        {"SEEDPOOL-DRBG", make(ok.libctx, "SEEDPOOL-DRBG", nullptr, true), true, true, true},
        {"SEEDPOOL-DRBG with a parent", make(ok.libctx, "SEEDPOOL-DRBG", parent, true),
         true, true, true},
        {"SEEDPOOL (locking, a parent)", parent, false, true, true},
        {"SEEDPOOL uninstantiated", make(ok.libctx, "SEEDPOOL", nullptr, false), false,
         true, false},
        {"SEEDPOOL-DRBG uninstantiated", make(ok.libctx, "SEEDPOOL-DRBG", nullptr, false),
         true, true, false},
        {"SEEDPOOL not running", make(bad.libctx, "SEEDPOOL", nullptr, true), false,
         false, true},
        {"SEEDPOOL-DRBG not running", make(bad.libctx, "SEEDPOOL-DRBG", nullptr, true),
         true, false, true},
    };
    for (const Instance& i : s.instances) {
      add_known(s, EVP_RAND_CTX_gettable_params(i.ctx));
      add_known(s, EVP_RAND_CTX_settable_params(i.ctx));
    }
    ERR_clear_error();
    return ps;
  }();
  return s;
}

bool listed(const OSSL_PARAM* list, const char* key) {
  return list != nullptr && OSSL_PARAM_locate_const(list, key) != nullptr;
}

// --- The policy --------------------------------------------------------------

struct Policy {
  std::uint64_t requests = 0;  // read as unsigned int
  std::int64_t interval = 0;   // time_t
  std::uint64_t bytes = 0;
  bool operator==(const Policy&) const = default;
};

std::string show(const Policy& p) {
  return "reseed_requests=" + std::to_string(p.requests) +
         " reseed_time_interval=" + std::to_string(p.interval) +
         " reseed_bytes=" + std::to_string(p.bytes);
}

Policy read_policy(const Instance& in) {
  unsigned int req = 0;
  time_t interval = 0;
  std::uint64_t bytes = 0;
  OSSL_PARAM p[] = {OSSL_PARAM_construct_uint(OSSL_DRBG_PARAM_RESEED_REQUESTS, &req),
                    OSSL_PARAM_construct_time_t(OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, &interval),
                    OSSL_PARAM_construct_uint64("reseed_bytes", &bytes),
                    OSSL_PARAM_construct_end()};
  FUZZ_CHECK(EVP_RAND_CTX_get_params(in.ctx, p) == 1,
             std::string("cannot read the reseed policy of ") + in.what);
  return {req, static_cast<std::int64_t>(interval), bytes};
}

void check_bounds(const Instance& in, const Policy& p) {
  FUZZ_CHECK(p.requests >= 1 && p.requests <= kMaxReseedRequests &&
                 p.interval >= 1 && p.interval <= kMaxReseedInterval &&
                 p.bytes >= 1 && p.bytes <= kMaxReseedBytes,
             std::string(in.what) + ": policy out of bounds: " + show(p));
}

void reset_policy(const Instance& in) {
  unsigned int req = 1u << 16;
  time_t interval = 420;
  std::uint64_t bytes = std::uint64_t{1} << 30;
  OSSL_PARAM p[] = {OSSL_PARAM_construct_uint(OSSL_DRBG_PARAM_RESEED_REQUESTS, &req),
                    OSSL_PARAM_construct_time_t(OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, &interval),
                    OSSL_PARAM_construct_uint64("reseed_bytes", &bytes),
                    OSSL_PARAM_construct_end()};
  FUZZ_CHECK(EVP_RAND_CTX_set_params(in.ctx, p) == 1,
             std::string("cannot reset the reseed policy of ") + in.what);
}

// --- Building a param array from the input ------------------------------------

// Owns the keys and buffers of one OSSL_PARAM array.
struct Params {
  std::vector<OSSL_PARAM> params;
  std::vector<std::unique_ptr<std::uint8_t[]>> buffers;  // exact sizes
  std::vector<std::unique_ptr<char[]>> keys;
  std::vector<std::unique_ptr<void*>> slots;  // for *_PTR types
  // For each param: its buffer's size when data points at a buffer we fill.
  std::vector<std::size_t> sizes;
};

constexpr unsigned int kTypes[] = {OSSL_PARAM_INTEGER,     OSSL_PARAM_UNSIGNED_INTEGER,
                                   OSSL_PARAM_REAL,        OSSL_PARAM_UTF8_STRING,
                                   OSSL_PARAM_OCTET_STRING, OSSL_PARAM_UTF8_PTR,
                                   OSSL_PARAM_OCTET_PTR};

bool is_ptr(unsigned int t) { return t == OSSL_PARAM_UTF8_PTR || t == OSSL_PARAM_OCTET_PTR; }

std::size_t pick_size(Reader& in, const OSSL_PARAM* natural) {
  switch (in.u8() % 10) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 2;
    case 3: return 4;
    case 4: return 8;
    case 5: return 16;
    case 6: return in.u8() % 33;
    case 7: return in.u16() % 4097;
    case 8: return natural ? natural->data_size : 8;
    default: return natural && natural->data_size > 0 ? natural->data_size - 1 : 3;
  }
}

// One array; `for_set`: the buffers hold input bytes (values to set), else
// a fill pattern (to be overwritten by a get).
Params build(Reader& in, const Setup& s, bool for_set) {
  Params out;
  const std::size_t n = in.u8() % 9;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t pick = in.u8();
    const OSSL_PARAM* natural = nullptr;
    const char* key;
    if (pick < 0xD0 && !s.known.empty()) {
      natural = &s.known[pick % s.known.size()];
      key = natural->key;
    } else {  // a random key, possibly empty, possibly a prefix of a real one
      const auto b = in.bytes(in.u8() % 24);
      auto k = std::make_unique<char[]>(b.size() + 1);
      std::memcpy(k.get(), b.data(), b.size());
      k[b.size()] = '\0';
      key = k.get();
      out.keys.push_back(std::move(k));
    }
    OSSL_PARAM p{};
    p.key = key;
    const std::uint8_t how = in.u8();
    // Mostly the declared type and size, so that values reach the checks;
    // otherwise anything, including types OpenSSL does not know.
    if (natural != nullptr && how < 0x80) {
      p.data_type = natural->data_type;
      p.data_size = natural->data_type == OSSL_PARAM_UTF8_STRING ||
                            natural->data_type == OSSL_PARAM_OCTET_STRING
                        ? pick_size(in, nullptr) * 16
                        : natural->data_size;
    } else if (how < 0xF0) {
      p.data_type = kTypes[how % std::size(kTypes)];
      p.data_size = pick_size(in, natural);
    } else {
      p.data_type = in.u8();
      p.data_size = pick_size(in, natural);
    }
    p.return_size = OSSL_PARAM_UNMODIFIED;
    // NULL data: a size query. Only for a get, and only of the types
    // libcrypto 3.0 answers without touching data (integers and strings):
    // its OSSL_PARAM_get_* always dereference data, and OSSL_PARAM_set_*
    // do for REAL and unknown types (a crash inside libcrypto, whoever the
    // provider).
    const bool size_query_ok =
        p.data_type == OSSL_PARAM_INTEGER || p.data_type == OSSL_PARAM_UNSIGNED_INTEGER ||
        p.data_type == OSSL_PARAM_UTF8_STRING || p.data_type == OSSL_PARAM_OCTET_STRING;
    const bool null_data = in.u8() % 8 == 0 && !for_set && size_query_ok;
    std::size_t filled = 0;
    if (!null_data) {
      // The bytes: exactly data_size of them, for ASan to guard.
      auto buf = std::make_unique<std::uint8_t[]>(p.data_size ? p.data_size : 1);
      if (for_set) {
        const auto b = in.bytes(p.data_size);
        std::memcpy(buf.get(), b.data(), b.size());
        std::memset(buf.get() + b.size(), 0, p.data_size - b.size());
      } else {
        std::memset(buf.get(), 0xA5, p.data_size);
      }
      if (is_ptr(p.data_type)) {
        // data is a pointer to a pointer to the bytes.
        auto slot = std::make_unique<void*>(buf.get());
        p.data = slot.get();
        out.slots.push_back(std::move(slot));
      } else {
        p.data = buf.get();
        filled = p.data_size;
      }
      out.buffers.push_back(std::move(buf));
    }
    out.sizes.push_back(filled);
    out.params.push_back(p);
  }
  out.params.push_back(OSSL_PARAM_construct_end());
  return out;
}

// --- Checks ------------------------------------------------------------------

std::string describe(const OSSL_PARAM& p) {
  return std::string("\"") + p.key + "\" type " + std::to_string(p.data_type) + " size " +
         std::to_string(p.data_size) + (p.data ? "" : " (NULL data)");
}

// A get that succeeded: what the values say, where they have their own type.
void check_got(const Instance& in, const Params& ps) {
  const OSSL_PARAM* gettable = EVP_RAND_CTX_gettable_params(in.ctx);
  for (std::size_t i = 0; i + 1 < ps.params.size(); ++i) {
    const OSSL_PARAM& p = ps.params[i];
    // Only the first param of a key is the one a provider fills.
    if (OSSL_PARAM_locate_const(ps.params.data(), p.key) != &p) continue;
    if (!listed(gettable, p.key)) {
      FUZZ_CHECK(p.return_size == OSSL_PARAM_UNMODIFIED,
                 std::string(in.what) + ": a get touched a param it does not list: " +
                     describe(p));
      continue;
    }
    if (p.data == nullptr || p.return_size == OSSL_PARAM_UNMODIFIED) continue;
    const std::string key = p.key;
    if (p.data_type == OSSL_PARAM_UTF8_STRING) {
      FUZZ_CHECK(p.return_size <= p.data_size,
                 std::string(in.what) + ": string longer than its buffer: " + describe(p));
      const char* v = static_cast<const char*>(p.data);
      if (p.return_size < p.data_size) {
        FUZZ_CHECK(v[p.return_size] == '\0' && std::strlen(v) == p.return_size,
                   std::string(in.what) + ": string not terminated: " + describe(p));
        if (key == "health") {
          const std::string h(v);
          FUZZ_CHECK(h == "ok" || h == "degraded" || h == "failed",
                     std::string(in.what) + ": health \"" + h + "\"");
          FUZZ_CHECK(in.running || h == "failed",
                     std::string(in.what) + ": not running, yet health \"" + h + "\"");
        }
      }
      continue;
    }
    if (p.data_type != OSSL_PARAM_INTEGER && p.data_type != OSSL_PARAM_UNSIGNED_INTEGER)
      continue;
    std::uint64_t u = 0;
    std::int64_t s = 0;
    const bool have_u = OSSL_PARAM_get_uint64(&p, &u) == 1;
    const bool have_s = OSSL_PARAM_get_int64(&p, &s) == 1;
    if (key == OSSL_RAND_PARAM_STRENGTH && have_u)
      FUZZ_CHECK(u == 256, std::string(in.what) + ": strength " + std::to_string(u));
    if (key == OSSL_RAND_PARAM_MAX_REQUEST && have_u)
      FUZZ_CHECK(u == (in.drbg ? 65536u : 4096u),
                 std::string(in.what) + ": max_request " + std::to_string(u));
    if (key == OSSL_RAND_PARAM_STATE && have_s) {
      const std::int64_t want = !in.instantiated ? EVP_RAND_STATE_UNINITIALISED
                                : in.running     ? EVP_RAND_STATE_READY
                                                 : EVP_RAND_STATE_ERROR;
      FUZZ_CHECK(s == want, std::string(in.what) + ": state " + std::to_string(s));
    }
    if (key == OSSL_DRBG_PARAM_RESEED_REQUESTS && have_u)
      FUZZ_CHECK(u >= 1 && u <= kMaxReseedRequests,
                 std::string(in.what) + ": reseed_requests " + std::to_string(u));
    if (key == OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL && have_s)
      FUZZ_CHECK(s >= 1 && s <= kMaxReseedInterval,
                 std::string(in.what) + ": reseed_time_interval " + std::to_string(s));
    if (key == "reseed_bytes" && have_u)
      FUZZ_CHECK(u >= 1 && u <= kMaxReseedBytes,
                 std::string(in.what) + ": reseed_bytes " + std::to_string(u));
  }
}

// Every gettable param, with its declared type and room to spare.
void get_each(const Instance& in) {
  const OSSL_PARAM* gettable = EVP_RAND_CTX_gettable_params(in.ctx);
  FUZZ_CHECK(gettable != nullptr, std::string(in.what) + ": no gettable params");
  for (const OSSL_PARAM* g = gettable; g->key != nullptr; ++g) {
    std::vector<std::uint8_t> buf(g->data_type == OSSL_PARAM_UTF8_STRING ? 4096 : g->data_size);
    OSSL_PARAM p[2] = {*g, OSSL_PARAM_construct_end()};
    p[0].data = buf.data();
    p[0].data_size = buf.size();
    p[0].return_size = OSSL_PARAM_UNMODIFIED;
    const int rc = EVP_RAND_CTX_get_params(in.ctx, p);
    FUZZ_CHECK(rc == 1, std::string(in.what) + ": cannot get " + g->key);
    // Without a pool (not running) there are no pool statistics: a get
    // succeeds and leaves them untouched; the instance's own params and
    // `health` are always answered.
    const std::string key = g->key;
    const bool own = key == "health" || listed(EVP_RAND_CTX_settable_params(in.ctx), g->key) ||
                     key == OSSL_RAND_PARAM_STATE || key == OSSL_RAND_PARAM_STRENGTH ||
                     key == OSSL_RAND_PARAM_MAX_REQUEST || key == OSSL_DRBG_PARAM_RESEED_COUNTER ||
                     key == "seed_source" || key == "drbg_memory";
    FUZZ_CHECK(p[0].return_size != OSSL_PARAM_UNMODIFIED || (!in.running && !own),
               std::string(in.what) + ": a gettable param is not set: " + g->key);
  }
}

void set_and_check(const Instance& in, const Params& ps) {
  const Policy before = in.drbg ? read_policy(in) : Policy{};
  ERR_clear_error();
  const int rc = EVP_RAND_CTX_set_params(in.ctx, ps.params.data());
  const Raised raised = drain_errors();
  if (!in.drbg) {
    // SEEDPOOL has no settable params: EVP accepts and ignores them.
    FUZZ_CHECK(rc == 1, std::string(in.what) + ": a set failed" + raised.text);
    return;
  }
  const Policy after = read_policy(in);
  check_bounds(in, after);
  if (rc != 1) {
    FUZZ_CHECK(after == before, std::string(in.what) + ": a failed set changed the policy: " +
                                    show(before) + " -> " + show(after));
    bool named = false;
    for (const char* k : {OSSL_DRBG_PARAM_RESEED_REQUESTS, OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL,
                          "reseed_bytes"})
      named = named || raised.text.find(k) != std::string::npos;
    FUZZ_CHECK(raised.seedpool > 0 && raised.reasons.back() == "bad parameter value" && named,
               std::string(in.what) + ": a failed set without seedpool's reason naming "
                                      "the param:" + raised.text);
    return;
  }
  // It took the values given: the first param of each policy key.
  Policy want = before;
  const OSSL_PARAM* p;
  if ((p = OSSL_PARAM_locate_const(ps.params.data(), OSSL_DRBG_PARAM_RESEED_REQUESTS))) {
    unsigned int v = 0;
    FUZZ_CHECK(OSSL_PARAM_get_uint(p, &v) == 1, "set accepted a bad reseed_requests: " + describe(*p));
    want.requests = v;
  }
  if ((p = OSSL_PARAM_locate_const(ps.params.data(), OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL))) {
    time_t v = 0;
    FUZZ_CHECK(OSSL_PARAM_get_time_t(p, &v) == 1,
               "set accepted a bad reseed_time_interval: " + describe(*p));
    want.interval = static_cast<std::int64_t>(v);
  }
  if ((p = OSSL_PARAM_locate_const(ps.params.data(), "reseed_bytes"))) {
    std::uint64_t v = 0;
    FUZZ_CHECK(OSSL_PARAM_get_uint64(p, &v) == 1, "set accepted a bad reseed_bytes: " + describe(*p));
    want.bytes = v;
  }
  FUZZ_CHECK(after == want, std::string(in.what) + ": set returned 1 but the policy is " +
                                show(after) + ", not " + show(want));
}

}  // namespace
}  // namespace seedpool::fuzz

// Load seedpool.so before fuzzing starts, so that libFuzzer counts its
// coverage from the first input on.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)seedpool::fuzz::setup();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace seedpool::fuzz;
  const Setup& s = setup();
  Reader in(data, size);
  ERR_clear_error();
  // The same start for every input: reproducible.
  for (const Instance& i : s.instances)
    if (i.drbg) reset_policy(i);

  static const bool trace = std::getenv("SEEDPOOL_FUZZ_TRACE") != nullptr;
  for (int ops = 0; ops < 32 && !in.empty(); ++ops) {
    const Instance& inst = s.instances[in.u8() % s.instances.size()];
    const int op = in.u8() % 6;
    if (trace) std::fprintf(stderr, "op %d on %s\n", op, inst.what);
    switch (op) {
      case 0:
      case 1: {  // get
        Params ps = build(in, s, false);
        ERR_clear_error();
        if (EVP_RAND_CTX_get_params(inst.ctx, ps.params.data()) == 1) check_got(inst, ps);
        break;
      }
      case 2:
      case 3: {  // set
        Params ps = build(in, s, true);
        set_and_check(inst, ps);
        break;
      }
      case 4:  // every gettable param
        get_each(inst);
        break;
      default: {  // a generate: the policy at work; then it still reads back
        if (!inst.running || !inst.instantiated) break;
        std::uint8_t out[64];
        const std::size_t n = 1 + in.u8() % sizeof out;
        fill_canary(out, n);
        const int rc = EVP_RAND_generate(inst.ctx, out, n, 0, in.flag(), nullptr, 0);
        std::string why;
        const Raised raised = drain_errors();
        FUZZ_CHECK(rc == 1, std::string(inst.what) + ": generate failed" + raised.text);
        FUZZ_CHECK(filled(out, n, why), std::string(inst.what) + ": " + why);
        if (inst.drbg) check_bounds(inst, read_policy(inst));
        break;
      }
    }
    ERR_clear_error();
  }
  return 0;
}
