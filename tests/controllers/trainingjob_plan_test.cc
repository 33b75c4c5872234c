// The TrainingJob plan: phases, gang restarts, status.model, clean-up, idempotence.

#include <gtest/gtest.h>

#include "controllers/common/conditions.h"
#include "controllers/trainingjob/plan.h"

namespace kiln::controllers::trainingjob {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const TimePoint kNow = std::chrono::system_clock::from_time_t(1'700'000'000);

json trainingjob(json status = json::object()) {
  json tj = {
      {"apiVersion", "kiln.dev/v1alpha1"},
      {"kind", "TrainingJob"},
      {"metadata", {{"name", "mnist"}, {"namespace", "ml"}, {"uid", "u"}, {"generation", 3}}},
      {"spec",
       {{"framework", "pytorch"},
        {"replicas", 4},
        {"template",
         {{"spec", {{"containers", json::array({{{"name", "main"}, {"image", "t:1"}}})}}}}},
        {"runPolicy",
         {{"backoffLimit", 2},
          {"gangRestart", true},
          {"cleanPodPolicy", "Running"},
          {"ttlSecondsAfterFinished", 600}}},
        {"output", {{"modelUri", "pvc://models/mnist"}}}}}};
  if (!status.empty()) tj["status"] = status;
  return tj;
}

json job(const std::string& name, json status) {
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata", {{"name", name}, {"namespace", "ml"}}},
          {"status", status}};
}

json job_condition(const std::string& type, const std::string& reason = "") {
  return {{"conditions", json::array({{{"type", type}, {"status", "True"}, {"reason", reason}}})}};
}

json pod(const std::string& job_name, int index, const std::string& phase,
         const std::string& message = "") {
  json p = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", job_name + "-" + std::to_string(index) + "-abcde"},
        {"namespace", "ml"},
        {"labels", {{"batch.kubernetes.io/job-name", job_name}}},
        {"annotations", {{"batch.kubernetes.io/job-completion-index", std::to_string(index)}}}}},
      {"status", {{"phase", phase}}}};
  if (!message.empty()) {
    p["status"]["containerStatuses"] = json::array(
        {{{"name", "main"}, {"state", {{"terminated", {{"exitCode", 0}, {"message", message}}}}}}});
  }
  return p;
}

std::vector<std::string> applied_names(const Plan& plan) {
  std::vector<std::string> out;
  for (const json& o : plan.apply)
    out.push_back(o["kind"].get<std::string>() + "/" + o["metadata"]["name"].get<std::string>());
  return out;
}

TEST(TrainingJobPlan, NewTrainingJobAppliesServiceAndJobAndIsCreated) {
  const Plan plan = plan_trainingjob(trainingjob(), {}, kNow, BuildOptions{});
  EXPECT_EQ(applied_names(plan), (std::vector<std::string>{"Service/mnist-workers", "Job/mnist"}));
  EXPECT_EQ(plan.status["phase"], "Created");
  EXPECT_EQ(plan.status["observedGeneration"], 3);
  EXPECT_EQ(plan.status["jobName"], "mnist");
  EXPECT_TRUE(condition_true(plan.status, "Created"));
  EXPECT_FALSE(condition_true(plan.status, "Running"));
  ASSERT_EQ(plan.events.size(), 1u);
  EXPECT_EQ(plan.events[0].reason, "Created");
}

TEST(TrainingJobPlan, ActiveWorkersMakeItRunning) {
  Observed observed;
  observed.jobs.push_back(job("mnist", {{"active", 4}}));
  const Plan plan = plan_trainingjob(trainingjob({{"phase", "Created"}}), observed, kNow, {});
  EXPECT_EQ(plan.status["phase"], "Running");
  EXPECT_EQ(plan.status["startTime"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(plan.status["replicaStatuses"]["active"], 4);
  EXPECT_TRUE(condition_true(plan.status, "Running"));
}

TEST(TrainingJobPlan, WorkersFinishingBeforeTheJobCompletesStayRunning) {
  const std::vector<json> finishing = {
      {{"active", 0}, {"succeeded", 2}},
      {{"active", 0}, {"uncountedTerminatedPods", {{"succeeded", {"uid-1"}}}}},
  };
  for (const json& status : finishing) {
    Observed observed;
    observed.jobs.push_back(job("mnist", status));
    const Plan plan = plan_trainingjob(trainingjob({{"phase", "Running"}}), observed, kNow, {});
    EXPECT_EQ(plan.status["phase"], "Running") << status.dump();
    EXPECT_TRUE(plan.events.empty()) << status.dump();
  }
}

TEST(TrainingJobPlan, CompletedJobRecordsWorkerZerosModelAndCleansRunningPods) {
  Observed observed;
  observed.jobs.push_back(job("mnist", job_condition("Complete")));
  observed.pods.push_back(pod("mnist", 1, "Succeeded", "not json"));
  observed.pods.push_back(pod(
      "mnist", 0, "Succeeded",
      R"({"model":{"uri":"/mnt/kiln/models/mnist/model.json","format":"xgboost","digest":"sha256:1"},"metrics":{"auc":0.9}})"));
  observed.pods.push_back(pod("mnist", 2, "Running"));
  const Plan plan = plan_trainingjob(trainingjob({{"phase", "Running"}}), observed, kNow, {});
  EXPECT_EQ(plan.status["phase"], "Succeeded");
  EXPECT_EQ(plan.status["model"]["uri"], "pvc://models/mnist/model.json");
  EXPECT_EQ(plan.status["model"]["metrics"]["auc"], 0.9);
  EXPECT_TRUE(condition_true(plan.status, "Succeeded"));
  ASSERT_EQ(plan.remove.size(), 1u);  // cleanPodPolicy Running: only the running pod.
  EXPECT_EQ(plan.remove[0].name, "mnist-2-abcde");
  EXPECT_TRUE(plan.apply.empty());
  EXPECT_EQ(plan.requeue_after, 600s);  // The Service goes at the TTL.
}

TEST(TrainingJobPlan, FailedWorkerRestartsTheWholeGang) {
  Observed observed;
  observed.jobs.push_back(job("mnist", job_condition("Failed", "BackoffLimitExceeded")));
  const Plan plan = plan_trainingjob(trainingjob({{"phase", "Running"}}), observed, kNow, {});
  EXPECT_EQ(plan.status["phase"], "Restarting");
  EXPECT_EQ(plan.status["restarts"], 1);
  EXPECT_EQ(plan.status["jobName"], "mnist-r1");
  EXPECT_TRUE(condition_true(plan.status, "Restarting"));
  EXPECT_EQ(applied_names(plan),
            (std::vector<std::string>{"Service/mnist-workers", "Job/mnist-r1"}));
  ASSERT_EQ(plan.remove.size(), 1u);
  EXPECT_EQ(plan.remove[0].name, "mnist");
  ASSERT_EQ(plan.events.size(), 1u);
  EXPECT_EQ(plan.events[0].type, "Warning");
  EXPECT_EQ(plan.apply[0]["spec"]["selector"]["batch.kubernetes.io/job-name"], "mnist-r1");
}

TEST(TrainingJobPlan, FailuresThatRestartingCannotFixFailTheJob) {
  struct Case {
    const char* name;
    long long restarts;
    const char* reason;
  };
  const Case cases[] = {{"out of restarts", 2, "BackoffLimitExceeded"},
                        {"deadline", 0, "DeadlineExceeded"},
                        {"exit code policy", 0, "PodFailurePolicy"}};
  for (const Case& c : cases) {
    const std::string current = c.restarts == 0 ? "mnist" : "mnist-r" + std::to_string(c.restarts);
    Observed observed;
    observed.jobs.push_back(job(current, job_condition("Failed", c.reason)));
    const json status = {{"phase", "Running"}, {"restarts", c.restarts}};
    const Plan plan = plan_trainingjob(trainingjob(status), observed, kNow, {});
    EXPECT_EQ(plan.status["phase"], "Failed") << c.name;
    EXPECT_EQ(plan.status["restarts"], c.restarts) << c.name;
    EXPECT_EQ(find_condition(plan.status, "Failed")->at("reason"), c.reason) << c.name;
  }
}

TEST(TrainingJobPlan, PlanningAgainOnItsOwnResultChangesNothing) {
  Observed observed;
  observed.jobs.push_back(job("mnist", job_condition("Failed", "BackoffLimitExceeded")));
  const Plan first = plan_trainingjob(trainingjob({{"phase", "Running"}}), observed, kNow, {});
  // The cache may still hold the old Job; the new one is not seen yet.
  const Plan second = plan_trainingjob(trainingjob(first.status), observed, kNow + 5s, {});
  EXPECT_EQ(second.status, first.status);
  EXPECT_TRUE(second.events.empty());
  EXPECT_EQ(applied_names(second), applied_names(first));
}

TEST(TrainingJobPlan, AStaleStatusNeverBringsBackAnOlderJob) {
  // The plan that restarted to mnist-r2 wrote restarts 2, but this reconcile still reads the
  // status before it; the cache already holds mnist-r2 and no longer mnist-r1.
  Observed observed;
  observed.jobs.push_back(job("mnist-r2", json::object()));
  const json stale = {{"phase", "Restarting"}, {"restarts", 1}, {"jobName", "mnist-r1"}};
  const Plan plan = plan_trainingjob(trainingjob(stale), observed, kNow, {});
  EXPECT_EQ(applied_names(plan),
            (std::vector<std::string>{"Service/mnist-workers", "Job/mnist-r2"}));
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_EQ(plan.status["restarts"], 2);
  EXPECT_EQ(plan.status["jobName"], "mnist-r2");
  EXPECT_EQ(plan.status["phase"], "Restarting");
}

TEST(TrainingJobPlan, AStaleStatusCountsTheRestartFromTheObservedJob) {
  // mnist-r1 failed; the status still says restarts 0: the next attempt is r2, not r1 again.
  Observed observed;
  observed.jobs.push_back(job("mnist-r1", job_condition("Failed", "BackoffLimitExceeded")));
  const Plan plan =
      plan_trainingjob(trainingjob({{"phase", "Running"}, {"restarts", 0}}), observed, kNow, {});
  EXPECT_EQ(plan.status["restarts"], 2);
  EXPECT_EQ(plan.status["jobName"], "mnist-r2");
  ASSERT_EQ(plan.remove.size(), 1u);
  EXPECT_EQ(plan.remove[0].name, "mnist-r1");
}

json with_deadline(json tj, long long seconds) {
  tj["spec"]["runPolicy"]["activeDeadlineSeconds"] = seconds;
  return tj;
}

TEST(TrainingJobPlan, ARestartedGangGetsOnlyWhatIsLeftOfTheDeadline) {
  Observed observed;
  json first = job("mnist", job_condition("Failed", "BackoffLimitExceeded"));
  first["metadata"]["creationTimestamp"] = format_time(kNow - 400s);
  observed.jobs.push_back(first);
  const json tj = with_deadline(trainingjob({{"phase", "Running"}}), 600);
  const Plan plan = plan_trainingjob(tj, observed, kNow, {});
  ASSERT_EQ(applied_names(plan),
            (std::vector<std::string>{"Service/mnist-workers", "Job/mnist-r1"}));
  EXPECT_EQ(plan.apply[1]["spec"]["activeDeadlineSeconds"], 200);
  EXPECT_EQ(plan.status["startTime"], format_time(kNow - 400s));
  EXPECT_EQ(plan.requeue_after, 200s);

  // Once the first Job is gone, status.startTime still anchors the deadline.
  Observed later;
  json second = job("mnist-r1", {{"active", 4}});
  second["metadata"]["creationTimestamp"] = format_time(kNow + 1s);
  second["spec"]["activeDeadlineSeconds"] = 200;
  later.jobs.push_back(second);
  const Plan running = plan_trainingjob(with_deadline(trainingjob(plan.status), 600), later,
                                        kNow + 100s, {});
  EXPECT_EQ(running.status["phase"], "Running");
  EXPECT_EQ(running.apply[1]["spec"]["activeDeadlineSeconds"], 200);  // As observed: no churn.
  EXPECT_EQ(running.requeue_after, 100s);

  const Plan spent = plan_trainingjob(with_deadline(trainingjob(running.status), 600), later,
                                      kNow + 200s, {});
  EXPECT_EQ(spent.status["phase"], "Failed");
  EXPECT_EQ(find_condition(spent.status, "Failed")->at("reason"), "DeadlineExceeded");
  EXPECT_TRUE(spent.apply.empty());
  ASSERT_FALSE(spent.remove.empty());
  EXPECT_EQ(spent.remove[0].name, "mnist-r1");
}

TEST(TrainingJobPlan, ADeadlineSpentBeforeARestartFailsInsteadOfRestarting) {
  Observed observed;
  json first = job("mnist", job_condition("Failed", "BackoffLimitExceeded"));
  first["metadata"]["creationTimestamp"] = format_time(kNow - 600s);
  observed.jobs.push_back(first);
  const Plan plan =
      plan_trainingjob(with_deadline(trainingjob({{"phase", "Running"}}), 600), observed, kNow, {});
  EXPECT_EQ(plan.status["phase"], "Failed");
  EXPECT_EQ(find_condition(plan.status, "Failed")->at("reason"), "DeadlineExceeded");
  EXPECT_EQ(plan.status["restarts"], 0);
  EXPECT_TRUE(plan.apply.empty());
}

TEST(TrainingJobPlan, FinishedJobDeletesItsServiceAfterTheTtl) {
  Observed observed;
  observed.services.push_back({{"apiVersion", "v1"},
                               {"kind", "Service"},
                               {"metadata", {{"name", "mnist-workers"}, {"namespace", "ml"}}}});
  const json status = {{"phase", "Succeeded"}, {"completionTime", "2023-11-14T22:10:00Z"}};
  const Plan early = plan_trainingjob(trainingjob(status), observed, kNow, {});
  EXPECT_TRUE(early.remove.empty());
  EXPECT_EQ(early.requeue_after, 400s);  // Finished 200 s ago.
  const Plan late = plan_trainingjob(trainingjob(status), observed, kNow + 10min, {});
  ASSERT_EQ(late.remove.size(), 1u);
  EXPECT_EQ(late.remove[0].kind, "Service");
  EXPECT_TRUE(late.apply.empty());
}

// A spec the decoder refuses (an unknown field, a value outside an enum) or that names a URI Kiln
// cannot mount: Created=False, reason InvalidSpec, nothing applied or removed, and it clears once
// the spec is fixed.
TEST(TrainingJobPlan, ASpecKilnCannotReadIsReportedAndTouchesNoChild) {
  struct Case {
    const char* name;
    const char* pointer;
    json value;
    const char* field;  // The message names it.
  };
  const Case cases[] = {
      {"unknown field", "/spec/replica", 4, "spec.replica"},
      {"not an enum value", "/spec/runPolicy/cleanPodPolicy", "Sometimes",
       "spec.runPolicy.cleanPodPolicy"},
      {"wrong type", "/spec/replicas", "four", "spec.replicas"},
      {"unknown URI scheme", "/spec/output/modelUri", "ftp://models/mnist", "ftp://"}};
  for (const Case& c : cases) {
    json broken = trainingjob({{"phase", "Running"}, {"restarts", 0}, {"jobName", "mnist"}});
    broken[json::json_pointer(c.pointer)] = c.value;
    if (std::string(c.pointer) == "/spec/output/modelUri") {
      // Only the built-in trainer mounts the output URI.
      broken["spec"].erase("template");
      broken["spec"]["framework"] = "xgboost";
      broken["spec"]["replicas"] = 1;
      broken["spec"]["builtin"] = {{"xgboost", {{"data", "pvc://d/t.csv"}, {"label", "y"}}}};
    }
    Observed observed;  // A failed Job and its pods: a readable spec would restart and clean.
    observed.jobs.push_back(job("mnist", job_condition("Failed", "BackoffLimitExceeded")));
    observed.pods.push_back(pod("mnist", 0, "Running"));

    const Plan plan = plan_trainingjob(broken, observed, kNow, {});
    EXPECT_TRUE(plan.apply.empty()) << c.name;
    EXPECT_TRUE(plan.remove.empty()) << c.name;
    EXPECT_FALSE(plan.requeue_after.has_value()) << c.name;
    EXPECT_EQ(plan.status["phase"], "Running") << c.name;  // Not Failed: that would be terminal.
    EXPECT_EQ(plan.status["restarts"], 0) << c.name;
    EXPECT_EQ(plan.status["observedGeneration"], 3) << c.name;
    const json* created = find_condition(plan.status, "Created");
    ASSERT_NE(created, nullptr) << c.name;
    EXPECT_EQ(created->at("status"), "False") << c.name;
    EXPECT_EQ(created->at("reason"), "InvalidSpec") << c.name;
    const std::string message = created->at("message");
    EXPECT_NE(message.find(c.field), std::string::npos) << c.name << ": " << message;
    EXPECT_EQ(find_condition(plan.status, "Failed"), nullptr) << c.name;
    ASSERT_EQ(plan.events.size(), 1u) << c.name;
    EXPECT_EQ(plan.events[0].type, "Warning") << c.name;
    EXPECT_EQ(plan.events[0].reason, "InvalidSpec") << c.name;

    json again = broken;
    again["status"] = plan.status;
    const Plan second = plan_trainingjob(again, observed, kNow + 5s, {});
    EXPECT_EQ(second.status, plan.status) << c.name;
    EXPECT_TRUE(second.events.empty()) << c.name;  // One Event, not one per reconcile.
  }
}

TEST(TrainingJobPlan, FixingTheSpecClearsInvalidSpec) {
  json broken = trainingjob();
  broken["spec"]["runPolicy"]["backoffLimit"] = -1;
  const Plan invalid = plan_trainingjob(broken, {}, kNow, {});
  EXPECT_TRUE(invalid.apply.empty());
  EXPECT_FALSE(invalid.status.contains("phase"));
  EXPECT_EQ(condition_status(invalid.status, "Created"), "False");

  const Plan fixed = plan_trainingjob(trainingjob(invalid.status), {}, kNow + 1min, {});
  EXPECT_EQ(applied_names(fixed), (std::vector<std::string>{"Service/mnist-workers", "Job/mnist"}));
  EXPECT_EQ(fixed.status["phase"], "Created");
  EXPECT_TRUE(condition_true(fixed.status, "Created"));

  // A TrainingJob that had finished: Created goes back to True, the clean-up resumes.
  const json done = {{"phase", "Succeeded"}, {"completionTime", "2023-11-14T22:10:00Z"}};
  json finished_broken = trainingjob(done);
  finished_broken["spec"]["runPolicy"]["cleanPodPolicy"] = "Sometimes";
  Observed observed;
  observed.pods.push_back(pod("mnist", 0, "Running"));
  const Plan finished_invalid = plan_trainingjob(finished_broken, observed, kNow, {});
  EXPECT_TRUE(finished_invalid.remove.empty());
  EXPECT_EQ(finished_invalid.status["phase"], "Succeeded");
  EXPECT_EQ(find_condition(finished_invalid.status, "Created")->at("reason"), "InvalidSpec");
  const Plan finished_fixed =
      plan_trainingjob(trainingjob(finished_invalid.status), observed, kNow, {});
  EXPECT_TRUE(condition_true(finished_fixed.status, "Created"));
  EXPECT_EQ(finished_fixed.remove.size(), 1u);  // cleanPodPolicy Running: the running pod.
}

TEST(TrainingJobPlan, RunPolicyLeftOutTakesTheSchemasDefaults) {
  // backoffLimit 3 and gangRestart true: the third failure still restarts, the fourth fails.
  json tj = trainingjob();
  tj["spec"].erase("runPolicy");
  for (long long restarts : {2LL, 3LL}) {
    const std::string current = "mnist-r" + std::to_string(restarts);
    Observed observed;
    observed.jobs.push_back(job(current, job_condition("Failed", "BackoffLimitExceeded")));
    json running = tj;
    running["status"] = {{"phase", "Running"}, {"restarts", restarts}};
    const Plan plan = plan_trainingjob(running, observed, kNow, {});
    EXPECT_EQ(plan.status["phase"], restarts < 3 ? "Restarting" : "Failed") << restarts;
  }
}

}  // namespace
}  // namespace kiln::controllers::trainingjob
