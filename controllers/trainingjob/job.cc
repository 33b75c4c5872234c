#include "controllers/trainingjob/job.h"

#include "controllers/common/names.h"
#include "controllers/common/uri.h"
#include "controllers/trainingjob/env.h"
#include "controllers/trainingjob/names.h"

namespace kiln::controllers::trainingjob {

using nlohmann::json;

namespace {

std::string format_number(double v) { return json(v).dump(); }

json train_args(const api::XGBoostTrainer& x, const StorageUri& data, const StorageUri& output) {
  json args = {"--data", data.local_path, "--label", x.label};
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
  args.push_back(output.local_path);
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

Result<json> pod_spec(const api::TrainingJobSpec& spec, const BuildOptions& options) {
  if (spec.builtin) {
    KILN_TRY(json trainer, builtin_trainer(spec.builtin->xgboost, spec.output, options));
    return json{{"containers", json::array({trainer["container"]})},
                {"volumes", trainer["volumes"]}};
  }
  return object_member(spec.template_, "spec");
}

}  // namespace

const api::RunPolicy& run_policy_of(const api::TrainingJobSpec& spec) {
  static const api::RunPolicy kDefaults;
  return spec.run_policy ? *spec.run_policy : kDefaults;
}

Result<json> builtin_trainer(const api::XGBoostTrainer& x, const api::TrainingOutput& output,
                             const BuildOptions& options) {
  KILN_TRY(StorageUri data, parse_storage_uri(x.data));
  KILN_TRY(StorageUri out, parse_storage_uri(output.model_uri));
  json volumes = json::array();
  json mounts = json::array();
  if (out.on_claim()) {
    volumes.push_back(claim_volume(out.claim, false));
    mounts.push_back(claim_mount(out.claim, false));
  }
  if (data.on_claim() && data.claim != out.claim) {
    volumes.push_back(claim_volume(data.claim, true));
    mounts.push_back(claim_mount(data.claim, true));
  }
  json container = {{"name", "trainer"},
                    {"image", x.image ? *x.image : options.runtime_image},
                    {"imagePullPolicy", options.image_pull_policy},
                    {"command", {"kiln-runtime", "train"}},
                    {"args", train_args(x, data, out)},
                    {"volumeMounts", mounts},
                    {"terminationMessagePolicy", "FallbackToLogsOnError"}};
  if (!x.resources.is_null()) container["resources"] = x.resources;
  return json{{"container", container}, {"volumes", volumes}};
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
