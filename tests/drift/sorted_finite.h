#pragma once

// The reference the index-based drift code is tested against: the finite values, sorted by
// std::sort.

#include <algorithm>
#include <cmath>
#include <vector>

namespace kiln::drift::testing {

inline std::vector<double> sorted_finite(std::vector<double> values) {
  std::erase_if(values, [](double v) { return !std::isfinite(v); });
  std::sort(values.begin(), values.end());
  return values;
}

}  // namespace kiln::drift::testing
