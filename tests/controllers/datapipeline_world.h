#pragma once

// Test support for DataPipeline plans: a pipeline plus the children a plan created, which the test
// then moves along (a Job completes, fails, its pod reports a termination message), as the Job
// controller and kubelet would. Not a fake API server: the plan under test is pure, and this only
// holds the objects it returned.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controllers/datapipeline/plan.h"

namespace kiln::controllers::datapipeline::testing {

struct World {
  explicit World(nlohmann::json p) : pipeline(std::move(p)) {}

  nlohmann::json pipeline;
  Observed observed;
  TimePoint now = std::chrono::system_clock::from_time_t(1'700'000'000);
  Plan last;
  // Whether step() expects `pipeline.spec` to decode (a fixture the decoder refuses has a field
  // the API server would have pruned or refused: a bug in the test). False in tests of that.
  bool expect_readable_spec = true;
  BuildOptions options;  // What kiln-manager's flags would give the plan.

  // Plans, then records the status and the applied/deleted children. Returns the plan.
  const Plan& step();

  // Names of applied Jobs that have not finished, in order of creation.
  std::vector<std::string> running_jobs() const;

  // Marks Job `name` complete; its pod's termination message is `outputs` (JSON) when given.
  void complete(const std::string& name, const nlohmann::json& outputs = nullptr);
  // Marks Job `name` failed with container exit `code` and termination `message` (when given).
  void fail(const std::string& name, int code, const std::string& message = "");
  // Marks Job `name` finished with condition `type` (Complete or Failed; "" leaves it running)
  // and gives its pod these containerStatuses and initContainerStatuses.
  void finish_pod(const std::string& name, const std::string& type,
                  const nlohmann::json& container_statuses,
                  const nlohmann::json& init_statuses = nlohmann::json::array());
  // Puts the Job's pod in ImagePullBackOff (the Job still runs).
  void image_pull_error(const std::string& name);

  // status.runs[run] (0 = newest).
  const nlohmann::json& run(std::size_t i = 0) const;
  // status.runs[run].steps[step] (null when absent) and its jobName.
  nlohmann::json step_status(const std::string& step, std::size_t run_index = 0) const;
  std::string job(const std::string& step, std::size_t run_index = 0) const;
  // The phase of `step` in the newest run.
  std::string phase(const std::string& step, std::size_t run_index = 0) const;
};

// A pipeline named `name` with `steps` (spec.steps) and extra spec fields merged in.
nlohmann::json make_pipeline(const nlohmann::json& steps,
                             const nlohmann::json& spec_extra = nlohmann::json::object());

// {name, image busybox, command [sh -c true], dependsOn}.
nlohmann::json make_step(const std::string& name, std::vector<std::string> depends_on = {});

}  // namespace kiln::controllers::datapipeline::testing
