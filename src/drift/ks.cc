#include "drift/ks.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "drift/special.h"

namespace kiln::drift {
namespace {

constexpr uint64_t kMaxExactN = 10000;  // scipy's MAX_AUTO_N.

// Pr(D_{n,n} >= h/n), scipy _compute_prob_outside_square (Horner-like alternating sum).
double prob_outside_square(int64_t n, int64_t h) {
  double p = 0.0;
  for (int64_t k = n / h; k >= 0; --k) {
    double p1 = 1.0;
    for (int64_t j = 0; j < h; ++j) {
      p1 = static_cast<double>(n - k * h - j) * p1 / static_cast<double>(n + k * h + j + 1);
    }
    p = p1 * (1.0 - p);
  }
  return 2 * p;
}

// 1 - (paths staying strictly inside |x/m - y/n| < h/lcm) / binom(m+n, n): scipy's
// _compute_outer_prob_inside_method, the recursion of Viehmann (2021) for 1 - p.
double outer_prob_inside(int64_t m, int64_t n, int64_t g, int64_t h) {
  if (m < n) std::swap(m, n);
  const int64_t mg = m / g, ng = n / g;
  int64_t minj = 0;
  int64_t maxj = std::min<int64_t>(
      static_cast<int64_t>(std::ceil(static_cast<double>(h) / static_cast<double>(mg))), n + 1);
  int64_t curlen = maxj - minj;
  const int64_t len = std::min(2 * maxj + 2, n + 1);
  std::vector<double> a(len, 1.0);
  std::fill(a.begin() + minj, a.begin() + maxj, 0.0);
  for (int64_t i = 1; i <= m; ++i) {
    const int64_t lastminj = minj, lastlen = curlen;
    minj = std::max<int64_t>(
        static_cast<int64_t>(std::floor(static_cast<double>(ng * i - h) / mg)) + 1, 0);
    minj = std::min(minj, n);
    maxj = std::min<int64_t>(static_cast<int64_t>(std::ceil(static_cast<double>(ng * i + h) / mg)),
                             n + 1);
    if (maxj <= minj) return 1.0;
    double val = minj == 0 ? 0.0 : 1.0;
    for (int64_t jj = 0; jj < maxj - minj; ++jj) {
      const int64_t j = jj + minj;
      val = (a[jj + minj - lastminj] * static_cast<double>(i) + val * static_cast<double>(j)) /
            static_cast<double>(i + j);
      a[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) {
      std::fill(a.begin() + (maxj - minj), a.begin() + (maxj - minj) + (lastlen - curlen), 1.0);
    }
  }
  return a[maxj - minj - 1];
}

// Walks two sorted sequences, returning max over x of |F1(x) - F2(x)| with F = (count <= x) / n,
// computed as i/n1 - j/n2 like numpy's searchsorted(side="right") version. `value` and
// `weight` read an element.
template <class Seq, class Value, class Weight>
double ks_statistic(const Seq& a, const Seq& b, double n1, double n2, Value value, Weight weight) {
  double ca = 0, cb = 0, max_pos = 0, max_neg = 0;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    double x;
    if (j >= b.size() || (i < a.size() && value(a[i]) <= value(b[j]))) {
      x = value(a[i]);
    } else {
      x = value(b[j]);
    }
    while (i < a.size() && value(a[i]) <= x) ca += weight(a[i++]);
    while (j < b.size() && value(b[j]) <= x) cb += weight(b[j++]);
    const double diff = ca / n1 - cb / n2;
    max_pos = std::max(max_pos, diff);
    max_neg = std::max(max_neg, -diff);
  }
  return std::max(max_pos, std::clamp(max_neg, 0.0, 1.0));
}

}  // namespace

KsResult ks_2samp_p_value(double d, uint64_t n1, uint64_t n2) {
  KsResult r;
  r.statistic = d;
  if (std::max(n1, n2) <= kMaxExactN) {
    const uint64_t g = std::gcd(n1, n2);
    const double lcm = static_cast<double>((n1 / g) * n2);
    const int64_t h = static_cast<int64_t>(std::nearbyint(d * lcm));  // half to even, like np.round
    const double d_exact = static_cast<double>(h) / lcm;
    double prob;
    if (h == 0) {
      prob = 1.0;
    } else if (n1 == n2) {
      prob = prob_outside_square(static_cast<int64_t>(n1), h);
    } else {
      prob = outer_prob_inside(static_cast<int64_t>(n1), static_cast<int64_t>(n2),
                               static_cast<int64_t>(g), h);
    }
    if (prob >= 0 && prob <= 1) {
      r.statistic = d_exact;
      r.p_value = prob;
      r.exact = true;
      return r;
    }
    r.statistic = d_exact;  // scipy keeps the rounded statistic when it falls back.
    d = d_exact;
  }
  const double m = static_cast<double>(std::max(n1, n2)), n = static_cast<double>(std::min(n1, n2));
  const double en = m * n / (m + n);
  const auto n_eff = static_cast<int64_t>(std::nearbyint(en));
  r.p_value = std::clamp(special::kolmogorov_sf(std::max<int64_t>(n_eff, 1), d), 0.0, 1.0);
  return r;
}

KsResult ks_2samp_sorted(std::span<const double> a, std::span<const double> b) {
  const double d = ks_statistic(
      a, b, static_cast<double>(a.size()), static_cast<double>(b.size()),
      [](double x) { return x; }, [](double) { return 1.0; });
  return ks_2samp_p_value(d, a.size(), b.size());
}

KsResult ks_2samp_weighted(std::span<const std::pair<double, uint64_t>> a,
                           std::span<const std::pair<double, uint64_t>> b) {
  uint64_t n1 = 0, n2 = 0;
  for (const auto& [v, w] : a) n1 += w;
  for (const auto& [v, w] : b) n2 += w;
  using Item = std::pair<double, uint64_t>;
  const double d = ks_statistic(
      a, b, static_cast<double>(n1), static_cast<double>(n2), [](const Item& x) { return x.first; },
      [](const Item& x) { return static_cast<double>(x.second); });
  return ks_2samp_p_value(d, n1, n2);
}

}  // namespace kiln::drift
