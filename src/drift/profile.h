#pragma once

// Profile: mergeable per-feature summaries of a dataset or of served traffic (the same type for
// both), from which drift is computed in sketch mode (drift/detect.h).
//
// A profile is built from a schema (one FeatureSchema per feature). The schema is fixed by the
// baseline: numerical bin edges are the baseline's quantiles, the tracked categories are the
// baseline's most frequent values. Every profile compared or merged with the baseline has the same
// schema, so bin and category counts line up exactly.
//
// Per feature it keeps:
//   numerical    value count, missing count, counts per bin, min/max, the sums of (x − c) and
//                (x − c)² about the baseline's median c (mean and variance without cancellation),
//                and a KLL quantile sketch (drift/kll.h) for KS and Wasserstein.
//   categorical  row count, missing count, counts per tracked category and one "other" count for
//                every value not tracked (a category unseen in the baseline lands there).
//
// Merge: counts add, so merging is exactly associative and commutative for counts, min and max.
// The sums are floating-point (order may change the last bits, ~1e-15 relative); the KLL sketch's
// merged answers stay within its rank-error bound whatever the order (see kll.h).
//
// Cost: add() is O(log bins) for a numerical value plus an amortized O(1) sketch insert, and one
// hash lookup for a category (no allocation). from_table and profile_of take a numerical column at
// once: one radix sort (drift/sort.h), then O(bins · log n) for the bins and a run insert into the
// sketch (KllSketch::add_sorted) — the same counts, sums to rounding, sketch within its bound. Not
// thread-safe: give each thread its own Profile and merge them (e.g. one per serving worker, merged
// when /profile is scraped).
//
//   // Baseline (training output):
//   KILN_TRY(Profile baseline, Profile::from_table(train_table, {}));
//   std::string text = baseline.to_json().dump();
//   // Serving: same schema, fed per request.
//   Profile live = baseline.empty_like();
//   live.observe({Cell{3.2}, Cell{"JFK"}, Cell{}});  // Cell{} is a missing value
//   live.feature(0).add(4.5);                         // or per feature

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/result.h"
#include "drift/kll.h"
#include "drift/table.h"

namespace kiln::drift {

// The version written as "version" by Profile::to_json; from_json accepts only this version.
inline constexpr int kProfileFormatVersion = 1;

// How a baseline profile chooses its schema and sketch size.
struct ProfileOptions {
  // Numerical bins: edges at the baseline's j/bins quantiles (j = 1..bins-1, numpy's "linear"
  // interpolation), duplicates removed, so up to `bins` bins. PSI's customary 10.
  uint32_t bins = 10;
  // Categorical: the `max_categories` most frequent baseline values are tracked (ties broken by
  // value); the rest count as "other".
  uint32_t max_categories = 100;
  // KLL parameter of the numerical quantile sketches (error ~1.7/k, see kll.h).
  uint32_t sketch_k = 400;
};

// One feature's schema.
struct FeatureSchema {
  std::string name;
  ColumnType type = ColumnType::kNumerical;
  // Numerical: strictly increasing cut points e_0 < ... < e_{m-1}, giving m+1 bins
  // (-inf, e_0), [e_0, e_1), ..., [e_{m-1}, +inf). Empty: one bin.
  std::vector<double> bin_edges;
  // Categorical: tracked values, in the order of their counts.
  std::vector<std::string> categories;
  // Numerical: the shift c of the moment sums (the baseline's median; 0 if it had no values).
  double center = 0;
  // KLL parameter for numerical features.
  uint32_t sketch_k = 400;

  friend bool operator==(const FeatureSchema&, const FeatureSchema&) = default;
};

// A cell of a row passed to Profile::observe: missing (monostate), a number, or a string.
using Cell = std::variant<std::monostate, double, std::string_view>;

// The summary of one numerical feature.
struct NumericalSummary {
  std::vector<uint64_t> bin_counts;  // bin_edges.size() + 1 entries.
  uint64_t count = 0;                // Non-missing values.
  uint64_t missing = 0;              // NaN, ±inf, unparsable or absent cells.
  double min = 0;                    // Of non-missing values; meaningful when count > 0.
  double max = 0;
  double sum = 0;          // Σ (x − center).
  double sum_squares = 0;  // Σ (x − center)².
  KllSketch sketch;

  double mean(double center) const noexcept;
  // Population standard deviation (ddof = 0); NaN when count == 0.
  double stddev() const noexcept;
};

// The summary of one categorical feature.
struct CategoricalSummary {
  std::vector<uint64_t> category_counts;  // Parallel to FeatureSchema::categories.
  uint64_t other = 0;                     // Values not in the schema's categories.
  uint64_t missing = 0;
  uint64_t count() const noexcept;  // Non-missing values (tracked + other).
};

// One feature of a Profile. Obtained from Profile::feature(); lives as long as the Profile.
class FeatureProfile {
 public:
  explicit FeatureProfile(FeatureSchema schema);

  const FeatureSchema& schema() const noexcept { return schema_; }
  ColumnType type() const noexcept { return schema_.type; }

  // Records a number. Numerical: NaN and ±inf count as missing. Categorical: the number's
  // shortest round-trip text ("3", "2.5") is the category.
  void add(double value);
  // Records a string. Numerical: parsed as a number (surrounding blanks allowed); unparsable text
  // counts as missing. Categorical: the category itself.
  void add(std::string_view value);
  // Records a missing value.
  void add_missing();
  void add(const Cell& cell);

  // Non-missing and missing values seen.
  uint64_t count() const noexcept;
  uint64_t missing() const noexcept;

  // The summary; exactly one is non-null, matching type().
  const NumericalSummary* numerical() const noexcept;
  const CategoricalSummary* categorical() const noexcept;

  // Adds `other`'s counts and sketch; invalid-input when the schemas differ.
  Result<void> merge(const FeatureProfile& other);

  nlohmann::json to_json() const;
  static Result<FeatureProfile> from_json(const nlohmann::json& j);

 private:
  friend class Profile;
  // Adds a categorical column given its column.code_counts() (this feature is categorical).
  void add_code_counts(const Column& column, const std::vector<uint64_t>& per_code);
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept;
  };
  FeatureSchema schema_;
  std::variant<NumericalSummary, CategoricalSummary> summary_;
  // Category -> index into schema_.categories (heterogeneous lookup: no allocation per add).
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> category_index_;
};

// Mergeable summaries of every feature of a dataset or of a stream of rows.
class Profile {
 public:
  // An empty profile with the given schema (names must be unique; checked by from_json and
  // from_table, assumed here).
  explicit Profile(std::vector<FeatureSchema> schema);

  // Builds the schema from `baseline` (quantile bin edges, top categories; see ProfileOptions)
  // and fills the profile with its rows. invalid-input when the table has no columns, duplicate
  // names, or columns of different lengths.
  static Result<Profile> from_table(const Table& baseline, const ProfileOptions& options = {});
  // A profile of `data` with this profile's schema (e.g. the current dataset against a baseline).
  // invalid-input when a schema feature is missing from `data` or has another type.
  Result<Profile> profile_of(const Table& data) const;
  // Same schema, zero counts: the starting point for a served-traffic profile.
  Profile empty_like() const;

  std::size_t size() const noexcept { return features_.size(); }
  // Index of the feature named `name`, or nullopt.
  std::optional<std::size_t> index_of(std::string_view name) const noexcept;
  // i < size(); the reference lives as long as the profile.
  FeatureProfile& feature(std::size_t i) { return features_[i]; }
  const FeatureProfile& feature(std::size_t i) const { return features_[i]; }
  std::vector<FeatureSchema> schema() const;

  // Records one row: row[i] goes to feature(i). invalid-input (and nothing recorded) when
  // row.size() != size().
  Result<void> observe(std::span<const Cell> row);
  Result<void> observe(std::initializer_list<Cell> row) {
    return observe(std::span<const Cell>(row.begin(), row.size()));
  }
  // Rows recorded (by observe, from_table, profile_of, or merged in).
  uint64_t rows() const noexcept { return rows_; }

  // Adds `other` into this profile. invalid-input (and nothing changed) when the schemas differ.
  Result<void> merge(const Profile& other);

  // {"version": 1, "rows": n, "features": [{"name", "type", "binEdges" | "categories", "count",
  //  "missing", ...}]}.
  nlohmann::json to_json() const;
  // Inverse of to_json. invalid-input for another version, a malformed object, or counts that do
  // not match the schema.
  static Result<Profile> from_json(const nlohmann::json& j);

 private:
  std::vector<FeatureProfile> features_;
  uint64_t rows_ = 0;
};

}  // namespace kiln::drift
