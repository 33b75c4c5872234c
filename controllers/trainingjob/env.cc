#include "controllers/trainingjob/env.h"

#include <algorithm>

#include "controllers/trainingjob/names.h"

namespace kiln::controllers::trainingjob {

using nlohmann::json;

namespace {

json value_env(const std::string& name, const std::string& value) {
  return {{"name", name}, {"value", value}};
}

json index_env(const std::string& name) {
  return {{"name", name},
          {"valueFrom",
           {{"fieldRef",
             {{"fieldPath",
               std::string("metadata.annotations['") + kCompletionIndexAnnotation + "']"}}}}}};
}

std::string tf_config(const std::string& job, const std::string& service, int replicas) {
  json workers = json::array();
  for (int i = 0; i < replicas; ++i) {
    workers.push_back(worker_host(job, i, service) + ":" + std::to_string(kTensorflowPort));
  }
  // The index is spliced in as text so the kubelet can expand $(JOB_COMPLETION_INDEX).
  const json cluster = {{"worker", workers}};
  return R"({"cluster":)" + cluster.dump() +
         R"(,"task":{"type":"worker","index":$(JOB_COMPLETION_INDEX)}})";
}

}  // namespace

json framework_env(api::Framework framework, const std::string& job, const std::string& service,
                   int replicas) {
  json env = json::array({index_env("JOB_COMPLETION_INDEX")});
  const std::string master = worker_host(job, 0, service);
  const std::string world = std::to_string(replicas);
  switch (framework) {
    case api::Framework::kPytorch:
      env.push_back(value_env("MASTER_ADDR", master));
      env.push_back(value_env("MASTER_PORT", std::to_string(kPytorchPort)));
      env.push_back(value_env("WORLD_SIZE", world));
      env.push_back(index_env("RANK"));
      break;
    case api::Framework::kXgboost:
      env.push_back(value_env("DMLC_TRACKER_URI", master));
      env.push_back(value_env("DMLC_TRACKER_PORT", std::to_string(kXgboostTrackerPort)));
      env.push_back(index_env("DMLC_TASK_ID"));
      env.push_back(value_env("DMLC_NUM_WORKER", world));
      break;
    case api::Framework::kTensorflow:
      env.push_back(value_env("TF_CONFIG", tf_config(job, service, replicas)));
      break;
    case api::Framework::kGeneric:
      break;
  }
  return env;
}

void merge_env(json& container, const json& extra) {
  json& env = container["env"];
  if (!env.is_array()) env = json::array();
  json merged = extra;  // Ours first: user variables may then reference them with $(NAME).
  for (json& have : env) {
    const std::string name = have.value("name", "");
    const bool ours = std::any_of(extra.begin(), extra.end(),
                                  [&](const json& e) { return e.value("name", "") == name; });
    if (!ours) merged.push_back(std::move(have));
  }
  env = std::move(merged);
}

}  // namespace kiln::controllers::trainingjob
