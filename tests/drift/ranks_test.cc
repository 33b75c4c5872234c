// ColumnRanks (order statistics from a bucket index, sorting only the buckets asked for) against a
// full sort, and KllSketch::add_sorted_ranks against add_sorted, on columns that stress the index:
// spread values, heavy ties, one far outlier, constants, non-finite values, and questions about
// buckets that were not gathered.
#include "drift/ranks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "drift/kll.h"

#include "sorted_finite.h"

namespace kiln::drift {
namespace {

using testing::sorted_finite;

// Asks for a sample of ranks and edges (half of them announced before gather(), half not) and
// checks every answer against the sorted column.
void expect_matches_sort(const std::vector<double>& values, uint64_t seed) {
  const std::vector<double> sorted = sorted_finite(values);
  ColumnRanks ranks;
  ranks.build(values);
  ASSERT_EQ(ranks.count(), sorted.size());
  if (sorted.empty()) {
    EXPECT_EQ(ranks.below(0.0), 0u);
    return;
  }
  EXPECT_EQ(ranks.min(), sorted.front());
  EXPECT_EQ(ranks.max(), sorted.back());
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, sorted.size() - 1);
  std::vector<std::size_t> asked = {0, sorted.size() - 1, sorted.size() / 2};
  for (int i = 0; i < 40; ++i) asked.push_back(pick(rng));
  std::vector<double> edges = {sorted.front(), sorted.back(), sorted.front() - 1,
                               sorted.back() + 1, (sorted.front() + sorted.back()) / 2};
  for (int i = 0; i < 20; ++i) edges.push_back(sorted[pick(rng)]);
  for (std::size_t i = 0; i < asked.size(); i += 2) ranks.want_rank(asked[i]);
  for (std::size_t i = 0; i < edges.size(); i += 2) ranks.want_below(edges[i]);
  ranks.gather();
  for (std::size_t r : asked) ASSERT_EQ(ranks.at(r), sorted[r]) << "rank " << r;
  for (double e : edges) {
    const auto want = static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), e) -
                                               sorted.begin());
    ASSERT_EQ(ranks.below(e), want) << "below " << e;
  }
}

TEST(ColumnRanks, SpreadValuesMatchASort) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> d(3, 2);
  for (std::size_t n : {1, 2, 9, 1000, 200000}) {
    std::vector<double> v(n);
    for (double& x : v) x = d(rng);
    expect_matches_sort(v, n);
  }
}

TEST(ColumnRanks, TiesOutliersAndConstants) {
  std::mt19937_64 rng(2);
  std::poisson_distribution<int> p(4);
  std::vector<double> ties(100000);
  for (double& x : ties) x = p(rng);
  expect_matches_sort(ties, 3);
  std::vector<double> outlier = ties;
  outlier[500] = 1e12;  // Everything else falls in the first bucket.
  expect_matches_sort(outlier, 4);
  expect_matches_sort(std::vector<double>(5000, -2.5), 5);
  // A range that overflows a double: one bucket, no inf·0 when placing values.
  expect_matches_sort({-1e308, 1e308, 0.5, -3.0}, 6);
}

TEST(ColumnRanks, NonFiniteValuesAreSkipped) {
  using L = std::numeric_limits<double>;
  std::vector<double> v = {NAN, 3.0, L::infinity(), -1.0, -L::infinity(), 2.0, NAN, 2.0};
  expect_matches_sort(v, 6);
  expect_matches_sort({NAN, L::infinity()}, 7);
  expect_matches_sort({}, 8);
}

TEST(KllSketch, AddSortedRanksEqualsAddSorted) {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> d(0, 1);
  for (std::size_t n : {50, 400, 401, 12345, 300000}) {
    std::vector<double> v(n);
    for (double& x : v) x = d(rng);
    std::sort(v.begin(), v.end());
    KllSketch whole(200), ranked(200);
    // Both sketches already hold items and have flipped coins, as in a merge of runs.
    for (int i = 0; i < 1000; ++i) {
      whole.add(i);
      ranked.add(i);
    }
    whole.add_sorted(v);
    const std::vector<std::size_t> r = ranked.sorted_run_ranks(n);
    std::vector<double> at;
    for (std::size_t i : r) at.push_back(v[i]);
    ranked.add_sorted_ranks(n, at);
    EXPECT_EQ(whole.to_json(), ranked.to_json()) << "n " << n;
    EXPECT_LE(r.size(), n);
    if (n > 1000) {
      EXPECT_LT(r.size(), n / 10);  // Only a sample of the run is read.
    }
  }
}

}  // namespace
}  // namespace kiln::drift
