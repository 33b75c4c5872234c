// sort_finite against std::sort on the same finite values, over the bit patterns a radix sort can
// get wrong: signs, zeros, subnormals, extremes, duplicates, and non-finite values to drop.
#include "drift/sort.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "sorted_finite.h"

namespace kiln::drift {
namespace {

using testing::sorted_finite;

// Equal as sequences, with -0.0 and +0.0 told apart only by std::sort's freedom (they compare
// equal, so either order is sorted).
void expect_sorted_like(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "at " << i;
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
}

TEST(SortFinite, OrdersEdgeValuesAndDropsNonFinite) {
  using L = std::numeric_limits<double>;
  const std::vector<double> values = {
      3.5,      -0.0,      0.0,  L::denorm_min(), -L::denorm_min(), L::max(),     L::lowest(),
      L::min(), -L::min(), NAN,  L::infinity(),   -L::infinity(),   -1.0,         1.0,
      -1.0,     2.0,       -2.5, 1e-300,          -1e300,           L::epsilon(), -3.5,
      0.0,      NAN,       42.0};
  std::vector<double> out;
  SortScratch scratch;
  sort_finite(values, out, scratch);
  expect_sorted_like(out, sorted_finite(values));
  EXPECT_EQ(out.size(), values.size() - 4);
}

TEST(SortFinite, EmptyAndAllNonFiniteGiveNothing) {
  std::vector<double> out = {1, 2, 3};
  SortScratch scratch;
  sort_finite(std::vector<double>{}, out, scratch);
  EXPECT_TRUE(out.empty());
  sort_finite(std::vector<double>{NAN, INFINITY, -INFINITY}, out, scratch);
  EXPECT_TRUE(out.empty());
}

// Distributions whose digits vary in different passes: a narrow range (high digits constant, so
// passes are skipped), wide magnitudes, few distinct values, and mixed signs. The scratch and the
// output are reused across calls of different lengths.
TEST(SortFinite, MatchesStdSortOnRandomColumns) {
  std::mt19937_64 rng(7);
  std::vector<double> out;
  SortScratch scratch;
  for (std::size_t n : {1, 2, 17, 1000, 100000, 3000}) {
    std::vector<std::vector<double>> cases(4, std::vector<double>(n));
    std::uniform_real_distribution<double> narrow(1.0, 1.0 + 1e-9);
    std::uniform_real_distribution<double> exponent(-300, 300);
    std::uniform_int_distribution<int> few(-3, 3);
    std::normal_distribution<double> normal(0, 5);
    for (std::size_t i = 0; i < n; ++i) {
      cases[0][i] = narrow(rng);
      cases[1][i] = (rng() & 1 ? 1 : -1) * std::pow(10.0, exponent(rng));
      cases[2][i] = few(rng);
      cases[3][i] = i % 11 == 0 ? NAN : normal(rng);
    }
    for (const auto& values : cases) {
      sort_finite(values, out, scratch);
      expect_sorted_like(out, sorted_finite(values));
    }
  }
}

}  // namespace
}  // namespace kiln::drift
