// wasserstein_unsorted (bucketed, sorts only where the CDFs cross) against wasserstein_sorted (the
// quantile walk over fully sorted samples) on samples that exercise each path: CDFs that cross
// often (one distribution), rarely (a shift), ties, unequal sizes, tiny and overflowing ranges,
// and non-finite values to skip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "drift/stattests.h"

#include "sorted_finite.h"

namespace kiln::drift {
namespace {

using testing::sorted_finite;

void expect_same_as_sorted(const std::vector<double>& a, const std::vector<double>& b,
                           WassersteinScratch& scratch) {
  const double want = wasserstein_sorted(sorted_finite(a), sorted_finite(b));
  const double got = wasserstein_unsorted(a, b, scratch);
  EXPECT_NEAR(got, want, 1e-12 * std::max(std::abs(want), 1e-300))
      << "sizes " << a.size() << ", " << b.size();
}

std::vector<double> normal(std::size_t n, double mean, double sd, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, sd);
  std::vector<double> out(n);
  for (double& v : out) v = d(rng);
  return out;
}

TEST(WassersteinUnsorted, SmallCasesByHand) {
  WassersteinScratch scratch;
  EXPECT_DOUBLE_EQ(wasserstein_unsorted(std::vector{0.0}, std::vector{1.0}, scratch), 1.0);
  EXPECT_DOUBLE_EQ(wasserstein_unsorted(std::vector{1.0, 0.0}, std::vector{0.5}, scratch), 0.5);
  // scipy.stats.wasserstein_distance([0, 1, 3], [5, 6, 8]) = 5.
  EXPECT_DOUBLE_EQ(wasserstein_unsorted(std::vector{3.0, 0.0, 1.0}, std::vector{8.0, 5.0, 6.0},
                                        scratch),
                   5.0);
  EXPECT_EQ(wasserstein_unsorted(std::vector{2.0, 2.0}, std::vector{2.0}, scratch), 0.0);
  EXPECT_TRUE(std::isnan(wasserstein_unsorted(std::vector<double>{NAN}, std::vector{1.0}, scratch)));
  EXPECT_TRUE(std::isnan(wasserstein_unsorted(std::vector<double>{}, std::vector{1.0}, scratch)));
}

TEST(WassersteinUnsorted, OneDistributionCrossesOftenAndStillAgrees) {
  WassersteinScratch scratch;
  for (std::size_t n : {100, 5000, 300000}) {
    expect_same_as_sorted(normal(n, 0, 1, n), normal(n, 0, 1, n + 1), scratch);
    expect_same_as_sorted(normal(n, 0, 1, n), normal(n / 3 + 1, 0, 1, n + 2), scratch);
  }
}

TEST(WassersteinUnsorted, ShiftedAndScaledSamplesAgree) {
  WassersteinScratch scratch;
  expect_same_as_sorted(normal(200000, 0, 1, 1), normal(150000, 0.3, 2, 2), scratch);
  expect_same_as_sorted(normal(200000, -1e6, 10, 3), normal(200000, -1e6 + 1, 10, 4), scratch);
  expect_same_as_sorted(normal(1000, 5, 1, 5), normal(1000, -5, 1, 6), scratch);  // Disjoint.
}

// The CDFs touch inside buckets (equal samples but for a pair straddling each separator): W1 is
// 1e-13 of the range, and a closed form over such a bucket would cancel large terms to nothing.
TEST(WassersteinUnsorted, CdfsThatTouchInsideABucketKeepFullPrecision) {
  WassersteinScratch scratch;
  const double lo = -0.7313, hi = 1.2917, width = (hi - lo) / 4;  // 32 values: 4 buckets.
  std::vector<double> a = {lo, hi}, b = {lo, hi};
  for (int k = 1; k < 4; ++k) {
    const double s = lo + k * width;
    a.push_back(s - 1e-12);
    b.push_back(s + 1e-12);
  }
  while (a.size() < 16) {
    a.push_back(lo);
    b.push_back(lo);
  }
  const double want = wasserstein_sorted(sorted_finite(a), sorted_finite(b));
  EXPECT_NEAR(want, 6e-12 / 16, 1e-4 * want);  // 2e-12 apart, give or take the ulps of s ± 1e-12.
  EXPECT_NEAR(wasserstein_unsorted(a, b, scratch), want, 1e-12 * want);
}

TEST(WassersteinUnsorted, TiesAndFewDistinctValues) {
  WassersteinScratch scratch;
  std::mt19937_64 rng(7);
  std::poisson_distribution<int> p(20), q(21);
  std::vector<double> a(100000), b(90000);
  for (double& v : a) v = p(rng) - 10;
  for (double& v : b) v = q(rng) - 10;
  expect_same_as_sorted(a, b, scratch);
  std::vector<double> two_a(50000), two_b(70000);
  for (std::size_t i = 0; i < two_a.size(); ++i) two_a[i] = i % 3 ? 1.0 : -1.0;
  for (std::size_t i = 0; i < two_b.size(); ++i) two_b[i] = i % 2 ? 1.0 : -1.0;
  expect_same_as_sorted(two_a, two_b, scratch);
}

TEST(WassersteinUnsorted, ExtremeRangesAndNonFiniteValues) {
  using L = std::numeric_limits<double>;
  WassersteinScratch scratch;
  // A range that overflows a double (hi − lo > DBL_MAX) while W1 does not: the sorted fallback.
  const std::vector<double> wide_a = {-1e308, 1.0, 2.0, 3.0}, wide_b = {2.0, 1e308, -1e308, 1.0};
  expect_same_as_sorted(wide_a, wide_b, scratch);
  EXPECT_DOUBLE_EQ(wasserstein_unsorted(wide_a, wide_b, scratch), (2.0 + (1e308 - 3.0)) / 4);
  // A range of a few subnormals: buckets narrower than the spacing of doubles.
  expect_same_as_sorted({L::denorm_min(), 3 * L::denorm_min(), 0.0}, {2 * L::denorm_min(), 0.0},
                        scratch);
  // Values that differ in the last bits only.
  std::vector<double> a, b;
  for (int i = 0; i < 1000; ++i) a.push_back(std::nextafter(1.0, 2.0) + i * L::epsilon());
  for (int i = 0; i < 800; ++i) b.push_back(1.0 + (i % 37) * L::epsilon());
  expect_same_as_sorted(a, b, scratch);
  // Sums in units of 1/(na·nb) would overflow although W1 does not: the sorted walk.
  EXPECT_DOUBLE_EQ(wasserstein_unsorted(std::vector{-8e307, 8e307}, std::vector{8e307, 8e307},
                                        scratch),
                   8e307);
  // Non-finite values are skipped on both sides.
  std::vector<double> c = normal(10000, 0, 1, 8), d = normal(10000, 0.1, 1, 9);
  c[5] = NAN;
  c[77] = L::infinity();
  d[0] = -L::infinity();
  d[9999] = NAN;
  expect_same_as_sorted(c, d, scratch);
}

}  // namespace
}  // namespace kiln::drift
