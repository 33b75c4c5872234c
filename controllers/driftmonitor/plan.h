#pragma once

// The DriftMonitor plan: from the monitor, what the reconciler observed and now, everything a
// reconcile does (support::Plan). Pure, level-based and idempotent.
//
// EVALUATION, every spec.interval (default 5m; evaluation_due() tells the reconciler when to
// fetch the live profiles): evaluate.h merges the serving pods' profiles and compares them with
// the baseline; status.lastEvaluation gets the per-feature numbers; conditions:
//   Ready          True (Evaluating) once target, baseline and live profiles are usable; False
//                  with TargetNotFound, BaselineNotReady, NoLiveProfiles or EvaluationFailed.
//   DriftDetected  True (DatasetDrift) / False (NoDrift); Unknown (InsufficientSamples) below
//                  window.minSamples.
// An Event accompanies every transition.
//
// BASELINE (baseline_uri): without spec.baseline, the profile the target's stable pods were given
// with their model (--baseline-profile: the TrainingJob's status.model.profileUri, or
// spec.model.profileUri), which follows promotions. spec.baseline.uri, or the profileUri of the
// TrainingJob spec.baseline.fromTrainingJob (BaselineNotReady until it reports one), pins it: every
// plan makes sure the target carries the annotations kiln.dev/baseline-profile (that URI) and
// kiln.dev/baseline-profile-from (this monitor) — a metadata patch, as for the canary below —
// and takes its own pin back when spec.baseline goes. The ModelDeployment honours a pin only
// while the monitor it names exists and pins (a deleted monitor's pin lapses); its stable pods
// load it, and the reconciler reads the baseline only from stable pods whose template carries it
// (kiln.dev/baseline-profile). One ModelDeployment has one baseline: monitors of the same target
// must agree on it. status.baselineUri records the pin ("" for none).
//
// RETRAIN, while DriftDetected is True and spec.actions.retrain is set, at most once per
// cooldown (default 6h, from status.lastRetrain.time) and maxRetrainsPerDay (default 2) in any
// 24 hours, and never while an earlier retraining TrainingJob of this monitor is still running:
//   trainingJobTemplate  a TrainingJob <dm>-retrain-<n> (n = 1 + the highest n seen among the
//                        monitor's TrainingJobs and status.lastRetrain), owned by the monitor
//                        (controller: true), labels and annotations from the template's metadata
//                        plus kiln.dev/driftmonitor, spec = the template's spec with
//                        output.modelUri + "/<dm>-retrain-<n>" (a directory per retraining).
//   dataPipelineRef      a metadata patch of that DataPipeline: kiln.dev/run: "<dm>-retrain-<n>"
//                        (the DataPipeline controller starts a run per new token).
// status.lastRetrain {time, trainingJob} records it. retrainsToday counts the monitor's
// TrainingJobs created in the last 24 hours (their creationTimestamp: a record that survives
// manager restarts), plus the last retrain when the cache does not show it yet; for pipelines,
// the last retrain within 24 hours.
//
// ROLLOUT, when spec.actions.rollout.enabled and the TrainingJob of status.lastRetrain reports
// phase Succeeded with status.model: a metadata patch of the target ModelDeployment's annotation
// kiln.dev/canary-model = {uri, format, version: <job name>, profileUri?, trafficPercent} (the
// only write to an object the monitor does not own: an annotation, never spec). It is planned
// while the annotation differs, so it happens once and again only if someone removes it; an
// Event CanaryRequested records it.

#include <optional>
#include <vector>

#include "controllers/driftmonitor/evaluate.h"
#include "controllers/modeldeployment/support.h"

namespace kiln::controllers::driftmonitor {

// What the reconciler read for one DriftMonitor.
struct Observed {
  std::optional<json> target;    // The ModelDeployment; nullopt when not found.
  // The TrainingJob spec.baseline.fromTrainingJob names; nullopt when not found or not named.
  std::optional<json> baseline_job;
  std::optional<json> baseline;  // The baseline profile JSON; nullopt when not available yet.
  // Bodies of GET /v2/models/{m}/profile from the target's serving pods, fetched only when
  // evaluation_due(); empty otherwise.
  std::vector<json> live_profiles;
  // TrainingJobs owned by this monitor (label kiln.dev/driftmonitor), whole objects.
  std::vector<json> training_jobs;
};

struct DriftMonitorPlan : support::Plan {
  // The evaluation made now, for the manager's per-feature metrics; nullopt when none was made.
  std::optional<Evaluation> evaluation;
};

// `spec` is monitor.spec decoded (api::parse_drift_monitor_spec), so a reconciler that decoded it
// already does not decode it again; an error is reported as Ready=False, InvalidSpec.
DriftMonitorPlan plan_driftmonitor(const json& monitor, const Result<api::DriftMonitorSpec>& spec,
                                   const Observed& observed, TimePoint now);
// The same, decoding monitor.spec.
DriftMonitorPlan plan_driftmonitor(const json& monitor, const Observed& observed, TimePoint now);

// The URI of the pinned baseline profile ("" when the stable model's own is used), as above.
// invalid-input while the TrainingJob spec.baseline.fromTrainingJob names is missing or has no
// status.model.profileUri yet.
Result<std::string> baseline_uri(const api::DriftMonitorSpec& spec,
                                 const std::optional<json>& baseline_job);

// Whether an evaluation is due now (spec.interval since status.lastEvaluation.time, or none yet).
bool evaluation_due(const json& monitor, const api::DriftMonitorSpec& spec, TimePoint now);
// The same, decoding monitor.spec (false when it does not decode: the plan reports it).
bool evaluation_due(const json& monitor, TimePoint now);

// The name of the n-th retraining: <dm>-retrain-<n>, a DNS label.
std::string retrain_name(std::string_view monitor, int n);

}  // namespace kiln::controllers::driftmonitor
