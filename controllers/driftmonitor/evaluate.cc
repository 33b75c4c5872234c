#include "controllers/driftmonitor/evaluate.h"

#include <algorithm>
#include <cmath>

namespace kiln::controllers::driftmonitor {
namespace {

using support::value_or;

// The CRD's default PSI threshold (kiln_drift's default_threshold(kPsi) is Evidently's 0.1).
constexpr double kDefaultPsiThreshold = 0.2;

std::string type_name(drift::ColumnType type) {
  return type == drift::ColumnType::kCategorical ? "categorical" : "numerical";
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

Result<std::string> live_profile_path(const json& spec, const std::string& model) {
  std::string path = "/v2/models/" + model + "/profile";
  const json::json_pointer pointer("/window/duration");
  if (!spec.contains(pointer) || !spec.at(pointer).is_string()) return path;
  const std::string text = spec.at(pointer).get<std::string>();
  const auto duration = support::parse_duration(text);
  if (!duration.ok() || duration->count() <= 0) {
    return Error::invalid_input("spec.window.duration: '" + text + "' is not a positive duration");
  }
  const auto seconds = (duration->count() + 999) / 1000;
  return path + "?windowSeconds=" + std::to_string(seconds);
}

Result<drift::DriftOptions> drift_options(const json& spec) {
  drift::DriftOptions options;
  const auto correction =
      drift::correction_from_string(value_or<std::string>(spec, "correction", "none"));
  if (!correction) return Error::invalid_input("unknown correction");
  options.correction = *correction;
  options.drift_share = value_or<double>(spec, "driftShare", 0.5);
  for (const auto& f : spec.value("features", json::array())) {
    const auto name = value_or<std::string>(f, "name", "");
    if (name.empty()) continue;
    options.columns.push_back(name);
    std::string test = value_or<std::string>(f, "test", "auto");
    if (test == "ztest") test = "z";
    const auto kind = drift::test_kind_from_string(test);
    if (!kind) return Error::invalid_input("feature " + name + ": unknown test " + test);
    drift::FeatureOverride o;
    if (*kind != drift::TestKind::kAuto) o.test = *kind;
    if (f.contains("threshold") && f["threshold"].is_number()) {
      o.threshold = f["threshold"].get<double>();
    } else if (*kind == drift::TestKind::kPsi) {
      o.threshold = kDefaultPsiThreshold;
    }
    options.per_feature[name] = o;
  }
  return options;
}

Result<Evaluation> evaluate(const json& spec, const json& baseline_json,
                            const std::vector<json>& live, TimePoint now) {
  auto baseline = drift::Profile::from_json(baseline_json);
  if (!baseline.ok()) return baseline.error().with_context("baseline");
  auto current = merge_live_profiles(live);
  if (!current.ok()) return current.error();
  Evaluation e;
  e.time = now;
  e.samples = current->rows();
  e.window_seconds = covered_window_seconds(live);
  const json window = spec.value("window", json::object());
  if (e.samples < value_or<uint64_t>(window, "minSamples", 500)) return e;
  auto options = drift_options(spec);
  if (!options.ok()) return options.error();
  auto report = drift::compare_profiles(*baseline, *current, *options);
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
  return e;
}

}  // namespace kiln::controllers::driftmonitor
