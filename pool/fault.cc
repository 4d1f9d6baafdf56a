#include "pool/fault.h"

#include <array>
#include <atomic>

namespace seedpool::pool::fault {
namespace {

std::array<std::atomic<std::uint32_t>, static_cast<std::size_t>(Point::kCount)>
    g_armed{};

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

}  // namespace seedpool::pool::fault
