// Unit tests of the conditioner: the construction documented in
// pool/conditioner.h is pinned by a model built here from one-shot EVP_Digest
// calls, and by literal known answers (computed with Python's hashlib from
// the same description).
#include "pool/conditioner.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace seedpool {
namespace {

using pool::Conditioner;
using pool::Errc;
using Bytes = std::vector<std::uint8_t>;

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes r;
  for (const Bytes& p : parts) r.insert(r.end(), p.begin(), p.end());
  return r;
}

Bytes label(const char* s, std::uint8_t first) {
  Bytes r(1 + std::strlen(s));
  r[0] = first;
  std::memcpy(r.data() + 1, s, r.size() - 1);
  return r;
}

Bytes sha512(const Bytes& in) {
  Bytes out(64);
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(in.data(), in.size(), out.data(), &len, EVP_sha512(),
                       nullptr),
            1);
  EXPECT_EQ(len, 64u);
  return out;
}

// The construction, exactly as conditioner.h documents it.
struct Model {
  Bytes chain = Bytes(64, 0);
  Bytes buffer;

  void absorb(const Bytes& x) {
    for (std::uint8_t b : x) {
      buffer.push_back(b);
      if (buffer.size() == Conditioner::kBufferBytes) {
        chain = sha512(cat({label("seedpool compress", 0x03), chain, buffer}));
        buffer.clear();
      }
    }
  }
  Bytes extract(std::size_t n) {
    Bytes seed = sha512(cat({label("seedpool seed", 0x04), chain, buffer}));
    Bytes out = sha512(cat({seed, label("seedpool output", 0x01)}));
    chain = sha512(cat({seed, label("seedpool chain", 0x02)}));
    buffer.clear();
    out.resize(n);
    return out;
  }
};

std::unique_ptr<Conditioner> make() {
  std::unique_ptr<Conditioner> c;
  EXPECT_EQ(Conditioner::create(c), Errc::ok);
  return c;
}

Bytes extract(Conditioner& c, std::size_t n) {
  Bytes out(n);
  EXPECT_EQ(c.extract(out), Errc::ok);
  return out;
}

Bytes pattern(std::size_t n, std::uint8_t salt = 0) {
  Bytes r(n);
  for (std::size_t i = 0; i < n; ++i)
    r[i] = static_cast<std::uint8_t>((i % 251) ^ salt);
  return r;
}

Bytes unhex(const std::string& h) {
  Bytes r;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    r.push_back(static_cast<std::uint8_t>(std::stoul(h.substr(i, 2), nullptr, 16)));
  return r;
}

TEST(Conditioner, LiteralKnownAnswers) {
  auto c = make();
  EXPECT_EQ(extract(*c, 64),
            unhex("8a4a88150b3ede721cc288fb59eed2aeebb20a4b3b270a1d7333098bb38c"
                  "5242f315577a8bc5402614b5e41a1788382af59e3905f4a9b71acf94e140"
                  "a566bdcd"));
  c = make();
  const Bytes abc{'a', 'b', 'c'};
  ASSERT_EQ(c->absorb(abc), Errc::ok);
  EXPECT_EQ(extract(*c, 64),
            unhex("d596519e99dd067ffc8b6340f0e3e4b9e6632f539763306d9872760732"
                  "7984666a50d27c3bf2d746fd74cf0c534682181cebfe5307842c0c6dec"
                  "bdbc36936929"));
  EXPECT_EQ(extract(*c, 64),
            unhex("916f799d0f1ae936ca60ecfff06444c6419703fd34dc5d38faa70b6df7"
                  "bd60a8ca06dd8abe97114169a59752d4836a8f640a8113d0b28b31df33"
                  "801720dc4f40"));
  c = make();
  ASSERT_EQ(c->absorb(pattern(5000)), Errc::ok);
  EXPECT_EQ(extract(*c, 64),
            unhex("b7b1db4a47a7c9bf646b3f3c08943bb73eafb1aea49590a3c2306f4354"
                  "ba05974347477f69d0247775429088b3fa9c6002914d954ee8d9f7f0dd"
                  "7aa512251ffa"));
}

TEST(Conditioner, MatchesModelAcrossBufferBoundary) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1023},
                        std::size_t{1024}, std::size_t{1025}, std::size_t{2048},
                        std::size_t{5000}}) {
    SCOPED_TRACE("absorb " + std::to_string(n) + " bytes");
    auto c = make();
    Model m;
    const Bytes in = pattern(n, 0x5a);
    ASSERT_EQ(c->absorb(in), Errc::ok);
    m.absorb(in);
    EXPECT_EQ(extract(*c, 64), m.extract(64));
    // Again, with the chain moved on and the input split unevenly.
    ASSERT_EQ(c->absorb({in.data(), n / 3}), Errc::ok);
    ASSERT_EQ(c->absorb({in.data() + n / 3, n - n / 3}), Errc::ok);
    m.absorb(in);
    EXPECT_EQ(extract(*c, 64), m.extract(64));
    EXPECT_EQ(extract(*c, 17), m.extract(17));
  }
}

// The pool runs the blocks of one request in a Batch (one hash context for
// all of them): same outputs as without, batches nested or not, and the
// conditioner keeps working after the batch ends.
TEST(Conditioner, BatchedBlocksMatchModel) {
  auto c = make();
  Model m;
  {
    const Conditioner::Batch outer(*c);
    for (std::size_t i = 0; i < 40; ++i) {
      const Bytes in = pattern(72 + i * 31, static_cast<std::uint8_t>(i));
      ASSERT_EQ(c->absorb(in), Errc::ok);
      m.absorb(in);
      if (i % 7 == 3) {
        const Conditioner::Batch inner(*c);
        EXPECT_EQ(extract(*c, 64), m.extract(64)) << i;
      } else {
        EXPECT_EQ(extract(*c, 64), m.extract(64)) << i;
      }
    }
  }
  const Bytes in = pattern(100, 0x33);
  ASSERT_EQ(c->absorb(in), Errc::ok);
  m.absorb(in);
  EXPECT_EQ(extract(*c, 33), m.extract(33));
}

TEST(Conditioner, ManySmallAbsorbsMatchModel) {
  auto c = make();
  Model m;
  for (std::size_t i = 0; i < 300; ++i) {
    const Bytes in = pattern(i % 37 + 1, static_cast<std::uint8_t>(i));
    ASSERT_EQ(c->absorb(in), Errc::ok);
    m.absorb(in);
    if (i % 50 == 49) {
      EXPECT_EQ(extract(*c, 64), m.extract(64)) << i;
    }
  }
  EXPECT_EQ(extract(*c, 64), m.extract(64));
}

TEST(Conditioner, OutputsDifferAfterAnyAbsorb) {
  // Same history, then one absorbs something more: the outputs differ.
  const std::vector<Bytes> extra = {Bytes{0}, Bytes{1}, Bytes(2, 0),
                                    pattern(1024), pattern(1025)};
  std::vector<Bytes> seen;
  {
    auto c = make();
    ASSERT_EQ(c->absorb(pattern(100)), Errc::ok);
    seen.push_back(extract(*c, 64));
  }
  for (const Bytes& x : extra) {
    auto c = make();
    ASSERT_EQ(c->absorb(pattern(100)), Errc::ok);
    ASSERT_EQ(c->absorb(x), Errc::ok);
    seen.push_back(extract(*c, 64));
  }
  for (std::size_t i = 0; i < seen.size(); ++i)
    for (std::size_t j = i + 1; j < seen.size(); ++j)
      EXPECT_NE(seen[i], seen[j]) << i << " vs " << j;
  // And consecutive extractions never repeat.
  auto c = make();
  EXPECT_NE(extract(*c, 64), extract(*c, 64));
}

TEST(Conditioner, ShortExtractIsPrefixOfBlock) {
  for (std::size_t n = 1; n <= Conditioner::kBlockBytes; ++n) {
    auto a = make();
    auto b = make();
    const Bytes in = pattern(n * 7);
    ASSERT_EQ(a->absorb(in), Errc::ok);
    ASSERT_EQ(b->absorb(in), Errc::ok);
    const Bytes full = extract(*a, 64);
    const Bytes part = extract(*b, n);
    EXPECT_EQ(part, Bytes(full.begin(), full.begin() + static_cast<long>(n)))
        << n;
    // The chain moves on the same way whatever the length taken.
    EXPECT_EQ(extract(*a, 64), extract(*b, 64)) << n;
  }
}

TEST(Conditioner, BadLengthsAreInvalidAndChangeNothing) {
  auto a = make();
  auto b = make();
  std::array<std::uint8_t, 65> big{};
  EXPECT_EQ(a->extract({big.data(), 0}), Errc::invalid_argument);
  EXPECT_EQ(a->extract({big.data(), 65}), Errc::invalid_argument);
  EXPECT_EQ(a->absorb({}), Errc::ok);
  EXPECT_EQ(extract(*a, 64), extract(*b, 64));
}

TEST(Conditioner, StateMemoryOutcomesReported) {
  auto c = make();
  // Whatever the system allows; dumps can be excluded on any kernel >= 3.4.
  EXPECT_TRUE(c->dump_excluded());
  c->after_fork();  // re-locking in the same process changes nothing
  auto d = make();
  EXPECT_EQ(c->memory_locked(), d->memory_locked());
}

}  // namespace
}  // namespace seedpool
