#include "drift/stattests.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "drift/buckets.h"
#include "drift/special.h"

namespace kiln::drift {
namespace {

using detail::Buckets;
using detail::finite_range;
using detail::FiniteRange;

constexpr std::size_t kWassersteinBuckets = std::size_t{1} << 17;

// Neumaier's compensated sum: accurate to a few ulps whatever the length, so our sums agree with
// numpy's pairwise sums far below the 1e-9 we promise.
class Sum {
 public:
  void add(double x) {
    if (!std::isfinite(x) || !std::isfinite(s_)) {
      s_ += x;  // inf and NaN propagate as in a plain sum.
      return;
    }
    const double t = s_ + x;
    c_ += std::abs(s_) >= std::abs(x) ? (s_ - t) + x : (x - t) + s_;
    s_ = t;
  }
  double value() const { return std::isfinite(s_) ? s_ + c_ : s_; }

 private:
  double s_ = 0, c_ = 0;
};

// numpy's pairwise summation of term(0) ... term(n-1) (numpy/core/src/umath/loops_utils.h.src,
// pairwise_sum: eight partial sums over blocks of up to 128 terms, halves above that), so a sum
// over a million values is as accurate as numpy's own and costs one pass that the compiler can
// keep in registers. `term` is called once per index, in an order that is not ascending.
template <class Term>
double pairwise_sum(std::size_t begin, std::size_t end, const Term& term) {
  const std::size_t n = end - begin;
  if (n < 8) {
    double res = 0.;  // numpy starts this case from -0.0; no statistic here can tell.
    for (std::size_t i = begin; i < end; ++i) res += term(i);
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (std::size_t j = 0; j < 8; ++j) r[j] = term(begin + j);
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (std::size_t j = 0; j < 8; ++j) r[j] += term(begin + i + j);
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += term(begin + i);
    return res;
  }
  std::size_t half = n / 2;
  half -= half % 8;
  return pairwise_sum(begin, begin + half, term) + pairwise_sum(begin + half, end, term);
}

size_t count_distinct_sorted(std::span<const double> sorted) {
  size_t n = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i == 0 || sorted[i] != sorted[i - 1]) ++n;
  }
  return n;
}

// numpy.histogram_bin_edges(x, "sturges") for x with the given min, max and size.
std::vector<double> sturges_edges(double lo, double hi, size_t size) {
  const double width = (hi - lo) / (std::log2(static_cast<double>(size)) + 1.0);
  size_t bins = 1;
  if (width != 0) bins = static_cast<size_t>(std::ceil((hi - lo) / width));
  if (lo == hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  // numpy.linspace(lo, hi, bins + 1): i * step + lo, last edge exactly hi.
  std::vector<double> edges(bins + 1);
  const double step = (hi - lo) / static_cast<double>(bins);
  for (size_t i = 0; i <= bins; ++i) edges[i] = static_cast<double>(i) * step + lo;
  edges[bins] = hi;
  return edges;
}

// numpy.histogram(sorted, edges) counts: [e_i, e_{i+1}), last bin closed.
std::vector<uint64_t> histogram_sorted(std::span<const double> sorted,
                                       const std::vector<double>& edges) {
  std::vector<uint64_t> counts(edges.size() - 1);
  size_t prev = std::lower_bound(sorted.begin(), sorted.end(), edges[0]) - sorted.begin();
  for (size_t i = 1; i < edges.size(); ++i) {
    const bool last = i + 1 == edges.size();
    const size_t pos = (last ? std::upper_bound(sorted.begin(), sorted.end(), edges[i])
                             : std::lower_bound(sorted.begin(), sorted.end(), edges[i])) -
                       sorted.begin();
    counts[i - 1] = pos - prev;
    prev = pos;
  }
  return counts;
}

// Evidently's zero fill for PSI.
void fill_zeroes(std::vector<double>& shares) {
  double min_nonzero = std::numeric_limits<double>::infinity();
  for (double s : shares) {
    if (s != 0) min_nonzero = std::min(min_nonzero, s);
  }
  if (std::isinf(min_nonzero)) return;  // All zero: Evidently would fail; leave as is.
  const double fill = min_nonzero <= 0.0001 ? min_nonzero / 1e6 : 0.0001;
  for (double& s : shares) {
    if (s == 0) s = fill;
  }
}

double rel_entr(double x, double y) {
  if (x > 0 && y > 0) return x * std::log(x / y);
  if (x == 0 && y >= 0) return 0;
  return std::numeric_limits<double>::infinity();
}

}  // namespace

BinnedShares bin_numerical(std::span<const double> reference, std::span<const double> current) {
  BinnedShares out;
  const double n_ref = static_cast<double>(reference.size());
  const double n_cur = static_cast<double>(current.size());
  if (count_distinct_sorted(reference) > 20) {
    const double lo = std::min(reference.front(), current.front());
    const double hi = std::max(reference.back(), current.back());
    const auto edges = sturges_edges(lo, hi, reference.size() + current.size());
    for (uint64_t c : histogram_sorted(reference, edges)) out.reference.push_back(c / n_ref);
    for (uint64_t c : histogram_sorted(current, edges)) out.current.push_back(c / n_cur);
    return out;
  }
  // One bin per distinct value of the union: merge-walk the sorted samples.
  size_t i = 0, j = 0;
  while (i < reference.size() || j < current.size()) {
    double x;
    if (j >= current.size() || (i < reference.size() && reference[i] <= current[j])) {
      x = reference[i];
    } else {
      x = current[j];
    }
    uint64_t a = 0, b = 0;
    while (i < reference.size() && reference[i] == x) ++a, ++i;
    while (j < current.size() && current[j] == x) ++b, ++j;
    out.reference.push_back(a / n_ref);
    out.current.push_back(b / n_cur);
  }
  return out;
}

BinnedShares shares_from_counts(std::span<const uint64_t> reference,
                                std::span<const uint64_t> current) {
  BinnedShares out;
  const double n_ref =
      static_cast<double>(std::accumulate(reference.begin(), reference.end(), 0ULL));
  const double n_cur = static_cast<double>(std::accumulate(current.begin(), current.end(), 0ULL));
  for (uint64_t c : reference) out.reference.push_back(n_ref > 0 ? c / n_ref : 0.0);
  for (uint64_t c : current) out.current.push_back(n_cur > 0 ? c / n_cur : 0.0);
  return out;
}

double psi(BinnedShares shares) {
  fill_zeroes(shares.reference);
  fill_zeroes(shares.current);
  Sum sum;
  for (size_t i = 0; i < shares.reference.size(); ++i) {
    const double r = shares.reference[i], c = shares.current[i];
    sum.add((r - c) * std::log(r / c));
  }
  return sum.value();
}

double jensen_shannon(const BinnedShares& shares) {
  Sum sp, sq;
  for (double x : shares.reference) sp.add(x);
  for (double x : shares.current) sq.add(x);
  Sum left, right;
  for (size_t i = 0; i < shares.reference.size(); ++i) {
    const double p = shares.reference[i] / sp.value(), q = shares.current[i] / sq.value();
    const double m = (p + q) / 2.0;
    left.add(rel_entr(p, m));
    right.add(rel_entr(q, m));
  }
  const double js = left.value() + right.value();
  return std::sqrt(std::max(js, 0.0) / 2.0);
}

double hellinger(const BinnedShares& shares) {
  Sum bc;
  for (size_t i = 0; i < shares.reference.size(); ++i) {
    bc.add(std::sqrt(shares.reference[i] * shares.current[i]));
  }
  return std::sqrt(1 - std::clamp(bc.value(), 0.0, 1.0));
}

double hellinger_numerical(std::span<const double> reference, std::span<const double> current) {
  std::vector<double> keys(reference.begin(), reference.end());
  keys.insert(keys.end(), current.begin(), current.end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  const auto edges = sturges_edges(keys.front(), keys.back(), keys.size());
  const auto h1 = histogram_sorted(reference, edges), h2 = histogram_sorted(current, edges);
  const double bin_width = (edges.back() - edges.front()) / static_cast<double>(edges.size() - 1);
  Sum bc;
  for (size_t i = 0; i + 1 < edges.size(); ++i) {
    const double db = edges[i + 1] - edges[i];
    const double d1 = h1[i] / db / static_cast<double>(reference.size());
    const double d2 = h2[i] / db / static_cast<double>(current.size());
    bc.add(std::sqrt(d1 * d2) * bin_width);
  }
  return std::sqrt(1 - std::clamp(bc.value(), 0.0, 1.0));
}

double l_infinity(const BinnedShares& shares) {
  double out = 0;
  for (size_t i = 0; i < shares.reference.size(); ++i) {
    out = std::max(out, std::abs(shares.reference[i] - shares.current[i]));
  }
  return out;
}

double wasserstein_sorted(std::span<const double> a, std::span<const double> b) {
  // W1 = ∫ |F_a − F_b| dx = ∫_0^1 |F_a⁻¹(u) − F_b⁻¹(u)| du for distributions on the line
  // (Vallender 1974). The empirical quantile functions are steps at u = i/na and u = j/nb; in units
  // of 1/(na·nb) those breakpoints are the integers i·nb and j·na, so the walk below compares
  // integers only, and for equal sizes it advances both samples every step without a branch miss.
  const uint64_t na = a.size(), nb = b.size();
  if (na == nb) {  // Every step has width 1/n: W1 = Σ |a_(i) − b_(i)| / n.
    return pairwise_sum(0, na, [&](std::size_t i) { return std::abs(a[i] - b[i]); }) /
           static_cast<double>(na);
  }
  std::size_t i = 0, j = 0;
  uint64_t u = 0;
  Sum sum;
  while (i < na && j < nb) {
    const uint64_t end_a = (i + 1) * nb, end_b = (j + 1) * na;
    const uint64_t next = std::min(end_a, end_b);
    sum.add(std::abs(a[i] - b[j]) * static_cast<double>(next - u));
    u = next;
    i += end_a == next;
    j += end_b == next;
  }
  return sum.value() / (static_cast<double>(na) * static_cast<double>(nb));
}

namespace {

// Count and Σ (x − s_k) per bucket over the values (finite unless `kSkip` says to skip others).
template <bool kSkip>
void fill_buckets(std::span<const double> values, const Buckets& buckets,
                  std::vector<uint32_t>& counts, std::vector<double>& offsets) {
  counts.assign(buckets.count, 0);
  offsets.assign(buckets.count, 0.0);
  for (double x : values) {
    if (kSkip && !std::isfinite(x)) continue;
    const std::size_t k = buckets.of(x);
    ++counts[k];
    offsets[k] += x - buckets.separator(k);
  }
}

// ∫ |F_a − F_b| over the buckets, given per-bucket counts and offsets; `diff(A, B)` is
// A·nb − B·na (F_a − F_b in units of 1/(na·nb)) as a double.
template <class Diff>
double integrate_buckets(std::span<const double> a, std::span<const double> b, uint64_t na,
                         uint64_t nb, const Buckets& buckets, WassersteinScratch& scratch,
                         const Diff& diff) {
  Sum sum;
  scratch.mixed.assign(buckets.count, 0);
  bool any_mixed = false;
  const double fa = static_cast<double>(nb), fb = static_cast<double>(na);
  uint64_t below_a = 0, below_b = 0;  // Values in the buckets before this one.
  for (std::size_t k = 0; k < buckets.count; ++k) {
    const uint64_t ca = scratch.count_a[k], cb = scratch.count_b[k];
    // Over the bucket F_a runs from A/na to (A + ca)/na and F_b from B/nb to (B + cb)/nb.
    const double min_diff = diff(below_a, below_b + cb), max_diff = diff(below_a + ca, below_b);
    const double top = diff(below_a + ca, below_b + cb);
    below_a += ca;
    below_b += cb;
    // The closed form below needs one CDF strictly above the other across the bucket; where they
    // may meet or cross, its terms cancel (a touch leaves a tiny integral of large terms), so such
    // a bucket is walked below.
    if (!(min_diff > 0 || max_diff < 0 || (ca == 0 && cb == 0))) {
      scratch.mixed[k] = 1;
      any_mixed = true;
      continue;
    }
    // One CDF stays above the other: ∫ (F_a − F_b) over the bucket, then its absolute value.
    // Per sample, ∫ F·n over [s_k, s_k+1] = (A + c)·w − Σ (x − s_k).
    const double w = buckets.separator(k + 1) - buckets.separator(k);
    const double integral = top * w - (scratch.offset_a[k] * fa - scratch.offset_b[k] * fb);
    sum.add(min_diff >= 0 ? integral : -integral);
  }
  if (!any_mixed) return sum.value();
  // The values of the walked buckets, ascending.
  detail::gather_marked(a, buckets, scratch.mixed, a.size() == na, scratch.gathered);
  sort_finite(scratch.gathered, scratch.mixed_a, scratch.sort);
  detail::gather_marked(b, buckets, scratch.mixed, b.size() == nb, scratch.gathered);
  sort_finite(scratch.gathered, scratch.mixed_b, scratch.sort);
  const std::vector<double>& va = scratch.mixed_a;
  const std::vector<double>& vb = scratch.mixed_b;
  std::size_t i = 0, j = 0;
  below_a = below_b = 0;
  for (std::size_t k = 0; k < buckets.count; ++k) {
    const uint64_t ca = scratch.count_a[k], cb = scratch.count_b[k];
    if (scratch.mixed[k]) {
      // F_a − F_b is a step function: walk the bucket's values in order.
      uint64_t at_a = below_a, at_b = below_b;
      const std::size_t end_a = i + ca, end_b = j + cb;
      double t = buckets.separator(k);
      while (i < end_a || j < end_b) {
        const double z = j >= end_b || (i < end_a && va[i] <= vb[j]) ? va[i] : vb[j];
        sum.add(std::abs(diff(at_a, at_b)) * (z - t));
        t = z;
        while (i < end_a && va[i] == z) ++i, ++at_a;
        while (j < end_b && vb[j] == z) ++j, ++at_b;
      }
      sum.add(std::abs(diff(at_a, at_b)) * (buckets.separator(k + 1) - t));
    }
    below_a += ca;
    below_b += cb;
  }
  return sum.value();
}

}  // namespace

double wasserstein_unsorted(std::span<const double> a, std::span<const double> b,
                            WassersteinScratch& scratch) {
  const FiniteRange range_a = finite_range(a), range_b = finite_range(b);
  const uint64_t na = range_a.count, nb = range_b.count;
  const double lo = std::min(range_a.lo, range_b.lo), hi = std::max(range_a.hi, range_b.hi);
  if (na == 0 || nb == 0) return std::numeric_limits<double>::quiet_NaN();
  if (lo == hi) return 0.0;
  // The sums below are in units of 1/(na·nb): beyond a double there, the sorted walk (exact for
  // equal sizes; it overflows as well for unequal ones).
  const double range = hi - lo;
  if (!std::isfinite(range * static_cast<double>(na) * static_cast<double>(nb)) ||
      na > std::numeric_limits<uint32_t>::max() || nb > std::numeric_limits<uint32_t>::max()) {
    std::vector<double> sa, sb;
    sort_finite(a, sa, scratch.sort);
    sort_finite(b, sb, scratch.sort);
    return wasserstein_sorted(sa, sb);
  }
  const Buckets buckets = Buckets::over(lo, hi, na + nb, kWassersteinBuckets);
  (a.size() != na ? fill_buckets<true> : fill_buckets<false>)(a, buckets, scratch.count_a,
                                                               scratch.offset_a);
  (b.size() != nb ? fill_buckets<true> : fill_buckets<false>)(b, buckets, scratch.count_b,
                                                               scratch.offset_b);
  const double unit = static_cast<double>(na) * static_cast<double>(nb);
  double integral;
  if (unit < 0x1p53) {  // Every A·nb − B·na is exact in a double.
    integral = integrate_buckets(a, b, na, nb, buckets, scratch, [&](uint64_t x, uint64_t y) {
      return static_cast<double>(x) * static_cast<double>(nb) -
             static_cast<double>(y) * static_cast<double>(na);
    });
  } else {
    using Wide = __int128;
    integral = integrate_buckets(a, b, na, nb, buckets, scratch, [&](uint64_t x, uint64_t y) {
      return static_cast<double>(static_cast<Wide>(x) * nb - static_cast<Wide>(y) * na);
    });
  }
  return integral / unit;
}

double population_std(std::span<const double> values) {
  // numpy.std: the mean by a pairwise sum, then the pairwise sum of squared deviations.
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double n = static_cast<double>(values.size());
  const double mean = pairwise_sum(0, values.size(), [&](std::size_t i) { return values[i]; }) / n;
  const double squares = pairwise_sum(0, values.size(), [&](std::size_t i) {
    const double d = values[i] - mean;
    return d * d;
  });
  return std::sqrt(squares / n);
}

TestStatistic chi_square(std::span<const uint64_t> reference, std::span<const uint64_t> current) {
  const double n_ref =
      static_cast<double>(std::accumulate(reference.begin(), reference.end(), 0ULL));
  const double n_cur = static_cast<double>(std::accumulate(current.begin(), current.end(), 0ULL));
  if (reference.size() <= 1 || n_ref == 0) return {0.0, 1.0};
  const double k_norm = n_cur / n_ref;
  Sum stat;
  for (size_t i = 0; i < reference.size(); ++i) {
    const double expected = static_cast<double>(reference[i]) * k_norm;
    const double diff = static_cast<double>(current[i]) - expected;
    stat.add(diff * diff / expected);  // expected 0, observed > 0: +inf; both 0: NaN below.
  }
  double s = stat.value();
  if (std::isnan(s)) {
    // Only 0/0 terms produce NaN (scipy propagates it); a category absent from both samples
    // cannot occur with union keys, so treat it as contributing nothing.
    Sum again;
    for (size_t i = 0; i < reference.size(); ++i) {
      const double expected = static_cast<double>(reference[i]) * k_norm;
      const double diff = static_cast<double>(current[i]) - expected;
      if (expected != 0 || diff != 0) again.add(diff * diff / expected);
    }
    s = again.value();
  }
  return {s, std::isinf(s) ? 0.0 : special::chi2_sf(s, static_cast<double>(reference.size() - 1))};
}

TestStatistic z_test(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2) {
  const double p1 = static_cast<double>(x1) / static_cast<double>(n1);
  const double p2 = static_cast<double>(x2) / static_cast<double>(n2);
  const double pooled = (p1 * n1 + p2 * n2) / static_cast<double>(n1 + n2);
  const double z =
      (p1 - p2) / std::sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / static_cast<double>(n2)));
  if (std::isnan(z)) return {0.0, 1.0};  // Both samples hold one and the same value.
  return {z, 2 * (1 - special::normal_cdf(std::abs(z)))};
}

std::vector<double> bonferroni(std::span<const double> p_values) {
  size_t m = 0;
  for (double p : p_values) m += std::isnan(p) ? 0 : 1;
  std::vector<double> out;
  for (double p : p_values) out.push_back(std::isnan(p) ? p : std::min(1.0, p * m));
  return out;
}

std::vector<double> benjamini_hochberg(std::span<const double> p_values) {
  std::vector<size_t> order;
  for (size_t i = 0; i < p_values.size(); ++i) {
    if (!std::isnan(p_values[i])) order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return p_values[a] < p_values[b]; });
  std::vector<double> out(p_values.begin(), p_values.end());
  const double m = static_cast<double>(order.size());
  double running = 1.0;
  for (size_t r = order.size(); r-- > 0;) {
    running = std::min(running, p_values[order[r]] * m / static_cast<double>(r + 1));
    out[order[r]] = running;
  }
  return out;
}

}  // namespace kiln::drift
