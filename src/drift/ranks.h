#pragma once

// ColumnRanks: exact order statistics and "how many values are below e" of an unsorted column,
// without sorting it. A profile needs a column's min, max, a few quantiles (its bin edges and
// center), the counts below its bin edges and the values at the few hundred ranks a KLL sketch
// keeps of a sorted run (KllSketch::sorted_run_ranks) — not the whole order.
//
// build() makes one pass for the count, min and max of the finite values and one for a histogram
// over equal-width buckets (detail::Buckets, up to 2^17, about 8 values a bucket); the caller then
// names the ranks and edges it will ask for, gather() copies the values of only those buckets (one
// more pass) and sorts them, and at() / below() answer from them. For a million values spread
// over their range that is a few thousand values sorted instead of a million. Data crowded into
// few buckets (one far outlier) gathers more, up to a plain sort of the column. Results are
// exact: the same numbers a sort of the finite values gives.
//
// Not thread-safe; reuse one object across columns to keep its buffers. The column passed to
// build() must outlive the queries.

#include <cstdint>
#include <span>
#include <vector>

#include "drift/buckets.h"
#include "drift/sort.h"

namespace kiln::drift {

class ColumnRanks {
 public:
  // Indexes the finite values of `values` (NaN and ±inf are skipped). Clears earlier requests.
  void build(std::span<const double> values);

  uint64_t count() const noexcept { return count_; }  // Finite values.
  double min() const noexcept { return buckets_.lo; }  // Meaningful when count() > 0.
  double max() const noexcept { return buckets_.hi; }

  // Requests, before gather(): the value at rank r (0-based, r < count()), and the number of
  // values below e.
  void want_rank(std::size_t r);
  void want_below(double e);
  // Copies and sorts the values of the requested buckets.
  void gather();

  // The value at rank r of the ascending finite values (r < count()). Any rank may be asked; one
  // whose bucket was not gathered costs a pass over the column.
  double at(std::size_t r) const;
  // The number of finite values < e. Any e may be asked; one in a non-empty bucket that was not
  // gathered costs a pass over the column.
  std::size_t below(double e) const;

 private:
  std::size_t bucket_of_rank(std::size_t r) const;

  std::span<const double> values_;
  bool all_finite_ = true;
  uint64_t count_ = 0;
  detail::Buckets buckets_;
  std::vector<uint64_t> cumulative_;  // cumulative_[k]: values in buckets before k; K + 1 entries.
  std::vector<uint8_t> wanted_;       // Per bucket: gather it.
  std::vector<std::size_t> start_;    // Per gathered bucket: where its values begin in sorted_.
  std::vector<double> gathered_, sorted_;
  SortScratch sort_;
};

}  // namespace kiln::drift
