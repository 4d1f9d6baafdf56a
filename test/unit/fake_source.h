// A scripted noise source for unit tests.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <thread>

#include "pool/source.h"

namespace seedpool::testing {

class FakeSource final : public pool::Source {
 public:
  enum class Mode { data, would_block, error, absent };

  // In data mode it delivers a deterministic byte stream, so two pools fed
  // by fake sources see identical input: whatever tells their outputs apart
  // must come from the pool itself.
  explicit FakeSource(Mode m = Mode::data) : mode(m) {}

  const char* name() const noexcept override { return "fake"; }

  pool::SourceRead read(std::span<std::uint8_t> out) noexcept override {
    reads.fetch_add(1);
    switch (mode.load()) {
      case Mode::data:
        for (auto& b : out) b = static_cast<std::uint8_t>(next_++ * 131u + 7u);
        bytes.fetch_add(out.size());
        return {pool::SourceRead::Kind::data, out.size(), 0};
      case Mode::would_block:
        return {pool::SourceRead::Kind::would_block, 0, EAGAIN};
      case Mode::error:
        return {pool::SourceRead::Kind::error, 0, EIO};
      case Mode::absent:
        return {pool::SourceRead::Kind::absent, 0, ENOENT};
    }
    return {pool::SourceRead::Kind::error, 0, EIO};
  }

  // Ready as soon as the test switches the mode to data, else at the bound.
  bool wait_ready(std::chrono::milliseconds timeout) noexcept override {
    waits.fetch_add(1);
    if (wait_fails.load()) return false;
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (mode.load() == Mode::data) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return mode.load() == Mode::data;
  }

  bool reads_inline() const noexcept override { return inline_reads.load(); }

  std::atomic<Mode> mode;
  std::atomic<bool> inline_reads{true};  // false: only the gatherer reads
  std::atomic<bool> wait_fails{false};  // wait_ready() fails at once
  std::atomic<int> reads{0};
  std::atomic<int> waits{0};
  std::atomic<std::size_t> bytes{0};

 private:
  std::uint32_t next_ = 0;
};

}  // namespace seedpool::testing
