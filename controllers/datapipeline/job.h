#pragma once

// The children of a DataPipeline run: one Job per step attempt, and the per-run workspace claim.
// Pure builders returning complete objects for server-side apply. Thread-safe.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controllers/api/v1alpha1.h"
#include "controllers/common/storage.h"

namespace kiln::controllers::datapipeline {

namespace api = kiln::api::v1alpha1;

struct BuildOptions {
  std::string image_pull_policy = "IfNotPresent";  // When a step does not say.
  // kiln-manager's --runtime-image: the artifact check Jobs (artifacts.h) run its
  // `kiln-runtime artifacts`.
  std::string runtime_image = "kiln/runtime:dev";
  // kiln-manager's --artifact-repository (chart value datapipeline.artifactRepository): the
  // s3:// or gs:// prefix output artifacts go to when a pipeline has no
  // spec.artifactRepository; "" = none (artifacts stay in the workspace, artifacts.h).
  std::string artifact_repository;
  // kiln-manager's --storage-* flags: image and defaults of the storage containers (storage.h)
  // that upload and download artifacts.
  StorageDefaults storage;
};

// The workspace claim name a run mounts: spec.workspace.persistentVolumeClaim.claimName, or the
// run's own claim for a volumeClaimTemplate, or "" without a workspace.
std::string workspace_claim(const api::DataPipelineSpec& spec, const std::string& run);

// One input artifact a step's pod downloads before its containers start (artifacts.h resolves
// inputs.artifacts[].from and .uri into these).
struct InputFetch {
  std::string name;    // inputs.artifacts[].name.
  std::string uri;     // Remote; a directory's ends in '/'.
  std::string dest;    // Absolute path in the pod, under the workspace's mountPath.
  std::string digest;  // sha256:<hex> to verify, or "".
};

// The init container that downloads inputs[i]: `fetch-artifact-<i>`.
std::string fetch_container_name(std::size_t i);

// The Job of attempt `attempt` (1-based) of `step` (the step's spec with {{...}} already
// substituted) in run `run` of `pipeline` (the whole object: its metadata names and owns the Job;
// `spec` is its decoded spec): labels kiln.dev/pipeline, run, step on the Job and its pod;
// backoffLimit 0 (the controller retries); restartPolicy Never; activeDeadlineSeconds =
// step.timeoutSeconds; the workspace (if any) mounted at spec.workspace.mountPath in every
// container. The pod is the step's container fields (container "main") or step.template's pod
// spec. Each of `inputs` becomes an init container (fetch_container_name, `kiln-storage
// fetch-artifact <uri> /kiln-inputs/<i>/artifact <digest|->`, configured from `storage` over
// options.storage) writing to the emptyDir "kiln-inputs", mounted (subPath <i>/artifact) at
// its `dest` in every container; the workspace is not needed for inputs.
nlohmann::json desired_step_job(const nlohmann::json& pipeline, const api::DataPipelineSpec& spec,
                                const std::string& run, const api::PipelineStep& step,
                                int attempt, const BuildOptions& options,
                                const std::vector<InputFetch>& inputs = {},
                                const api::StorageConfig* storage = nullptr);

// The claim of a run from spec.workspace.volumeClaimTemplate (owned by `pipeline`, labelled with
// the run), or null when the pipeline has no volumeClaimTemplate.
nlohmann::json desired_workspace_claim(const nlohmann::json& pipeline,
                                       const api::DataPipelineSpec& spec, const std::string& run);

}  // namespace kiln::controllers::datapipeline
