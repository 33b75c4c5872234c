// The DataPipeline plan, driven through whole runs: DAG order, retries with backoff, `when`
// skips, cache hits, parallelism, reruns, onExit, idempotence.

#include <gtest/gtest.h>

#include "controllers/common/conditions.h"
#include "controllers/datapipeline/artifacts.h"
#include "controllers/datapipeline/cache.h"
#include "datapipeline_world.h"

namespace kiln::controllers::datapipeline {
namespace {

using nlohmann::json;
using testing::make_pipeline;
using testing::make_step;
using testing::World;
using namespace std::chrono_literals;

using Names = std::vector<std::string>;

bool has_event(const Plan& plan, const std::string& reason) {
  for (const Event& e : plan.events) {
    if (e.reason == reason) return true;
  }
  return false;
}

TEST(DataPipelinePlan, DiamondDagRunsEachStepAfterItsDependencies) {
  World w{make_pipeline(json::array(
      {make_step("a"), make_step("b", {"a"}), make_step("c", {"a"}), make_step("d", {"b", "c"})}))};
  w.step();
  ASSERT_EQ(w.pipeline["status"]["runs"].size(), 1u);
  EXPECT_EQ(w.running_jobs(), Names{w.job("a")});
  EXPECT_EQ(w.pipeline["status"]["phase"], "Running");
  EXPECT_TRUE(condition_true(w.pipeline["status"], "Running"));

  w.complete(w.job("a"));
  w.step();
  EXPECT_EQ(w.running_jobs(), (Names{w.job("b"), w.job("c")}));
  EXPECT_EQ(w.phase("d"), "Pending");

  w.complete(w.job("b"));
  w.step();
  EXPECT_EQ(w.running_jobs(), Names{w.job("c")});  // d waits for c.
  EXPECT_EQ(w.pipeline["status"]["progress"], "2/4");

  w.complete(w.job("c"));
  w.step();
  EXPECT_EQ(w.running_jobs(), Names{w.job("d")});

  w.complete(w.job("d"));
  const Plan& done = w.step();
  EXPECT_EQ(w.run()["phase"], "Succeeded");
  EXPECT_EQ(w.pipeline["status"]["phase"], "Succeeded");
  EXPECT_EQ(w.pipeline["status"]["progress"], "4/4");
  EXPECT_TRUE(condition_true(w.pipeline["status"], "Succeeded"));
  EXPECT_FALSE(condition_true(w.pipeline["status"], "Running"));
  EXPECT_TRUE(has_event(done, "RunSucceeded"));
}

TEST(DataPipelinePlan, StepJobsCarryLabelsAndNoJobLevelRetries) {
  json step = make_step("ingest");
  step["timeoutSeconds"] = 600;
  World w{make_pipeline(
      json::array({step}),
      {{"workspace",
        {{"volumeClaimTemplate", {{"spec", {{"accessModes", {"ReadWriteOnce"}}}}}}}}})};
  const Plan& plan = w.step();
  ASSERT_EQ(plan.apply.size(), 2u);
  const json& claim = plan.apply[0];
  const json& job = plan.apply[1];
  const std::string run = w.run()["name"];
  EXPECT_TRUE(run.starts_with("flights-"));
  EXPECT_EQ(run.size(), std::string("flights-").size() + 8);
  EXPECT_EQ(claim["kind"], "PersistentVolumeClaim");
  EXPECT_EQ(claim["metadata"]["name"], run + "-workspace");
  EXPECT_EQ(claim["metadata"]["ownerReferences"][0]["kind"], "DataPipeline");
  EXPECT_EQ(job["metadata"]["name"], run + "-ingest-1");
  EXPECT_EQ(job["metadata"]["labels"]["kiln.dev/pipeline"], "flights");
  EXPECT_EQ(job["metadata"]["labels"]["kiln.dev/run"], run);
  EXPECT_EQ(job["metadata"]["labels"]["kiln.dev/step"], "ingest");
  EXPECT_EQ(job["spec"]["backoffLimit"], 0);
  EXPECT_EQ(job["spec"]["activeDeadlineSeconds"], 600);
  const json& pod = job["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Never");
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"]["kiln.dev/step"], "ingest");
  EXPECT_EQ(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], run + "-workspace");
  EXPECT_EQ(pod["containers"][0]["volumeMounts"][0]["mountPath"], "/workspace");
}

TEST(DataPipelinePlan, FailingStepIsRetriedWithBackoffThenFails) {
  json ingest = make_step("ingest");
  ingest["retryStrategy"] = {
      {"limit", 2},
      {"retryPolicy", "OnFailure"},
      {"backoff", {{"duration", "5s"}, {"factor", 2}, {"maxDuration", "1m"}}}};
  World w{make_pipeline(json::array({ingest, make_step("report", {"ingest"})}))};
  w.step();
  const std::string first = w.job("ingest");
  w.fail(first, 1);
  const Plan& retry = w.step();
  EXPECT_EQ(w.phase("ingest"), "Pending");
  EXPECT_EQ(w.step_status("ingest")["attempts"], 1);
  EXPECT_EQ(w.step_status("ingest")["nextAttemptTime"], format_time(w.now + 5s));
  EXPECT_EQ(retry.requeue_after, 5s);
  EXPECT_TRUE(has_event(retry, "StepRetrying"));

  w.now += 4s;  // Not yet.
  w.step();
  EXPECT_TRUE(w.running_jobs().empty());
  w.now += 1s;
  w.step();
  EXPECT_EQ(w.job("ingest"), w.run()["name"].get<std::string>() + "-ingest-2");
  EXPECT_EQ(w.running_jobs(), Names{w.job("ingest")});

  w.fail(w.job("ingest"), 2);
  const Plan& second_retry = w.step();
  EXPECT_EQ(second_retry.requeue_after, 10s);  // 5s * 2^(2-1).
  w.now += 10s;
  w.step();
  EXPECT_EQ(w.step_status("ingest")["attempts"], 3);
  w.fail(w.job("ingest"), 3);
  const Plan& failed = w.step();
  EXPECT_EQ(w.phase("ingest"), "Failed");
  EXPECT_EQ(w.step_status("ingest")["message"], "exit code 3 (Error)");
  EXPECT_EQ(w.phase("report"), "Pending");
  EXPECT_EQ(w.step_status("report")["message"], "upstream step ingest did not succeed");
  EXPECT_EQ(w.run()["phase"], "Failed");
  EXPECT_TRUE(condition_true(w.pipeline["status"], "Failed"));
  EXPECT_TRUE(has_event(failed, "StepFailed"));
  EXPECT_TRUE(has_event(failed, "RunFailed"));
}

TEST(DataPipelinePlan, RetryPolicyDecidesWhichFailuresAreRetried) {
  // An image that cannot be pulled is an error (the pod never ran): OnError retries it,
  // OnFailure gives up at once with phase Error.
  for (const std::string policy : {"OnError", "OnFailure"}) {
    json step = make_step("pull");
    step["retryStrategy"] = {{"limit", 1}, {"retryPolicy", policy}};
    World w{make_pipeline(json::array({step}))};
    w.step();
    const std::string job = w.job("pull");
    w.image_pull_error(job);
    const Plan& plan = w.step();
    ASSERT_EQ(plan.remove.size(), 1u) << policy;  // The stuck Job is stopped.
    EXPECT_EQ(plan.remove[0].name, job);
    EXPECT_EQ(w.phase("pull"), policy == "OnError" ? "Pending" : "Error") << policy;
  }
}

TEST(DataPipelinePlan, FalseWhenSkipsTheStepAndItsDependentsStillRun) {
  json validate = make_step("validate");
  json features = make_step("features", {"validate"});
  features["when"] = "{{steps.validate.outputs.rows}} > 0";
  World w{make_pipeline(json::array({validate, features, make_step("publish", {"features"})}))};
  w.step();
  w.complete(w.job("validate"), {{"rows", "0"}});
  w.step();
  EXPECT_EQ(w.step_status("validate")["outputs"], json({{"rows", "0"}}));
  EXPECT_EQ(w.phase("features"), "Skipped");
  EXPECT_EQ(w.phase("publish"), "Running");
  w.complete(w.job("publish"));
  w.step();
  EXPECT_EQ(w.run()["phase"], "Succeeded");
  EXPECT_EQ(w.pipeline["status"]["progress"], "3/3");
}

TEST(DataPipelinePlan, WhenOnADependencysPhaseRunsAFailureHandler) {
  json on_failure = make_step("alert", {"train"});
  on_failure["when"] = "{{steps.train.phase}} == Failed || {{steps.train.phase}} == Error";
  json on_success = make_step("publish", {"train"});
  on_success["when"] = "{{steps.train.phase}} == Succeeded";
  World w{make_pipeline(json::array({make_step("train"), on_failure, on_success}))};
  w.step();
  w.fail(w.job("train"), 1);
  w.step();
  EXPECT_EQ(w.phase("train"), "Failed");
  EXPECT_EQ(w.phase("alert"), "Running");  // Waits for train to finish, however it finished.
  EXPECT_EQ(w.phase("publish"), "Skipped");
  w.complete(w.job("alert"));
  w.step();
  EXPECT_EQ(w.phase("alert"), "Succeeded");
  EXPECT_EQ(w.run()["phase"], "Failed");  // Handled, yet train failed.
}

TEST(DataPipelinePlan, CacheHitMarksTheStepCachedWithEarlierOutputs) {
  json features = make_step("features");
  features["args"] = {"month={{parameters.month}}"};
  features["cache"] = {{"enabled", true}, {"maxAge", "24h"}};
  World w{make_pipeline(json::array({features, make_step("train", {"features"})}),
                        {{"parameters", json::array({{{"name", "month"}, {"value", "1"}}})}})};
  w.step();
  const std::string key = w.step_status("features")["cacheKey"];
  EXPECT_EQ(key.size(), 64u);
  w.complete(w.job("features"), {{"rows", 42}});
  w.step();
  w.complete(w.job("train"));
  w.step();
  ASSERT_EQ(w.run()["phase"], "Succeeded");

  w.now += 1h;
  w.pipeline["metadata"]["annotations"]["kiln.dev/run"] = "again";
  const Plan& plan = w.step();
  ASSERT_EQ(w.pipeline["status"]["runs"].size(), 2u);
  EXPECT_EQ(w.phase("features"), "Cached");
  EXPECT_EQ(w.step_status("features")["outputs"], json({{"rows", "42"}}));
  EXPECT_EQ(w.phase("train"), "Running");  // Downstream runs on the cached result.
  for (const json& o : plan.apply) EXPECT_NE(o["metadata"]["labels"]["kiln.dev/step"], "features");

  // Another parameter value is another key: no hit.
  w.pipeline["spec"]["parameters"][0]["value"] = "2";
  w.pipeline["metadata"]["annotations"]["kiln.dev/run"] = "month-2";
  w.step();
  EXPECT_EQ(w.phase("features"), "Running");
  EXPECT_NE(w.step_status("features")["cacheKey"], key);
}

// Runs `features` (cached) to success, then starts a second run an hour later.
World cached_twice(const json& workspace) {
  json features = make_step("features");
  features["cache"] = {{"enabled", true}};
  World w{make_pipeline(json::array({features}), {{"workspace", workspace}})};
  w.step();
  w.complete(w.job("features"), {{"rows", "42"}});
  w.step();
  w.now += 1h;
  w.pipeline["metadata"]["annotations"]["kiln.dev/run"] = "again";
  w.step();
  return w;
}

TEST(DataPipelinePlan, ACacheHitInAnotherRunsClaimIsRefused) {
  const json per_run = {{"volumeClaimTemplate", {{"spec", {{"accessModes", {"ReadWriteOnce"}}}}}}};
  World w = cached_twice(per_run);
  ASSERT_EQ(w.pipeline["status"]["runs"].size(), 2u);
  const std::string first = w.run(1)["name"];
  EXPECT_EQ(w.phase("features"), "Running");  // Its files are in the first run's claim.
  EXPECT_EQ(w.step_status("features")["message"],
            "cache hit from run " + first + " refused: its files are in that run's workspace " +
                "claim " + first + "-workspace (spec.workspace.volumeClaimTemplate), not this " +
                "run's; running the step");
  w.complete(w.job("features"), {{"rows", "42"}});
  w.step();
  EXPECT_EQ(w.phase("features"), "Succeeded");
  EXPECT_EQ(w.step_status("features")["message"], "");
}

TEST(DataPipelinePlan, ACacheHitInASharedNamedClaimIsTaken) {
  World w = cached_twice({{"persistentVolumeClaim", {{"claimName", "data"}}}});
  EXPECT_EQ(w.phase("features"), "Cached");
  EXPECT_EQ(w.step_status("features")["message"], "cache hit from run " +
                                                       w.run(1)["name"].get<std::string>());
}

json with_output_artifact(json step) {
  step["outputs"]["artifacts"] =
      json::array({{{"name", "features"}, {"path", "out/features.csv"}}});
  return step;
}

TEST(DataPipelinePlan, AStepSucceedsOnlyOnceItsOutputArtifactsAreFoundInTheWorkspace) {
  World w{make_pipeline(json::array({with_output_artifact(make_step("features")),
                                     make_step("train", {"features"})}),
                        {{"workspace", {{"persistentVolumeClaim", {{"claimName", "data"}}}}}})};
  w.step();
  const std::string job = w.job("features");
  w.complete(job, {{"rows", "3"}});
  const Plan& checking = w.step();
  EXPECT_EQ(w.phase("features"), "Running");
  EXPECT_EQ(w.step_status("features")["message"], "checking the output artifacts");
  EXPECT_EQ(w.phase("train"), "Pending");
  const std::string check = w.run()["name"].get<std::string>() + "-features-1-check";
  ASSERT_EQ(checking.apply.size(), 1u);
  const json& c = checking.apply[0]["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(checking.apply[0]["metadata"]["name"], check);
  EXPECT_EQ(c["image"], "kiln/runtime:dev");
  EXPECT_EQ(c["args"].back(), "/workspace/out/features.csv");
  EXPECT_EQ(c["volumeMounts"][0]["readOnly"], true);
  EXPECT_EQ(checking.apply[0]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"],
            json({{"claimName", "data"}, {"readOnly", true}}));

  w.complete(check);
  w.step();
  EXPECT_EQ(w.phase("features"), "Succeeded");
  EXPECT_EQ(w.step_status("features")["outputs"], json({{"rows", "3"}}));
  EXPECT_EQ(w.phase("train"), "Running");
}

TEST(DataPipelinePlan, AMissingOutputArtifactFailsTheStep) {
  World w{make_pipeline(json::array({with_output_artifact(make_step("features"))}),
                        {{"workspace", {{"persistentVolumeClaim", {{"claimName", "data"}}}}}})};
  w.step();
  w.complete(w.job("features"));
  w.step();
  w.fail(w.run()["name"].get<std::string>() + "-features-1-check", 1,
         "missing: /workspace/out/features.csv\n");
  const Plan& plan = w.step();
  EXPECT_EQ(w.phase("features"), "Failed");
  EXPECT_EQ(w.step_status("features")["message"],
            "output artifacts not found: /workspace/out/features.csv");
  EXPECT_TRUE(has_event(plan, "StepFailed"));
  EXPECT_EQ(w.run()["phase"], "Failed");
}

TEST(DataPipelinePlan, OutputArtifactsWithoutAWorkspaceAreAnError) {
  World w{make_pipeline(json::array({with_output_artifact(make_step("features"))}))};
  w.step();
  w.complete(w.job("features"));
  w.step();
  EXPECT_EQ(w.phase("features"), "Error");
  EXPECT_EQ(w.step_status("features")["message"],
            "outputs.artifacts need spec.workspace: there is nowhere to keep them");
}

TEST(DataPipelinePlan, ParallelismBoundsRunningSteps) {
  World w{make_pipeline(
      json::array({make_step("s1"), make_step("s2"), make_step("s3"), make_step("s4")}),
      {{"parallelism", 2}})};
  w.step();
  EXPECT_EQ(w.running_jobs().size(), 2u);
  w.step();  // Planning again starts nothing more.
  EXPECT_EQ(w.running_jobs().size(), 2u);
  w.complete(w.job("s1"));
  w.step();
  EXPECT_EQ(w.running_jobs(), (Names{w.job("s2"), w.job("s3")}));
  EXPECT_EQ(w.phase("s4"), "Pending");
}

TEST(DataPipelinePlan, RerunFromAFailedStepKeepsEarlierResults) {
  World w{
      make_pipeline(json::array({make_step("a"), make_step("b", {"a"}), make_step("c", {"b"})}))};
  w.step();
  w.complete(w.job("a"), {{"n", "1"}});
  w.step();
  w.fail(w.job("b"), 1);
  w.step();
  ASSERT_EQ(w.run()["phase"], "Failed");
  const std::string failed_run = w.run()["name"];

  w.now += 1min;
  w.pipeline["metadata"]["annotations"]["kiln.dev/rerun-from"] = "b";
  const Plan& plan = w.step();
  ASSERT_EQ(w.pipeline["status"]["runs"].size(), 2u);
  EXPECT_NE(w.run()["name"], failed_run);
  EXPECT_EQ(w.phase("a"), "Cached");
  EXPECT_EQ(w.step_status("a")["outputs"], json({{"n", "1"}}));
  EXPECT_EQ(w.phase("b"), "Running");
  EXPECT_EQ(w.step_status("b")["attempts"], 1);
  EXPECT_EQ(w.phase("c"), "Pending");
  EXPECT_TRUE(has_event(plan, "RunStarted"));
  EXPECT_EQ(w.run()["message"], "rerun of " + failed_run + " from step b");

  w.step();  // The annotation is answered: no second rerun.
  EXPECT_EQ(w.pipeline["status"]["runs"].size(), 2u);
}

TEST(DataPipelinePlan, OnExitRunsAfterTheDagWithTheRunPhase) {
  json notify = make_step("notify");
  notify["args"] = {"{{run.phase}}"};
  World w{make_pipeline(json::array({make_step("a")}), {{"onExit", notify}})};
  w.step();
  w.fail(w.job("a"), 1);
  const Plan& plan = w.step();
  EXPECT_EQ(w.run()["phase"], "Running");  // Until onExit is done.
  ASSERT_EQ(plan.apply.size(), 1u);
  EXPECT_EQ(plan.apply[0]["spec"]["template"]["spec"]["containers"][0]["args"], json({"Failed"}));
  w.complete(w.job("notify"));
  w.step();
  EXPECT_EQ(w.run()["phase"], "Failed");
  EXPECT_EQ(w.pipeline["status"]["progress"], "0/1");
}

TEST(DataPipelinePlan, ASpecKilnCannotReadIsReportedAndTouchesNoChild) {
  // What the API server may let through: a field of a newer CRD than this Kiln, a wrong type.
  struct Case {
    const char* pointer;
    json value;
    const char* message;
  };
  const Case cases[] = {
      {"/spec/steps/1/retries", 3, "spec.steps[1].retries: unknown field"},
      {"/spec/parallelism", "two", "spec.parallelism: expected an integer, got string"},
  };
  for (const Case& c : cases) {
    World w{make_pipeline(json::array({make_step("a"), make_step("b", {"a"})}))};
    w.step();
    w.complete(w.job("a"));  // A readable spec would now start b.
    const json runs = w.pipeline["status"]["runs"];
    w.pipeline["metadata"]["generation"] = 2;
    w.pipeline[json::json_pointer(c.pointer)] = c.value;
    w.expect_readable_spec = false;
    const Plan& plan = w.step();
    EXPECT_TRUE(plan.apply.empty()) << c.pointer;
    EXPECT_TRUE(plan.remove.empty()) << c.pointer;
    EXPECT_TRUE(plan.events.empty()) << c.pointer;
    EXPECT_FALSE(plan.requeue_after.has_value()) << c.pointer;
    EXPECT_EQ(plan.status["runs"], runs) << c.pointer;
    EXPECT_EQ(plan.status["observedGeneration"], 2);
    for (const auto& [type, want] :
         {std::pair{"Running", "False"}, {"Succeeded", "False"}, {"Failed", "True"}}) {
      const json* condition = find_condition(plan.status, type);
      ASSERT_NE(condition, nullptr) << type;
      EXPECT_EQ((*condition)["status"], want) << type;
      EXPECT_EQ((*condition)["reason"], "InvalidSpec") << type;
      EXPECT_EQ((*condition)["message"],
                std::string(c.message) +
                    " (Kiln cannot read this spec: no run advances until it is fixed)");
      EXPECT_EQ((*condition)["observedGeneration"], 2);
    }

    w.pipeline["spec"] =
        make_pipeline(json::array({make_step("a"), make_step("b", {"a"})}))["spec"];
    w.expect_readable_spec = true;
    w.step();  // Fixed: the run goes on.
    EXPECT_EQ(w.phase("b"), "Running") << c.pointer;
    EXPECT_FALSE(condition_true(w.pipeline["status"], "Failed"));
    EXPECT_TRUE(condition_true(w.pipeline["status"], "Running"));
  }
}

TEST(DataPipelinePlan, PlanningAgainWithoutChangesIsANoOp) {
  World w{make_pipeline(json::array({make_step("a"), make_step("b", {"a"})}))};
  w.step();
  const json status = w.pipeline["status"];
  const Plan& again = w.step();
  EXPECT_EQ(again.status, status);
  EXPECT_TRUE(again.events.empty());
  EXPECT_EQ(w.pipeline["status"]["runs"].size(), 1u);
}

// ---- The artifact repository ---------------------------------------------------------------------

constexpr const char* kDigest =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

// features writes out/features.csv (cached); train reads it through the repository. Each run has
// its own claim (volumeClaimTemplate).
World repository_pipeline() {
  json features = with_output_artifact(make_step("features"));
  features["cache"] = {{"enabled", true}};
  json train = make_step("train", {"features"});
  train["inputs"]["artifacts"] = json::array(
      {{{"name", "features"},
        {"path", "in/features.csv"},
        {"from", "{{steps.features.outputs.artifacts.features}}"}}});
  return World{make_pipeline(
      json::array({features, train}),
      {{"workspace", {{"volumeClaimTemplate", {{"spec", {{"accessModes", {"ReadWriteOnce"}}}}}}}},
       {"artifactRepository",
        {{"uri", "s3://kiln/pipelines/"},
         {"storage", {{"secretRef", {{"name", "s3-creds"}}}}}}}})};
}

std::string upload_job(const World& w, const std::string& step, std::size_t run = 0) {
  return w.run(run)["name"].get<std::string>() + "-" + step + "-1-upload";
}

// The upload Job's pod: every container done, each reporting what kiln-storage upload-artifact
// writes.
void complete_upload(World& w, const std::string& job, const std::string& uri) {
  w.finish_pod(job, "Complete",
               json::array({{{"name", "upload-0"},
                             {"state",
                              {{"terminated",
                                {{"exitCode", 0},
                                 {"message", json({{"uri", uri}, {"digest", kDigest}}).dump()}}}}}}}));
}

const json* find_job(const Plan& plan, const std::string& name) {
  for (const json& o : plan.apply) {
    if (o["metadata"]["name"] == name) return &o;
  }
  return nullptr;
}

TEST(DataPipelineArtifacts, OutputsAreUploadedUnderPipelineRunStepAndNameAndInputsFetchedByDigest) {
  World w = repository_pipeline();
  w.step();
  const std::string run = w.run()["name"];
  w.complete(w.job("features"));
  const Plan& uploading = w.step();
  EXPECT_EQ(w.phase("features"), "Running");
  EXPECT_EQ(w.step_status("features")["message"],
            "uploading the output artifacts to s3://kiln/pipelines");
  EXPECT_EQ(w.phase("train"), "Pending");
  const json* upload = find_job(uploading, upload_job(w, "features"));
  ASSERT_NE(upload, nullptr);
  EXPECT_EQ((*upload)["spec"]["activeDeadlineSeconds"], kUploadDeadlineSeconds);
  const json& pod = (*upload)["spec"]["template"]["spec"];
  ASSERT_EQ(pod["containers"].size(), 1u);
  const json& c = pod["containers"][0];
  const std::string uri = "s3://kiln/pipelines/flights/" + run + "/features/features";
  EXPECT_EQ(c["name"], "upload-0");
  EXPECT_EQ(c["image"], "kiln/storage:dev");
  EXPECT_EQ(c["command"], json({"kiln-storage", "upload-artifact",
                                "/workspace/out/features.csv", uri}));
  EXPECT_EQ(c["envFrom"][0]["secretRef"]["name"], "s3-creds");
  bool claim_read_only = false;
  for (const json& v : pod["volumes"]) {
    if (v.contains("persistentVolumeClaim")) {
      claim_read_only = v["persistentVolumeClaim"] ==
                        json({{"claimName", run + "-workspace"}, {"readOnly", true}});
    }
  }
  EXPECT_TRUE(claim_read_only) << pod["volumes"].dump();

  complete_upload(w, upload_job(w, "features"), uri);
  const Plan& next = w.step();
  EXPECT_EQ(w.phase("features"), "Succeeded");
  EXPECT_EQ(w.step_status("features")["artifacts"],
            json::array({{{"name", "features"}, {"uri", uri}, {"digest", kDigest}}}));
  EXPECT_EQ(w.step_status("features")["imageID"].get<std::string>().rfind("docker.io/", 0), 0u);
  ASSERT_EQ(w.phase("train"), "Running");
  const json* train = find_job(next, w.job("train"));
  ASSERT_NE(train, nullptr);
  const json& init = (*train)["spec"]["template"]["spec"]["initContainers"];
  ASSERT_EQ(init.size(), 1u);
  EXPECT_EQ(init[0]["name"], "fetch-artifact-0");
  EXPECT_EQ(init[0]["command"],
            json({"kiln-storage", "fetch-artifact", uri, "/kiln-inputs/0/artifact", kDigest}));
  EXPECT_EQ(init[0]["volumeMounts"][0]["mountPath"], "/kiln-inputs");
  EXPECT_EQ(init[0]["securityContext"]["runAsNonRoot"], true);
  // The step sees the download at its path; the storage container never writes the workspace.
  const json& mounts = (*train)["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
  EXPECT_EQ(mounts.back(), json({{"name", "kiln-inputs"},
                                 {"mountPath", "/workspace/in/features.csv"},
                                 {"subPath", "0/artifact"}}));
}

TEST(DataPipelineArtifacts, ACacheHitFromAnotherRunsClaimIsTakenFromTheRepository) {
  World w = repository_pipeline();
  w.step();
  const std::string first = w.run()["name"];
  const std::string uri = "s3://kiln/pipelines/flights/" + first + "/features/features";
  w.complete(w.job("features"));
  w.step();
  complete_upload(w, upload_job(w, "features"), uri);
  w.step();
  w.complete(w.job("train"));
  w.step();
  ASSERT_EQ(w.run()["phase"], "Succeeded");

  w.now += 1h;
  w.pipeline["metadata"]["annotations"]["kiln.dev/run"] = "again";
  const Plan& plan = w.step();
  ASSERT_EQ(w.pipeline["status"]["runs"].size(), 2u);
  EXPECT_EQ(w.phase("features"), "Cached");
  EXPECT_EQ(w.step_status("features")["message"], "cache hit from run " + first);
  EXPECT_EQ(w.step_status("features")["artifacts"][0]["uri"], uri);
  // train runs in the new run's claim, on the first run's stored features.
  const json* train = find_job(plan, w.job("train"));
  ASSERT_NE(train, nullptr);
  const json& spec = (*train)["spec"]["template"]["spec"];
  EXPECT_EQ(spec["initContainers"][0]["command"][2], uri);
  EXPECT_EQ(spec["volumes"][0]["persistentVolumeClaim"]["claimName"],
            w.run()["name"].get<std::string>() + "-workspace");
}

TEST(DataPipelineArtifacts, AMissingOutputFailsAndATransferErrorIsAnErrorNamingTheArtifact) {
  {
    World w = repository_pipeline();
    w.step();
    w.complete(w.job("features"));
    w.step();
    w.finish_pod(upload_job(w, "features"), "Failed",
                 json::array({{{"name", "upload-0"},
                               {"state", {{"terminated", {{"exitCode", 3}, {"message", "x"}}}}}}}));
    w.step();
    EXPECT_EQ(w.phase("features"), "Failed");
    EXPECT_EQ(w.step_status("features")["message"],
              "output artifacts not found: /workspace/out/features.csv");
  }
  {
    World w = repository_pipeline();
    w.step();
    w.complete(w.job("features"));
    w.step();
    const std::string why = "s3://kiln/pipelines/flights/r/features/features: 403 AccessDenied";
    w.finish_pod(upload_job(w, "features"), "Failed",
                 json::array({{{"name", "upload-0"},
                               {"state", {{"terminated", {{"exitCode", 1}, {"message", why}}}}}}}));
    w.step();
    EXPECT_EQ(w.phase("features"), "Error");
    EXPECT_EQ(w.step_status("features")["message"], "uploading artifact features: " + why);
    EXPECT_FALSE(w.step_status("features").contains("artifacts"));
  }
}

TEST(DataPipelineArtifacts, AnInputThatCannotBeFetchedIsAnErrorAndTheJobIsStopped) {
  World w = repository_pipeline();
  w.step();
  const std::string run = w.run()["name"];
  const std::string uri = "s3://kiln/pipelines/flights/" + run + "/features/features";
  w.complete(w.job("features"));
  w.step();
  complete_upload(w, upload_job(w, "features"), uri);
  w.step();
  const std::string train = w.job("train");
  // A missing Secret keeps the init container waiting; the Job would never finish.
  w.finish_pod(train, "", json::array(),
               json::array({{{"name", "fetch-artifact-0"},
                             {"state",
                              {{"waiting",
                                {{"reason", "CreateContainerConfigError"},
                                 {"message", "secret \"s3-creds\" not found"}}}}}}}));
  const Plan& plan = w.step();
  EXPECT_EQ(w.phase("train"), "Error");
  EXPECT_EQ(w.step_status("train")["message"],
            "inputs.artifacts features: CreateContainerConfigError: secret \"s3-creds\" not found");
  ASSERT_EQ(plan.remove.size(), 1u);
  EXPECT_EQ(plan.remove[0].name, train);
}

TEST(DataPipelineArtifacts, FromWithoutARepositoryIsAnError) {
  World w = repository_pipeline();
  w.pipeline["spec"].erase("artifactRepository");
  w.pipeline["spec"]["steps"][0].erase("outputs");
  w.step();
  w.complete(w.job("features"));
  w.step();
  EXPECT_EQ(w.phase("train"), "Error");
  EXPECT_EQ(w.step_status("train")["message"],
            "inputs.artifacts[0] (features): from needs an artifact repository "
            "(spec.artifactRepository or the chart's)");
}

TEST(DataPipelineArtifacts, TheManagersRepositoryServesPipelinesThatNameNone) {
  World w = repository_pipeline();
  w.pipeline["spec"].erase("artifactRepository");
  w.options.artifact_repository = "gs://team-artifacts/dp";
  w.step();
  w.complete(w.job("features"));
  const Plan& plan = w.step();
  const json* upload = find_job(plan, upload_job(w, "features"));
  ASSERT_NE(upload, nullptr);
  EXPECT_EQ((*upload)["spec"]["template"]["spec"]["containers"][0]["command"][3],
            "gs://team-artifacts/dp/flights/" + w.run()["name"].get<std::string>() +
                "/features/features");
}

TEST(DataPipelineCache, TheKeyCoversTheImageDigestAndTheInputDigests) {
  api::PipelineStep step;
  step.name = "features";
  step.image = "busybox:1.36";
  const json params = {{"month", "1"}};
  const std::string plain = cache_key(step, params);
  EXPECT_EQ(plain, cache_key(step, params, json::object(), ""));  // Absent means absent.
  EXPECT_NE(plain, cache_key(step, params, json::object(), "busybox@sha256:aa"));
  EXPECT_NE(cache_key(step, params, json::object(), "busybox@sha256:aa"),
            cache_key(step, params, json::object(), "busybox@sha256:bb"));
  EXPECT_NE(cache_key(step, params, {{"in", "sha256:aa"}}),
            cache_key(step, params, {{"in", "sha256:bb"}}));

  const json runs = json::array(
      {{{"steps", json::array({{{"name", "features"}, {"imageID", "newest"}}})}},
       {{"steps", json::array({{{"name", "features"}, {"imageID", "older"}},
                               {{"name", "train"}, {"imageID", "other"}}})}}});
  EXPECT_EQ(known_image_id(runs, "features"), "newest");
  EXPECT_EQ(known_image_id(runs, "train"), "other");
  EXPECT_EQ(known_image_id(runs, "absent"), "");
}

}  // namespace
}  // namespace kiln::controllers::datapipeline
