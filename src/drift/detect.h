#pragma once

// Data drift between a reference and a current dataset, per feature and for the dataset, in two
// modes:
//
//   exact mode   compare_tables(): raw columns; every statistic as Evidently 0.7 / SciPy 1.13
//                compute it (drift/stattests.h, drift/ks.h), to ~1e-12.
//   sketch mode  compare_profiles(): two Profiles with the same schema (drift/profile.h). KS and
//                Wasserstein run on the KLL sketches; PSI, Jensen–Shannon, Hellinger, L∞ and
//                chi-square on the baseline-quantile bins (numerical) or the tracked categories
//                plus "other" (categorical). docs/drift.md states how far each may be from exact.
//
// Test selection ("auto", Evidently's defaults): with at most 1,000 reference values, KS for a
// numerical feature with more than 5 distinct values (reference ∪ current), otherwise chi-square
// when there are more than 2 distinct values and the two-proportion Z-test when there are 2 or
// fewer; with more than 1,000 reference values, normed Wasserstein for numerical features with
// more than 5 distinct values and Jensen–Shannon otherwise. Default thresholds: p < 0.05 for
// chi-square and Z, p <= 0.05 for KS (Evidently's comparisons), distance >= 0.1 for the rest.
// In sketch mode the distinct-value rule applies to categorical features only.
//
// Missing values (NaN, ±inf, missing categories) are dropped per feature before testing. A feature
// left with no values in either dataset is reported with an error and not counted in the drift
// share. Dataset drift: drifted features / evaluated features >= drift_share (default 0.5).
//
// Corrections apply to p-value tests only: the adjusted p-value replaces the p-value in the
// comparison with the threshold. Pure functions; thread-safe.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "drift/profile.h"
#include "drift/table.h"

namespace kiln::drift {

enum class TestKind {
  kAuto,
  kKs,             // two-sample Kolmogorov–Smirnov, p-value
  kPsi,            // population stability index
  kJensenShannon,  // Jensen–Shannon distance, natural log
  kWasserstein,    // Wasserstein-1 normed by the reference std (Evidently's "wasserstein")
  kChiSquare,      // Pearson chi-square, p-value
  kZ,              // two-proportion Z-test, p-value
  kHellinger,      // Hellinger distance
  kLInfinity,      // max absolute difference of bin/category shares
};

// "auto", "ks", "psi", "jensenshannon", "wasserstein", "chisquare", "z", "hellinger", "linf".
std::string_view to_string(TestKind test) noexcept;
std::optional<TestKind> test_kind_from_string(std::string_view text) noexcept;
// Whether the test yields a p-value (KS, chi-square, Z) rather than a distance.
bool has_p_value(TestKind test) noexcept;
// Evidently's default threshold of a test (0.05 for p-values, 0.1 for distances).
double default_threshold(TestKind test) noexcept;

enum class Correction { kNone, kBonferroni, kFdr };
std::optional<Correction> correction_from_string(std::string_view text) noexcept;

struct FeatureOverride {
  std::optional<TestKind> test;
  std::optional<double> threshold;
};

struct DriftOptions {
  std::vector<std::string> columns;  // Features to compare; empty: every reference feature.
  TestKind test = TestKind::kAuto;   // For every feature without an override.
  std::optional<double> threshold;   // Replaces the test's default threshold.
  std::map<std::string, FeatureOverride, std::less<>> per_feature;
  Correction correction = Correction::kNone;
  double drift_share = 0.5;
};

struct FeatureDrift {
  std::string name;
  ColumnType type = ColumnType::kNumerical;
  TestKind test = TestKind::kAuto;         // The test that ran (never kAuto once evaluated).
  double statistic = 0;                    // KS D, chi-square, z, or the distance.
  std::optional<double> p_value;           // Tests with a p-value.
  std::optional<double> adjusted_p_value;  // With a correction.
  double threshold = 0;
  bool drifted = false;
  uint64_t reference_count = 0;  // Non-missing values compared.
  uint64_t current_count = 0;
  std::string error;  // Non-empty: the feature could not be evaluated (and is not counted).
};

struct DriftReport {
  bool dataset_drift = false;
  double drift_share = 0;  // Drifted / evaluated features (0 when none was evaluated).
  double drift_share_threshold = 0.5;
  std::size_t drifted_features = 0;
  std::vector<FeatureDrift> features;

  // {"datasetDrift", "driftShare", "driftShareThreshold", "numberOfDriftedFeatures",
  //  "features": [{"name", "type", "test", "statistic", "pValue"?, "adjustedPValue"?,
  //  "threshold", "drifted", "referenceCount", "currentCount", "error"?}]}. Non-finite numbers
  //  are null.
  nlohmann::json to_json() const;
  // A fixed-width text table, one feature a line, then the dataset verdict.
  std::string to_table() const;
};

// Exact mode. invalid-input when a requested feature is absent from either table, a feature has
// different types in the two tables, a test does not apply to a feature's type (KS or Wasserstein
// on a categorical feature), or a threshold/drift share is not a finite number.
Result<DriftReport> compare_tables(const Table& reference, const Table& current,
                                   const DriftOptions& options = {});

// Sketch mode. invalid-input as above, and when the two profiles' schemas for a feature differ.
Result<DriftReport> compare_profiles(const Profile& reference, const Profile& current,
                                     const DriftOptions& options = {});

}  // namespace kiln::drift
