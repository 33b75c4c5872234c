#include "controllers/trainingjob/job.h"

#include "controllers/common/names.h"
#include "controllers/common/storage.h"
#include "controllers/common/uri.h"
#include "controllers/trainingjob/env.h"
#include "controllers/trainingjob/names.h"

namespace kiln::controllers::trainingjob {

using nlohmann::json;

namespace {

std::string format_number(double v) { return json(v).dump(); }

json train_args(const api::XGBoostTrainer& x, const std::string& data, const std::string& output) {
  json args = {"--data", data, "--label", x.label};
  args.push_back("--objective");
  args.push_back(std::string(api::to_string(x.objective)));
  args.push_back("--rounds");
  args.push_back(std::to_string(x.num_rounds));
  args.push_back("--test-fraction");
  args.push_back(format_number(x.validation_fraction));
  for (const auto& [key, value] : x.params) {  // std::map: in key order.
    args.push_back("--param");
    args.push_back(key + "=" + value);
  }
  for (const std::string& feature : x.features) {
    args.push_back("--feature");
    args.push_back(feature);
  }
  args.push_back("--output");
  args.push_back(output);
  // The summary becomes the pod's termination message (status.model reads it).
  args.push_back("--termination-log");
  args.push_back("/dev/termination-log");
  return args;
}

json pod_failure_policy() {
  json codes = json::array();
  for (int code = 1; code <= 127; ++code) codes.push_back(code);
  return {
      {"rules", json::array({{{"action", "Ignore"},
                              {"onPodConditions", json::array({{{"type", "DisruptionTarget"}}})}},
                             {{"action", "FailJob"},
                              {"onExitCodes", {{"operator", "In"}, {"values", codes}}}}})}};
}

// `object[key]` when both are objects, else {}: spec.template is a PodTemplateSpec kept as JSON.
json object_member(const json& object, const char* key) {
  if (!object.is_object()) return json::object();
  const auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : json::object();
}

const kiln::api::v1alpha1::StorageConfig* storage_of(const api::TrainingJobSpec& spec) {
  return spec.storage ? &*spec.storage : nullptr;
}

Result<StorageUri> output_uri(const api::TrainingOutput& output) {
  KILN_TRY(StorageUri out, parse_storage_uri(output.model_uri));
  if (out.scheme == UriScheme::kHttps || out.scheme == UriScheme::kHttp) {
    return Error::invalid_input("output.modelUri " + output.model_uri +
                                ": an output is a pvc://, s3:// or gs:// prefix");
  }
  return out;
}

Result<json> pod_spec(const api::TrainingJobSpec& spec, const BuildOptions& options) {
  if (spec.builtin) {
    KILN_TRY(json trainer, builtin_trainer(spec.builtin->xgboost, spec.output, options,
                                           storage_of(spec)));
    json pod = {{"containers", json::array({trainer["container"]})},
                {"volumes", trainer["volumes"]}};
    if (trainer.contains("initContainers")) pod["initContainers"] = trainer["initContainers"];
    return pod;
  }
  return object_member(spec.template_, "spec");
}

// Adds `volume` unless the pod has one of that name (the fetch and upload containers share the
// storage volumes; a list with two entries of one name is refused by the API server).
void append_volume(json& pod, json volume) {
  if (!pod.contains("volumes") || !pod["volumes"].is_array()) pod["volumes"] = json::array();
  for (const auto& v : pod["volumes"]) {
    if (v.value("name", "") == volume.value("name", "")) return;
  }
  pod["volumes"].push_back(std::move(volume));
}

void append_mount(json& container, json mount) {
  if (!container.contains("volumeMounts") || !container["volumeMounts"].is_array()) {
    container["volumeMounts"] = json::array();
  }
  container["volumeMounts"].push_back(std::move(mount));
}

// The remote-output form (job.h): the trainers become init containers writing to kiln-output,
// and worker 0's storage-uploader uploads what they wrote.
void upload_after_training(json& pod, const api::TrainingJobSpec& spec,
                           const BuildOptions& options) {
  append_volume(pod, empty_dir_volume("kiln-output"));
  for (auto& v : storage_volumes(storage_of(spec), options.storage)) append_volume(pod, v);
  json init = pod.contains("initContainers") && pod["initContainers"].is_array()
                  ? pod["initContainers"]
                  : json::array();
  for (json container : pod.value("containers", json::array())) {
    append_mount(container, volume_mount("kiln-output", kOutputDir, false));
    merge_env(container, json::array({{{"name", "KILN_OUTPUT_DIR"}, {"value", kOutputDir}}}));
    // Init containers may not have probes or lifecycle hooks.
    for (const char* field : {"readinessProbe", "livenessProbe", "startupProbe", "lifecycle"}) {
      container.erase(field);
    }
    init.push_back(std::move(container));
  }
  pod["initContainers"] = init;
  pod["containers"] = json::array({upload_container(
      kUploader, kOutputDir, spec.output.model_uri, storage_of(spec), options.storage,
      json::array({volume_mount("kiln-output", kOutputDir, true)}), 0)});
}

}  // namespace

const api::RunPolicy& run_policy_of(const api::TrainingJobSpec& spec) {
  static const api::RunPolicy kDefaults;
  return spec.run_policy ? *spec.run_policy : kDefaults;
}

Result<json> builtin_trainer(const api::XGBoostTrainer& x, const api::TrainingOutput& output,
                             const BuildOptions& options,
                             const kiln::api::v1alpha1::StorageConfig* storage) {
  KILN_TRY(StorageUri data, parse_storage_uri(x.data, options.storage.uri_policy));
  KILN_TRY(StorageUri out, output_uri(output));
  json volumes = json::array();
  json mounts = json::array();
  json init = json::array();
  if (out.on_claim()) {
    volumes.push_back(claim_volume(out.claim, false));
    mounts.push_back(claim_mount(out.claim, false));
  }
  if (data.on_claim() && data.claim != out.claim) {
    volumes.push_back(claim_volume(data.claim, true));
    mounts.push_back(claim_mount(data.claim, true));
  }
  std::string data_path = data.local_path;
  if (data.remote()) {
    const std::string name = data.basename().empty() ? "data.csv" : data.basename();
    data_path = std::string(kDataDir) + "/" + name;
    volumes.push_back(empty_dir_volume("kiln-data"));
    for (auto& v : storage_volumes(storage, options.storage)) volumes.push_back(v);
    mounts.push_back(volume_mount("kiln-data", kDataDir, true));
    init.push_back(fetch_container("storage-initializer", {{x.data, data_path, ""}}, storage,
                                   options.storage,
                                   json::array({volume_mount("kiln-data", kDataDir, false)})));
  }
  json container = {{"name", "trainer"},
                    {"image", x.image ? *x.image : options.runtime_image},
                    {"imagePullPolicy", options.image_pull_policy},
                    {"command", {"kiln-runtime", "train"}},
                    {"args", train_args(x, data_path, out.remote() ? kOutputDir : out.local_path)},
                    {"volumeMounts", mounts},
                    {"terminationMessagePolicy", "FallbackToLogsOnError"}};
  if (!x.resources.is_null()) container["resources"] = x.resources;
  json out_json = {{"container", container}, {"volumes", volumes}};
  if (!init.empty()) out_json["initContainers"] = init;
  return out_json;
}

Result<json> desired_job(const json& tj, const api::TrainingJobSpec& spec, long long restarts,
                         const BuildOptions& options, std::optional<long long> deadline_seconds) {
  const std::string tj_name = string_at(tj, "/metadata/name");
  const api::RunPolicy& run_policy = run_policy_of(spec);
  const std::string job = job_name(tj_name, restarts);
  const std::string service = service_name(tj_name);

  KILN_TRY(json pod, pod_spec(spec, options));
  pod["subdomain"] = service;
  pod["restartPolicy"] = "Never";
  const json env = framework_env(spec.framework, job, service, spec.replicas);
  for (json& container : pod["containers"]) merge_env(container, env);
  KILN_TRY(StorageUri out, output_uri(spec.output));
  if (out.remote()) upload_after_training(pod, spec, options);

  json pod_labels = common_labels();
  pod_labels.update(labels(tj_name));
  json pod_meta = object_member(spec.template_, "metadata");
  pod_labels.update(object_member(pod_meta, "labels"));
  pod_meta["labels"] = pod_labels;

  json job_spec = {
      {"completionMode", "Indexed"},
      {"completions", spec.replicas},
      {"parallelism", spec.replicas},
      {"backoffLimit", run_policy.gang_restart ? 0 : run_policy.backoff_limit},
      {"template", {{"metadata", pod_meta}, {"spec", pod}}}};
  if (deadline_seconds) {
    job_spec["activeDeadlineSeconds"] = *deadline_seconds;
  } else if (run_policy.active_deadline_seconds) {
    job_spec["activeDeadlineSeconds"] = *run_policy.active_deadline_seconds;
  }
  if (run_policy.ttl_seconds_after_finished) {
    job_spec["ttlSecondsAfterFinished"] = *run_policy.ttl_seconds_after_finished;
  }
  if (run_policy.restart_policy == api::RestartPolicy::kExitCode) {
    job_spec["podFailurePolicy"] = pod_failure_policy();
  }
  return json{{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", child_metadata(tj, job, labels(tj_name))},
              {"spec", job_spec}};
}

json desired_service(const json& tj, const std::string& job) {
  const std::string tj_name = string_at(tj, "/metadata/name");
  json selector = labels(tj_name);
  selector[kJobNameLabel] = job;
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", child_metadata(tj, service_name(tj_name), labels(tj_name))},
          {"spec",
           {{"clusterIP", "None"}, {"publishNotReadyAddresses", true}, {"selector", selector}}}};
}

}  // namespace kiln::controllers::trainingjob
