// Helpers shared by the provider tests (provider_test.cc, drbg_test.cc):
// seedpool's reasons in the error queue, ctx params, a fresh library context
// with seedpool.so and the default provider loaded, and one configured from
// a temporary openssl.cnf.
#pragma once

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../common/child_process.h"  // read_all, write_all, run_in_child

namespace seedpool::testing {

// Drains the error queue; true if seedpool raised `reason` (its own reason
// string, under the library name "seedpool"). `detail` gets the data text.
inline bool queue_has(const char* reason, std::string* detail = nullptr) {
  bool found = false;
  const char* data = nullptr;
  int flags = 0;
  unsigned long e;
  while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
    const char* lib = ERR_lib_error_string(e);
    const char* why = ERR_reason_error_string(e);
    if (lib != nullptr && why != nullptr && std::strcmp(lib, "seedpool") == 0 &&
        std::strcmp(why, reason) == 0) {
      found = true;
      if (detail != nullptr && data != nullptr && (flags & ERR_TXT_STRING))
        *detail = data;
    }
  }
  return found;
}

inline std::uint64_t get_u64(EVP_RAND_CTX* ctx, const char* key) {
  std::uint64_t v = ~std::uint64_t{0};
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_uint64(key, &v), OSSL_PARAM_END};
  EXPECT_EQ(EVP_RAND_CTX_get_params(ctx, p), 1) << key;
  return v;
}

inline std::string get_str(EVP_RAND_CTX* ctx, const char* key) {
  char buf[512] = "";
  OSSL_PARAM p[2] = {OSSL_PARAM_construct_utf8_string(key, buf, sizeof(buf)),
                     OSSL_PARAM_END};
  EXPECT_EQ(EVP_RAND_CTX_get_params(ctx, p), 1) << key;
  return buf;
}

// A FIFO as the pool's only source, opened read-write here so that writes
// never block on a missing reader. Fed from getrandom(2), not RAND_bytes
// (the default library context may be seedpool's own). Named after the
// test binary and the process.
class FifoSource {
 public:
  explicit FifoSource(const std::string& tag)
      : path_(::testing::TempDir() + "seedpool-" + tag + "." +
              std::to_string(::getpid()) + ".fifo") {
    ::unlink(path_.c_str());
    if (::mkfifo(path_.c_str(), 0600) == 0)
      fd_ = ::open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  }
  ~FifoSource() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  FifoSource(const FifoSource&) = delete;
  FifoSource& operator=(const FifoSource&) = delete;
  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // Writes n random bytes; false if they could not all be written.
  [[nodiscard]] bool feed(std::size_t n) {
    std::vector<unsigned char> b(n);
    return ::getrandom(b.data(), n, 0) == static_cast<ssize_t>(n) &&
           ::write(fd_, b.data(), n) == static_cast<ssize_t>(n);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Waits for a forked child; true if it exited with status 0.
inline bool child_succeeded(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// RAND_bytes then RAND_priv_bytes, 32 bytes each, in the parent and in a
// child forked now (its 64 bytes come back through a pipe): what a fork
// test compares.
struct DrawsAcrossFork {
  bool parent_ok = false;  // the parent's two calls succeeded
  bool child_ok = false;   // the child's did, and it sent its bytes
  unsigned char mine[64] = {};
  unsigned char theirs[64] = {};
};
inline DrawsAcrossFork rand_across_fork(OSSL_LIB_CTX* libctx) {
  DrawsAcrossFork d;
  int fds[2];
  if (::pipe(fds) != 0) return d;
  const pid_t pid = ::fork();
  if (pid < 0) return d;
  if (pid == 0) ::alarm(10);  // a hung child must not hang the test
  d.parent_ok = RAND_bytes_ex(libctx, d.mine, 32, 0) == 1 &&
                RAND_priv_bytes_ex(libctx, d.mine + 32, 32, 0) == 1;
  if (pid == 0) {
    const bool sent = d.parent_ok && ::write(fds[1], d.mine, sizeof(d.mine)) ==
                                         static_cast<ssize_t>(sizeof(d.mine));
    ::_exit(sent ? 0 : 1);
  }
  ::close(fds[1]);
  const bool got = read_all(fds[0], d.theirs, sizeof(d.theirs));
  ::close(fds[0]);
  d.child_ok = child_succeeded(pid) && got;
  return d;
}

// The text of an openssl.cnf that loads seedpool.so from the build folder
// (activated) with `seedpool_lines` in its section, and, unless told
// otherwise, the default provider; with `random_lines`, also a [random]
// section of those lines. (With the default provider loaded, fetch
// SEEDPOOL with "provider=seedpool": the name is an alias of SEED-SRC,
// which the default provider offers too.)
inline std::string provider_conf(const std::string& seedpool_lines,
                                 const std::string& random_lines = "",
                                 bool with_default = true) {
  std::string c = "openssl_conf = init\n[init]\nproviders = provs\n";
  if (!random_lines.empty()) c += "random = rand_sect\n";
  c += "[provs]\nseedpool = sp\n";
  if (with_default) c += "default = dflt\n[dflt]\nactivate = 1\n";
  c += "[sp]\nactivate = 1\nmodule = " SEEDPOOL_MODULE_DIR "/seedpool.so\n";
  c += seedpool_lines;
  if (!random_lines.empty()) c += "[rand_sect]\n" + random_lines;
  return c;
}

// A fresh OSSL_LIB_CTX configured from `conf_text`, written to a file named
// `name` in the test's temporary directory (the process id is added, so
// parallel runs do not collide). The context is freed and the file removed
// with the object.
class ConfiguredLibCtx {
 public:
  ConfiguredLibCtx(const std::string& name, const std::string& conf_text)
      : path_(::testing::TempDir() + name + "." + std::to_string(::getpid()) +
              ".cnf") {
    {
      std::ofstream f(path_);
      f << conf_text;
    }
    ERR_clear_error();
    libctx_ = OSSL_LIB_CTX_new();
    if (libctx_ != nullptr)
      loaded_ = OSSL_LIB_CTX_load_config(libctx_, path_.c_str()) == 1;
  }
  ~ConfiguredLibCtx() {
    OSSL_LIB_CTX_free(libctx_);
    std::remove(path_.c_str());
  }
  ConfiguredLibCtx(const ConfiguredLibCtx&) = delete;
  ConfiguredLibCtx& operator=(const ConfiguredLibCtx&) = delete;

  OSSL_LIB_CTX* get() const { return libctx_; }
  // OSSL_LIB_CTX_load_config's verdict.
  bool loaded() const { return loaded_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  OSSL_LIB_CTX* libctx_ = nullptr;
  bool loaded_ = false;
};

// A private library context with seedpool.so (from the build folder) and,
// unless a derived fixture clears load_default_ in its constructor, the
// default provider loaded; every RAND and RAND ctx made through it is freed
// in TearDown.
//
// Mind the budget: every provider object OpenSSL 3.0 creates takes a new
// error library number (ERR_get_next_error_library, never given back), and
// past 255 the numbers wrap onto libcrypto's own, so reason strings are
// looked up wrong (queue_has then fails). A test here costs three or four
// (seedpool, default, and the default provider of seedpool's own private
// contexts). ctest runs each test in its own process; provider_tests run
// whole in one process takes about 115 of the 128 numbers today.
class ProviderFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ERR_clear_error();
    libctx_ = OSSL_LIB_CTX_new();
    ASSERT_NE(libctx_, nullptr);
    ASSERT_EQ(OSSL_PROVIDER_set_default_search_path(libctx_, SEEDPOOL_MODULE_DIR), 1);
    seedpool_ = OSSL_PROVIDER_load(libctx_, "seedpool");
    ASSERT_NE(seedpool_, nullptr) << "cannot load seedpool.so from " SEEDPOOL_MODULE_DIR;
    if (load_default_) {
      default_ = OSSL_PROVIDER_load(libctx_, "default");
      ASSERT_NE(default_, nullptr);
    }
  }
  void TearDown() override {
    for (EVP_RAND_CTX* c : ctxs_) EVP_RAND_CTX_free(c);
    for (EVP_RAND* r : rands_) EVP_RAND_free(r);
    if (default_ != nullptr) OSSL_PROVIDER_unload(default_);
    OSSL_PROVIDER_unload(seedpool_);
    OSSL_LIB_CTX_free(libctx_);
  }
  // Null (and a failed expectation) if it cannot be fetched.
  EVP_RAND* fetch(const char* name, const char* propq) {
    EVP_RAND* r = EVP_RAND_fetch(libctx_, name, propq);
    EXPECT_NE(r, nullptr) << name << " (" << propq << ")";
    if (r != nullptr) rands_.push_back(r);
    return r;
  }
  EVP_RAND_CTX* new_ctx(EVP_RAND* rand, EVP_RAND_CTX* parent = nullptr) {
    EVP_RAND_CTX* c = EVP_RAND_CTX_new(rand, parent);
    if (c != nullptr) ctxs_.push_back(c);
    return c;
  }
  // OpenSSL's own CTR-DRBG (default provider, AES-256-CTR) under `parent`.
  EVP_RAND_CTX* make_ctr_child(EVP_RAND_CTX* parent) {
    EVP_RAND* ctr = EVP_RAND_fetch(libctx_, "CTR-DRBG", "provider=default");
    EXPECT_NE(ctr, nullptr);
    EVP_RAND_CTX* c = EVP_RAND_CTX_new(ctr, parent);
    EVP_RAND_free(ctr);
    if (c == nullptr) return nullptr;
    ctxs_.push_back(c);
    char cipher[] = "AES-256-CTR";
    OSSL_PARAM p[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_DRBG_PARAM_CIPHER, cipher, 0),
        OSSL_PARAM_END};
    EXPECT_EQ(EVP_RAND_CTX_set_params(c, p), 1);
    return c;
  }

  bool load_default_ = true;
  OSSL_LIB_CTX* libctx_ = nullptr;
  OSSL_PROVIDER* seedpool_ = nullptr;
  OSSL_PROVIDER* default_ = nullptr;
  std::vector<EVP_RAND*> rands_;
  std::vector<EVP_RAND_CTX*> ctxs_;
};

}  // namespace seedpool::testing
