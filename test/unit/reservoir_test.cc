// The reservoir: credited raw input, spent by output blocks.
#include "pool/reservoir.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace seedpool {
namespace {

using pool::Errc;
using pool::Reservoir;
using Bytes = std::vector<std::uint8_t>;

Errc collect(void* ctx, std::span<const std::uint8_t> b) {
  auto* out = static_cast<Bytes*>(ctx);
  out->insert(out->end(), b.begin(), b.end());
  return Errc::ok;
}

Bytes seq(std::size_t n, std::uint8_t start) {
  Bytes b(n);
  std::iota(b.begin(), b.end(), start);
  return b;
}

TEST(Reservoir, StoresWhatFitsInBitsAndBytes) {
  Reservoir r;
  ASSERT_EQ(Reservoir::create(100, 400, r), Errc::ok);
  std::size_t nb = 0;
  std::uint64_t bits = 0;
  // 8 bits per byte: the bit limit (400) admits 50 of 64 bytes.
  r.append(seq(64, 0), 512, nb, bits);
  EXPECT_EQ(nb, 50u);
  EXPECT_EQ(bits, 400u);
  EXPECT_EQ(r.bits(), 400u);
  r.append(seq(8, 0), 64, nb, bits);  // full in bits: nothing
  EXPECT_EQ(nb, 0u);
  EXPECT_EQ(bits, 0u);
}

TEST(Reservoir, ArbitraryCreditIsAllOrNothing) {
  Reservoir r;
  ASSERT_EQ(Reservoir::create(64, 1000, r), Errc::ok);
  std::size_t nb = 0;
  std::uint64_t bits = 0;
  r.append(seq(100, 0), 50, nb, bits);  // 100 bytes do not fit in 64
  EXPECT_EQ(nb, 0u);
  r.append(seq(40, 0), 50, nb, bits);  // 1.25 bits per byte: whole
  EXPECT_EQ(nb, 40u);
  EXPECT_EQ(bits, 50u);
  // Taken whole, even for less: the surplus is spent, never kept.
  Bytes got;
  std::uint64_t taken = 0;
  ASSERT_EQ(r.take(10, false, collect, &got, taken), Errc::ok);
  EXPECT_EQ(taken, 50u);
  EXPECT_EQ(got, seq(40, 0));
  EXPECT_EQ(r.bits(), 0u);
}

TEST(Reservoir, TakesOldestFirstByteExactAndAcrossTheWrap) {
  Reservoir r;
  ASSERT_EQ(Reservoir::create(100, 800, r), Errc::ok);
  std::size_t nb = 0;
  std::uint64_t bits = 0, taken = 0;
  r.append(seq(80, 0), 640, nb, bits);
  Bytes got;
  ASSERT_EQ(r.take(8 * 30, false, collect, &got, taken), Errc::ok);
  EXPECT_EQ(taken, 240u);
  EXPECT_EQ(got, seq(30, 0));
  // 50 more: the ring wraps (head at 30, 50 + 50 = 100 bytes).
  r.append(seq(50, 100), 200, nb, bits);  // 4 bits per byte
  EXPECT_EQ(nb, 50u);
  got.clear();
  ASSERT_EQ(r.take(8 * 50 + 4 * 10, false, collect, &got, taken), Errc::ok);
  EXPECT_EQ(taken, 440u);
  Bytes want = seq(50, 30);
  const Bytes more = seq(10, 100);
  want.insert(want.end(), more.begin(), more.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(r.bits(), 40u * 4);
}

TEST(Reservoir, NewestFirstSpendsWhatWasJustRead) {
  Reservoir r;
  ASSERT_EQ(Reservoir::create(256, 2048, r), Errc::ok);
  std::size_t nb = 0;
  std::uint64_t bits = 0, taken = 0;
  r.append(seq(64, 0), 512, nb, bits);
  r.append(seq(16, 200), 128, nb, bits);
  Bytes got;
  ASSERT_EQ(r.take(128, true, collect, &got, taken), Errc::ok);
  EXPECT_EQ(got, seq(16, 200));
  EXPECT_EQ(r.bits(), 512u);
}

TEST(Reservoir, ShortIsRefusedAndClearWipes) {
  Reservoir r;
  ASSERT_EQ(Reservoir::create(64, 512, r), Errc::ok);
  std::size_t nb = 0;
  std::uint64_t bits = 0, taken = 0;
  r.append(seq(10, 1), 80, nb, bits);
  Bytes got;
  EXPECT_EQ(r.take(81, false, collect, &got, taken), Errc::entropy_short);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(r.bits(), 80u);
  r.clear();
  EXPECT_EQ(r.bits(), 0u);
  EXPECT_EQ(r.bytes(), 0u);
  EXPECT_EQ(r.take(1, false, collect, &got, taken), Errc::entropy_short);
  EXPECT_EQ(Reservoir::create(0, 8, r), Errc::invalid_argument);
}

}  // namespace
}  // namespace seedpool
