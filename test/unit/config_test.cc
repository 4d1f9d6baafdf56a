// The provider's config keys -> pool::Config: defaults, good values, and a
// bad value of every key names the key and the value.
#include "provider/config.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/conf.h>

#include <set>
#include <vector>

#include "provider/conf_keys.h"

#include <climits>
#include <map>
#include <string>

namespace seedpool {
namespace {

using Keys = std::map<std::string, std::string>;

const char* lookup(void* arg, const char* key) {
  auto* m = static_cast<Keys*>(arg);
  auto it = m->find(key);
  return it == m->end() ? nullptr : it->second.c_str();
}

bool parse(Keys keys, pool::Config& cfg, std::string& err) {
  return provider::parse_config(lookup, &keys, cfg, err);
}

TEST(ConfigKeys, DefaultsWhenNothingIsSet) {
  pool::Config cfg;
  std::string err;
  ASSERT_TRUE(parse({}, cfg, err)) << err;
  EXPECT_EQ(cfg.block_timeout.count(), 2000);
  EXPECT_EQ(cfg.async_timeout.count(), 10000);
  EXPECT_EQ(cfg.pool_size_bits, 4096u);
  // "Default: those available": getrandom always, first, at 8 bits/byte.
  EXPECT_EQ(cfg.sources, pool::available_sources());
  ASSERT_GE(cfg.sources.size(), 1u);
  EXPECT_EQ(cfg.sources[0].kind, pool::SourceKind::getrandom);
  EXPECT_EQ(cfg.sources[0].credit_bits_per_byte, 8u);
  EXPECT_TRUE(cfg.device_path.empty());
  EXPECT_EQ(cfg.read_wakeup_threshold_bits, 64u);
  EXPECT_EQ(cfg.write_wakeup_threshold_bits, 896u);
  EXPECT_TRUE(cfg.seed_file.empty());
  EXPECT_FALSE(cfg.seed_file_trusted);
}

TEST(ConfigKeys, GoodValues) {
  pool::Config cfg;
  std::string err;
  ASSERT_TRUE(parse({{"sources", " getrandom "},
                     {"block_timeout_ms", "0"},
                     {"async_timeout_ms", "3600000"},
                     {"pool_size", "65536"},
                     {"getrandom_credit", "4"}},
                    cfg, err))
      << err;
  EXPECT_EQ(cfg.block_timeout.count(), 0);
  EXPECT_EQ(cfg.async_timeout.count(), 3600000);
  EXPECT_EQ(cfg.pool_size_bits, 65536u);
  EXPECT_EQ(cfg.sources[0].credit_bits_per_byte, 4u);
}

TEST(ConfigKeys, WakeupThresholds) {
  pool::Config cfg;
  std::string err;
  ASSERT_TRUE(parse({{"read_wakeup_threshold", " 8 "},
                     {"write_wakeup_threshold", "0"}},
                    cfg, err))
      << err;
  EXPECT_EQ(cfg.read_wakeup_threshold_bits, 8u);
  EXPECT_EQ(cfg.write_wakeup_threshold_bits, 0u);
  // Up to the pool size, whatever order the keys come in.
  ASSERT_TRUE(parse({{"read_wakeup_threshold", "65536"},
                     {"write_wakeup_threshold", "65536"},
                     {"pool_size", "65536"}},
                    cfg, err))
      << err;
  EXPECT_EQ(cfg.read_wakeup_threshold_bits, 65536u);
  EXPECT_EQ(cfg.write_wakeup_threshold_bits, 65536u);
}

TEST(ConfigKeys, ThresholdAboveThePoolSizeIsRefusedWithKeyAndValueNamed) {
  pool::Config cfg;
  std::string err;
  EXPECT_FALSE(parse({{"read_wakeup_threshold", "5000"}, {"pool_size", "4096"}},
                     cfg, err));
  EXPECT_NE(err.find("read_wakeup_threshold: \"5000\""), std::string::npos)
      << err;
  EXPECT_NE(err.find("4096"), std::string::npos) << err;
  // The default pool size bounds them too.
  EXPECT_FALSE(parse({{"write_wakeup_threshold", "4097"}}, cfg, err));
  EXPECT_NE(err.find("write_wakeup_threshold: \"4097\""), std::string::npos)
      << err;
  // A smaller pool lowers the bound below the defaults' reach.
  EXPECT_FALSE(parse({{"pool_size", "1024"}, {"write_wakeup_threshold", "2048"}},
                     cfg, err));
  EXPECT_NE(err.find("write_wakeup_threshold"), std::string::npos) << err;
  ASSERT_TRUE(parse({{"pool_size", "1024"}, {"write_wakeup_threshold", "1024"}},
                    cfg, err))
      << err;
}

TEST(ConfigKeys, SeedFileAndTrust) {
  pool::Config cfg;
  std::string err;
  ASSERT_TRUE(parse({{"seed_file", " /var/lib/seedpool/seed "}}, cfg, err)) << err;
  EXPECT_EQ(cfg.seed_file, "/var/lib/seedpool/seed");
  EXPECT_FALSE(cfg.seed_file_trusted);
  for (const char* yes : {"yes", "YES", "True", "on", "1", " On "}) {
    SCOPED_TRACE(yes);
    ASSERT_TRUE(parse({{"seed_file", "/s"}, {"seed_file_trusted", yes}}, cfg, err))
        << err;
    EXPECT_TRUE(cfg.seed_file_trusted);
  }
  for (const char* no : {"no", "No", "FALSE", "off", "0"}) {
    SCOPED_TRACE(no);
    ASSERT_TRUE(parse({{"seed_file", "/s"}, {"seed_file_trusted", no}}, cfg, err))
        << err;
    EXPECT_FALSE(cfg.seed_file_trusted);
  }
  // "no" needs no file; "yes" does.
  ASSERT_TRUE(parse({{"seed_file_trusted", "no"}}, cfg, err)) << err;
  EXPECT_FALSE(parse({{"seed_file_trusted", "yes"}}, cfg, err));
  EXPECT_NE(err.find("seed_file_trusted"), std::string::npos) << err;
}

TEST(ConfigKeys, SeedFileNameThatCannotBeWrittenIsRefused) {
  pool::Config cfg;
  std::string err;
  // seed_file.cc's temporary file adds 21 characters to the name.
  const std::string longest = "/" + std::string(NAME_MAX - 21, 'x');
  ASSERT_TRUE(parse({{"seed_file", longest}}, cfg, err)) << err;
  EXPECT_FALSE(parse({{"seed_file", longest + "x"}}, cfg, err));
  EXPECT_NE(err.find("seed_file"), std::string::npos) << err;
}

TEST(ConfigKeys, DeviceSourceWithPathAndCredit) {
  pool::Config cfg;
  std::string err;
  ASSERT_TRUE(parse({{"sources", "device"}, {"device", "/tmp/fifo"},
                     {"device_credit", "6"}},
                    cfg, err))
      << err;
  ASSERT_EQ(cfg.sources.size(), 1u);
  EXPECT_EQ(cfg.sources[0].kind, pool::SourceKind::device);
  EXPECT_EQ(cfg.sources[0].credit_bits_per_byte, 6u);
  EXPECT_EQ(cfg.device_path, "/tmp/fifo");
  // Without `sources`, a device path joins the available sources.
  ASSERT_TRUE(parse({{"device", "/tmp/fifo"}, {"device_credit", "8"}}, cfg, err)) << err;
  EXPECT_EQ(cfg.sources.back().kind, pool::SourceKind::device);
  EXPECT_EQ(cfg.sources.back().credit_bits_per_byte, 8u);
  EXPECT_EQ(cfg.sources.front().kind, pool::SourceKind::getrandom);
}

TEST(ConfigKeys, InconsistentSourcesAreRefusedWithTheKeyNamed) {
  pool::Config cfg;
  std::string err;
  EXPECT_FALSE(parse({{"sources", "device"}, {"device_credit", "8"}}, cfg, err));
  EXPECT_NE(err.find("device"), std::string::npos) << err;
  EXPECT_FALSE(parse({{"sources", "getrandom"}, {"device", "/tmp/x"}}, cfg, err));
  EXPECT_NE(err.find("device"), std::string::npos) << err;
  // The device is credited 0 by default: alone it could never serve.
  EXPECT_FALSE(parse({{"sources", "device"}, {"device", "/tmp/x"}}, cfg, err));
  EXPECT_NE(err.find("_credit"), std::string::npos) << err;
}

// Found by fuzz_config: every source credited 0 is refused naming the
// <source>_credit keys that did it, not only `sources` (maybe never set).
TEST(ConfigKeys, AllSourcesCreditedZeroNamesTheCreditKeys) {
  pool::Config cfg;
  std::string err;
  EXPECT_FALSE(parse({{"sources", "getrandom"}, {"getrandom_credit", "0"}}, cfg, err));
  EXPECT_NE(err.find("getrandom_credit = 0"), std::string::npos) << err;
}

struct BadCase {
  const char* key;
  const char* value;
};

class ConfigBadValue : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigBadValue, RefusedWithKeyAndValueNamed) {
  const BadCase c = GetParam();
  pool::Config cfg;
  cfg.pool_size_bits = 1234;  // untouched on failure
  std::string err;
  EXPECT_FALSE(parse({{c.key, c.value}}, cfg, err));
  EXPECT_NE(err.find(c.key), std::string::npos) << err;
  EXPECT_NE(err.find(std::string("\"") + c.value + "\""), std::string::npos) << err;
  EXPECT_EQ(cfg.pool_size_bits, 1234u);
}

INSTANTIATE_TEST_SUITE_P(
    AllKeys, ConfigBadValue,
    ::testing::Values(
        BadCase{"pool_size", "abc"}, BadCase{"pool_size", "1023"},
        BadCase{"pool_size", "65537"}, BadCase{"pool_size", "-4096"},
        BadCase{"pool_size", "4096 bits"}, BadCase{"pool_size", ""},
        BadCase{"pool_size", "99999999999999999999999"},
        BadCase{"block_timeout_ms", "-1"}, BadCase{"block_timeout_ms", "1.5"},
        BadCase{"block_timeout_ms", "3600001"}, BadCase{"block_timeout_ms", "0x10"},
        BadCase{"getrandom_credit", "9"}, BadCase{"getrandom_credit", "+1"},
        BadCase{"sources", "bogus"}, BadCase{"sources", ""},
        BadCase{"sources", "getrandom,getrandom"}, BadCase{"sources", "getrandom,"},
        BadCase{"device", "   "}, BadCase{"device_credit", "eight"},
        BadCase{"hwrng_credit", "-1"}, BadCase{"rdseed_credit", "10"},
        BadCase{"read_wakeup_threshold", "abc"},
        BadCase{"read_wakeup_threshold", "-1"},
        BadCase{"read_wakeup_threshold", "5000"},
        BadCase{"read_wakeup_threshold", "7"},
        BadCase{"read_wakeup_threshold", ""},
        BadCase{"read_wakeup_threshold", "64 bits"},
        BadCase{"write_wakeup_threshold", "abc"},
        BadCase{"write_wakeup_threshold", "-1"},
        BadCase{"write_wakeup_threshold", "4097"},
        BadCase{"write_wakeup_threshold", "+896"},
        BadCase{"seed_file", "seed"}, BadCase{"seed_file", "var/lib/seed"},
        BadCase{"seed_file", "./seed"}, BadCase{"seed_file", ""},
        BadCase{"seed_file", "/var/lib/seedpool/"},
        BadCase{"seed_file", "/var/lib/.."}, BadCase{"seed_file", "/"},
        BadCase{"seed_file_trusted", "maybe"},
        BadCase{"seed_file_trusted", ""}, BadCase{"seed_file_trusted", "2"},
        BadCase{"seed_file_trusted", "yes please"},
        BadCase{"async_timeout_ms", "-1"}, BadCase{"async_timeout_ms", "3600001"},
        BadCase{"async_timeout_ms", "10s"}, BadCase{"async_timeout_ms", ""}));

}  // namespace
}  // namespace seedpool

// --- Unknown keys (provider/conf_keys.h) -------------------------------------

namespace seedpool {
namespace {

// Every key parse_config asks for is in known_config_keys(), and that list
// holds nothing else but check_unknown_keys (read by read_core_config): a
// key added to one and not the other would be refused as unknown, or never
// checked.
TEST(UnknownKeys, KnownKeysAreExactlyTheKeysTheParserReads) {
  struct Recorder {
    std::set<std::string> asked;
  } rec;
  pool::Config cfg;
  std::string err;
  ASSERT_TRUE(provider::parse_config(
      [](void* arg, const char* key) -> const char* {
        static_cast<Recorder*>(arg)->asked.insert(key);
        return nullptr;
      },
      &rec, cfg, err))
      << err;
  std::set<std::string> known;
  for (const char* k : provider::known_config_keys()) known.insert(k);
  rec.asked.insert("check_unknown_keys");
  EXPECT_EQ(rec.asked, known);
}

struct Conf {
  explicit Conf(const std::string& text) : conf(NCONF_new(nullptr)) {
    BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
    ok = conf != nullptr && bio != nullptr && NCONF_load_bio(conf, bio, nullptr) > 0;
    BIO_free(bio);
  }
  ~Conf() { NCONF_free(conf); }
  CONF* conf;
  bool ok = false;
};

provider::KeyCheck check(const std::string& text, const Keys& core,
                         const char* name = "seedpool") {
  Conf c(text);
  EXPECT_TRUE(c.ok) << text;
  Keys k = core;
  return provider::check_config_keys(c.conf, name, lookup, &k);
}

constexpr const char* kHead =
    "openssl_conf = init\n"
    "[init]\nproviders = provs\n"
    "[provs]\nseedpool = sp_sect\ndefault = def_sect\n"
    "[def_sect]\nactivate = 1\n";

TEST(UnknownKeys, AMisspeltKeyInTheSectionInUseIsReported) {
  const std::string text = std::string(kHead) +
                           "[sp_sect]\nmodule = /x/seedpool.so\nactivate = 1\n"
                           "block_timeout_ms = 50\nblok_timeout_ms = 0\npoolsize = 8192\n";
  const provider::KeyCheck r =
      check(text, {{"block_timeout_ms", "50"}, {"module", "/x/seedpool.so"}, {"activate", "1"}});
  EXPECT_EQ(r.outcome, provider::KeyCheck::Outcome::checked);
  EXPECT_EQ(r.section, "sp_sect");
  EXPECT_EQ(r.unknown, (std::vector<std::string>{"blok_timeout_ms", "poolsize"}));
}

TEST(UnknownKeys, OpenSslsOwnKeysAndEveryKnownKeyAreAccepted) {
  std::string text = std::string(kHead) +
                     "[sp_sect]\nmodule = m\nactivate = 1\nsoft_load = 1\nidentity = seedpool\n";
  Keys core;
  for (const char* k : provider::known_config_keys()) {
    text += std::string(k) + " = v_" + k + "\n";
    core[k] = std::string("v_") + k;
  }
  const provider::KeyCheck r = check(text, core);
  EXPECT_EQ(r.outcome, provider::KeyCheck::Outcome::checked);
  EXPECT_TRUE(r.unknown.empty()) << r.unknown.front();
}

TEST(UnknownKeys, NestedSectionsAreFlattenedAsOpenSslDoes) {
  const std::string text = std::string(kHead) +
                           "[sp_sect]\nactivate = 1\nextra = more_sect\n"
                           "[more_sect]\nthing = 1\n";
  const provider::KeyCheck r = check(text, {});
  EXPECT_EQ(r.outcome, provider::KeyCheck::Outcome::checked);
  EXPECT_EQ(r.unknown, (std::vector<std::string>{"extra.thing"}));
}

TEST(UnknownKeys, FoundThroughIdentityAndDottedNames) {
  const std::string text =
      "openssl_conf = init\n[init]\nproviders.x = provs\n"
      "[provs]\n1.mine = sp_sect\n"
      "[sp_sect]\nidentity = seedpool\nactivate = 1\ntypo = 1\n";
  const provider::KeyCheck r = check(text, {});
  EXPECT_EQ(r.outcome, provider::KeyCheck::Outcome::checked);
  EXPECT_EQ(r.unknown, (std::vector<std::string>{"typo"}));
}

// The file is not the one that configured this instance (its known keys
// differ from what the core handed over): nothing is reported.
TEST(UnknownKeys, AnotherFilesSectionIsNotJudged) {
  const std::string text = std::string(kHead) +
                           "[sp_sect]\nactivate = 1\npool_size = 8192\ntypo = 1\n";
  EXPECT_EQ(check(text, {{"pool_size", "4096"}}).outcome,
            provider::KeyCheck::Outcome::not_this_file);
  EXPECT_EQ(check(text, {}).outcome, provider::KeyCheck::Outcome::not_this_file);
  EXPECT_EQ(check(text, {{"pool_size", "8192"}}, "other").outcome,
            provider::KeyCheck::Outcome::no_section);
  EXPECT_EQ(check("[x]\na = 1\n", {}).outcome, provider::KeyCheck::Outcome::no_section);
}

TEST(UnknownKeys, ASectionThatNamesItselfEndsTheWalk) {
  const std::string text = std::string(kHead) +
                           "[sp_sect]\nactivate = 1\nloop = sp_sect\n";
  const provider::KeyCheck r = check(text, {});
  EXPECT_EQ(r.outcome, provider::KeyCheck::Outcome::checked);
  EXPECT_TRUE(r.unknown.empty());
}

}  // namespace
}  // namespace seedpool
