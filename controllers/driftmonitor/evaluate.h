#pragma once

// One DriftMonitor evaluation: merge the live profiles of the target's serving pods, compare them
// with the baseline under the spec's features / tests / thresholds / correction / driftShare, and
// render status.lastEvaluation and the per-feature metric values.
//
// Inputs:
//   baseline        a drift::Profile JSON (kiln-runtime train's profile.json, the TrainingJob's
//                   status.model.profileUri, read by the reconciler);
//   live profiles   the bodies of GET /v2/models/{m}/profile of every serving pod:
//                   {"windowSeconds", "inputs": <drift::Profile JSON>, "outputs": ...}
//                   (a bare drift::Profile JSON is accepted too). Inputs are merged with
//                   drift::Profile::merge; they must share the baseline's schema, which the
//                   serving pods get from --baseline-profile (modeldeployment/serving.h).
//
// Spec mapping (crds/kiln.dev_driftmonitors.yaml -> drift::DriftOptions, drift/detect.h):
//   features[].name                 columns (empty list: every baseline feature)
//   features[].test                 auto | ks | psi | jensenshannon | wasserstein | chisquare |
//                                   ztest ("z" in kiln_drift) | hellinger | linf
//   features[].threshold            per-feature threshold; absent: kiln_drift's default for the
//                                   test, except PSI whose default here is 0.2 (the CRD's)
//   features[].type                 checked against the baseline's column type (which decides
//                                   how the column is profiled): on a mismatch the feature gets
//                                   an error, is not evaluated and does not count in driftShare
//   correction, driftShare          as is
//   window.minSamples               fewer merged rows than this: no verdict
//   window.duration                 asked of each serving pod as ?windowSeconds=N
//                                   (live_profile_path); a pod keeps at most its
//                                   --profile-window-seconds (3600 s by default), and
//                                   lastEvaluation.windowSeconds says what was covered
//
// Pure functions; thread-safe.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "controllers/api/v1alpha1.h"
#include "controllers/modeldeployment/support.h"
#include "drift/detect.h"
#include "drift/profile.h"

namespace kiln::controllers::driftmonitor {

namespace api = kiln::api::v1alpha1;
using json = nlohmann::json;
using support::TimePoint;

// One feature's numbers, for status and for the manager's metrics
// (kiln_driftmonitor_feature_statistic / _p_value / _drifted gauges, labelled by monitor and
// feature).
struct FeatureMetric {
  std::string feature;
  std::string type;  // numerical | categorical
  std::string test;  // the test that ran (never "auto")
  double statistic = 0;
  std::optional<double> p_value;  // After correction when one applies.
  double threshold = 0;
  bool drifted = false;
  std::string error;  // Non-empty: the feature could not be evaluated.
};

// What an evaluation found; the struct the manager's metrics read.
struct Evaluation {
  TimePoint time;
  uint64_t samples = 0;  // Merged live rows.
  // The span of served traffic the live profiles cover, in seconds (the smallest over the pods);
  // nullopt when they do not say (bare drift::Profile JSON).
  std::optional<double> window_seconds;
  bool verdict = false;  // false: fewer samples than minSamples.
  bool dataset_drift = false;
  double drift_share = 0;
  std::vector<FeatureMetric> features;

  // status.lastEvaluation: {time, samples, windowSeconds?, datasetDrift?, driftShare?,
  // features[]?}.
  json to_status() const;
};

// The smallest "windowSeconds" among the live profiles' bodies; nullopt when none says.
std::optional<double> covered_window_seconds(const std::vector<json>& live);

// Merges the live profiles' inputs. invalid-input when there is none, one is malformed, or their
// schemas differ.
Result<drift::Profile> merge_live_profiles(const std::vector<json>& live);

// The path of the live profile of model `model` for `spec`:
// /v2/models/{model}/profile[?windowSeconds=N], N = spec.window.duration rounded up to seconds.
// invalid-input when the duration is malformed.
Result<std::string> live_profile_path(const api::DriftMonitorSpec& spec, const std::string& model);

// The drift options of a DriftMonitor spec. Features whose spec.features[].type differs from the
// baseline's type are left out of options.columns and returned in `type_errors` (feature ->
// message).
drift::DriftOptions drift_options(const api::DriftMonitorSpec& spec, const drift::Profile& baseline,
                                  std::map<std::string, std::string>& type_errors);

// Parses the baseline, merges the live profiles and evaluates. Errors: invalid-input for a
// malformed baseline or live profile, or a schema mismatch (kiln_drift's message).
Result<Evaluation> evaluate(const api::DriftMonitorSpec& spec, const json& baseline,
                            const std::vector<json>& live, TimePoint now);

}  // namespace kiln::controllers::driftmonitor
