// The provider's config keys -> pool::Config: defaults, good values, and a
// bad value of every key names the key and the value.
#include "provider/config.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(cfg.pool_size_bits, 4096u);
  // "Default: those available": getrandom always, first, at 8 bits/byte.
  EXPECT_EQ(cfg.sources, pool::available_sources());
  ASSERT_GE(cfg.sources.size(), 1u);
  EXPECT_EQ(cfg.sources[0].kind, pool::SourceKind::getrandom);
  EXPECT_EQ(cfg.sources[0].credit_bits_per_byte, 8u);
  EXPECT_TRUE(cfg.device_path.empty());
}

TEST(ConfigKeys, GoodValues) {
  pool::Config cfg;
  std::string err;
  ASSERT_TRUE(parse({{"sources", " getrandom "},
                     {"block_timeout_ms", "0"},
                     {"pool_size", "65536"},
                     {"getrandom_credit", "4"}},
                    cfg, err))
      << err;
  EXPECT_EQ(cfg.block_timeout.count(), 0);
  EXPECT_EQ(cfg.pool_size_bits, 65536u);
  EXPECT_EQ(cfg.sources[0].credit_bits_per_byte, 4u);
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
        BadCase{"seed_file", "/tmp/x"},
        BadCase{"async_timeout_ms", "100"}));

}  // namespace
}  // namespace seedpool
