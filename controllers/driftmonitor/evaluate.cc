#include "controllers/driftmonitor/evaluate.h"

#include <algorithm>
#include <cmath>

namespace kiln::controllers::driftmonitor {
namespace {

// The CRD's default PSI threshold (kiln_drift's default_threshold(kPsi) is Evidently's 0.1).
constexpr double kDefaultPsiThreshold = 0.2;

std::string type_name(drift::ColumnType type) {
  return type == drift::ColumnType::kCategorical ? "categorical" : "numerical";
}

drift::ColumnType column_type(api::FeatureType type) {
  return type == api::FeatureType::kCategorical ? drift::ColumnType::kCategorical
                                                : drift::ColumnType::kNumerical;
}

drift::Correction correction_of(api::Correction c) {
  switch (c) {
    case api::Correction::kBonferroni: return drift::Correction::kBonferroni;
    case api::Correction::kFdr: return drift::Correction::kFdr;
    case api::Correction::kNone: break;
  }
  return drift::Correction::kNone;
}

drift::TestKind test_of(api::DriftTest t) {
  switch (t) {
    case api::DriftTest::kAuto: return drift::TestKind::kAuto;
    case api::DriftTest::kKs: return drift::TestKind::kKs;
    case api::DriftTest::kPsi: return drift::TestKind::kPsi;
    case api::DriftTest::kJensenshannon: return drift::TestKind::kJensenShannon;
    case api::DriftTest::kWasserstein: return drift::TestKind::kWasserstein;
    case api::DriftTest::kChisquare: return drift::TestKind::kChiSquare;
    case api::DriftTest::kZtest: return drift::TestKind::kZ;
    case api::DriftTest::kHellinger: return drift::TestKind::kHellinger;
    case api::DriftTest::kLinf: return drift::TestKind::kLInfinity;
  }
  return drift::TestKind::kAuto;
}

}  // namespace

json Evaluation::to_status() const {
  json out = {{"time", support::format_time(time)}, {"samples", samples}};
  if (window_seconds) out["windowSeconds"] = *window_seconds;
  if (!verdict) return out;
  out["datasetDrift"] = dataset_drift;
  out["driftShare"] = drift_share;
  out["features"] = json::array();
  for (const auto& f : features) {
    json entry = {{"name", f.feature},
                  {"type", f.type},
                  {"test", f.test},
                  {"threshold", f.threshold},
                  {"drifted", f.drifted}};
    if (std::isfinite(f.statistic)) entry["statistic"] = f.statistic;
    if (f.p_value && std::isfinite(*f.p_value)) entry["pValue"] = *f.p_value;
    if (!f.error.empty()) entry["error"] = f.error;
    out["features"].push_back(std::move(entry));
  }
  return out;
}

std::optional<double> covered_window_seconds(const std::vector<json>& live) {
  std::optional<double> covered;
  for (const auto& body : live) {
    if (!body.contains("windowSeconds") || !body["windowSeconds"].is_number()) continue;
    const double w = body["windowSeconds"].get<double>();
    covered = covered ? std::min(*covered, w) : w;
  }
  return covered;
}

Result<drift::Profile> merge_live_profiles(const std::vector<json>& live) {
  if (live.empty()) return Error::invalid_input("no live profile");
  std::optional<drift::Profile> merged;
  for (std::size_t i = 0; i < live.size(); ++i) {
    const json& body = live[i].contains("inputs") ? live[i]["inputs"] : live[i];
    auto profile = drift::Profile::from_json(body);
    if (!profile.ok()) {
      return profile.error().with_context("live profile " + std::to_string(i));
    }
    if (!merged) {
      merged = std::move(*profile);
      continue;
    }
    auto status = merged->merge(*profile);
    if (!status.ok())
      return status.error().with_context("merging live profile " + std::to_string(i));
  }
  return std::move(*merged);
}

Result<std::string> live_profile_path(const api::DriftMonitorSpec& spec, const std::string& model) {
  std::string path = "/v2/models/" + model + "/profile";
  if (!spec.window) return path;
  const std::string& text = spec.window->duration;
  const auto duration = support::parse_duration(text);
  if (!duration.ok() || duration->count() <= 0) {
    return Error::invalid_input("spec.window.duration: '" + text + "' is not a positive duration");
  }
  const auto seconds = (duration->count() + 999) / 1000;
  return path + "?windowSeconds=" + std::to_string(seconds);
}

drift::DriftOptions drift_options(const api::DriftMonitorSpec& spec, const drift::Profile& baseline,
                                  std::map<std::string, std::string>& type_errors) {
  drift::DriftOptions options;
  options.correction = correction_of(spec.correction);
  options.drift_share = spec.drift_share;
  for (std::size_t i = 0; i < spec.features.size(); ++i) {
    const api::MonitoredFeature& f = spec.features[i];
    if (f.name.empty()) continue;
    const auto at = baseline.index_of(f.name);
    if (f.type && at && baseline.feature(*at).type() != column_type(*f.type)) {
      type_errors[f.name] = "spec.features[" + std::to_string(i) + "].type is " +
                            std::string(api::to_string(*f.type)) + ", but the baseline profiles " +
                            f.name + " as " + type_name(baseline.feature(*at).type());
      continue;
    }
    options.columns.push_back(f.name);
    const drift::TestKind kind = test_of(f.test);
    drift::FeatureOverride o;
    if (kind != drift::TestKind::kAuto) o.test = kind;
    if (f.threshold) {
      o.threshold = *f.threshold;
    } else if (kind == drift::TestKind::kPsi) {
      o.threshold = kDefaultPsiThreshold;
    }
    options.per_feature[f.name] = o;
  }
  return options;
}

Result<Evaluation> evaluate(const api::DriftMonitorSpec& spec, const json& baseline_json,
                            const std::vector<json>& live, TimePoint now) {
  auto baseline = drift::Profile::from_json(baseline_json);
  if (!baseline.ok()) return baseline.error().with_context("baseline");
  auto current = merge_live_profiles(live);
  if (!current.ok()) return current.error();
  Evaluation e;
  e.time = now;
  e.samples = current->rows();
  e.window_seconds = covered_window_seconds(live);
  const auto min_samples = spec.window ? spec.window->min_samples : api::MonitorWindow{}.min_samples;
  if (e.samples < static_cast<uint64_t>(min_samples)) return e;
  std::map<std::string, std::string> type_errors;
  const auto options = drift_options(spec, *baseline, type_errors);
  if (options.columns.empty() && !type_errors.empty()) {
    return Error::invalid_input(type_errors.begin()->second);
  }
  auto report = drift::compare_profiles(*baseline, *current, options);
  if (!report.ok()) return report.error();
  e.verdict = true;
  e.dataset_drift = report->dataset_drift;
  e.drift_share = report->drift_share;
  for (const auto& f : report->features) {
    FeatureMetric m;
    m.feature = f.name;
    m.type = type_name(f.type);
    m.test = std::string(drift::to_string(f.test));
    m.statistic = f.statistic;
    m.p_value = f.adjusted_p_value ? f.adjusted_p_value : f.p_value;
    m.threshold = f.threshold;
    m.drifted = f.drifted;
    m.error = f.error;
    e.features.push_back(std::move(m));
  }
  for (const auto& [name, message] : type_errors) {
    FeatureMetric m;
    m.feature = name;
    m.error = message;
    e.features.push_back(std::move(m));
  }
  return e;
}

}  // namespace kiln::controllers::driftmonitor
