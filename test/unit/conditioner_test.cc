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

Bytes sha512(const Bytes& in) {
  Bytes out(64);
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(in.data(), in.size(), out.data(), &len, EVP_sha512(),
                       nullptr),
            1);
  EXPECT_EQ(len, 64u);
  return out;
}

Bytes first32(Bytes digest) {
  digest.resize(32);
  return digest;
}

// The construction, exactly as conditioner.h documents it.
struct Model {
  Bytes chain = Bytes(32, 0);
  Bytes buffer;

  void absorb(const Bytes& x) {
    for (std::uint8_t b : x) {
      buffer.push_back(b);
      if (buffer.size() == Conditioner::kBufferBytes) {
        chain = first32(sha512(cat({Bytes{0x03}, chain, buffer})));
        buffer.clear();
      }
    }
  }
  Bytes extract(std::size_t n) {
    Bytes out = sha512(cat({Bytes{0x01}, chain, buffer}));
    chain = first32(sha512(cat({Bytes{0x02}, chain, buffer})));
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
            unhex("89fc005a1bd3ee468713284ef76335f6cbbf7b6d1c95c655a5ca18410a8a"
                  "7c4d0b87199088790a7db69459dd96b22999de29af9d7882522f67f307"
                  "2cab903865"));
  c = make();
  const Bytes abc{'a', 'b', 'c'};
  ASSERT_EQ(c->absorb(abc), Errc::ok);
  EXPECT_EQ(extract(*c, 64),
            unhex("fa1232b9fd2d73f57e4587b5a08202248fba25980a239d50fe81be81cd1a"
                  "742895aaf42a9a45a312bb09cfbfbf61b5859d568a4b0ff5b3e0e5cc50"
                  "bcfbc11faf"));
  EXPECT_EQ(extract(*c, 64),
            unhex("f8edb0377ec83167c05f6d9dfea46d1b7db8869ae6114c514db6f1b7c874"
                  "8c2a5bb9906e97ac45c2bd798a928f89557a3d8622bbe3fe282f625b0d"
                  "03491947a5"));
  c = make();
  ASSERT_EQ(c->absorb(pattern(5000)), Errc::ok);
  EXPECT_EQ(extract(*c, 64),
            unhex("9796823f2b08a51f9a831aa315d781c37b67e4f3a7a24d61d64ed6d3e1da"
                  "93d26350d0274bc056509e6ebb160e48775ef40a033ccfbe190f28544a"
                  "1bf4e802ca"));
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
