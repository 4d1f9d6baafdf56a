// A noise source: something the pool reads raw samples from.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

namespace seedpool::pool {

enum class SourceStatus : std::uint8_t {
  ok,         // delivering
  not_ready,  // present, nothing to read yet (e.g. kernel CRNG not seeded)
  absent,     // not on this system (ENOSYS, ENOENT, ...)
  failed,     // returned an error; taken out
};
const char* source_status_name(SourceStatus s) noexcept;

struct SourceRead {
  enum class Kind : std::uint8_t { data, would_block, absent, error };
  Kind kind;
  std::size_t bytes;  // valid for Kind::data
  int sys_errno;      // for absent/error
};

class Source {
 public:
  virtual ~Source() = default;
  Source() = default;
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  virtual const char* name() const noexcept = 0;
  // Reads up to out.size() raw bytes without blocking.
  virtual SourceRead read(std::span<std::uint8_t> out) noexcept = 0;
  // Waits (bounded) until read() may return data. Returns false on timeout.
  virtual bool wait_ready(std::chrono::milliseconds timeout) noexcept = 0;
};

}  // namespace seedpool::pool
