#include "controllers/trainingjob/job.h"

#include "controllers/common/names.h"
#include "controllers/common/uri.h"
#include "controllers/trainingjob/env.h"
#include "controllers/trainingjob/names.h"

namespace kiln::controllers::trainingjob {

using nlohmann::json;

namespace {

std::string format_number(double v) {
  std::string s = json(v).dump();
  return s;
}

json train_args(const json& x, const StorageUri& data, const StorageUri& output) {
  json args = {"--data", data.local_path, "--label", x.value("label", "")};
  args.push_back("--objective");
  args.push_back(x.value("objective", "binary:logistic"));
  args.push_back("--rounds");
  args.push_back(std::to_string(x.value("numRounds", 100)));
  args.push_back("--test-fraction");
  args.push_back(format_number(x.value("validationFraction", 0.2)));
  if (x.contains("params") && x["params"].is_object()) {
    for (const auto& [key, value] : x["params"].items()) {
      args.push_back("--param");
      args.push_back(key + "=" + (value.is_string() ? value.get<std::string>() : value.dump()));
    }
  }
  for (const json& feature : x.value("features", json::array())) {
    if (!feature.is_string()) continue;
    args.push_back("--feature");
    args.push_back(feature.get<std::string>());
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

Result<json> pod_spec(const json& tj, const BuildOptions& options) {
  const json& spec = tj.at("spec");
  if (spec.contains("builtin")) {
    KILN_TRY(json trainer, builtin_trainer(tj, options));
    return json{{"containers", json::array({trainer["container"]})},
                {"volumes", trainer["volumes"]}};
  }
  json template_spec = spec.value("template", json::object()).value("spec", json::object());
  return template_spec;
}

}  // namespace

Result<json> builtin_trainer(const json& tj, const BuildOptions& options) {
  const json& x = tj.at("spec").at("builtin").at("xgboost");
  KILN_TRY(StorageUri data, parse_storage_uri(x.value("data", "")));
  KILN_TRY(StorageUri output, parse_storage_uri(string_at(tj, "/spec/output/modelUri")));
  json volumes = json::array();
  json mounts = json::array();
  if (output.on_claim()) {
    volumes.push_back(claim_volume(output.claim, false));
    mounts.push_back(claim_mount(output.claim, false));
  }
  if (data.on_claim() && data.claim != output.claim) {
    volumes.push_back(claim_volume(data.claim, true));
    mounts.push_back(claim_mount(data.claim, true));
  }
  json container = {{"name", "trainer"},
                    {"image", x.value("image", options.runtime_image)},
                    {"imagePullPolicy", options.image_pull_policy},
                    {"command", {"kiln-runtime", "train"}},
                    {"args", train_args(x, data, output)},
                    {"volumeMounts", mounts},
                    {"terminationMessagePolicy", "FallbackToLogsOnError"}};
  if (x.contains("resources")) container["resources"] = x["resources"];
  return json{{"container", container}, {"volumes", volumes}};
}

Result<json> desired_job(const json& tj, long long restarts, const BuildOptions& options,
                         std::optional<long long> deadline_seconds) {
  const std::string tj_name = string_at(tj, "/metadata/name");
  const json& spec = tj.at("spec");
  const json run_policy = spec.value("runPolicy", json::object());
  const int replicas = spec.value("replicas", 1);
  const std::string job = job_name(tj_name, restarts);
  const std::string service = service_name(tj_name);

  KILN_TRY(json pod, pod_spec(tj, options));
  pod["subdomain"] = service;
  pod["restartPolicy"] = "Never";
  const json env = framework_env(spec.value("framework", "generic"), job, service, replicas);
  for (json& container : pod["containers"]) merge_env(container, env);

  json pod_labels = common_labels();
  pod_labels.update(labels(tj_name));
  json pod_meta = spec.value("template", json::object()).value("metadata", json::object());
  if (pod_meta.contains("labels")) pod_labels.update(pod_meta["labels"]);
  pod_meta["labels"] = pod_labels;

  const bool gang = run_policy.value("gangRestart", true);
  json job_spec = {{"completionMode", "Indexed"},
                   {"completions", replicas},
                   {"parallelism", replicas},
                   {"backoffLimit", gang ? 0 : run_policy.value("backoffLimit", 3)},
                   {"template", {{"metadata", pod_meta}, {"spec", pod}}}};
  if (deadline_seconds) {
    job_spec["activeDeadlineSeconds"] = *deadline_seconds;
  } else if (run_policy.contains("activeDeadlineSeconds")) {
    job_spec["activeDeadlineSeconds"] = run_policy["activeDeadlineSeconds"];
  }
  if (run_policy.contains("ttlSecondsAfterFinished")) {
    job_spec["ttlSecondsAfterFinished"] = run_policy["ttlSecondsAfterFinished"];
  }
  if (run_policy.value("restartPolicy", "OnFailure") == "ExitCode") {
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
