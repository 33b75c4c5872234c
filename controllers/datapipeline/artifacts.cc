#include "controllers/datapipeline/artifacts.h"

#include "controllers/common/names.h"
#include "controllers/common/storage.h"
#include "controllers/common/uri.h"
#include "controllers/datapipeline/dag.h"
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

namespace {

std::string in_workspace(const api::DataPipelineSpec& spec, const std::string& path) {
  return !path.empty() && path.front() == '/' ? path : mount_path(spec) + "/" + path;
}

// The status of container `name` in `pod`, or null.
json container_status(const json& pod, const char* list, const std::string& name) {
  for (const json& cs : pod.value("status", json::object()).value(list, json::array())) {
    if (cs.value("name", "") == name) return cs;
  }
  return nullptr;
}

std::string upload_container_name(std::size_t i) { return "upload-" + std::to_string(i); }

}  // namespace

std::optional<Repository> artifact_repository(const api::DataPipelineSpec& spec,
                                              const BuildOptions& options) {
  const auto& own = spec.artifact_repository;
  if (!own && options.artifact_repository.empty()) return std::nullopt;
  std::string prefix = own ? own->uri : options.artifact_repository;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return Repository{prefix, own && own->storage ? &*own->storage : nullptr};
}

std::string artifact_uri(const Repository& repository, const std::string& pipeline,
                         const std::string& run, const std::string& step,
                         const std::string& artifact) {
  return join_uri(repository.prefix, pipeline + "/" + run + "/" + step + "/" + artifact);
}

std::string artifact_upload_job_name(const std::string& run, const std::string& step,
                                     int attempt) {
  return child_name(run, step + "-" + std::to_string(attempt) + "-upload");
}

json desired_artifact_upload_job(const json& pipeline, const api::DataPipelineSpec& spec,
                                 const std::string& run, const api::PipelineStep& step,
                                 int attempt, const Repository& repository,
                                 const BuildOptions& options) {
  const std::string name = string_at(pipeline, "/metadata/name");
  const json step_labels = labels(name, run, step.name);
  json mounts = json::array();
  json volumes = storage_volumes(repository.storage, options.storage);
  if (const std::string claim = workspace_claim(spec, run); !claim.empty()) {
    volumes.push_back({{"name", "workspace"},
                       {"persistentVolumeClaim", {{"claimName", claim}, {"readOnly", true}}}});
    mounts.push_back(volume_mount("workspace", mount_path(spec), true));
  }
  json containers = json::array();
  const auto& outputs = step.outputs->artifacts;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    containers.push_back(storage_tool_container(
        upload_container_name(i),
        {"kiln-storage", "upload-artifact", in_workspace(spec, outputs[i].path),
         artifact_uri(repository, name, run, step.name, outputs[i].name)},
        repository.storage, options.storage, mounts));
  }
  json pod_labels = common_labels();
  pod_labels.update(step_labels);
  json pod = {{"restartPolicy", "Never"}, {"containers", containers}, {"volumes", volumes}};
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata",
           child_metadata(pipeline, artifact_upload_job_name(run, step.name, attempt),
                          step_labels)},
          {"spec",
           {{"backoffLimit", 0},
            // A pod that never schedules (or a transfer that never ends) fails the Job, and
            // with it the step (an Error), instead of leaving the step Running.
            {"activeDeadlineSeconds", step.timeout_seconds.value_or(kUploadDeadlineSeconds)},
            {"template", {{"metadata", {{"labels", pod_labels}}}, {"spec", pod}}}}}};
}

UploadOutcome read_upload(const json* job, const std::vector<json>& pods,
                          const api::DataPipelineSpec& spec, const api::PipelineStep& step) {
  using Kind = AttemptOutcome::Kind;
  UploadOutcome out;
  if (job == nullptr) return out;
  const auto& outputs = step.outputs->artifacts;
  std::vector<std::string> missing;
  for (const json& pod : pods) {
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      const std::string cname = upload_container_name(i);
      const json cs = container_status(pod, "containerStatuses", cname);
      if (!cs.is_object()) continue;
      const json t = cs.value("state", json::object()).value("terminated", json());
      if (t.is_object() && t.value("exitCode", 0) == 3) {
        missing.push_back(in_workspace(spec, outputs[i].path));
        continue;
      }
      if (auto failed = storage_failure(pod, cname)) {
        out.attempt = {Kind::kError,
                       "uploading artifact " + outputs[i].name + ": " + *failed,
                       false, {}};
        out.attempt.stuck = !t.is_object();  // Waiting on a missing Secret: stop the Job.
        return out;
      }
    }
  }
  if (!missing.empty()) {
    std::string m = "output artifacts not found:";
    for (const std::string& p : missing) m += " " + p;
    out.attempt = {Kind::kFailed, m, false, {}};
    return out;
  }
  const AttemptOutcome job_state = read_attempt(job, pods);
  if (job_state.kind == Kind::kRunning) return out;
  if (job_state.kind != Kind::kSucceeded) {
    out.attempt = job_state;
    out.attempt.message = "the artifact upload did not run: " + job_state.message;
    return out;
  }
  // Complete: each container's termination message is {"uri", "digest"}.
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    json stored;
    for (const json& pod : pods) {
      const json cs = container_status(pod, "containerStatuses", upload_container_name(i));
      if (!cs.is_object()) continue;
      const json t = cs.value("state", json::object()).value("terminated", json());
      if (!t.is_object() || t.value("exitCode", 1) != 0) continue;
      const json parsed = json::parse(t.value("message", ""), nullptr, false);
      if (parsed.is_object() && parsed.value("uri", "") != "" &&
          parsed.value("digest", "") != "") {
        stored = {{"name", outputs[i].name},
                  {"uri", parsed["uri"].get<std::string>()},
                  {"digest", parsed["digest"].get<std::string>()}};
      }
    }
    if (stored.is_null()) {
      out.attempt = {Kind::kError,
                     "uploading artifact " + outputs[i].name +
                         ": the upload reported no uri and digest",
                     false, {}};
      out.artifacts = json::array();
      return out;
    }
    out.artifacts.push_back(stored);
  }
  out.attempt = {Kind::kSucceeded, "", false, {}};
  return out;
}

Result<std::vector<InputFetch>> input_fetches(const api::DataPipelineSpec& spec,
                                              const api::PipelineStep& step, const json& run,
                                              bool has_repository) {
  std::vector<InputFetch> out;
  if (!step.inputs) return out;
  const auto& inputs = step.inputs->artifacts;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& a = inputs[i];
    const std::string where = "inputs.artifacts[" + std::to_string(i) + "] (" + a.name + ")";
    if (a.uri) {
      out.push_back({a.name, *a.uri, in_workspace(spec, a.path), a.digest.value_or("")});
      continue;
    }
    if (!a.from) continue;
    const auto ref = parse_artifact_reference(*a.from);
    if (!ref) {
      return Error::invalid_input(where + ": from \"" + *a.from +
                                  "\" is not {{steps.STEP.outputs.artifacts.NAME}}");
    }
    if (!has_repository) {
      return Error::invalid_input(where + ": from needs an artifact repository " +
                                  "(spec.artifactRepository or the chart's)");
    }
    const std::string& producer = ref->step;
    const std::string& artifact = ref->artifact;
    // Copies, not pointers: value() returns temporaries.
    std::optional<json> stored;
    if (run.contains("steps") && run["steps"].is_array()) {
      for (const json& st : run["steps"]) {
        if (!st.is_object() || st.value("name", "") != producer || !st.contains("artifacts") ||
            !st["artifacts"].is_array()) {
          continue;
        }
        for (const json& sa : st["artifacts"]) {
          if (sa.is_object() && sa.value("name", "") == artifact) stored = sa;
        }
      }
    }
    if (!stored) {
      return Error::invalid_input(where + ": step " + producer + " stored no artifact " +
                                  artifact);
    }
    out.push_back({a.name, stored->value("uri", ""), in_workspace(spec, a.path),
                   stored->value("digest", "")});
  }
  return out;
}

std::optional<std::string> input_fetch_failure(const std::vector<json>& pods,
                                               const std::vector<InputFetch>& inputs) {
  for (const json& pod : pods) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (auto failed = storage_failure(pod, fetch_container_name(i))) {
        return "inputs.artifacts " + inputs[i].name + ": " + *failed;
      }
    }
  }
  return std::nullopt;
}

std::string image_id_of(const std::vector<json>& pods) {
  for (const json& pod : pods) {
    const json statuses = pod.value("status", json::object()).value("containerStatuses",
                                                                     json::array());
    std::string first;
    for (const json& cs : statuses) {
      const std::string id = cs.value("imageID", "");
      if (id.empty()) continue;
      if (cs.value("name", "") == "main") return id;
      if (first.empty()) first = id;
    }
    if (!first.empty()) return first;
  }
  return "";
}

}  // namespace kiln::controllers::datapipeline
