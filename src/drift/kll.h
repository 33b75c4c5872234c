#pragma once

// KllSketch: a mergeable quantile sketch of a stream of doubles (Karnin, Lang, Liberty, "Optimal
// Quantile Approximation in Streams", FOCS 2016; the layout follows Apache DataSketches' KLL).
//
// Items live in levels; an item at level h stands for 2^h stream items. When the sketch holds more
// items than its capacity, the lowest full level is sorted and compacted: every other item
// (starting at a random offset) moves one level up, the rest are dropped. Capacity of level h is
// max(8, ceil(k * (2/3)^(H-1-h))) for H levels.
//
// Error: with parameter k, the normalized rank error |rank_sketch(x) - rank_true(x)| / n is at
// most about 1.7 / k for a single query and 2.0 / k for all queries at once (DataSketches' table
// of empirical 99th percentiles; k=200 gives 1.33% / 1.65%). While n stays within the level-0
// capacity (n < k) the sketch is exact. Merging keeps the same guarantee for the union.
// Randomness comes from a seeded generator, so a given sequence of add/merge calls always yields
// the same sketch.
//
// Memory: about 3k doubles (24 KB at k = 1024). add() is amortized O(log k): a compaction of
// level 0 sorts it, levels above are kept sorted and merged into. Not thread-safe: one writer at a
// time; const methods may run concurrently.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <utility>
#include <vector>

#include "common/result.h"

namespace kiln::drift {

class KllSketch {
 public:
  static constexpr uint32_t kDefaultK = 200;
  static constexpr uint32_t kMinK = 8;

  // k >= kMinK (smaller values are raised to kMinK). `seed` seeds the compaction coin.
  explicit KllSketch(uint32_t k = kDefaultK, uint64_t seed = 0x6b696c6e);

  // Adds one value. NaN must be filtered by the caller (it is ignored here).
  void add(double x);
  // Adds a run of values sorted ascending (no NaN), standing for add() on each with the same error
  // bound. A run longer than k is first compacted the way a full sorted level is (the odd last item
  // stays at its level, every other item from a random offset moves up one level) until at most k
  // items remain: each halving at level h moves any rank by at most 2^h, so the run adds a rank
  // error below 2^H / run size < 2 / k, under the bound above. O(run size); allocates half the run.
  void add_sorted(std::span<const double> sorted);
  // add_sorted() for a run known only by its length and its values at some ranks: the ranks
  // (0-based, ascending, distinct) add_sorted() of a run of n values would read, given the coin
  // flips still to come. A caller that can find order statistics without sorting (ColumnRanks)
  // reads those values and passes them, in the same order, to add_sorted_ranks(), which adds the
  // run exactly as add_sorted() would. Nothing may flip a coin (add, merge) between the two.
  std::vector<std::size_t> sorted_run_ranks(std::size_t n) const;
  void add_sorted_ranks(std::size_t n, std::span<const double> values_at_ranks);
  // Adds all sketch items of `other` (same k required for the error bound; any k is accepted).
  void merge(const KllSketch& other);

  uint32_t k() const noexcept { return k_; }
  // Number of stream items represented.
  uint64_t count() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  double min() const noexcept { return min_; }  // Exact; NaN when empty.
  double max() const noexcept { return max_; }  // Exact; NaN when empty.
  // True while no compaction happened: the sketch holds every item.
  bool exact() const noexcept { return levels_.size() == 1; }

  // The weighted items, sorted by value: (value, weight). Weights sum to count(). This is the
  // sketch's approximation of the empirical distribution, used for KS and Wasserstein.
  std::vector<std::pair<double, uint64_t>> sorted_items() const;
  // Approximate fraction of items <= x, in [0, 1]; 0 when empty.
  double cdf(double x) const;
  // Approximate q-quantile (q in [0, 1]): the smallest item whose cumulative weight reaches q*n.
  // NaN when empty.
  double quantile(double q) const;

  // {"k", "n", "min", "max", "levels": [[...level 0 items...], [...level 1...], ...]}.
  nlohmann::json to_json() const;
  // Inverse of to_json; invalid-input errors for a malformed object.
  static Result<KllSketch> from_json(const nlohmann::json& j);

 private:
  uint32_t level_capacity(std::size_t level) const noexcept;
  void compress();
  void compact_level(std::size_t level);
  // Puts one item of weight 2^h at level h, keeping levels above 0 sorted.
  void insert_item(std::size_t h, double x);
  // add_sorted's halving over a run of n values read through at(rank), ascending in rank.
  template <class At>
  void add_run(std::size_t n, const At& at);
  std::size_t retained() const noexcept;

  uint32_t k_;
  std::vector<uint32_t> capacities_;  // level_capacity(h) for every level, refreshed on growth.
  std::size_t total_capacity_ = 0;    // Σ capacities_: compaction starts when retained reaches it.
  std::size_t retained_ = 0;          // Items held across levels.
  void refresh_capacities();
  uint64_t n_ = 0;
  double min_;
  double max_;
  uint64_t rng_;
  // levels_[h]: items of weight 2^h. Levels above 0 are kept sorted, so compacting them needs
  // no sort and promotions merge into them; level 0 is sorted when it is compacted.
  std::vector<std::vector<double>> levels_;
};

}  // namespace kiln::drift
