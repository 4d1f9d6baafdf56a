#include "bench_config.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>

#ifndef RAND_BENCH_CONF_DIR
#error "RAND_BENCH_CONF_DIR (test/bench/) must be defined by the build"
#endif
#ifndef RAND_BENCH_SEEDPOOL_CONF_DIR
#error "RAND_BENCH_SEEDPOOL_CONF_DIR (conf/) must be defined by the build"
#endif

namespace seedpool::bench {

std::vector<ConfigSpec> standard_configs() {
  const std::string bench_dir = RAND_BENCH_CONF_DIR;
  const std::string conf_dir = RAND_BENCH_SEEDPOOL_CONF_DIR;
  // All seedpool configurations must carry the same [seedpool_sect]: the
  // pool is process-wide, and a second library context that asks for a
  // different configuration fails closed ("config conflict").
  auto spec = [](std::string name, std::string label, std::string conf_path,
                 std::string generator, Proof proof) {
    ConfigSpec c;
    c.name = std::move(name);
    c.label = std::move(label);
    c.conf_path = std::move(conf_path);
    c.generator = std::move(generator);
    c.proof = proof;
    return c;
  };
  ConfigSpec drbg = spec("drbg", "random = SEEDPOOL-DRBG",
                         conf_dir + "/seedpool-drbg.cnf", "SEEDPOOL-DRBG",
                         Proof::bytes_served);
  drbg.optional = true;
  // OpenSSL 3.5's random_provider: RAND_bytes goes to seedpool's
  // OSSL_FUNC_PROVIDER_RANDOM_BYTES, no EVP_RAND in between.
  ConfigSpec rp = spec("rp", "random_provider = seedpool", conf_dir + "/seedpool-35.cnf",
                       "", Proof::random_provider_calls);
  rp.min_openssl = 0x30500000UL;
  rp.min_openssl_why = "no random_provider (it came with OpenSSL 3.5)";
  return {
      spec("default", "default provider", bench_dir + "/default.cnf", "CTR-DRBG",
           Proof::none),
      spec("seed", "seed = SEEDPOOL", conf_dir + "/seedpool.cnf", "CTR-DRBG",
           Proof::bytes_served),
      spec("direct", "random = SEEDPOOL", conf_dir + "/seedpool-direct.cnf", "SEEDPOOL",
           Proof::bytes_served),
      std::move(drbg),
      std::move(rp),
      spec("noop", "noop-rand (ceiling)", bench_dir + "/noop.cnf", "NOOP-RAND",
           Proof::none),
      // The AES-256-CTR keystream alone behind OpenSSL's path: the ceiling
      // of SEEDPOOL-DRBG's (and any AES-256-CTR generator's) rows.
      spec("aes", "AES-256-CTR keystream only (ceiling)", bench_dir + "/noop-aes.cnf",
           "NOOP-AES-CTR", Proof::none),
  };
}

void LibCtxFree::operator()(OSSL_LIB_CTX* ctx) const { OSSL_LIB_CTX_free(ctx); }

std::string take_openssl_errors() {
  std::string all;
  unsigned long code;
  const char* data = nullptr;
  int flags = 0;
  while ((code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    if (!all.empty()) all += "; ";
    all += text.data();
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      all += " (";
      all += data;
      all += ")";
    }
  }
  return all;
}

std::optional<std::uint64_t> seedpool_counter(OSSL_LIB_CTX* libctx, const char* name) {
  EVP_RAND* rand = EVP_RAND_fetch(libctx, "SEEDPOOL", "provider=seedpool");
  EVP_RAND_CTX* ctx = rand != nullptr ? EVP_RAND_CTX_new(rand, nullptr) : nullptr;
  EVP_RAND_free(rand);
  if (ctx == nullptr) return std::nullopt;
  std::uint64_t value = 0;
  OSSL_PARAM params[] = {OSSL_PARAM_uint64(name, &value), OSSL_PARAM_END};
  const bool ok =
      EVP_RAND_CTX_get_params(ctx, params) == 1 && OSSL_PARAM_modified(&params[0]) == 1;
  EVP_RAND_CTX_free(ctx);
  if (!ok) return std::nullopt;
  return value;
}

namespace {

const char* proof_counter(Proof proof) {
  switch (proof) {
    case Proof::bytes_served:
      return "bytes_served";
    case Proof::random_provider_calls:
      return "random_provider_calls";
    case Proof::none:
      break;
  }
  return nullptr;
}

// Records why `config` cannot run: "not available" for an optional one.
LoadedConfig refuse(LoadedConfig config, std::string why) {
  config.status =
      config.spec.optional ? ConfigStatus::not_available : ConfigStatus::failed;
  const std::string errors = take_openssl_errors();
  config.detail = errors.empty() ? std::move(why) : why + ": " + errors;
  config.libctx.reset();
  return config;
}

}  // namespace

LoadedConfig load_config(const ConfigSpec& spec) {
  LoadedConfig config{spec, ConfigStatus::failed, {}, nullptr};
  ERR_clear_error();
  if (spec.min_openssl != 0 && OpenSSL_version_num() < spec.min_openssl) {
    config.status = ConfigStatus::not_available;
    config.detail = std::string(OpenSSL_version(OPENSSL_VERSION)) + ": " +
                    spec.min_openssl_why;
    return config;
  }
  std::error_code ec;
  if (!std::filesystem::exists(spec.conf_path, ec))
    return refuse(std::move(config), spec.conf_path + " does not exist");

  config.libctx.reset(OSSL_LIB_CTX_new());
  if (!config.libctx) return refuse(std::move(config), "OSSL_LIB_CTX_new failed");
  OSSL_LIB_CTX* libctx = config.libctx.get();
  if (OSSL_LIB_CTX_load_config(libctx, spec.conf_path.c_str()) != 1)
    return refuse(std::move(config), "cannot load " + spec.conf_path);

  // `[random] random = X` only records the name; a name no provider offers
  // shows first here (or as a failing RAND_bytes).
  if (!spec.generator.empty()) {
    EVP_RAND* rand = EVP_RAND_fetch(libctx, spec.generator.c_str(), nullptr);
    if (rand == nullptr) {
      // Most often: the provider's module is not where OpenSSL looks.
      const char* modules = std::getenv("OPENSSL_MODULES");
      return refuse(std::move(config),
                    "cannot fetch " + spec.generator + " (provider modules from " +
                        (modules != nullptr ? modules : "OpenSSL's modules directory") +
                        ")");
    }
    EVP_RAND_free(rand);
  }

  const char* counter = proof_counter(spec.proof);
  std::optional<std::uint64_t> before;
  if (counter != nullptr) before = seedpool_counter(libctx, counter);

  // The first call creates and instantiates the primary and this thread's
  // public instance (or, with random_provider, seedpool's per-thread
  // generator): it must work before anything is timed.
  std::array<unsigned char, 32> probe{};
  if (RAND_bytes_ex(libctx, probe.data(), probe.size(), 0) != 1)
    return refuse(std::move(config), "the first RAND_bytes_ex failed");

  if (!spec.generator.empty()) {
    EVP_RAND_CTX* pub = RAND_get0_public(libctx);
    if (pub == nullptr ||
        !EVP_RAND_is_a(EVP_RAND_CTX_get0_rand(pub), spec.generator.c_str())) {
      const char* actual =
          pub != nullptr ? EVP_RAND_get0_name(EVP_RAND_CTX_get0_rand(pub)) : "nothing";
      config.status = ConfigStatus::failed;
      config.detail =
          "RAND_bytes runs through " + std::string(actual) + ", not " + spec.generator;
      config.libctx.reset();
      return config;
    }
  }

  if (counter != nullptr) {
    const std::optional<std::uint64_t> after = seedpool_counter(libctx, counter);
    if (!before || !after || *after <= *before) {
      std::string why = "seedpool's " + std::string(counter);
      why += !before || !after ? " cannot be read (is seedpool loaded?)"
                               : " did not move at the first RAND_bytes";
      why += spec.proof == Proof::random_provider_calls
                 ? ": OpenSSL is not handing RAND_bytes to seedpool"
                 : ": OpenSSL is not drawing from seedpool";
      if (!spec.optional) return refuse(std::move(config), why);
      // A work-in-progress algorithm is measured anyway, with the warning.
      config.detail = "warning: " + why;
    }
    if (after) config.proof_count = *after;
  }
  ERR_clear_error();
  config.status = ConfigStatus::ready;
  return config;
}

}  // namespace seedpool::bench
