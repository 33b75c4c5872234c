#include "controllers/datapipeline/artifacts.h"

#include "controllers/common/names.h"
#include "controllers/datapipeline/names.h"

namespace kiln::controllers::datapipeline {

using nlohmann::json;

namespace {

// Where the workspace is mounted; the schema's default mountPath when there is none.
std::string mount_path(const api::DataPipelineSpec& spec) {
  return spec.workspace ? spec.workspace->mount_path : api::Workspace{}.mount_path;
}

}  // namespace

std::vector<std::string> output_artifact_paths(const api::DataPipelineSpec& spec,
                                               const api::PipelineStep& step) {
  std::vector<std::string> out;
  if (!step.outputs) return out;
  for (const api::PipelineStepOutputsArtifact& a : step.outputs->artifacts) {
    if (a.path.empty()) continue;
    out.push_back(a.path.front() == '/' ? a.path : mount_path(spec) + "/" + a.path);
  }
  return out;
}

std::string artifact_check_job_name(const std::string& run, const std::string& step, int attempt) {
  return child_name(run, step + "-" + std::to_string(attempt) + "-check");
}

json desired_artifact_check_job(const json& pipeline, const api::DataPipelineSpec& spec,
                                const std::string& run, const api::PipelineStep& step,
                                int attempt, const BuildOptions& options) {
  const std::string name = string_at(pipeline, "/metadata/name");
  const json step_labels = labels(name, run, step.name);
  // kiln-runtime artifacts (src/cmd/runtime_artifacts_command.cc): the runtime image has no shell.
  json args = {"artifacts"};
  for (const std::string& p : output_artifact_paths(spec, step)) args.push_back(p);
  json container = {{"name", "check"},
                    {"image", options.runtime_image},
                    {"imagePullPolicy", options.image_pull_policy},
                    {"command", json::array({"kiln-runtime"})},
                    {"args", args},
                    {"volumeMounts", json::array()}};
  json pod = {{"restartPolicy", "Never"}, {"containers", json::array()}};
  if (const std::string claim = workspace_claim(spec, run); !claim.empty()) {
    pod["volumes"] = json::array(
        {{{"name", "workspace"},
          {"persistentVolumeClaim", {{"claimName", claim}, {"readOnly", true}}}}});
    container["volumeMounts"].push_back(
        {{"name", "workspace"}, {"mountPath", mount_path(spec)}, {"readOnly", true}});
  }
  pod["containers"].push_back(container);
  json pod_labels = common_labels();
  pod_labels.update(step_labels);
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata",
           child_metadata(pipeline, artifact_check_job_name(run, step.name, attempt), step_labels)},
          {"spec",
           {{"backoffLimit", 0},
            {"template", {{"metadata", {{"labels", pod_labels}}}, {"spec", pod}}}}}};
}

}  // namespace kiln::controllers::datapipeline
