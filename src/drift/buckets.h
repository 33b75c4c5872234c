#pragma once

// Equal-width buckets over the range of a column, the index behind wasserstein_unsorted() and
// ColumnRanks: one pass puts every value in a bucket, and because the bucket is a non-decreasing
// function of the value, each bucket holds a run of the sorted column. Statistics that need order
// only near a few places then sort those buckets alone.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

namespace kiln::drift::detail {

// Count, min and max of the finite values (NaN and ±inf skipped); lo > hi when there are none.
struct FiniteRange {
  uint64_t count = 0;
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
};

// Two-lane vectors (GCC/Clang vector extensions, SSE2 on x86-64), two of them, so that the
// min/max chains run side by side: a single chain costs a few cycles a value.
inline FiniteRange finite_range(std::span<const double> values) {
  using V = double __attribute__((vector_size(16)));
  using Mask = int64_t __attribute__((vector_size(16)));
  constexpr double kMax = std::numeric_limits<double>::max(), kInf = HUGE_VAL;
  V lo0 = {kInf, kInf}, lo1 = lo0, hi0 = {-kInf, -kInf}, hi1 = hi0;
  Mask count0 = {0, 0}, count1 = {0, 0};
  const auto step = [&](V x, V& lo, V& hi, Mask& count) {
    const Mask finite = (x <= kMax) & (x >= -kMax);  // All ones for a finite lane.
    count -= finite;
    lo = (finite & (x < lo)) ? x : lo;
    hi = (finite & (x > hi)) ? x : hi;
  };
  std::size_t i = 0;
  for (; i + 4 <= values.size(); i += 4) {
    V x0, x1;
    std::memcpy(&x0, values.data() + i, sizeof x0);
    std::memcpy(&x1, values.data() + i + 2, sizeof x1);
    step(x0, lo0, hi0, count0);
    step(x1, lo1, hi1, count1);
  }
  FiniteRange out;
  out.count = static_cast<uint64_t>(count0[0] + count0[1] + count1[0] + count1[1]);
  out.lo = std::min({lo0[0], lo0[1], lo1[0], lo1[1]});
  out.hi = std::max({hi0[0], hi0[1], hi1[0], hi1[1]});
  for (; i < values.size(); ++i) {
    const double x = values[i];
    if (!std::isfinite(x)) continue;
    ++out.count;
    out.lo = std::min(out.lo, x);
    out.hi = std::max(out.hi, x);
  }
  return out;
}

// Value x goes to k = floor((x − lo)·K / (hi − lo)), clamped to K − 1: a non-decreasing function
// of x (rounding is monotone), so x < y whenever of(x) < of(y). Bucket k's interval is
// [s_k, s_k+1] with s_k = lo + k·w (s_K = hi); rounding may leave a value an ulp or two outside it.
struct Buckets {
  double lo = 0, hi = 0, width = 0, scale = 0;
  std::size_t count = 1;

  // Up to `max_count` buckets over [lo, hi] for `values` values (about 8 a bucket), each at least
  // 2^-32 of the values' magnitude wide so that separators stay far apart in ulps. One bucket
  // (scale 0) for a single value, a subnormal or an overflowing range.
  static Buckets over(double lo, double hi, uint64_t values, std::size_t max_count) {
    Buckets b;
    b.lo = lo;
    b.hi = hi;
    const double range = hi - lo;
    if (!(range > 0) || !std::isfinite(range)) return b;
    const double magnitude = std::max(std::abs(lo), std::abs(hi));
    const double fits = std::floor(range / (magnitude * 0x1p-32));
    b.count = std::clamp<std::size_t>(values / 8, 1, max_count);
    if (fits < static_cast<double>(b.count)) b.count = static_cast<std::size_t>(std::max(fits, 1.0));
    b.width = range / static_cast<double>(b.count);
    b.scale = static_cast<double>(b.count) / range;
    if (!std::isfinite(b.scale)) {
      b.count = 1;
      b.scale = 0;
    }
    return b;
  }

  // x in [lo, hi].
  std::size_t of(double x) const {
    if (count == 1) return 0;  // Also where scale is 0 and (x − lo)·scale could be inf·0.
    return std::min(static_cast<std::size_t>((x - lo) * scale), count - 1);
  }
  double separator(std::size_t k) const {
    return k >= count ? hi : lo + static_cast<double>(k) * width;
  }
};

// Copies the values in buckets marked in `marked` to `out`, in their order; NaN and ±inf are
// skipped unless `all_finite` says there are none. Every value is written and the cursor moves
// only for a marked bucket, so no branch depends on the data.
inline void gather_marked(std::span<const double> values, const Buckets& buckets,
                          const std::vector<uint8_t>& marked, bool all_finite,
                          std::vector<double>& out) {
  out.resize(values.size() + 1);  // One spare: the last value is written, kept or not.
  double* dst = out.data();
  std::size_t n = 0;
  if (all_finite) {
    for (double x : values) {
      dst[n] = x;
      n += marked[buckets.of(x)];
    }
  } else {
    for (double x : values) {
      if (!std::isfinite(x)) continue;
      dst[n] = x;
      n += marked[buckets.of(x)];
    }
  }
  out.resize(n);
}

}  // namespace kiln::drift::detail
