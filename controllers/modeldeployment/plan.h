#pragma once

// The ModelDeployment plan: from the parent, what the cache holds and now, everything a reconcile
// does (support::Plan). Pure, level-based and idempotent: planning again on the result of applying
// a plan yields the same children and status.
//
// Children (names.h): the stable Deployment + Service always; the canary's while a canary is
// active or rolled back (kept for inspection); the shadow's while spec.shadow is set; the router
// ConfigMap, Deployment and Service always; the stable HPA with spec.autoscaling. Children that
// are no longer wanted are deleted.
//
// Models (model.h): spec.model, or the TrainingJob named by spec.model.fromTrainingJob (the plan
// waits with Ready False, reason ModelNotReady, until its status.model exists). The canary is
// spec.canary.model, or, when spec.canary is absent, the annotation kiln.dev/canary-model (JSON
// {uri, format, version, profileUri?, trafficPercent?}) a DriftMonitor writes.
//
// PROMOTION. The operator never writes spec, so a promotion is recorded in status: status.stable
// takes the canary's {uri, version}, and the stable Deployment is rendered from status.stable's
// model rather than spec.model. The stable Deployment carries the annotation
// kiln.dev/spec-model-uri = spec.model's resolved uri when it was rendered; when spec.model later
// changes (observed annotation != current spec.model uri) spec.model wins again and status.stable
// follows it. So a GitOps user may fold the promoted model into spec.model at leisure, and a new
// canary (say, the next retraining) rolls out against the promoted model, not the old spec.model.
// After promotion the canary Deployment and Service are removed, traffic is 100% stable, and
// status.canary keeps the promoted canary's identity (so the same canary does not start again).
//
// Status: observedGeneration; stable / canary / shadow {version, uri, readyReplicas}; traffic
// {stable, canary, shadowMirror}; rollout {step, phase, stepStartTime, failedAnalyses};
// lastAnalysis {time, passed, requests, metrics[]}; url http://<md>.<ns>.svc:80. Conditions:
//   Ready        stable and router Deployments available (ModelNotReady, InvalidModel,
//                ModelFetchFailed, StableNotReady, RouterNotReady, Available)
//                ModelFetchFailed: a pod of the variant, for its current model version, could
//                not download the model (the storage init container's message, e.g.
//                "s3://b/k: 403 AccessDenied", or "CreateContainerConfigError: secret ... not
//                found"); pods of the previous model keep serving. Canary and shadow report the
//                same reason in CanaryReady / ShadowReady.
//   Progressing  rollout under way (rollout.h reasons)
//   CanaryReady  canary Deployment ready (NoCanary, CanaryNotReady, ModelNotReady, Available,
//                Promoted)
//   ShadowReady  shadow Deployment ready (NoShadow, ShadowNotReady, ModelNotReady, Available)
//   RolledBack   True after a rollback of the current canary
// An Event accompanies every condition transition and every rollout move.

#include <optional>
#include <vector>

#include "controllers/modeldeployment/analysis.h"
#include "controllers/modeldeployment/model.h"
#include "controllers/modeldeployment/rollout.h"
#include "controllers/modeldeployment/serving.h"
#include "controllers/modeldeployment/support.h"

namespace kiln::controllers::modeldeployment {

// What the reconciler read for one ModelDeployment.
struct Observed {
  // Owned children in the cache (Deployments, Services, ConfigMaps, HPAs), whole objects.
  std::vector<json> children;
  // The ModelDeployment's pods (label kiln.dev/modeldeployment), read for the storage init
  // container's failures (ModelFetchFailed).
  std::vector<json> pods;
  // status.model of the TrainingJobs that spec.model / canary / shadow name (model.h).
  TrainingModels training_models;
  // The routers' metrics scraped now (merged over the router pods): set only when
  // analysis_due(md, now) and the scrape worked. The plan measures the window from the counters
  // kept in status.lastAnalysis.routerCounters (measure_window) and keeps this scrape's there.
  std::optional<RouterSnapshot> routers;
  // The baseline profile a DriftMonitor pinned (annotation kiln.dev/baseline-profile), when the
  // monitor named by kiln.dev/baseline-profile-from exists and targets this ModelDeployment; the
  // stable pods load it instead of their model's own. nullopt: no pin (or a lapsed one).
  std::optional<std::string> pinned_baseline;
};

struct ModelDeploymentPlan : support::Plan {
  // A measurement was recorded in status.lastAnalysis (with the scrape's counters).
  bool analysis_recorded = false;
};

// `spec` is md.spec decoded (api::parse_model_deployment_spec), so a reconciler that decoded it
// already does not decode it again; an error is reported as Ready=False, InvalidSpec.
ModelDeploymentPlan plan_modeldeployment(const json& md,
                                         const Result<api::ModelDeploymentSpec>& spec,
                                         const Observed& observed, TimePoint now,
                                         const BuildOptions& options);
// The same, decoding md.spec.
ModelDeploymentPlan plan_modeldeployment(const json& md, const Observed& observed, TimePoint now,
                                         const BuildOptions& options);

// Whether the reconciler should scrape the router now (rollout.h analysis_due on md's status).
bool analysis_due(const json& md, const api::ModelDeploymentSpec& spec, TimePoint now);
// The same, decoding md.spec (false when it does not decode).
bool analysis_due(const json& md, TimePoint now);

}  // namespace kiln::controllers::modeldeployment
