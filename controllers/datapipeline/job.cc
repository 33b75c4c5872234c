#include "controllers/datapipeline/job.h"

#include "controllers/common/names.h"
#include "controllers/common/storage.h"
#include "controllers/datapipeline/names.h"

namespace kiln::controllers::datapipeline {

using nlohmann::json;

namespace {

constexpr const char* kWorkspaceVolume = "workspace";
constexpr const char* kInputsVolume = "kiln-inputs";
constexpr const char* kInputsPath = "/kiln-inputs";

json container_of(const api::PipelineStep& step, const BuildOptions& options) {
  json c = {{"name", "main"}};
  if (step.image) c["image"] = *step.image;
  c["imagePullPolicy"] = step.image_pull_policy
                             ? std::string(api::to_string(*step.image_pull_policy))
                             : options.image_pull_policy;
  if (!step.command.empty()) c["command"] = step.command;
  if (!step.args.empty()) c["args"] = step.args;
  if (!step.env.empty()) c["env"] = step.env;
  if (!step.resources.is_null()) c["resources"] = step.resources;
  return c;
}

// step.template is a free-form PodTemplateSpec: its pod spec, or the step's container fields.
json pod_spec_of(const api::PipelineStep& step, const BuildOptions& options) {
  if (step.template_.is_object()) {
    return step.template_.contains("spec") ? step.template_["spec"] : json::object();
  }
  return {{"containers", json::array({container_of(step, options)})}};
}

json pod_metadata_of(const api::PipelineStep& step) {
  if (step.template_.is_object() && step.template_.contains("metadata")) {
    return step.template_["metadata"];
  }
  return json::object();
}

std::string mount_path_of(const api::DataPipelineSpec& spec) {
  return spec.workspace ? spec.workspace->mount_path : api::Workspace{}.mount_path;
}

void mount_workspace(const api::DataPipelineSpec& spec, const std::string& run, json& pod) {
  const std::string claim = workspace_claim(spec, run);
  if (claim.empty()) return;
  json& volumes = pod["volumes"];
  if (!volumes.is_array()) volumes = json::array();
  volumes.push_back(
      {{"name", kWorkspaceVolume}, {"persistentVolumeClaim", {{"claimName", claim}}}});
  for (json& c : pod["containers"]) {
    json& mounts = c["volumeMounts"];
    if (!mounts.is_array()) mounts = json::array();
    mounts.push_back({{"name", kWorkspaceVolume}, {"mountPath", mount_path_of(spec)}});
  }
}

// Init containers that download `inputs` into the emptyDir kiln-inputs (as <i>/artifact), each
// then mounted (subPath) at its destination in every container: the storage containers stay
// non-root and never write to the workspace, whose ownership is the cluster's.
void fetch_inputs(const std::vector<InputFetch>& inputs, const api::StorageConfig* storage,
                  const BuildOptions& options, json& pod) {
  if (inputs.empty()) return;
  json& init = pod["initContainers"];
  if (!init.is_array()) init = json::array();
  const json mounts = json::array({volume_mount(kInputsVolume, kInputsPath, false)});
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const InputFetch& in = inputs[i];
    const std::string sub = std::to_string(i) + "/artifact";
    init.push_back(storage_tool_container(
        fetch_container_name(i),
        {"kiln-storage", "fetch-artifact", in.uri, std::string(kInputsPath) + "/" + sub,
         in.digest.empty() ? "-" : in.digest},
        storage, options.storage, mounts));
    for (json& c : pod["containers"]) {
      json& cm = c["volumeMounts"];
      if (!cm.is_array()) cm = json::array();
      cm.push_back({{"name", kInputsVolume}, {"mountPath", in.dest}, {"subPath", sub}});
    }
  }
  json& volumes = pod["volumes"];
  if (!volumes.is_array()) volumes = json::array();
  volumes.push_back(empty_dir_volume(kInputsVolume));
  for (const json& v : storage_volumes(storage, options.storage)) volumes.push_back(v);
}

}  // namespace

std::string workspace_claim(const api::DataPipelineSpec& spec, const std::string& run) {
  if (!spec.workspace) return "";
  if (const auto& existing = spec.workspace->persistent_volume_claim;
      existing && !existing->claim_name.empty()) {
    return existing->claim_name;
  }
  if (spec.workspace->volume_claim_template) return workspace_claim_name(run);
  return "";
}

std::string fetch_container_name(std::size_t i) { return "fetch-artifact-" + std::to_string(i); }

json desired_step_job(const json& pipeline, const api::DataPipelineSpec& spec,
                      const std::string& run, const api::PipelineStep& step, int attempt,
                      const BuildOptions& options, const std::vector<InputFetch>& inputs,
                      const api::StorageConfig* storage) {
  const std::string name = string_at(pipeline, "/metadata/name");
  const json step_labels = labels(name, run, step.name);

  json pod = pod_spec_of(step, options);
  pod["restartPolicy"] = "Never";
  mount_workspace(spec, run, pod);
  fetch_inputs(inputs, storage, options, pod);
  json pod_meta = pod_metadata_of(step);
  json pod_labels = common_labels();
  pod_labels.update(step_labels);
  if (pod_meta.contains("labels")) pod_labels.update(pod_meta["labels"]);
  pod_meta["labels"] = pod_labels;

  json job_spec = {{"backoffLimit", 0}, {"template", {{"metadata", pod_meta}, {"spec", pod}}}};
  if (step.timeout_seconds) job_spec["activeDeadlineSeconds"] = *step.timeout_seconds;
  return {
      {"apiVersion", "batch/v1"},
      {"kind", "Job"},
      {"metadata", child_metadata(pipeline, step_job_name(run, step.name, attempt), step_labels)},
      {"spec", job_spec}};
}

json desired_workspace_claim(const json& pipeline, const api::DataPipelineSpec& spec,
                             const std::string& run) {
  if (!spec.workspace || !spec.workspace->volume_claim_template) return nullptr;
  const std::string name = string_at(pipeline, "/metadata/name");
  return {{"apiVersion", "v1"},
          {"kind", "PersistentVolumeClaim"},
          {"metadata", child_metadata(pipeline, workspace_claim_name(run), labels(name, run))},
          {"spec", spec.workspace->volume_claim_template->spec}};
}

}  // namespace kiln::controllers::datapipeline
