#pragma once

// Two-sample Kolmogorov–Smirnov test, two-sided, as scipy.stats.ks_2samp(method="auto") computes
// it (SciPy 1.13):
//
//   D = sup_x |F1(x) - F2(x)| over the empirical CDFs.
//   p-value: exact when max(n1, n2) <= 10,000 — the lattice-path count of Hodges (1958) by the
//   "inside" recursion of Viehmann (arXiv:2102.08037), or the closed form for n1 == n2 — and
//   otherwise the one-sample distribution kstwo.sf(D, round(n1·n2/(n1+n2))) (drift/special.h).
//   When the exact computation fails numerically it falls back to the asymptotic one, as SciPy
//   does. In the exact branch D is reported as round(D·lcm)/lcm, like SciPy.
//
// Thread-safe, pure functions.

#include <cstdint>
#include <span>
#include <utility>

namespace kiln::drift {

struct KsResult {
  double statistic = 0;  // D in [0, 1].
  double p_value = 1;    // In [0, 1].
  bool exact = false;    // Whether the exact distribution was used.
};

// `a` and `b` must be sorted ascending, non-empty and free of NaN (callers drop missing values).
KsResult ks_2samp_sorted(std::span<const double> a, std::span<const double> b);

// Weighted variant for sketches: items (value, weight) sorted by value, with total weights n1, n2
// taken as the sample sizes for the p-value. Both non-empty.
KsResult ks_2samp_weighted(std::span<const std::pair<double, uint64_t>> a,
                           std::span<const std::pair<double, uint64_t>> b);

// The two-sided p-value for statistic d and sample sizes n1, n2 (method "auto"). Returns the
// possibly re-rounded statistic (see above) with the p-value.
KsResult ks_2samp_p_value(double d, uint64_t n1, uint64_t n2);

}  // namespace kiln::drift
