#pragma once

// Declared artifacts of a DataPipeline step (spec.steps[].outputs.artifacts): files a step says it
// writes to the run's workspace. Kiln has no artifact repository, so an artifact is a path in the
// workspace claim, and what Argo users expect of one is checked there: after a step's Job
// succeeds, a check Job mounts the same claim (read-only) and the step is Succeeded only when
// every declared output path exists; otherwise it fails (retried by its retryStrategy like a
// failed container) with a message naming the missing artifacts, as Argo fails a step whose
// output artifact is missing. A step that declares output artifacts in a pipeline without
// spec.workspace fails after its Job: there is nowhere the files could be (Argo needs an artifact
// repository there). Inputs (inputs.artifacts) are hashed into the cache key only: an input is
// some earlier step's output, checked when that step finished. Pure builders; thread-safe.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

}  // namespace kiln::controllers::datapipeline
