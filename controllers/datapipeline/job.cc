#include "controllers/datapipeline/job.h"

#include "controllers/common/names.h"
#include "controllers/datapipeline/names.h"

namespace kiln::controllers::datapipeline {

using nlohmann::json;

namespace {

constexpr const char* kWorkspaceVolume = "workspace";

json container_of(const json& step, const BuildOptions& options) {
  json c = {{"name", "main"},
            {"image", step.value("image", "")},
            {"imagePullPolicy", step.value("imagePullPolicy", options.image_pull_policy)}};
  for (const char* field : {"command", "args", "env", "resources"}) {
    if (step.contains(field)) c[field] = step[field];
  }
  return c;
}

json pod_spec_of(const json& step, const BuildOptions& options) {
  if (step.contains("template")) {
    return step["template"].value("spec", json::object());
  }
  return {{"containers", json::array({container_of(step, options)})}};
}

void mount_workspace(const json& pipeline, const std::string& run, json& pod) {
  const std::string claim = workspace_claim(pipeline, run);
  if (claim.empty()) return;
  const std::string path = string_at(pipeline, "/spec/workspace/mountPath", "/workspace");
  json& volumes = pod["volumes"];
  if (!volumes.is_array()) volumes = json::array();
  volumes.push_back(
      {{"name", kWorkspaceVolume}, {"persistentVolumeClaim", {{"claimName", claim}}}});
  for (json& c : pod["containers"]) {
    json& mounts = c["volumeMounts"];
    if (!mounts.is_array()) mounts = json::array();
    mounts.push_back({{"name", kWorkspaceVolume}, {"mountPath", path}});
  }
}

}  // namespace

std::string workspace_claim(const json& pipeline, const std::string& run) {
  const std::string existing =
      string_at(pipeline, "/spec/workspace/persistentVolumeClaim/claimName");
  if (!existing.empty()) return existing;
  if (pipeline.contains(json::json_pointer("/spec/workspace/volumeClaimTemplate"))) {
    return workspace_claim_name(run);
  }
  return "";
}

json desired_step_job(const json& pipeline, const std::string& run, const json& step, int attempt,
                      const BuildOptions& options) {
  const std::string name = string_at(pipeline, "/metadata/name");
  const std::string step_name = step.value("name", "");
  const json step_labels = labels(name, run, step_name);

  json pod = pod_spec_of(step, options);
  pod["restartPolicy"] = "Never";
  mount_workspace(pipeline, run, pod);
  json pod_meta = step.contains("template") ? step["template"].value("metadata", json::object())
                                            : json::object();
  json pod_labels = common_labels();
  pod_labels.update(step_labels);
  if (pod_meta.contains("labels")) pod_labels.update(pod_meta["labels"]);
  pod_meta["labels"] = pod_labels;

  json spec = {{"backoffLimit", 0}, {"template", {{"metadata", pod_meta}, {"spec", pod}}}};
  if (step.contains("timeoutSeconds")) spec["activeDeadlineSeconds"] = step["timeoutSeconds"];
  return {
      {"apiVersion", "batch/v1"},
      {"kind", "Job"},
      {"metadata", child_metadata(pipeline, step_job_name(run, step_name, attempt), step_labels)},
      {"spec", spec}};
}

json desired_workspace_claim(const json& pipeline, const std::string& run) {
  const json::json_pointer at("/spec/workspace/volumeClaimTemplate/spec");
  if (!pipeline.contains(at)) return nullptr;
  const std::string name = string_at(pipeline, "/metadata/name");
  return {{"apiVersion", "v1"},
          {"kind", "PersistentVolumeClaim"},
          {"metadata", child_metadata(pipeline, workspace_claim_name(run), labels(name, run))},
          {"spec", pipeline.at(at)}};
}

}  // namespace kiln::controllers::datapipeline
