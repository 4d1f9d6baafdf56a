#include "pool/fault.h"

#include <array>
#include <atomic>
#include <chrono>
#include <thread>

namespace seedpool::pool::fault {
namespace {

std::array<std::atomic<std::uint32_t>, static_cast<std::size_t>(Point::kCount)>
    g_armed{};
std::atomic<std::uint32_t> g_hold_ms{300};
std::atomic<bool> g_holding{false};

}  // namespace

void arm(Point p, std::uint32_t times) noexcept {
  g_armed[static_cast<std::size_t>(p)].store(times, std::memory_order_relaxed);
}

void disarm_all() noexcept {
  for (auto& a : g_armed) a.store(0, std::memory_order_relaxed);
}

bool hit(Point p) noexcept {
  auto& a = g_armed[static_cast<std::size_t>(p)];
  std::uint32_t n = a.load(std::memory_order_relaxed);
  while (n != 0) {
    if (a.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

void set_hold_duration(std::uint32_t milliseconds) noexcept {
  g_hold_ms.store(milliseconds, std::memory_order_relaxed);
}

void hold() noexcept {
  // seq_cst: a test that sees holding() and then forks must find the flag
  // still set in a child forked inside the window, and cleared in a child
  // forked after it (the flag is cleared before the holder lets go).
  g_holding.store(true);
  std::this_thread::sleep_for(
      std::chrono::milliseconds(g_hold_ms.load(std::memory_order_relaxed)));
  g_holding.store(false);
}

bool holding() noexcept { return g_holding.load(); }

}  // namespace seedpool::pool::fault
