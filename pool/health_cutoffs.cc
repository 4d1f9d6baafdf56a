// The cutoff functions of health.h, in their own object file: HealthTest
// uses a table of their values (health.cc), so seedpool.so does not link
// them, nor libm for them; the tests check the table against them.
#include <algorithm>
#include <cmath>
#include <limits>

#include "pool/health.h"

namespace seedpool::pool {

std::uint32_t rct_cutoff(double entropy_bits_per_sample,
                         std::uint32_t alpha_log2) noexcept {
  const double h = entropy_bits_per_sample;
  if (!(h > 0.0) || !std::isfinite(h)) return 0;
  // Exact for the H we use (integers, halves): the quotient is computed
  // exactly whenever it is an integer, so ceil() cannot round up past it.
  const double repeats = std::ceil(static_cast<double>(alpha_log2) / h);
  constexpr auto kMax = std::numeric_limits<std::uint32_t>::max();
  if (repeats >= static_cast<double>(kMax)) return kMax;
  return 1 + static_cast<std::uint32_t>(repeats);
}

std::uint32_t binomial_critical_value(std::uint32_t trials,
                                      double success_probability,
                                      std::uint32_t alpha_log2) noexcept {
  const double p = success_probability;
  if (!(p > 0.0)) return 0;        // X is always 0 (also NaN)
  if (!(p < 1.0)) return trials;   // X is always `trials`
  // 2^-2000 is 0 in a double: a tail of 0 is as small as it gets anyway.
  const int exponent = static_cast<int>(std::min(alpha_log2, 2000u));
  const double alpha = std::ldexp(1.0, -exponent);
  const double log_p = std::log(p);
  const double log_q = std::log1p(-p);
  const double log_odds = log_q - log_p;
  // Walk down from X = trials, adding P(X = j) to the upper tail until the
  // tail P(X >= j) exceeds alpha: then P(X > j) <= alpha < P(X > j - 1), so j
  // is the answer. Summing from the top keeps tiny tails exact (1 - CDF would
  // cancel to 0 below 2^-53). P(X = j - 1) / P(X = j) = j / (n - j + 1) * q/p.
  double log_pmf = static_cast<double>(trials) * log_p;  // P(X = trials)
  double tail = 0.0;
  for (std::uint32_t j = trials;; --j) {
    tail += std::exp(log_pmf);
    if (tail > alpha || j == 0) return j;
    log_pmf += std::log(static_cast<double>(j)) -
               std::log(static_cast<double>(trials - j + 1)) + log_odds;
  }
}

std::uint32_t apt_cutoff(double entropy_bits_per_sample, std::uint32_t window,
                         std::uint32_t alpha_log2) noexcept {
  const double h = entropy_bits_per_sample;
  if (!(h > 0.0) || window < 2) return 0;
  // B = 1 (the reference) + Binomial(W - 1, p) matches; the smallest C with
  // P(B >= C) <= alpha is 1 + (1 + CRITBINOM(W - 1, p, 1 - alpha)).
  const std::uint32_t c =
      2 + binomial_critical_value(window - 1, std::exp2(-h), alpha_log2);
  return std::min(c, window);
}

}  // namespace seedpool::pool
