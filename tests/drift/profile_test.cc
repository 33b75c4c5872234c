// Profiles: merge properties, JSON, schema errors, and the sketch-mode error bounds of
// docs/drift.md against exact mode.
#include "drift/profile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "drift/detect.h"
#include "drift/ks.h"
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

ProfileOptions profile_options(uint32_t bins, uint32_t max_categories) {
  ProfileOptions o;
  o.bins = bins;
  o.max_categories = max_categories;
  return o;
}

// A mixed table: a skewed numerical column with missing values and a categorical one with more
// categories than a small profile tracks.
Table make_table(std::size_t rows, uint64_t seed, double shift = 0) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> lognormal(shift, 1.0);
  std::uniform_real_distribution<double> u(0, 1);
  std::geometric_distribution<int> geo(0.3);
  std::vector<double> x;
  std::vector<std::optional<std::string>> c;
  for (std::size_t i = 0; i < rows; ++i) {
    x.push_back(u(rng) < 0.05 ? NAN : lognormal(rng));
    c.push_back(u(rng) < 0.02 ? std::nullopt : std::optional("c" + std::to_string(geo(rng))));
  }
  Table t;
  t.columns.push_back(Column::numerical("x", std::move(x)));
  t.columns.push_back(Column::categorical("c", c));
  return t;
}

Table slice(const Table& t, const std::vector<std::size_t>& rows) {
  Table out;
  for (const Column& c : t.columns) {
    Column s = c;
    s.values.clear();
    s.codes.clear();
    for (std::size_t r : rows) {
      if (c.type == ColumnType::kNumerical) {
        s.values.push_back(c.values[r]);
      } else {
        s.codes.push_back(c.codes[r]);
      }
    }
    out.columns.push_back(std::move(s));
  }
  return out;
}

// Everything but the quantile sketch's retained items must match exactly; sums to 1e-12.
void expect_same_summary(const Profile& a, const Profile& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a.rows(), b.rows());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const FeatureProfile& fa = a.feature(i);
    const FeatureProfile& fb = b.feature(i);
    EXPECT_EQ(fa.count(), fb.count());
    EXPECT_EQ(fa.missing(), fb.missing());
    if (const auto* na = fa.numerical()) {
      const auto* nb = fb.numerical();
      EXPECT_EQ(na->bin_counts, nb->bin_counts);
      EXPECT_EQ(na->min, nb->min);
      EXPECT_EQ(na->max, nb->max);
      EXPECT_NEAR(na->sum, nb->sum, 1e-12 * std::max(1.0, std::abs(nb->sum)) * na->count);
      EXPECT_NEAR(na->sum_squares, nb->sum_squares, 1e-12 * nb->sum_squares);
      EXPECT_EQ(na->sketch.count(), nb->sketch.count());
    } else {
      EXPECT_EQ(fa.categorical()->category_counts, fb.categorical()->category_counts);
      EXPECT_EQ(fa.categorical()->other, fb.categorical()->other);
    }
  }
}

TEST(Profile, MergingAnySplitGivesTheWholeProfile) {
  const Table whole = make_table(20000, 1);
  auto baseline = Profile::from_table(whole, profile_options(10, 6));
  ASSERT_TRUE(baseline.ok());
  auto expect = baseline->profile_of(whole);
  ASSERT_TRUE(expect.ok());
  std::mt19937_64 rng(2);
  for (int parts : {2, 3, 7, 50}) {
    // Random assignment of rows to parts, then merge the parts in a random order.
    std::vector<std::vector<std::size_t>> rows(parts);
    for (std::size_t r = 0; r < whole.rows(); ++r) rows[rng() % parts].push_back(r);
    std::vector<Profile> profiles;
    for (const auto& rs : rows) profiles.push_back(*baseline->profile_of(slice(whole, rs)));
    std::shuffle(profiles.begin(), profiles.end(), rng);
    Profile merged = baseline->empty_like();
    for (const Profile& p : profiles) ASSERT_TRUE(merged.merge(p).ok());
    expect_same_summary(merged, *expect);
    // The merged sketch answers ranks within the KLL bound of the whole's exact ranks.
    const KllSketch& sketch = merged.feature(0).numerical()->sketch;
    std::vector<double> xs;
    for (double v : whole.columns[0].values) {
      if (std::isfinite(v)) xs.push_back(v);
    }
    std::sort(xs.begin(), xs.end());
    for (double q : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99}) {
      const double x = xs[static_cast<std::size_t>(q * (xs.size() - 1))];
      const double exact =
          static_cast<double>(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin()) / xs.size();
      EXPECT_NEAR(sketch.cdf(x), exact, 2.3 / std::pow(sketch.k(), 0.97)) << parts << " parts";
    }
  }
}

// from_table and profile_of take a column at once (sorted, then counted); add() takes one value at
// a time. Both must give the same summary, and sketches within the same rank bound.
TEST(Profile, ColumnAtOnceEqualsValueByValue) {
  const Table whole = make_table(30000, 3);
  auto batch = Profile::from_table(whole, profile_options(10, 6));
  ASSERT_TRUE(batch.ok());
  Profile streamed = batch->empty_like();
  std::vector<Cell> row(2);
  const Column& x = whole.columns[0];
  const Column& c = whole.columns[1];
  for (std::size_t r = 0; r < whole.rows(); ++r) {
    row[0] = Cell{x.values[r]};
    row[1] = c.codes[r] == Column::kMissingCode ? Cell{}
                                                : Cell{std::string_view(c.dictionary[c.codes[r]])};
    ASSERT_TRUE(streamed.observe(row).ok());
  }
  expect_same_summary(*batch, streamed);
  std::vector<double> xs;
  for (double v : x.values) {
    if (std::isfinite(v)) xs.push_back(v);
  }
  std::sort(xs.begin(), xs.end());
  const double bound = 2.3 / std::pow(batch->feature(0).schema().sketch_k, 0.97);
  for (const Profile* p : {&*batch, &streamed}) {
    const KllSketch& sketch = p->feature(0).numerical()->sketch;
    EXPECT_FALSE(sketch.exact());
    for (double q : {0.001, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999}) {
      const double v = xs[static_cast<std::size_t>(q * (xs.size() - 1))];
      const double exact =
          static_cast<double>(std::upper_bound(xs.begin(), xs.end(), v) - xs.begin()) / xs.size();
      EXPECT_NEAR(sketch.cdf(v), exact, bound) << "q = " << q;
    }
  }
}

// A sorted run inserted at once keeps the sketch's weights and stays within the rank bound, also
// when it lands on a sketch that already holds items and is merged afterwards.
TEST(KllSketch, SortedRunKeepsWeightsAndRankBound) {
  std::mt19937_64 rng(11);
  std::exponential_distribution<double> d(0.5);
  for (std::size_t n : {5, 400, 401, 4097, 250000}) {
    std::vector<double> run(n), mixed;
    for (double& v : run) v = d(rng);
    std::sort(run.begin(), run.end());
    KllSketch sketch(200);
    for (int i = 0; i < 1000; ++i) {
      const double v = d(rng);
      sketch.add(v);
      mixed.push_back(v);
    }
    sketch.add_sorted(run);
    mixed.insert(mixed.end(), run.begin(), run.end());
    std::sort(mixed.begin(), mixed.end());
    ASSERT_EQ(sketch.count(), mixed.size());
    EXPECT_EQ(sketch.min(), mixed.front());
    EXPECT_EQ(sketch.max(), mixed.back());
    uint64_t weight = 0;
    for (const auto& [v, w] : sketch.sorted_items()) weight += w;
    EXPECT_EQ(weight, mixed.size());
    auto round_trip = KllSketch::from_json(sketch.to_json());  // Checks weights == n too.
    ASSERT_TRUE(round_trip.ok()) << round_trip.error().message();
    for (double q : {0.01, 0.25, 0.5, 0.75, 0.99}) {
      const double v = mixed[static_cast<std::size_t>(q * (mixed.size() - 1))];
      const double exact =
          static_cast<double>(std::upper_bound(mixed.begin(), mixed.end(), v) - mixed.begin()) /
          mixed.size();
      EXPECT_NEAR(sketch.cdf(v), exact, 2.3 / std::pow(200.0, 0.97)) << "n = " << n;
    }
  }
}

TEST(Profile, MergeIsCommutativeAndAssociativeOnCounts) {
  const Table t = make_table(9000, 3);
  auto base = Profile::from_table(t, {});
  ASSERT_TRUE(base.ok());
  std::vector<std::size_t> r1, r2, r3;
  for (std::size_t r = 0; r < t.rows(); ++r) (r % 3 == 0 ? r1 : r % 3 == 1 ? r2 : r3).push_back(r);
  const Profile a = *base->profile_of(slice(t, r1)), b = *base->profile_of(slice(t, r2)),
                c = *base->profile_of(slice(t, r3));
  Profile ab_c = a;  // (a + b) + c
  ASSERT_TRUE(ab_c.merge(b).ok());
  ASSERT_TRUE(ab_c.merge(c).ok());
  Profile bc = b;  // a + (b + c), in another order
  ASSERT_TRUE(bc.merge(c).ok());
  Profile c_ba = c;
  ASSERT_TRUE(c_ba.merge(a).ok());
  ASSERT_TRUE(c_ba.merge(b).ok());
  Profile a_bc = a;
  ASSERT_TRUE(a_bc.merge(bc).ok());
  expect_same_summary(ab_c, a_bc);
  expect_same_summary(ab_c, c_ba);
}

TEST(Profile, JsonRoundTripKeepsEverything) {
  auto p = Profile::from_table(make_table(5000, 4), {});
  ASSERT_TRUE(p.ok());
  const auto j = p->to_json();
  EXPECT_EQ(j["version"], kProfileFormatVersion);
  auto back = Profile::from_json(j);
  ASSERT_TRUE(back.ok()) << back.error().to_string();
  EXPECT_EQ(back->to_json(), j);
  expect_same_summary(*back, *p);
}

TEST(Profile, JsonErrorsAreInvalidInput) {
  auto p = Profile::from_table(make_table(500, 5), {});
  ASSERT_TRUE(p.ok());
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> mutate;
  };
  const std::vector<Case> cases = {
      {"future version", [](auto& j) { j["version"] = 2; }},
      {"no features", [](auto& j) { j.erase("features"); }},
      {"bin counts short", [](auto& j) { j["features"][0]["binCounts"].erase(0); }},
      {"unknown type", [](auto& j) { j["features"][1]["type"] = "text"; }},
      {"duplicate feature", [](auto& j) { j["features"][1]["name"] = j["features"][0]["name"]; }},
      {"sketch weight", [](auto& j) { j["features"][0]["sketch"]["n"] = 1; }},
      {"not an object", [](auto& j) { j = nlohmann::json::array(); }},
  };
  for (const Case& c : cases) {
    nlohmann::json j = p->to_json();
    c.mutate(j);
    auto r = Profile::from_json(j);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error().category(), ErrorCategory::kInvalidInput) << c.what;
  }
}

TEST(Profile, ObserveFeedsFeaturesAndRejectsWrongWidth) {
  auto base = Profile::from_table(make_table(1000, 6), profile_options(10, 3));
  ASSERT_TRUE(base.ok());
  Profile live = base->empty_like();
  ASSERT_TRUE(live.observe({Cell{1.5}, Cell{std::string_view("c0")}}).ok());
  ASSERT_TRUE(live.observe({Cell{std::string_view(" 2.5 ")}, Cell{}}).ok());
  ASSERT_TRUE(live.observe({Cell{}, Cell{std::string_view("never-seen")}}).ok());
  live.feature(0).add(std::numeric_limits<double>::infinity());
  EXPECT_EQ(live.rows(), 3u);
  EXPECT_EQ(live.feature(0).count(), 2u);
  EXPECT_EQ(live.feature(0).missing(), 2u);
  EXPECT_EQ(live.feature(1).categorical()->other, 1u);
  EXPECT_EQ(live.feature(1).missing(), 1u);
  auto bad = live.observe({Cell{1.0}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_EQ(live.rows(), 3u);
}

TEST(Profile, MergingDifferentSchemasFailsAndChangesNothing) {
  auto a = Profile::from_table(make_table(1000, 7), {});
  auto b = Profile::from_table(make_table(1000, 8), {});  // Other quantiles, other bins.
  ASSERT_TRUE(a.ok() && b.ok());
  const auto before = a->to_json();
  auto r = a->merge(*b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_EQ(a->to_json(), before);
}

// Sketch mode against exact mode, with the bounds docs/drift.md states.
TEST(SketchMode, KsAndWassersteinStayWithinTheDocumentedBounds) {
  for (uint64_t seed : {11, 12, 13}) {
    for (double shift : {0.0, 0.05, 0.3}) {
      const Table ref = make_table(60000, seed), cur = make_table(40000, seed + 100, shift);
      auto base = Profile::from_table(ref, {});
      ASSERT_TRUE(base.ok());
      auto cur_profile = base->profile_of(cur);
      ASSERT_TRUE(cur_profile.ok());
      DriftOptions options = make_options({"x"}, TestKind::kKs);
      const auto exact_ks = compare_tables(ref, cur, options)->features[0];
      const auto sketch_ks = compare_profiles(*base, *cur_profile, options)->features[0];
      const uint32_t k = base->feature(0).schema().sketch_k;
      const double eps = 2.3 / std::pow(k, 0.97);
      EXPECT_LE(std::abs(exact_ks.statistic - sketch_ks.statistic), 2 * eps)
          << "seed " << seed << " shift " << shift;
      options.test = TestKind::kWasserstein;
      const auto exact_w = compare_tables(ref, cur, options)->features[0];
      const auto sketch_w = compare_profiles(*base, *cur_profile, options)->features[0];
      const auto& n = *base->feature(0).numerical();
      const auto& m = *cur_profile->feature(0).numerical();
      const double range = std::max(n.max, m.max) - std::min(n.min, m.min);
      EXPECT_LE(std::abs(exact_w.statistic - sketch_w.statistic), 2 * eps * range / n.stddev());
      // Measured on this heavy-tailed data: within 0.05 (normed) of exact; docs/drift.md.
      EXPECT_NEAR(sketch_w.statistic, exact_w.statistic, 0.05);
    }
  }
}

// KS on sketches must not flag undrifted features more often than alpha: at n = 20,000 the
// sketches' rank error is of the order of the test's critical D, and a p-value taken at the raw
// sketch D flagged 14% (n = 20,000) and 34% (n = 50,000) of same-distribution pairs at alpha =
// 0.05. Same-distribution pairs at several sizes, each current profile merged from 20 parts
// (serving slots and pods).
TEST(SketchMode, KsFalsePositiveRateStaysWithinAlphaAtEverySize) {
  for (const std::size_t n : {800, 5000, 20000, 50000}) {
    int flagged = 0, trials = 0;
    for (uint64_t seed = 0; seed < 100; ++seed) {
      const Table ref = make_table(n, 1000 + seed), cur = make_table(n, 5000 + seed);
      auto base = Profile::from_table(ref, {});
      ASSERT_TRUE(base.ok());
      auto current = base->profile_of(slice(cur, {}));
      ASSERT_TRUE(current.ok());
      for (std::size_t part = 0; part < 20; ++part) {
        std::vector<std::size_t> rows;
        for (std::size_t i = part; i < n; i += 20) rows.push_back(i);
        auto p = base->profile_of(slice(cur, rows));
        ASSERT_TRUE(p.ok() && current->merge(*p).ok());
      }
      const auto f = compare_profiles(*base, *current, make_options({"x"}, TestKind::kKs));
      ASSERT_TRUE(f.ok());
      flagged += *f->features[0].p_value < 0.05;
      ++trials;
    }
    // 100 trials at a true rate of 5% exceed 10 with probability < 2.5%; the conservative
    // correction measures 0-2%.
    EXPECT_LE(flagged, 10) << "n = " << n << ": " << flagged << " of " << trials << " flagged";
  }
}

// The correction keeps the power to see a drift well above the sketch's error.
TEST(SketchMode, KsStillFlagsAModestShiftAtLargeN) {
  const Table ref = make_table(20000, 21), cur = make_table(20000, 22, 0.1);
  auto base = Profile::from_table(ref, {});
  ASSERT_TRUE(base.ok());
  auto current = base->profile_of(cur);
  ASSERT_TRUE(current.ok());
  const auto options = make_options({"x"}, TestKind::kKs);
  const auto exact = compare_tables(ref, cur, options)->features[0];
  const auto sketch = compare_profiles(*base, *current, options)->features[0];
  EXPECT_LT(*exact.p_value, 1e-6) << "D = " << exact.statistic;
  EXPECT_LT(*sketch.p_value, 1e-3) << "D = " << sketch.statistic;
  EXPECT_GE(*sketch.p_value, *exact.p_value);  // Conservative.
}

TEST(SketchMode, CategoricalTestsEqualExactModeWhenEveryCategoryIsTracked) {
  const Table ref = make_table(3000, 21);
  Table cur = make_table(2000, 22);
  // Categories the reference never saw would pool into "other" in sketch mode: drop them here.
  Column& c = cur.columns[1];
  const auto& known = ref.columns[1].dictionary;
  for (int32_t& code : c.codes) {
    if (code != Column::kMissingCode &&
        std::find(known.begin(), known.end(), c.dictionary[code]) == known.end()) {
      code = Column::kMissingCode;
    }
  }
  auto base = Profile::from_table(ref, profile_options(10, 1000));
  ASSERT_TRUE(base.ok());
  auto cur_profile = base->profile_of(cur);
  ASSERT_TRUE(cur_profile.ok());
  for (TestKind test : {TestKind::kChiSquare, TestKind::kPsi, TestKind::kJensenShannon,
                        TestKind::kHellinger, TestKind::kLInfinity}) {
    DriftOptions options = make_options({"c"}, test);
    const auto exact = compare_tables(ref, cur, options)->features[0];
    const auto sketch = compare_profiles(*base, *cur_profile, options)->features[0];
    if (std::isinf(exact.statistic)) {
      EXPECT_EQ(sketch.statistic, exact.statistic) << to_string(test);
    } else {
      EXPECT_NEAR(sketch.statistic, exact.statistic, 1e-12 * std::max(1.0, exact.statistic))
          << to_string(test);
    }
    EXPECT_EQ(sketch.p_value.has_value(), exact.p_value.has_value());
    if (exact.p_value) {
      EXPECT_NEAR(*sketch.p_value, *exact.p_value, 1e-12);
    }
  }
}

TEST(SketchMode, NumericalPsiUsesTheBaselineQuantileBins) {
  const Table ref = make_table(5000, 31), cur = make_table(4000, 32, 0.2);
  auto base = Profile::from_table(ref, profile_options(10, 100));
  ASSERT_TRUE(base.ok());
  auto cur_profile = base->profile_of(cur);
  const auto& edges = base->feature(0).schema().bin_edges;
  EXPECT_EQ(edges.size(), 9u);
  auto counts = [&](const Column& c) {
    std::vector<uint64_t> out(edges.size() + 1);
    for (double v : c.values) {
      if (std::isfinite(v)) ++out[std::upper_bound(edges.begin(), edges.end(), v) - edges.begin()];
    }
    return out;
  };
  // Deciles of the baseline: each bin holds about a tenth of it.
  for (uint64_t c : counts(ref.columns[0])) EXPECT_NEAR(c / 4750.0, 0.1, 0.01);
  const double want = psi(shares_from_counts(counts(ref.columns[0]), counts(cur.columns[0])));
  DriftOptions options = make_options({"x"}, TestKind::kPsi);
  const auto got = compare_profiles(*base, *cur_profile, options)->features[0];
  EXPECT_NEAR(got.statistic, want, 1e-12);
  EXPECT_GT(got.statistic, 0.01);
}

}  // namespace
}  // namespace kiln::drift
