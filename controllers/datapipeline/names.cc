#include "controllers/datapipeline/names.h"

#include "controllers/common/names.h"

namespace kiln::controllers::datapipeline {

using nlohmann::json;

std::string run_name(const json& pipeline, const std::string& trigger) {
  const std::string uid = string_at(pipeline, "/metadata/uid");
  return child_name(string_at(pipeline, "/metadata/name"),
                    sha256_hex(uid + "/" + trigger).substr(0, 8));
}

std::string step_job_name(const std::string& run, const std::string& step, int attempt) {
  return child_name(run, step + "-" + std::to_string(attempt));
}

std::string workspace_claim_name(const std::string& run) { return child_name(run, "workspace"); }

json labels(const std::string& pipeline, const std::string& run, const std::string& step) {
  json out = {{kPipelineLabel, pipeline}, {kRunLabel, run}};
  if (!step.empty()) out[kStepLabel] = step;
  return out;
}

}  // namespace kiln::controllers::datapipeline
