// Shared by the fuzz targets: reading the input front to back (so that the
// seeds in corpus/ can be written by hand, see make_corpus.py), and the
// check that turns a broken promise into a report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

namespace seedpool::fuzz {

// Consumes the fuzz input from the front, little-endian. Past the end every
// read gives zeros (or an empty span), so any input is a valid program.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}

  bool empty() const { return n_ == 0; }
  std::size_t remaining() const { return n_; }

  std::uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::uint32_t u32() {
    const std::uint32_t lo = u16();
    return lo | (static_cast<std::uint32_t>(u16()) << 16);
  }
  std::uint64_t u64() {
    const std::uint64_t lo = u32();
    return lo | (static_cast<std::uint64_t>(u32()) << 32);
  }
  bool flag() { return (u8() & 1) != 0; }
  // Up to `n` bytes (fewer at the end of the input).
  std::span<const std::uint8_t> bytes(std::size_t n) {
    if (n > n_) n = n_;
    std::span<const std::uint8_t> s(p_, n);
    p_ += n;
    n_ -= n;
    return s;
  }
  std::span<const std::uint8_t> rest() { return bytes(n_); }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

// A size_t from the input that is often one of the edges an argument check
// must get right, and otherwise anything.
inline std::size_t edgy_size(Reader& in, std::size_t near) {
  switch (in.u8() % 12) {
    case 0: return 0;
    case 1: return 1;
    case 2: return near > 0 ? near - 1 : 0;
    case 3: return near;
    case 4: return near + 1;
    case 5: return SIZE_MAX;
    case 6: return SIZE_MAX / 2 + 1;
    case 7: return std::size_t{1} << (in.u8() % 64);
    case 8: return in.u8();
    case 9: return in.u16();
    case 10: return in.u32();
    default: return static_cast<std::size_t>(in.u64());
  }
}

[[noreturn]] inline void fail(const char* file, int line, const char* what,
                              const std::string& detail) {
  std::fprintf(stderr, "\n%s:%d: broken promise: %s\n  %s\n", file, line, what,
               detail.c_str());
  std::fflush(stderr);
  std::abort();  // libFuzzer reports it with the input and the stack
}

}  // namespace seedpool::fuzz

// CHECK(cond, detail-string-expression): abort() with a message when false.
#define FUZZ_CHECK(cond, detail)                                        \
  do {                                                                  \
    if (!(cond)) ::seedpool::fuzz::fail(__FILE__, __LINE__, #cond, (detail)); \
  } while (0)
