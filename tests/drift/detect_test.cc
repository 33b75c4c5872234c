// Drift detection on bad input, test selection, corrections and the report's forms.
#include "drift/detect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "drift/stattests.h"

namespace kiln::drift {
namespace {

DriftOptions make_options(std::vector<std::string> columns, TestKind test,
                          Correction correction = Correction::kNone, double drift_share = 0.5,
                          std::optional<double> threshold = std::nullopt) {
  DriftOptions o;
  o.columns = std::move(columns);
  o.test = test;
  o.correction = correction;
  o.drift_share = drift_share;
  o.threshold = threshold;
  return o;
}

std::vector<double> normal(std::size_t n, double mean, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, 1.0);
  std::vector<double> out(n);
  for (double& x : out) x = d(rng);
  return out;
}

Table one_column(Column c) { return Table{{std::move(c)}}; }

Column cats(std::vector<const char*> values) {
  std::vector<std::optional<std::string>> cells;
  for (const char* v : values) cells.push_back(v ? std::optional<std::string>(v) : std::nullopt);
  return Column::categorical("c", cells);
}

TEST(Detect, FeaturesWithoutValuesReportAnErrorAndAreNotCounted) {
  struct Case {
    const char* what;
    std::vector<double> reference;
    std::vector<double> current;
  };
  const std::vector<Case> cases = {
      {"empty reference", {}, {1, 2, 3}},
      {"empty current", {1, 2, 3}, {}},
      {"all-NaN reference", {NAN, NAN}, {1, 2}},
      {"all-inf current", {1, 2}, {INFINITY, -INFINITY}},
  };
  for (const Case& c : cases) {
    Table ref{{Column::numerical("x", c.reference), Column::numerical("y", normal(50, 0, 1))}};
    Table cur{{Column::numerical("x", c.current), Column::numerical("y", normal(50, 3, 2))}};
    if (c.reference.empty()) ref.columns[1].values.clear();  // Keep the tables rectangular.
    if (c.current.empty()) cur.columns[1].values.clear();
    auto r = compare_tables(ref, cur);
    ASSERT_TRUE(r.ok()) << c.what;
    EXPECT_FALSE(r->features[0].error.empty()) << c.what;
    EXPECT_FALSE(r->features[0].drifted) << c.what;
    EXPECT_TRUE(r->to_json()["features"][0]["statistic"].is_null()) << c.what;
  }
}

TEST(Detect, ConstantColumnsAreComparedWithoutNaN) {
  const std::vector<double> five(200, 5.0), six(200, 6.0);
  for (TestKind test : {TestKind::kAuto, TestKind::kKs, TestKind::kWasserstein, TestKind::kPsi,
                        TestKind::kJensenShannon, TestKind::kHellinger, TestKind::kLInfinity,
                        TestKind::kChiSquare, TestKind::kZ}) {
    DriftOptions options = make_options({}, test);
    auto same = compare_tables(one_column(Column::numerical("x", five)),
                               one_column(Column::numerical("x", five)), options);
    ASSERT_TRUE(same.ok());
    const FeatureDrift& s = same->features[0];
    EXPECT_TRUE(s.error.empty()) << to_string(test);
    EXPECT_TRUE(std::isfinite(s.statistic)) << to_string(test);
    EXPECT_FALSE(s.drifted) << to_string(test);
    auto moved = compare_tables(one_column(Column::numerical("x", five)),
                                one_column(Column::numerical("x", six)), options);
    ASSERT_TRUE(moved.ok());
    EXPECT_TRUE(moved->features[0].drifted) << to_string(test);
  }
}

TEST(Detect, CategoryUnseenInTheReferenceIsDrift) {
  std::vector<const char*> ref(300, "a"), cur(300, "a");
  for (int i = 0; i < 100; ++i) ref[i] = "b";
  for (int i = 0; i < 100; ++i) cur[i] = "b";
  for (int i = 0; i < 30; ++i) cur[100 + i] = "new";
  auto r = compare_tables(one_column(cats(ref)), one_column(cats(cur)));
  ASSERT_TRUE(r.ok());
  const FeatureDrift& f = r->features[0];
  EXPECT_EQ(f.test, TestKind::kChiSquare);
  EXPECT_TRUE(std::isinf(f.statistic));
  EXPECT_EQ(*f.p_value, 0.0);
  EXPECT_TRUE(f.drifted);
  EXPECT_TRUE(r->to_json()["features"][0]["statistic"].is_null());
}

TEST(Detect, MismatchedSchemasAreInvalidInput) {
  const Table num = one_column(Column::numerical("c", normal(100, 0, 1)));
  const Table cat = one_column(cats(std::vector<const char*>(100, "a")));
  const Table other = one_column(Column::numerical("z", normal(100, 0, 1)));
  struct Case {
    const char* what;
    const Table& reference;
    const Table& current;
    DriftOptions options;
  };
  const std::vector<Case> cases = {
      {"type differs", num, cat, {}},
      {"column missing from current", num, other, {}},
      {"requested column absent", num, num, make_options({"nope"}, TestKind::kAuto)},
      {"KS on a categorical feature", cat, cat, make_options({}, TestKind::kKs)},
      {"Wasserstein on a categorical feature", cat, cat, make_options({}, TestKind::kWasserstein)},
      {"drift share outside [0, 1]", num, num,
       make_options({}, TestKind::kAuto, Correction::kNone, 1.5)},
      {"NaN threshold", num, num, make_options({}, TestKind::kAuto, Correction::kNone, 0.5, NAN)},
  };
  for (const Case& c : cases) {
    auto r = compare_tables(c.reference, c.current, c.options);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error().category(), ErrorCategory::kInvalidInput) << c.what;
  }
}

TEST(Detect, AutoSelectionFollowsEvidentlyDefaults) {
  struct Case {
    std::size_t reference_rows;
    bool categorical;
    std::size_t distinct;
    TestKind want;
  };
  const std::vector<Case> cases = {
      {1000, false, 50, TestKind::kKs},
      {1000, false, 5, TestKind::kChiSquare},
      {1000, false, 2, TestKind::kZ},
      {1000, true, 3, TestKind::kChiSquare},
      {1000, true, 2, TestKind::kZ},
      {1001, false, 50, TestKind::kWasserstein},
      {1001, false, 4, TestKind::kJensenShannon},
      {1001, true, 40, TestKind::kJensenShannon},
  };
  for (const Case& c : cases) {
    std::vector<double> x;
    std::vector<std::optional<std::string>> s;
    for (std::size_t i = 0; i < c.reference_rows; ++i) {
      x.push_back(static_cast<double>(i % c.distinct));
      s.push_back(std::to_string(i % c.distinct));
    }
    const Table t =
        one_column(c.categorical ? Column::categorical("v", s) : Column::numerical("v", x));
    auto r = compare_tables(t, t);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->features[0].test, c.want) << c.reference_rows << " rows, " << c.distinct;
    EXPECT_FALSE(r->features[0].drifted);
  }
}

TEST(Detect, CorrectionsAdjustPValuesBeforeTheThreshold) {
  // Four p-values, by hand: Bonferroni multiplies by 4; Benjamini–Hochberg gives
  // p(1..4) = .005 .01 .03 .04 -> .02 .02 .04 .04.
  const std::vector<double> p = {0.01, 0.04, 0.03, 0.005};
  const auto bonf = bonferroni(p);
  const auto bh = benjamini_hochberg(p);
  const std::vector<double> want_bonf = {0.04, 0.16, 0.12, 0.02};
  const std::vector<double> want_bh = {0.02, 0.04, 0.04, 0.02};
  for (std::size_t i = 0; i < p.size(); ++i) {
    EXPECT_NEAR(bonf[i], want_bonf[i], 1e-15);
    EXPECT_NEAR(bh[i], want_bh[i], 1e-15);
  }
  // In a report: 20 features without drift and one with a small shift; with Bonferroni the
  // marginal one stops counting.
  Table ref, cur;
  for (int i = 0; i < 20; ++i) {
    ref.columns.push_back(Column::numerical("f" + std::to_string(i), normal(300, 0, i)));
    cur.columns.push_back(Column::numerical("f" + std::to_string(i), normal(300, 0, 100 + i)));
  }
  ref.columns.push_back(Column::numerical("shifted", normal(300, 0, 7)));
  cur.columns.push_back(Column::numerical("shifted", normal(300, 0.2, 8)));
  auto plain = compare_tables(ref, cur, make_options({}, TestKind::kKs));
  auto corrected =
      compare_tables(ref, cur, make_options({}, TestKind::kKs, Correction::kBonferroni));
  ASSERT_TRUE(plain.ok() && corrected.ok());
  const FeatureDrift& a = plain->features.back();
  const FeatureDrift& b = corrected->features.back();
  ASSERT_TRUE(b.adjusted_p_value.has_value());
  EXPECT_NEAR(*b.adjusted_p_value, std::min(1.0, *a.p_value * 21), 1e-15);
  EXPECT_LE(corrected->drifted_features, plain->drifted_features);
}

TEST(Detect, ReportJsonHasTheDocumentedShape) {
  Table ref{{Column::numerical("x", normal(500, 0, 1)), cats(std::vector<const char*>(500, "a"))}};
  Table cur{{Column::numerical("x", normal(500, 1, 2)), cats(std::vector<const char*>(500, "a"))}};
  auto r = compare_tables(ref, cur, make_options({}, TestKind::kAuto));
  ASSERT_TRUE(r.ok());
  const auto j = r->to_json();
  EXPECT_TRUE(j["datasetDrift"].get<bool>());
  EXPECT_DOUBLE_EQ(j["driftShare"].get<double>(), 0.5);
  ASSERT_EQ(j["features"].size(), 2u);
  for (const char* key : {"name", "type", "test", "statistic", "threshold", "drifted"}) {
    EXPECT_TRUE(j["features"][0].contains(key)) << key;
  }
  EXPECT_EQ(j["features"][0]["test"], "ks");
  EXPECT_TRUE(j["features"][0].contains("pValue"));
  EXPECT_EQ(j["features"][1]["test"], "z");
  EXPECT_NE(r->to_table().find("dataset drift: yes"), std::string::npos);
}

}  // namespace
}  // namespace kiln::drift
