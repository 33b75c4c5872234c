// Sketch mode (profiles) and the report's JSON and table forms.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "drift/detect.h"
#include "drift/detect_internal.h"
#include "drift/ks.h"
#include "drift/stattests.h"

namespace kiln::drift {
namespace {

using Items = std::vector<std::pair<double, uint64_t>>;

// A sketch's normalized rank error bound: 0 while it holds every item, else DataSketches'
// empirical two-sided bound for KLL, 2.3 / k^0.97 (docs/drift.md).
double rank_error(const KllSketch& sketch) {
  return sketch.exact() ? 0.0 : 2.3 / std::pow(static_cast<double>(sketch.k()), 0.97);
}

// KS on two sketches. D is the sup distance between the sketches' weighted items; it may differ
// from the samples' D by up to the two rank errors, which at large n is of the order of the test's
// critical value, so a p-value from D itself would flag undrifted features far more often than
// alpha (measured: 14% at n = 20,000, 34% at n = 50,000, alpha = 0.05). The p-value is therefore
// taken at D − sqrt(ε_a² + ε_b²) (the sketches' errors are independent), clipped at 0: a
// conservative test (measured false-positive rates 0-1.3% at alpha = 0.05 from n = 800 to
// 50,000), exact when both sketches are. The reported statistic stays D.
KsResult ks_sketches(const KllSketch& a, const KllSketch& b) {
  const KsResult raw = ks_2samp_weighted(a.sorted_items(), b.sorted_items());
  const double ea = rank_error(a), eb = rank_error(b);
  if (ea == 0 && eb == 0) return raw;
  const double slack = std::sqrt(ea * ea + eb * eb);
  KsResult out = ks_2samp_p_value(std::max(0.0, raw.statistic - slack), a.count(), b.count());
  out.statistic = raw.statistic;
  return out;
}

// W1 between two weighted empirical distributions: Σ |F_a − F_b| · gap over merged points.
double wasserstein_weighted(const Items& a, const Items& b) {
  double na = 0, nb = 0;
  for (const auto& [v, w] : a) na += static_cast<double>(w);
  for (const auto& [v, w] : b) nb += static_cast<double>(w);
  std::size_t i = 0, j = 0;
  double ca = 0, cb = 0, sum = 0, prev = std::min(a.front().first, b.front().first);
  while (i < a.size() || j < b.size()) {
    const double x =
        (j >= b.size() || (i < a.size() && a[i].first <= b[j].first)) ? a[i].first : b[j].first;
    if (x != prev) sum += std::abs(ca / na - cb / nb) * (x - prev);
    while (i < a.size() && a[i].first == x) ca += static_cast<double>(a[i++].second);
    while (j < b.size() && b[j].first == x) cb += static_cast<double>(b[j++].second);
    prev = x;
  }
  return sum;
}

void run_numerical(const FeatureProfile& ref, const FeatureProfile& cur, FeatureDrift& f) {
  const NumericalSummary& a = *ref.numerical();
  const NumericalSummary& b = *cur.numerical();
  f.reference_count = a.count;
  f.current_count = b.count;
  if (a.count == 0 || b.count == 0) {
    f.error =
        std::string("no non-missing values in the ") + (a.count == 0 ? "reference" : "current");
    return;
  }
  if (f.test == TestKind::kAuto) {
    f.test = a.count <= 1000 ? TestKind::kKs : TestKind::kWasserstein;
  }
  switch (f.test) {
    case TestKind::kKs: {
      const KsResult r = ks_sketches(a.sketch, b.sketch);
      f.statistic = r.statistic;
      f.p_value = r.p_value;
      return;
    }
    case TestKind::kWasserstein:
      f.statistic = wasserstein_weighted(a.sketch.sorted_items(), b.sketch.sorted_items()) /
                    std::max(a.stddev(), 0.001);
      return;
    case TestKind::kPsi:
      f.statistic = psi(shares_from_counts(a.bin_counts, b.bin_counts));
      return;
    case TestKind::kJensenShannon:
      f.statistic = jensen_shannon(shares_from_counts(a.bin_counts, b.bin_counts));
      return;
    case TestKind::kHellinger:
      f.statistic = hellinger(shares_from_counts(a.bin_counts, b.bin_counts));
      return;
    case TestKind::kLInfinity:
      f.statistic = l_infinity(shares_from_counts(a.bin_counts, b.bin_counts));
      return;
    case TestKind::kChiSquare:
    case TestKind::kZ: {
      std::vector<uint64_t> ra, rb;
      for (std::size_t i = 0; i < a.bin_counts.size(); ++i) {
        if (a.bin_counts[i] + b.bin_counts[i] == 0) continue;
        ra.push_back(a.bin_counts[i]);
        rb.push_back(b.bin_counts[i]);
      }
      detail::run_count_test(ra, rb, f);
      return;
    }
    case TestKind::kAuto:
      return;
  }
}

void run_categorical(const FeatureProfile& ref, const FeatureProfile& cur, FeatureDrift& f) {
  const CategoricalSummary& a = *ref.categorical();
  const CategoricalSummary& b = *cur.categorical();
  // Tracked categories in value order, then "other"; buckets empty in both are dropped.
  const auto& names = ref.schema().categories;
  std::vector<std::size_t> order(names.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t x, std::size_t y) { return names[x] < names[y]; });
  std::vector<uint64_t> ra, rb;
  for (std::size_t i : order) {
    if (a.category_counts[i] + b.category_counts[i] == 0) continue;
    ra.push_back(a.category_counts[i]);
    rb.push_back(b.category_counts[i]);
  }
  if (a.other + b.other > 0) {
    ra.push_back(a.other);
    rb.push_back(b.other);
  }
  detail::run_categorical_counts(ra, rb, f);
}

nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

Result<DriftReport> compare_profiles(const Profile& reference, const Profile& current,
                                     const DriftOptions& options) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    names.push_back(reference.feature(i).schema().name);
  }
  KILN_TRY(auto features, detail::plan_features(names, options));
  for (FeatureDrift& f : features) {
    const auto ri = reference.index_of(f.name), ci = current.index_of(f.name);
    if (!ri || !ci) {
      return Error::invalid_input("feature '" + f.name + "' is missing from the " +
                                  (!ri ? "reference" : "current") + " profile");
    }
    const FeatureProfile& ref = reference.feature(*ri);
    const FeatureProfile& cur = current.feature(*ci);
    if (!(ref.schema() == cur.schema())) {
      return Error::invalid_input("feature '" + f.name +
                                  "' has different schemas (type, bins or categories) in the two "
                                  "profiles; build the current profile from the reference's");
    }
    f.type = ref.type();
    if (f.type == ColumnType::kCategorical &&
        (f.test == TestKind::kKs || f.test == TestKind::kWasserstein)) {
      return Error::invalid_input(std::string(to_string(f.test)) + " needs a numerical feature; '" +
                                  f.name + "' is categorical");
    }
    if (f.type == ColumnType::kNumerical) {
      run_numerical(ref, cur, f);
    } else {
      run_categorical(ref, cur, f);
    }
  }
  return detail::finish(std::move(features), options);
}

nlohmann::json DriftReport::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const FeatureDrift& f : features) {
    nlohmann::json j = {{"name", f.name},
                        {"type", std::string(to_string(f.type))},
                        {"test", std::string(to_string(f.test))},
                        {"statistic", finite_or_null(f.statistic)},
                        {"threshold", f.threshold},
                        {"drifted", f.drifted},
                        {"referenceCount", f.reference_count},
                        {"currentCount", f.current_count}};
    if (f.p_value) j["pValue"] = finite_or_null(*f.p_value);
    if (f.adjusted_p_value) j["adjustedPValue"] = finite_or_null(*f.adjusted_p_value);
    if (!f.error.empty()) {
      j["error"] = f.error;
      j["statistic"] = nullptr;
    }
    list.push_back(std::move(j));
  }
  return {{"datasetDrift", dataset_drift},
          {"driftShare", drift_share},
          {"driftShareThreshold", drift_share_threshold},
          {"numberOfDriftedFeatures", drifted_features},
          {"features", list}};
}

std::string DriftReport::to_table() const {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-24s %-11s %-13s %14s %12s %10s %s\n", "FEATURE", "TYPE",
                "TEST", "STATISTIC", "P-VALUE", "THRESHOLD", "DRIFTED");
  out += line;
  for (const FeatureDrift& f : features) {
    if (!f.error.empty()) {
      std::snprintf(line, sizeof line, "%-24s %-11s %-13s error: %s\n", f.name.c_str(),
                    std::string(to_string(f.type)).c_str(), std::string(to_string(f.test)).c_str(),
                    f.error.c_str());
      out += line;
      continue;
    }
    char p[32] = "-";
    if (f.p_value) std::snprintf(p, sizeof p, "%.6g", f.adjusted_p_value.value_or(*f.p_value));
    std::snprintf(line, sizeof line, "%-24s %-11s %-13s %14.6g %12s %10.4g %s\n", f.name.c_str(),
                  std::string(to_string(f.type)).c_str(), std::string(to_string(f.test)).c_str(),
                  f.statistic, p, f.threshold, f.drifted ? "yes" : "no");
    out += line;
  }
  std::snprintf(line, sizeof line,
                "dataset drift: %s (%zu of %zu features drifted, share %.4g, "
                "threshold %.4g)\n",
                dataset_drift ? "yes" : "no", drifted_features, features.size(), drift_share,
                drift_share_threshold);
  out += line;
  return out;
}

}  // namespace kiln::drift
