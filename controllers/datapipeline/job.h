#pragma once

// The children of a DataPipeline run: one Job per step attempt, and the per-run workspace claim.
// Pure builders returning complete objects for server-side apply. Thread-safe.

#include <nlohmann/json.hpp>
#include <string>

#include "controllers/api/v1alpha1.h"

namespace kiln::controllers::datapipeline {

namespace api = kiln::api::v1alpha1;

struct BuildOptions {
  std::string image_pull_policy = "IfNotPresent";  // When a step does not say.
  // kiln-manager's --runtime-image: the artifact check Jobs (artifacts.h) run its
  // `kiln-runtime artifacts`.
  std::string runtime_image = "kiln/runtime:dev";
};

// The workspace claim name a run mounts: spec.workspace.persistentVolumeClaim.claimName, or the
// run's own claim for a volumeClaimTemplate, or "" without a workspace.
std::string workspace_claim(const api::DataPipelineSpec& spec, const std::string& run);

// The Job of attempt `attempt` (1-based) of `step` (the step's spec with {{...}} already
// substituted) in run `run` of `pipeline` (the whole object: its metadata names and owns the Job;
// `spec` is its decoded spec): labels kiln.dev/pipeline, run, step on the Job and its pod;
// backoffLimit 0 (the controller retries); restartPolicy Never; activeDeadlineSeconds =
// step.timeoutSeconds; the workspace (if any) mounted at spec.workspace.mountPath in every
// container. The pod is the step's container fields (container "main") or step.template's pod
// spec.
nlohmann::json desired_step_job(const nlohmann::json& pipeline, const api::DataPipelineSpec& spec,
                                const std::string& run, const api::PipelineStep& step,
                                int attempt, const BuildOptions& options);

// The claim of a run from spec.workspace.volumeClaimTemplate (owned by `pipeline`, labelled with
// the run), or null when the pipeline has no volumeClaimTemplate.
nlohmann::json desired_workspace_claim(const nlohmann::json& pipeline,
                                       const api::DataPipelineSpec& spec, const std::string& run);

}  // namespace kiln::controllers::datapipeline
