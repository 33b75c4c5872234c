#pragma once

// Pieces shared by exact mode (detect.cc), sketch mode (detect_sketch.cc) and the report; not part
// of the public API.

#include <cstdint>
#include <vector>

#include "drift/detect.h"

namespace kiln::drift::detail {

// Evidently's default test for a feature (see detect.h).
TestKind select_test(ColumnType type, uint64_t reference_count, std::size_t distinct);

// Chi-square or Z over aligned counts (f.test decides), filling statistic and p-value.
void run_count_test(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur,
                    FeatureDrift& f);

// Every categorical test over aligned counts of the categories present; fills counts, resolves
// kAuto, sets f.error for an empty sample or a numerical-only test.
void run_categorical_counts(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur,
                            FeatureDrift& f);

// One FeatureDrift per compared feature (name and requested test), after checking the options.
Result<std::vector<FeatureDrift>> plan_features(const std::vector<std::string>& reference_names,
                                                const DriftOptions& options);

// Thresholds, corrections, per-feature verdicts and the dataset verdict.
DriftReport finish(std::vector<FeatureDrift> features, const DriftOptions& options);

}  // namespace kiln::drift::detail
