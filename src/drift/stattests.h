#pragma once

// Drift tests and distances between a reference and a current sample, with the conventions of
// Evidently 0.7 (evidently.legacy.calculations.stattests) and SciPy 1.13, so that exact mode
// reproduces their numbers. Inputs are free of missing values (callers drop NaN/±inf first).
//
// Binning of numerical data for PSI, Jensen–Shannon, Hellinger and L∞ (Evidently's
// get_binned_data): when the reference has more than 20 distinct values, equal-width bins over
// [min, max] of reference ∪ current, their number by Sturges' rule (numpy.histogram_bin_edges(...,
// "sturges"): ceil(range / (range / (log2(n_ref + n_cur) + 1)))), numpy.histogram's right-closed
// last bin; otherwise one bin per distinct value. Shares are counts / sample size.
//
// All functions are pure and thread-safe.

#include <cstdint>
#include <span>
#include <vector>

#include "drift/sort.h"

namespace kiln::drift {

// Shares of two samples over the same bins (each sums to 1 unless a sample is empty).
struct BinnedShares {
  std::vector<double> reference;
  std::vector<double> current;
};

// Evidently's binning (above) of two numerical samples, both sorted ascending and non-empty.
BinnedShares bin_numerical(std::span<const double> reference, std::span<const double> current);

// Shares from aligned counts (categories, or profile bins), dividing by each sample's total.
BinnedShares shares_from_counts(std::span<const uint64_t> reference,
                                std::span<const uint64_t> current);

// PSI = Σ (r_i − c_i) · ln(r_i / c_i) (Siddiqi, "Credit Risk Scorecards", 2006). Zero shares are
// first replaced, per sample, by min(non-zero share)/10^6 when that minimum is <= 1e-4, else by
// 1e-4 (Evidently's fill). Natural logarithm.
double psi(BinnedShares shares);

// Jensen–Shannon distance sqrt(JS divergence) with the natural logarithm (scipy.spatial.distance.
// jensenshannon with base=None: inputs renormalized, m = (p+q)/2, JS = (KL(p‖m) + KL(q‖m)) / 2).
// In [0, sqrt(ln 2)]. No zero fill.
double jensen_shannon(const BinnedShares& shares);

// Hellinger distance sqrt(1 − Σ sqrt(r_i c_i)) over shares, clipped to [0, 1] (Evidently's
// categorical form; Hellinger 1909).
double hellinger(const BinnedShares& shares);

// Evidently's numerical Hellinger: density histograms over Sturges bins of the union of distinct
// values, Σ sqrt(h1 h2)·width.
double hellinger_numerical(std::span<const double> reference, std::span<const double> current);

// L∞ distance max_i |r_i − c_i| between shares (the total variation of the largest bin).
double l_infinity(const BinnedShares& shares);

// Wasserstein-1 distance between the empirical distributions ∫ |F1 − F2| dx
// (scipy.stats.wasserstein_distance), computed as ∫_0^1 |F1⁻¹(u) − F2⁻¹(u)| du. Both samples
// sorted ascending and non-empty; O(na + nb).
double wasserstein_sorted(std::span<const double> a, std::span<const double> b);

// Buffers wasserstein_unsorted() reuses across calls (their capacity stays). Not thread-safe: one
// per thread.
struct WassersteinScratch {
  std::vector<uint32_t> count_a, count_b;
  std::vector<double> offset_a, offset_b;
  std::vector<uint8_t> mixed;
  std::vector<double> gathered, mixed_a, mixed_b;
  SortScratch sort;
};

// The same W1 as wasserstein_sorted() over two unsorted samples; non-finite values are skipped.
// NaN when either sample has no finite value.
//
// W1 = ∫ |F_a − F_b| dx is split at K + 1 separators lo = s_0 <= ... <= s_K = hi over the range of
// the union (K <= 131,072 equal-width buckets, each value in the bucket [s_k, s_k+1) that holds
// it). On a bucket where one CDF stays strictly above the other (F_a(s_k) > F_b(s_k+1⁻) or the
// reverse), the integral needs only each sample's count c and Σ (x − s_k) over the bucket:
// ∫_{s_k}^{s_k+1} F_a = ((A + c)·w − Σ (x − s_k)) / n_a, with A the values below s_k and w the
// bucket's width. The buckets where the CDFs may meet or cross are sorted and walked value by
// value (over a touch the closed form would cancel large terms). So the result is exact up to
// rounding (it agrees with the sorted walk to about 1e-13 relative in the tests) while sorting
// only the values near crossings: 4.4% of a million when the samples share a distribution,
// almost none when they drift apart. O(n_a + n_b) time; 24 bytes per bucket and 8 per value in a
// walked bucket of scratch. When the range, or the sums in units of 1/(n_a·n_b), overflow a
// double, both samples are sorted and walked instead.
double wasserstein_unsorted(std::span<const double> a, std::span<const double> b,
                            WassersteinScratch& scratch);

// Population standard deviation (numpy.std, ddof=0).
double population_std(std::span<const double> values);

struct TestStatistic {
  double statistic = 0;
  double p_value = 1;
};

// Pearson's chi-square goodness of fit of current counts against reference counts scaled to the
// current total (Evidently's chisquare; scipy.stats.chisquare): stat = Σ (o − e)² / e,
// p = chi2.sf(stat, k − 1) with k categories. A category with reference count 0 but current
// count > 0 gives stat = inf, p = 0. With k <= 1 the statistic is 0 and p = 1 (SciPy gives NaN,
// which Evidently reads as "no drift").
TestStatistic chi_square(std::span<const uint64_t> reference, std::span<const uint64_t> current);

// Two-proportion Z-test (Evidently's z test; e.g. Fleiss, "Statistical Methods for Rates and
// Proportions", §2): x1 of n1 reference rows and x2 of n2 current rows have the property.
// z = (p1 − p2) / sqrt(P(1 − P)(1/n1 + 1/n2)), P pooled; p = 2(1 − Φ(|z|)).
TestStatistic z_test(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2);

// Multiple-testing corrections of m p-values (NaN entries stay NaN and are not counted).
// Bonferroni: min(1, m·p). Benjamini–Hochberg (1995) step-up adjusted p-values:
// p_(i) · m / i, made monotone from the largest rank down, capped at 1.
std::vector<double> bonferroni(std::span<const double> p_values);
std::vector<double> benjamini_hochberg(std::span<const double> p_values);

}  // namespace kiln::drift
