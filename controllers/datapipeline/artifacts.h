#pragma once

// Artifacts of DataPipeline steps: files (or directories) a step writes (outputs.artifacts) and
// reads (inputs.artifacts). Pure builders; thread-safe.
//
// With an artifact repository (spec.artifactRepository, else kiln-manager --artifact-repository,
// an s3:// or gs:// prefix; Argo's artifactRepository), after a step's Job succeeds an upload Job
// mounts the run's workspace read-only and runs one container per declared output,
// `kiln-storage upload-artifact <path> <prefix>/<pipeline>/<run>/<step>/<name>`; the step is
// Succeeded once every output is stored, with each one's uri and digest in
// status.runs[].steps[].artifacts. A missing output fails the attempt as a failed container does
// (retryPolicy OnFailure); a transfer that fails (credentials, endpoint) is an Error (OnError).
// An input with `from: "{{steps.X.outputs.artifacts.Y}}"` is the uri and digest X's status
// recorded (a Cached step's are the run's it was cached from); one with `uri` is that object
// (with its `digest`, when given). Each is downloaded by an init container of the step's pod and
// its digest checked before the step starts (job.h).
//
// Without a repository, an output is a path in the workspace claim and what Argo users expect of
// one is checked there: a check Job mounts the claim (read-only) and the step is Succeeded only
// when every declared path exists; otherwise it fails (retried by its retryStrategy like a failed
// container) with a message naming the missing artifacts. A step that declares output artifacts
// in a pipeline without spec.workspace fails after its Job: there is nowhere the files could be.
// An input without from or uri is a path some earlier step left in the workspace.

#include <nlohmann/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

#include "controllers/datapipeline/attempt.h"
#include "controllers/datapipeline/job.h"

namespace kiln::controllers::datapipeline {

// The declared output artifacts of `step` as paths in the pod: a relative path is taken under
// spec.workspace.mountPath (without a workspace, its schema default), an absolute one as written.
// Empty when none.
std::vector<std::string> output_artifact_paths(const api::DataPipelineSpec& spec,
                                               const api::PipelineStep& step);

// `<run>-<step>-<attempt>-check`, hashed when long.
std::string artifact_check_job_name(const std::string& run, const std::string& step, int attempt);

// The check Job of attempt `attempt` of `step` in run `run` of `pipeline` (the whole object, whose
// decoded spec is `spec`): options.runtime_image running
// `kiln-runtime artifacts <paths of output_artifact_paths>`, with the run's workspace claim
// mounted read-only at the same mountPath; it exits 1 and writes "missing: <path> ..." to its
// termination message when any is absent. backoffLimit 0, restartPolicy Never, labelled as the
// step's Jobs.
nlohmann::json desired_artifact_check_job(const nlohmann::json& pipeline,
                                          const api::DataPipelineSpec& spec,
                                          const std::string& run, const api::PipelineStep& step,
                                          int attempt, const BuildOptions& options);

// Where a pipeline's output artifacts are stored.
struct Repository {
  std::string prefix;                           // s3:// or gs://, without a trailing '/'.
  const api::StorageConfig* storage = nullptr;  // spec.artifactRepository.storage, or null.
};

// spec.artifactRepository, else options.artifact_repository (with no storage block of its own),
// else nullopt. Points into `spec`.
std::optional<Repository> artifact_repository(const api::DataPipelineSpec& spec,
                                              const BuildOptions& options);

// `<prefix>/<pipeline>/<run>/<step>/<artifact>`.
std::string artifact_uri(const Repository& repository, const std::string& pipeline,
                         const std::string& run, const std::string& step,
                         const std::string& artifact);

// `<run>-<step>-<attempt>-upload`, hashed when long.
std::string artifact_upload_job_name(const std::string& run, const std::string& step, int attempt);

// The upload Job of attempt `attempt` of `step`: container `upload-<i>` for outputs.artifacts[i]
// (the storage image, options.storage over repository.storage), the run's workspace claim mounted
// read-only at its mountPath. backoffLimit 0, restartPolicy Never, labelled as the step's Jobs;
// activeDeadlineSeconds the step's timeoutSeconds, else kUploadDeadlineSeconds.
inline constexpr int32_t kUploadDeadlineSeconds = 3600;
nlohmann::json desired_artifact_upload_job(const nlohmann::json& pipeline,
                                           const api::DataPipelineSpec& spec,
                                           const std::string& run, const api::PipelineStep& step,
                                           int attempt, const Repository& repository,
                                           const BuildOptions& options);

// What the upload Job says. `attempt.kind` is kRunning until every upload container has
// terminated (or one failed); on kSucceeded `artifacts` is [{name, uri, digest}] in
// outputs.artifacts order, read from each container's termination message. A container that
// exited 3 (nothing at the path) makes a kFailed "output artifacts not found: <path> ..."; any
// other failure (or a container that cannot start: a missing Secret) a kError naming the
// artifact and the storage tool's reason.
struct UploadOutcome {
  AttemptOutcome attempt;
  nlohmann::json artifacts = nlohmann::json::array();
};
UploadOutcome read_upload(const nlohmann::json* job, const std::vector<nlohmann::json>& pods,
                          const api::DataPipelineSpec& spec, const api::PipelineStep& step);

// The downloads `step` needs before it starts: its inputs.artifacts with `from` (looked up in
// `run`'s steps[].artifacts) or `uri`, destinations under the workspace's mountPath. Errors
// (invalid-input), naming inputs.artifacts[i]: a `from` that is not a step artifact reference,
// whose step has not stored that artifact, or without a repository (`has_repository`).
Result<std::vector<InputFetch>> input_fetches(const api::DataPipelineSpec& spec,
                                              const api::PipelineStep& step,
                                              const nlohmann::json& run, bool has_repository);

// If a fetch init container of `pods` failed or cannot start: "inputs.artifacts NAME: <reason>".
std::optional<std::string> input_fetch_failure(const std::vector<nlohmann::json>& pods,
                                               const std::vector<InputFetch>& inputs);

// The image digest the step's container ran: containerStatuses[].imageID of container "main" (or
// the first container) of the first pod that has one; "" when none is known.
std::string image_id_of(const std::vector<nlohmann::json>& pods);

}  // namespace kiln::controllers::datapipeline
