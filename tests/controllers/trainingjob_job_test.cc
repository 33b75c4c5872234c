// TrainingJob builders: the Indexed Job, the headless Service, the framework environment and the
// built-in trainer container.

#include <gtest/gtest.h>

#include <algorithm>

#include <set>

#include <regex>

#include "controllers/trainingjob/env.h"
#include "controllers/trainingjob/job.h"
#include "controllers/trainingjob/model.h"
#include "controllers/trainingjob/names.h"

namespace kiln::controllers::trainingjob {
namespace {

using nlohmann::json;
namespace api = kiln::api::v1alpha1;

json template_job(const std::string& framework, int replicas) {
  return {
      {"apiVersion", "kiln.dev/v1alpha1"},
      {"kind", "TrainingJob"},
      {"metadata", {{"name", "mnist"}, {"namespace", "ml"}, {"uid", "uid-1"}}},
      {"spec",
       {{"framework", framework},
        {"replicas", replicas},
        {"template",
         {{"spec",
           {{"containers",
             json::array({{{"name", "main"},
                           {"image", "trainer:1"},
                           {"env", json::array({{{"name", "LR"}, {"value", "0.1"}},
                                                {{"name", "RANK"}, {"value", "bogus"}}})}}})}}}}},
        {"runPolicy", {{"backoffLimit", 2}, {"gangRestart", true}}},
        {"output", {{"modelUri", "pvc://models/mnist/v1"}}}}}};
}

json builtin_job() {
  return {{"apiVersion", "kiln.dev/v1alpha1"},
          {"kind", "TrainingJob"},
          {"metadata", {{"name", "flights-delay"}, {"namespace", "ml"}, {"uid", "uid-2"}}},
          {"spec",
           {{"framework", "xgboost"},
            {"replicas", 1},
            {"builtin",
             {{"xgboost",
               {{"data", "pvc://flights-data/features/train.csv"},
                {"label", "arr_delayed"},
                {"objective", "binary:logistic"},
                {"numRounds", 100},
                {"params", {{"max_depth", "6"}, {"eta", "0.1"}}},
                {"validationFraction", 0.2}}}}},
            {"runPolicy",
             {{"backoffLimit", 2},
              {"gangRestart", false},
              {"restartPolicy", "ExitCode"},
              {"activeDeadlineSeconds", 3600},
              {"ttlSecondsAfterFinished", 600}}},
            {"output", {{"modelUri", "pvc://flights-models/flights-delay/v1"}}}}}};
}

// desired_job on tj's spec decoded as the plan decodes it (errors: the decoder's or the builder's).
Result<json> build_job(const json& tj, long long restarts, const BuildOptions& options) {
  KILN_TRY(api::TrainingJobSpec spec, api::parse_training_job_spec(tj));
  return desired_job(tj, spec, restarts, options);
}

// name -> the EnvVar object of the first container.
std::map<std::string, json> env_of(const json& job) {
  std::map<std::string, json> out;
  for (const json& e : job["spec"]["template"]["spec"]["containers"][0]["env"]) out[e["name"]] = e;
  return out;
}

std::string index_field(const json& env) { return env["valueFrom"]["fieldRef"]["fieldPath"]; }

TEST(TrainingJobBuilders, IndexedJobRunsOneCompletionPerReplica) {
  auto job = build_job(template_job("pytorch", 4), 0, BuildOptions{});
  ASSERT_TRUE(job.ok()) << job.error().to_string();
  EXPECT_EQ((*job)["apiVersion"], "batch/v1");
  EXPECT_EQ((*job)["metadata"]["name"], "mnist");
  EXPECT_EQ((*job)["metadata"]["namespace"], "ml");
  EXPECT_EQ((*job)["metadata"]["labels"]["kiln.dev/trainingjob"], "mnist");
  EXPECT_EQ((*job)["metadata"]["ownerReferences"][0]["uid"], "uid-1");
  const json& spec = (*job)["spec"];
  EXPECT_EQ(spec["completionMode"], "Indexed");
  EXPECT_EQ(spec["completions"], 4);
  EXPECT_EQ(spec["parallelism"], 4);
  EXPECT_EQ(spec["backoffLimit"], 0);  // The gang restarts, not the Job.
  EXPECT_EQ(spec["template"]["spec"]["subdomain"], "mnist-workers");
  EXPECT_EQ(spec["template"]["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(spec["template"]["metadata"]["labels"]["kiln.dev/trainingjob"], "mnist");
}

TEST(TrainingJobBuilders, PytorchWorkersGetMasterWorldSizeAndRank) {
  auto job = build_job(template_job("pytorch", 4), 0, BuildOptions{});
  ASSERT_TRUE(job.ok());
  auto env = env_of(*job);
  EXPECT_EQ(env["MASTER_ADDR"]["value"], "mnist-0.mnist-workers");
  EXPECT_EQ(env["MASTER_PORT"]["value"], "23456");
  EXPECT_EQ(env["WORLD_SIZE"]["value"], "4");
  EXPECT_EQ(index_field(env["RANK"]),
            "metadata.annotations['batch.kubernetes.io/job-completion-index']");
  EXPECT_EQ(env["LR"]["value"], "0.1");  // The user's variables stay.
  // Ours come first so the user's may reference them; a user RANK is replaced.
  const json& list = (*job)["spec"]["template"]["spec"]["containers"][0]["env"];
  EXPECT_EQ(list[0]["name"], "JOB_COMPLETION_INDEX");
  EXPECT_EQ(list.size(), 6u);
}

TEST(TrainingJobBuilders, XgboostWorkersGetTheDmlcTracker) {
  auto job = build_job(template_job("xgboost", 3), 0, BuildOptions{});
  ASSERT_TRUE(job.ok());
  auto env = env_of(*job);
  EXPECT_EQ(env["DMLC_TRACKER_URI"]["value"], "mnist-0.mnist-workers");
  EXPECT_EQ(env["DMLC_TRACKER_PORT"]["value"], "9091");
  EXPECT_EQ(env["DMLC_NUM_WORKER"]["value"], "3");
  EXPECT_TRUE(index_field(env["DMLC_TASK_ID"]).find("job-completion-index") != std::string::npos);
}

TEST(TrainingJobBuilders, TensorflowConfigIsValidJsonOnceTheKubeletExpandsTheIndex) {
  auto job = build_job(template_job("tensorflow", 2), 1, BuildOptions{});
  ASSERT_TRUE(job.ok());
  auto env = env_of(*job);
  std::string text = env["TF_CONFIG"]["value"];
  const std::string ref = "$(JOB_COMPLETION_INDEX)";
  const auto at = text.find(ref);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, ref.size(), "1");
  const json config = json::parse(text);
  EXPECT_EQ(config["cluster"]["worker"],
            json({"mnist-r1-0.mnist-workers:2222", "mnist-r1-1.mnist-workers:2222"}));
  EXPECT_EQ(config["task"], json({{"type", "worker"}, {"index", 1}}));
}

TEST(TrainingJobBuilders, HeadlessServiceSelectsTheCurrentJobsPods) {
  const json svc = desired_service(template_job("pytorch", 2), "mnist-r2");
  EXPECT_EQ(svc["kind"], "Service");
  EXPECT_EQ(svc["metadata"]["name"], "mnist-workers");
  EXPECT_EQ(svc["spec"]["clusterIP"], "None");
  EXPECT_EQ(svc["spec"]["publishNotReadyAddresses"], true);
  EXPECT_EQ(svc["spec"]["selector"], json({{"kiln.dev/trainingjob", "mnist"},
                                           {"batch.kubernetes.io/job-name", "mnist-r2"}}));
}

TEST(TrainingJobBuilders, BuiltinXgboostRunsKilnRuntimeTrainWithItsFlags) {
  BuildOptions options;
  options.runtime_image = "kiln/runtime:test";
  auto job = build_job(builtin_job(), 0, options);
  ASSERT_TRUE(job.ok()) << job.error().to_string();
  const json& pod = (*job)["spec"]["template"]["spec"];
  const json& c = pod["containers"][0];
  EXPECT_EQ(c["image"], "kiln/runtime:test");
  EXPECT_EQ(c["command"], json({"kiln-runtime", "train"}));  // No shell needed in the image.
  EXPECT_EQ(c["terminationMessagePolicy"], "FallbackToLogsOnError");
  EXPECT_EQ(c["args"], json({"--data", "/mnt/kiln/flights-data/features/train.csv", "--label",
                             "arr_delayed", "--objective", "binary:logistic", "--rounds", "100",
                             "--test-fraction", "0.2", "--param", "eta=0.1", "--param",
                             "max_depth=6", "--output", "/mnt/kiln/flights-models/flights-delay/v1",
                             "--termination-log", "/dev/termination-log"}));
  EXPECT_EQ(
      pod["volumes"],
      json::parse(
          R"([{"name":"flights-models","persistentVolumeClaim":{"claimName":"flights-models","readOnly":false}},
                            {"name":"flights-data","persistentVolumeClaim":{"claimName":"flights-data","readOnly":true}}])"));
  EXPECT_EQ(c["volumeMounts"][1]["mountPath"], "/mnt/kiln/flights-data");
  EXPECT_EQ(c["volumeMounts"][1]["readOnly"], true);
}

TEST(TrainingJobBuilders, BuiltinXgboostFeaturesBecomeFeatureFlagsInOrder) {
  json tj = builtin_job();
  tj["spec"]["builtin"]["xgboost"]["features"] = {"distance", "dep_hour"};
  auto job = build_job(tj, 0, BuildOptions{});
  ASSERT_TRUE(job.ok()) << job.error().to_string();
  const json& args = (*job)["spec"]["template"]["spec"]["containers"][0]["args"];
  std::vector<std::string> features;
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--feature") features.push_back(args[i + 1]);
  }
  EXPECT_EQ(features, (std::vector<std::string>{"distance", "dep_hour"}));
}

TEST(TrainingJobBuilders, RunPolicyMapsOntoTheJob) {
  auto job = build_job(builtin_job(), 0, BuildOptions{});
  ASSERT_TRUE(job.ok());
  const json& spec = (*job)["spec"];
  EXPECT_EQ(spec["backoffLimit"], 2);  // No gang restart: the Job retries.
  EXPECT_EQ(spec["activeDeadlineSeconds"], 3600);
  EXPECT_EQ(spec["ttlSecondsAfterFinished"], 600);
  const json& rules = spec["podFailurePolicy"]["rules"];
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0]["action"], "Ignore");
  EXPECT_EQ(rules[1]["action"], "FailJob");
  const json& codes = rules[1]["onExitCodes"]["values"];
  EXPECT_EQ(codes.size(), 127u);
  EXPECT_EQ(codes.front(), 1);
  EXPECT_EQ(codes.back(), 127);
}

TEST(TrainingJobBuilders, FieldsLeftOutTakeTheSchemasDefaults) {
  json tj = builtin_job();
  tj["spec"].erase("runPolicy");
  tj["spec"].erase("replicas");
  tj["spec"]["builtin"]["xgboost"] = {{"data", "pvc://flights-data/features/train.csv"},
                                      {"label", "arr_delayed"}};
  auto job = build_job(tj, 0, BuildOptions{});
  ASSERT_TRUE(job.ok()) << job.error().to_string();
  const json& spec = (*job)["spec"];
  EXPECT_EQ(spec["completions"], 1);
  EXPECT_EQ(spec["backoffLimit"], 0);  // gangRestart defaults to true.
  EXPECT_FALSE(spec.contains("activeDeadlineSeconds"));
  EXPECT_FALSE(spec.contains("ttlSecondsAfterFinished"));
  EXPECT_FALSE(spec.contains("podFailurePolicy"));  // restartPolicy OnFailure.
  EXPECT_EQ(spec["template"]["spec"]["containers"][0]["args"],
            json({"--data", "/mnt/kiln/flights-data/features/train.csv", "--label", "arr_delayed",
                  "--objective", "binary:logistic", "--rounds", "100", "--test-fraction", "0.2",
                  "--output", "/mnt/kiln/flights-models/flights-delay/v1", "--termination-log",
                  "/dev/termination-log"}));

  tj["spec"]["runPolicy"] = {{"gangRestart", false}};
  auto retried = build_job(tj, 0, BuildOptions{});
  ASSERT_TRUE(retried.ok()) << retried.error().to_string();
  EXPECT_EQ((*retried)["spec"]["backoffLimit"], 3);
}

TEST(TrainingJobBuilders, GenericWorkersGetOnlyTheirIndex) {
  auto job = build_job(template_job("generic", 2), 0, BuildOptions{});
  ASSERT_TRUE(job.ok()) << job.error().to_string();
  auto env = env_of(*job);
  EXPECT_EQ(env.size(), 3u);  // JOB_COMPLETION_INDEX and the user's LR and RANK.
  EXPECT_EQ(env["RANK"]["value"], "bogus");
}

TEST(TrainingJobBuilders, RejectsAnUnknownUriScheme) {
  json tj = builtin_job();
  tj["spec"]["builtin"]["xgboost"]["data"] = "ftp://bucket/train.csv";
  EXPECT_FALSE(build_job(tj, 0, BuildOptions{}).ok());
}

TEST(TrainingJobNames, StayDnsLabelsWithRoomForWorkerIndices) {
  const std::string long_name(70, 'x');
  const std::string job = job_name(long_name, 12);
  EXPECT_LE(job.size() + 5, 63u);
  EXPECT_TRUE(job.ends_with("-r12"));
  EXPECT_LE(service_name(long_name).size(), 63u);
}

TEST(TrainingJobModel, ParsesTheTrainerSummary) {
  const std::string message =
      R"({"model":{"uri":"/mnt/kiln/flights-models/flights-delay/v1/model.json","format":"xgboost",)"
      R"("digest":"sha256:ab"},"metrics":{"auc":0.91,"logloss":0.3,"note":"x"}})";
  auto model = model_from_summary(message, "pvc://flights-models/flights-delay/v1/");
  ASSERT_TRUE(model.has_value());
  EXPECT_EQ((*model)["uri"], "pvc://flights-models/flights-delay/v1/model.json");
  EXPECT_EQ((*model)["digest"], "sha256:ab");
  EXPECT_EQ((*model)["format"], "xgboost");
  EXPECT_EQ((*model)["metrics"], json({{"auc", 0.91}, {"logloss", 0.3}}));
  EXPECT_EQ((*model)["profileUri"], "pvc://flights-models/flights-delay/v1/profile.json");
  EXPECT_FALSE(model_from_summary("Error: out of memory", "pvc://m/x").has_value());
}


TEST(TrainingJobBuilders, RemoteDataIsFetchedAndARemoteOutputIsUploadedAfterTheTrainer) {
  json tj = builtin_job();
  tj["spec"]["builtin"]["xgboost"]["data"] = "s3://flights/features/train.csv";
  tj["spec"]["output"]["modelUri"] = "s3://models/flights-delay/v1";
  tj["spec"]["storage"] = {{"secretRef", {{"name", "team-s3"}}},
                           {"endpoint", "http://s3.storage.svc:7070"}};
  BuildOptions options;
  options.storage.image = "kiln/storage:test";
  auto job = build_job(tj, 0, options);
  ASSERT_TRUE(job.ok()) << job.error().to_string();
  const json& pod = (*job)["spec"]["template"]["spec"];
  // Fetch, then train (both init containers, in order), then the one container uploads.
  ASSERT_EQ(pod["initContainers"].size(), 2u);
  const json& fetch = pod["initContainers"][0];
  const json& trainer = pod["initContainers"][1];
  EXPECT_EQ(fetch["name"], "storage-initializer");
  EXPECT_EQ(fetch["command"], json({"kiln-storage", "fetch", "s3://flights/features/train.csv",
                                    "/mnt/kiln-data/train.csv", "-"}));
  EXPECT_EQ(fetch["envFrom"][0]["secretRef"]["name"], "team-s3");
  EXPECT_EQ(trainer["name"], "trainer");
  const auto args = trainer["args"].get<std::vector<std::string>>();
  EXPECT_EQ(args[1], "/mnt/kiln-data/train.csv");
  const auto out = std::find(args.begin(), args.end(), "--output");
  ASSERT_NE(out, args.end());
  EXPECT_EQ(*(out + 1), "/mnt/kiln-output");
  std::map<std::string, json> trainer_env;
  for (const json& e : trainer["env"]) trainer_env[e["name"]] = e;
  EXPECT_EQ(trainer_env["KILN_OUTPUT_DIR"]["value"], "/mnt/kiln-output");
  EXPECT_EQ(trainer_env.count("DMLC_TASK_ID"), 1u);  // The framework env stays on the trainer.
  ASSERT_EQ(pod["containers"].size(), 1u);
  const json& upload = pod["containers"][0];
  EXPECT_EQ(upload["name"], "storage-uploader");
  EXPECT_EQ(upload["image"], "kiln/storage:test");
  const auto command = upload["command"].get<std::vector<std::string>>();
  EXPECT_EQ(command.back(), "s3://models/flights-delay/v1");
  EXPECT_EQ(command[command.size() - 2], "/mnt/kiln-output");
  EXPECT_NE(command[2].find("JOB_COMPLETION_INDEX"), std::string::npos);  // Worker 0 uploads.
  std::map<std::string, std::string> env;
  for (const json& e : upload["env"]) env[e["name"]] = e["value"];
  EXPECT_EQ(env["RCLONE_S3_ENDPOINT"], "http://s3.storage.svc:7070");
  // Each volume once: the API server refuses a list with two entries of one name.
  std::vector<std::string> volumes;
  for (const json& v : pod["volumes"]) volumes.push_back(v["name"]);
  std::sort(volumes.begin(), volumes.end());
  EXPECT_EQ(volumes, (std::vector<std::string>{"kiln-data", "kiln-output", "kiln-storage-tmp"}));

  tj["spec"]["output"]["modelUri"] = "https://models.example/flights";
  EXPECT_FALSE(build_job(tj, 0, options).ok());  // An output is a prefix to upload under.
}

TEST(TrainingJobModel, ARemoteOutputIsTheUploadedModelOnceTheUploadSucceeded) {
  const std::string summary =
      R"({"model":{"uri":"/mnt/kiln-output/model.json","format":"xgboost",)"
      R"("digest":"sha256:aa"},"metrics":{"auc":0.93}})";
  json pod = {{"status",
               {{"initContainerStatuses",
                 {{{"name", "trainer"},
                   {"state", {{"terminated", {{"exitCode", 0}, {"message", summary}}}}}}}},
                {"containerStatuses",
                 {{{"name", "storage-uploader"}, {"state", {{"running", json::object()}}}}}}}}};
  const std::string prefix = "s3://models/flights-delay/v1";
  EXPECT_FALSE(model_from_pod(pod, prefix).has_value());  // Still uploading.
  const std::string uploaded =
      R"({"uploaded":{"model.json":{"uri":"s3://models/flights-delay/v1/model.json",)"
      R"("digest":"sha256:aa"},"profile.json":{"uri":"s3://models/flights-delay/v1/profile.json",)"
      R"("digest":"sha256:bb"},"metrics.json":{"uri":"s3://models/flights-delay/v1/metrics.json",)"
      R"("digest":"sha256:cc"}}})";
  pod["status"]["containerStatuses"][0]["state"] = {
      {"terminated", {{"exitCode", 0}, {"message", uploaded}}}};
  auto model = model_from_pod(pod, prefix);
  ASSERT_TRUE(model.has_value());
  EXPECT_EQ((*model)["uri"], "s3://models/flights-delay/v1/model.json");
  EXPECT_EQ((*model)["digest"], "sha256:aa");
  EXPECT_EQ((*model)["profileUri"], "s3://models/flights-delay/v1/profile.json");
  EXPECT_EQ((*model)["metrics"]["auc"], 0.93);
  // A failed upload reports no model.
  pod["status"]["containerStatuses"][0]["state"] = {
      {"terminated", {{"exitCode", 1}, {"message", "s3://models/...: 403 AccessDenied"}}}};
  EXPECT_FALSE(model_from_pod(pod, prefix).has_value());
}

}  // namespace
}  // namespace kiln::controllers::trainingjob
