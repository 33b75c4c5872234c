// Exact mode (raw columns) and what both modes share: test names, selection, corrections.
#include "drift/detect.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>

#include "drift/buckets.h"
#include "drift/detect_internal.h"
#include "drift/ks.h"
#include "drift/sort.h"
#include "drift/stattests.h"

namespace kiln::drift {
namespace {

constexpr std::array<std::pair<TestKind, std::string_view>, 9> kTestNames = {{
    {TestKind::kAuto, "auto"},
    {TestKind::kKs, "ks"},
    {TestKind::kPsi, "psi"},
    {TestKind::kJensenShannon, "jensenshannon"},
    {TestKind::kWasserstein, "wasserstein"},
    {TestKind::kChiSquare, "chisquare"},
    {TestKind::kZ, "z"},
    {TestKind::kHellinger, "hellinger"},
    {TestKind::kLInfinity, "linf"},
}};

// Buffers of run_numerical, one set per compare_tables call (reused across features: their
// capacity stays, so a million-row column costs no fresh pages per feature).
struct Scratch {
  std::vector<double> a, b;
  SortScratch sort;
  WassersteinScratch wasserstein;
};

// The number of distinct finite values in a ∪ b, counted up to `limit` (test selection only asks
// whether there are more than 5); stops at the limit, so continuous data costs a few reads.
std::size_t distinct_union(std::span<const double> a, std::span<const double> b,
                           std::size_t limit) {
  std::vector<double> seen;
  for (std::span<const double> values : {a, b}) {
    for (double v : values) {
      if (!std::isfinite(v) || std::find(seen.begin(), seen.end(), v) != seen.end()) continue;
      seen.push_back(v);
      if (seen.size() >= limit) return seen.size();
    }
  }
  return seen.size();
}

// The finite values of `values` in their order (a copy only when some are not finite).
std::span<const double> finite_values(std::span<const double> values, std::size_t finite,
                                      std::vector<double>& buffer) {
  if (finite == values.size()) return values;
  buffer.clear();
  for (double v : values) {
    if (std::isfinite(v)) buffer.push_back(v);
  }
  return buffer;
}

// Counts of each distinct value of the union (ascending), for chi-square and Z on numbers.
std::pair<std::vector<uint64_t>, std::vector<uint64_t>> value_counts(const std::vector<double>& a,
                                                                     const std::vector<double>& b) {
  std::vector<uint64_t> ca, cb;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    const double x = (j >= b.size() || (i < a.size() && a[i] <= b[j])) ? a[i] : b[j];
    uint64_t na = 0, nb = 0;
    while (i < a.size() && a[i] == x) ++na, ++i;
    while (j < b.size() && b[j] == x) ++nb, ++j;
    ca.push_back(na);
    cb.push_back(nb);
  }
  return {ca, cb};
}

void run_numerical(const Column& ref, const Column& cur, FeatureDrift& f, Scratch& scratch) {
  f.reference_count = detail::finite_range(ref.values).count;
  f.current_count = detail::finite_range(cur.values).count;
  if (f.reference_count == 0 || f.current_count == 0) {
    f.error = std::string("no non-missing values in the ") +
              (f.reference_count == 0 ? "reference" : "current");
    return;
  }
  if (f.test == TestKind::kAuto) {
    f.test = detail::select_test(ColumnType::kNumerical, f.reference_count,
                                 distinct_union(ref.values, cur.values, 6));
  }
  if (f.test == TestKind::kWasserstein) {  // Needs no sorted copy (wasserstein_unsorted).
    const double norm = std::max(
        population_std(finite_values(ref.values, f.reference_count, scratch.a)), 0.001);
    f.statistic = wasserstein_unsorted(ref.values, cur.values, scratch.wasserstein) / norm;
    return;
  }
  sort_finite(ref.values, scratch.a, scratch.sort);
  sort_finite(cur.values, scratch.b, scratch.sort);
  const std::vector<double>& a = scratch.a;
  const std::vector<double>& b = scratch.b;
  switch (f.test) {
    case TestKind::kKs: {
      const KsResult r = ks_2samp_sorted(a, b);
      f.statistic = r.statistic;
      f.p_value = r.p_value;
      return;
    }
    case TestKind::kWasserstein:  // Handled above.
      return;
    case TestKind::kPsi:
      f.statistic = psi(bin_numerical(a, b));
      return;
    case TestKind::kJensenShannon:
      f.statistic = jensen_shannon(bin_numerical(a, b));
      return;
    case TestKind::kHellinger:
      f.statistic = hellinger_numerical(a, b);
      return;
    case TestKind::kLInfinity:
      f.statistic = l_infinity(bin_numerical(a, b));
      return;
    case TestKind::kChiSquare:
    case TestKind::kZ: {
      const auto [ca, cb] = value_counts(a, b);
      detail::run_count_test(ca, cb, f);
      return;
    }
    case TestKind::kAuto:
      return;
  }
}

void run_categorical(const Column& ref, const Column& cur, FeatureDrift& f) {
  // Union of categories, sorted by value (Evidently's Z-test takes the first sorted key).
  std::vector<std::string_view> keys;
  for (const auto& d : ref.dictionary) keys.push_back(d);
  for (const auto& d : cur.dictionary) keys.push_back(d);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::unordered_map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < keys.size(); ++i) index.emplace(keys[i], i);
  auto count = [&](const Column& c) {
    const std::vector<uint64_t> per_code = c.code_counts();
    std::vector<uint64_t> out(keys.size());
    for (std::size_t d = 0; d < c.dictionary.size(); ++d)
      out[index[c.dictionary[d]]] += per_code[d];
    return out;
  };
  auto ca = count(ref), cb = count(cur);
  // Keep only categories present in one of the samples (dictionaries may hold unused entries).
  std::vector<uint64_t> ra, rb;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (ca[i] + cb[i] == 0) continue;
    ra.push_back(ca[i]);
    rb.push_back(cb[i]);
  }
  detail::run_categorical_counts(ra, rb, f);
}

}  // namespace

std::string_view to_string(TestKind test) noexcept {
  for (const auto& [k, name] : kTestNames) {
    if (k == test) return name;
  }
  return "auto";
}

std::optional<TestKind> test_kind_from_string(std::string_view text) noexcept {
  for (const auto& [k, name] : kTestNames) {
    if (name == text) return k;
  }
  return std::nullopt;
}

bool has_p_value(TestKind test) noexcept {
  return test == TestKind::kKs || test == TestKind::kChiSquare || test == TestKind::kZ;
}

double default_threshold(TestKind test) noexcept { return has_p_value(test) ? 0.05 : 0.1; }

std::optional<Correction> correction_from_string(std::string_view text) noexcept {
  if (text == "none") return Correction::kNone;
  if (text == "bonferroni") return Correction::kBonferroni;
  if (text == "fdr" || text == "bh") return Correction::kFdr;
  return std::nullopt;
}

namespace detail {

TestKind select_test(ColumnType type, uint64_t reference_count, std::size_t distinct) {
  if (reference_count <= 1000) {
    if (type == ColumnType::kNumerical && distinct > 5) return TestKind::kKs;
    return distinct > 2 ? TestKind::kChiSquare : TestKind::kZ;
  }
  if (type == ColumnType::kNumerical && distinct > 5) return TestKind::kWasserstein;
  return TestKind::kJensenShannon;
}

void run_count_test(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur,
                    FeatureDrift& f) {
  if (f.test == TestKind::kChiSquare) {
    const TestStatistic t = chi_square(ref, cur);
    f.statistic = t.statistic;
    f.p_value = t.p_value;
    return;
  }
  // Z: the property is "not the first (smallest) key".
  uint64_t n1 = 0, n2 = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) n1 += ref[i], n2 += cur[i];
  const std::size_t nonzero = std::count_if(ref.begin(), ref.end(), [](uint64_t c) { return c; });
  const std::size_t nonzero_cur =
      std::count_if(cur.begin(), cur.end(), [](uint64_t c) { return c; });
  if (ref.size() == 1 && nonzero == 1 && nonzero_cur == 1) {
    f.statistic = 0;
    f.p_value = 1.0;  // Evidently: one and the same value in both samples.
    return;
  }
  const TestStatistic t = z_test(n1 - ref[0], n1, n2 - cur[0], n2);
  f.statistic = t.statistic;
  f.p_value = t.p_value;
}

void run_categorical_counts(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur,
                            FeatureDrift& f) {
  uint64_t n1 = 0, n2 = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) n1 += ref[i], n2 += cur[i];
  f.reference_count = n1;
  f.current_count = n2;
  if (n1 == 0 || n2 == 0) {
    f.error = std::string("no non-missing values in the ") + (n1 == 0 ? "reference" : "current");
    return;
  }
  if (f.test == TestKind::kAuto) f.test = select_test(ColumnType::kCategorical, n1, ref.size());
  switch (f.test) {
    case TestKind::kChiSquare:
    case TestKind::kZ:
      run_count_test(ref, cur, f);
      return;
    case TestKind::kPsi:
      f.statistic = psi(shares_from_counts(ref, cur));
      return;
    case TestKind::kJensenShannon:
      f.statistic = jensen_shannon(shares_from_counts(ref, cur));
      return;
    case TestKind::kHellinger:
      f.statistic = hellinger(shares_from_counts(ref, cur));
      return;
    case TestKind::kLInfinity:
      f.statistic = l_infinity(shares_from_counts(ref, cur));
      return;
    default:
      f.error = std::string(to_string(f.test)) + " needs a numerical feature";
      return;
  }
}

Result<std::vector<FeatureDrift>> plan_features(const std::vector<std::string>& reference_names,
                                                const DriftOptions& options) {
  if (!(options.drift_share >= 0 && options.drift_share <= 1)) {
    return Error::invalid_input("drift share must be in [0, 1]");
  }
  if (options.threshold && !std::isfinite(*options.threshold)) {
    return Error::invalid_input("threshold must be a finite number");
  }
  const auto& names = options.columns.empty() ? reference_names : options.columns;
  std::vector<FeatureDrift> out;
  for (const auto& name : names) {
    FeatureDrift f;
    f.name = name;
    f.test = options.test;
    if (auto it = options.per_feature.find(name); it != options.per_feature.end()) {
      if (it->second.test) f.test = *it->second.test;
    }
    out.push_back(std::move(f));
  }
  return out;
}

DriftReport finish(std::vector<FeatureDrift> features, const DriftOptions& options) {
  std::vector<double> p;
  for (auto& f : features) {
    double threshold = options.threshold.value_or(default_threshold(f.test));
    if (auto it = options.per_feature.find(f.name); it != options.per_feature.end()) {
      threshold = it->second.threshold.value_or(threshold);
    }
    f.threshold = threshold;
    p.push_back(f.error.empty() && f.p_value ? *f.p_value : NAN);
  }
  std::vector<double> adjusted = p;
  if (options.correction == Correction::kBonferroni) adjusted = bonferroni(p);
  if (options.correction == Correction::kFdr) adjusted = benjamini_hochberg(p);
  DriftReport report;
  report.drift_share_threshold = options.drift_share;
  std::size_t evaluated = 0;
  for (std::size_t i = 0; i < features.size(); ++i) {
    FeatureDrift& f = features[i];
    if (!f.error.empty()) continue;
    ++evaluated;
    if (f.p_value) {
      if (options.correction != Correction::kNone) f.adjusted_p_value = adjusted[i];
      const double q = f.adjusted_p_value.value_or(*f.p_value);
      f.drifted = f.test == TestKind::kKs ? q <= f.threshold : q < f.threshold;
    } else {
      f.drifted = f.statistic >= f.threshold;
    }
    report.drifted_features += f.drifted ? 1 : 0;
  }
  report.drift_share =
      evaluated ? static_cast<double>(report.drifted_features) / static_cast<double>(evaluated)
                : 0.0;
  report.dataset_drift = evaluated > 0 && report.drift_share >= options.drift_share;
  report.features = std::move(features);
  return report;
}

}  // namespace detail

Result<DriftReport> compare_tables(const Table& reference, const Table& current,
                                   const DriftOptions& options) {
  std::vector<std::string> names;
  for (const Column& c : reference.columns) names.push_back(c.name);
  KILN_TRY(auto features, detail::plan_features(names, options));
  Scratch scratch;
  for (FeatureDrift& f : features) {
    const Column* ref = reference.find(f.name);
    const Column* cur = current.find(f.name);
    if (ref == nullptr || cur == nullptr) {
      return Error::invalid_input("feature '" + f.name + "' is missing from the " +
                                  (ref == nullptr ? "reference" : "current") + " dataset");
    }
    if (ref->type != cur->type) {
      return Error::invalid_input("feature '" + f.name + "' is " +
                                  std::string(to_string(ref->type)) + " in the reference but " +
                                  std::string(to_string(cur->type)) + " in the current dataset");
    }
    f.type = ref->type;
    if (f.type == ColumnType::kCategorical &&
        (f.test == TestKind::kKs || f.test == TestKind::kWasserstein)) {
      return Error::invalid_input(std::string(to_string(f.test)) + " needs a numerical feature; '" +
                                  f.name + "' is categorical");
    }
    if (f.type == ColumnType::kNumerical) {
      run_numerical(*ref, *cur, f, scratch);
    } else {
      run_categorical(*ref, *cur, f);
    }
  }
  return detail::finish(std::move(features), options);
}

}  // namespace kiln::drift
