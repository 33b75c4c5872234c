#include "drift/ranks.h"

#include <algorithm>
#include <cmath>

namespace kiln::drift {
namespace {

constexpr std::size_t kMaxBuckets = std::size_t{1} << 17;

}  // namespace

void ColumnRanks::build(std::span<const double> values) {
  values_ = values;
  const detail::FiniteRange range = detail::finite_range(values);
  count_ = range.count;
  all_finite_ = count_ == values.size();
  buckets_ = count_ == 0 ? detail::Buckets{}
                         : detail::Buckets::over(range.lo, range.hi, count_, kMaxBuckets);
  const std::size_t k = buckets_.count;
  // Counted into cumulative_[b + 1], then summed in place.
  cumulative_.assign(k + 1, 0);
  uint64_t* counts = cumulative_.data() + 1;
  if (count_ > 0) {
    if (all_finite_) {
      for (double x : values) ++counts[buckets_.of(x)];
    } else {
      for (double x : values) {
        if (std::isfinite(x)) ++counts[buckets_.of(x)];
      }
    }
  }
  for (std::size_t b = 0; b < k; ++b) cumulative_[b + 1] += cumulative_[b];
  wanted_.assign(k, 0);
  gathered_.clear();
  sorted_.clear();
  start_.clear();
}

std::size_t ColumnRanks::bucket_of_rank(std::size_t r) const {
  // The last bucket whose values start at or before rank r.
  return static_cast<std::size_t>(
      std::upper_bound(cumulative_.begin(), cumulative_.end() - 1, static_cast<uint64_t>(r)) -
      cumulative_.begin() - 1);
}

void ColumnRanks::want_rank(std::size_t r) {
  if (r < count_) wanted_[bucket_of_rank(r)] = 1;
}

void ColumnRanks::want_below(double e) {
  if (count_ > 0 && e > buckets_.lo && e <= buckets_.hi) wanted_[buckets_.of(e)] = 1;
}

void ColumnRanks::gather() {
  detail::gather_marked(values_, buckets_, wanted_, all_finite_, gathered_);
  if (gathered_.size() > 4096) {
    sort_finite(gathered_, sorted_, sort_);
  } else {
    sorted_ = gathered_;
    std::sort(sorted_.begin(), sorted_.end());
  }
  // Buckets are runs of the sorted column, so the gathered ones follow each other in sorted_.
  start_.assign(buckets_.count, 0);
  std::size_t at = 0;
  for (std::size_t b = 0; b < buckets_.count; ++b) {
    start_[b] = at;
    if (wanted_[b]) at += cumulative_[b + 1] - cumulative_[b];
  }
}

double ColumnRanks::at(std::size_t r) const {
  const std::size_t b = bucket_of_rank(r);
  const std::size_t within = r - cumulative_[b];
  if (b < wanted_.size() && wanted_[b] && !start_.empty()) return sorted_[start_[b] + within];
  // Not gathered: the bucket's values, then the one at its rank.
  std::vector<double> bucket;
  for (double x : values_) {
    if (std::isfinite(x) && buckets_.of(x) == b) bucket.push_back(x);
  }
  std::nth_element(bucket.begin(), bucket.begin() + static_cast<std::ptrdiff_t>(within),
                   bucket.end());
  return bucket[within];
}

std::size_t ColumnRanks::below(double e) const {
  if (count_ == 0 || !(e > buckets_.lo)) return 0;  // Also 0 for NaN.
  if (e > buckets_.hi) return count_;
  // x < e implies of(x) <= of(e), and of(x) < of(e) implies x < e.
  const std::size_t b = buckets_.of(e);
  const uint64_t in_bucket = cumulative_[b + 1] - cumulative_[b];
  if (in_bucket == 0) return cumulative_[b];
  if (wanted_[b] && !start_.empty()) {
    const double* first = sorted_.data() + start_[b];
    return cumulative_[b] + (std::lower_bound(first, first + in_bucket, e) - first);
  }
  std::size_t n = 0;
  for (double x : values_) n += std::isfinite(x) && x < e;
  return n;
}

}  // namespace kiln::drift
