// Unit tests of the DriftMonitor plan: real drift::Profiles (baseline from a seeded table, live
// profiles from two "pods" in the runtime's /profile JSON shape) evaluated by kiln_drift, then
// the retrain and rollout decisions on an in-memory world at injected times.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "controllers/driftmonitor/plan.h"
#include "drift/profile.h"
#include "drift/table.h"

namespace kiln::controllers::driftmonitor {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0 = std::chrono::sys_days{std::chrono::year{2026} / 11 / 21} + 8h;

// Rows of (temp, dewp, carrier); `shift` moves the numbers and the carrier mix.
drift::Table make_table(unsigned seed, std::size_t rows, double shift) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> temp(20 + shift, 5), dewp(10 + shift * 0.6, 3);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> t, d;
  std::vector<std::optional<std::string>> c;
  const double p_aa = shift == 0 ? 0.5 : 0.1;
  for (std::size_t i = 0; i < rows; ++i) {
    t.push_back(temp(rng));
    d.push_back(dewp(rng));
    const double x = u(rng);
    c.push_back(x < p_aa ? "AA" : (x < p_aa + 0.3 ? "DL" : "UA"));
  }
  return {{drift::Column::numerical("temp", t), drift::Column::numerical("dewp", d),
           drift::Column::categorical("carrier", c)}};
}

json baseline_json() {
  auto p = drift::Profile::from_table(make_table(1, 3000, 0));
  EXPECT_TRUE(p.ok());
  return p->to_json();
}

// Two serving pods' GET /v2/models/{m}/profile bodies, with the baseline's schema.
std::vector<json> live(double shift, std::size_t rows_per_pod = 1000) {
  auto baseline = drift::Profile::from_json(baseline_json());
  std::vector<json> out;
  for (unsigned pod = 0; pod < 2; ++pod) {
    auto p = baseline->profile_of(make_table(100 + pod, rows_per_pod, shift));
    EXPECT_TRUE(p.ok());
    out.push_back({{"windowSeconds", 3600}, {"inputs", p->to_json()}, {"outputs", nullptr}});
  }
  return out;
}

json monitor() {
  return json::parse(R"({
    "apiVersion": "kiln.dev/v1alpha1", "kind": "DriftMonitor",
    "metadata": {"name": "flights", "namespace": "ml", "uid": "dm-1", "generation": 2},
    "spec": {
      "target": {"modelDeploymentRef": {"name": "flights"}},
      "interval": "5m",
      "window": {"duration": "1h", "minSamples": 500},
      "features": [{"name": "temp", "type": "numerical"},
                   {"name": "dewp", "type": "numerical", "test": "ks", "threshold": 0.05},
                   {"name": "carrier", "type": "categorical", "test": "jensenshannon",
                    "threshold": 0.1}],
      "correction": "fdr", "driftShare": 0.5,
      "actions": {
        "retrain": {"cooldown": "6h", "maxRetrainsPerDay": 2,
                    "trainingJobTemplate": {
                      "metadata": {"labels": {"kiln.dev/retrain-of": "flights"}},
                      "spec": {"framework": "xgboost",
                               "builtin": {"xgboost": {"data": "pvc://data/recent.csv",
                                                       "label": "delayed"}},
                               "output": {"modelUri": "pvc://models/retrained"}}}},
        "rollout": {"enabled": true, "trafficPercent": 20}}}
  })");
}

struct World {
  json dm = monitor();
  Observed observed;
  DriftMonitorPlan last;

  World() {
    observed.target = json::parse(R"({"apiVersion": "kiln.dev/v1alpha1", "kind": "ModelDeployment",
                                      "metadata": {"name": "flights", "namespace": "ml"}})");
    observed.baseline = baseline_json();
  }
  DriftMonitorPlan plan(TimePoint now, double shift) {
    observed.live_profiles = evaluation_due(dm, now) ? live(shift) : std::vector<json>{};
    last = plan_driftmonitor(dm, observed, now);
    dm["status"] = last.status;
    for (json o : last.apply) {
      o["metadata"]["creationTimestamp"] = support::format_time(now);
      o["status"] = {{"phase", "Running"}};
      observed.training_jobs.push_back(std::move(o));
    }
    for (const auto& p : last.patches) {
      if (p.target.kind == "ModelDeployment") observed.target->merge_patch(p.patch);
    }
    return last;
  }
  void finish_jobs(bool with_model = true) {
    for (auto& j : observed.training_jobs) {
      j["status"]["phase"] = "Succeeded";
      if (with_model) {
        j["status"]["model"] = {
            {"uri", "pvc://models/retrained/" + support::name_of(j) + "/model.json"},
            {"format", "xgboost"},
            {"digest", "sha256:00ff"},
            {"profileUri", "pvc://models/retrained/profile.json"}};
      }
    }
  }
  std::string condition(std::string_view type) const {
    return condition_status(dm["status"], type);
  }
};

TEST(DriftMonitorPlan, SameDistributionIsNotDrift) {
  World w;
  w.plan(kT0, 0);
  EXPECT_EQ(w.condition("Ready"), "True");
  EXPECT_EQ(w.condition("DriftDetected"), "False");
  const json& e = w.dm["status"]["lastEvaluation"];
  EXPECT_EQ(e["samples"], 2000);
  EXPECT_EQ(e["datasetDrift"], false);
  ASSERT_EQ(e["features"].size(), 3u);
  EXPECT_EQ(e["features"][1]["test"], "ks");
  EXPECT_TRUE(e["features"][1].contains("pValue"));
  EXPECT_EQ(e["features"][2]["test"], "jensenshannon");
  ASSERT_TRUE(w.last.evaluation.has_value());
  EXPECT_EQ(w.last.evaluation->features.size(), 3u);
  EXPECT_TRUE(w.last.apply.empty());
  EXPECT_EQ(w.dm["status"]["observedGeneration"], 2);
}

TEST(DriftMonitorPlan, ShiftedTrafficIsDriftAndStartsARetrainOwnedByTheMonitor) {
  World w;
  w.plan(kT0, 0);
  w.plan(kT0 + 5min, 4);
  EXPECT_EQ(w.condition("DriftDetected"), "True");
  EXPECT_EQ(w.dm["status"]["lastEvaluation"]["datasetDrift"], true);
  for (const auto& f : w.dm["status"]["lastEvaluation"]["features"]) {
    EXPECT_EQ(f["drifted"], true) << f.dump();
  }
  ASSERT_EQ(w.last.apply.size(), 1u);
  const json& job = w.last.apply[0];
  EXPECT_EQ(job["kind"], "TrainingJob");
  EXPECT_EQ(job["metadata"]["name"], "flights-retrain-1");
  EXPECT_EQ(job["metadata"]["labels"]["kiln.dev/retrain-of"], "flights");
  EXPECT_EQ(job["metadata"]["labels"]["kiln.dev/driftmonitor"], "flights");
  EXPECT_EQ(job["metadata"]["ownerReferences"][0]["uid"], "dm-1");
  EXPECT_EQ(job["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(job["spec"]["framework"], "xgboost");
  // Each retraining writes to a directory of its own under the template's output, named also by
  // the monitor's uid (a monitor created again under the same name counts from 1 again).
  EXPECT_EQ(job["spec"]["output"]["modelUri"], "pvc://models/retrained/flights-retrain-1-dm-1");
  EXPECT_EQ(w.dm["status"]["lastRetrain"]["trainingJob"], "flights-retrain-1");
  EXPECT_EQ(w.dm["status"]["retrainsToday"], 1);
  bool drift_event = false, retrain_event = false;
  for (const auto& e : w.last.events) {
    drift_event = drift_event || (e.reason == "DatasetDrift" && e.type == "Warning");
    retrain_event = retrain_event || e.reason == "RetrainStarted";
  }
  EXPECT_TRUE(drift_event);
  EXPECT_TRUE(retrain_event);
}

TEST(DriftMonitorPlan, FewerRowsThanMinSamplesGivesNoVerdict) {
  World w;
  w.dm["spec"]["window"]["minSamples"] = 5000;
  w.plan(kT0, 4);
  EXPECT_EQ(w.condition("DriftDetected"), "Unknown");
  EXPECT_EQ(find_condition(w.dm["status"], "DriftDetected")->value("reason", ""),
            "InsufficientSamples");
  EXPECT_FALSE(w.dm["status"]["lastEvaluation"].contains("features"));
  EXPECT_TRUE(w.last.apply.empty());
}

TEST(DriftMonitorPlan, CooldownHoldsTheNextRetrainAndARunningJobBlocksIt) {
  World w;
  w.plan(kT0, 4);
  ASSERT_EQ(w.last.apply.size(), 1u);
  w.plan(kT0 + 5min, 4);  // Drift persists, inside the 6h cooldown.
  EXPECT_TRUE(w.last.apply.empty());
  ASSERT_TRUE(w.last.requeue_after.has_value());
  w.plan(kT0 + 6h + 1min, 4);  // Cooldown over, but flights-retrain-1 still runs.
  EXPECT_TRUE(w.last.apply.empty());
  w.finish_jobs(false);
  w.plan(kT0 + 6h + 7min, 4);
  ASSERT_EQ(w.last.apply.size(), 1u);
  EXPECT_EQ(w.last.apply[0]["metadata"]["name"], "flights-retrain-2");
  EXPECT_EQ(w.dm["status"]["retrainsToday"], 2);
}

TEST(DriftMonitorPlan, DailyCapCountsTheMonitorsJobsOfTheLast24Hours) {
  World w;
  w.dm["spec"]["actions"]["retrain"]["cooldown"] = "1h";
  w.dm["spec"]["actions"]["retrain"]["maxRetrainsPerDay"] = 1;
  w.plan(kT0, 4);
  ASSERT_EQ(w.last.apply.size(), 1u);
  w.finish_jobs(false);
  w.plan(kT0 + 2h, 4);
  EXPECT_TRUE(w.last.apply.empty());
  bool capped = false;
  for (const auto& e : w.last.events) capped = capped || e.reason == "RetrainCapReached";
  EXPECT_TRUE(capped);
  w.plan(kT0 + 24h + 5min, 4);  // The first job is older than a day now.
  ASSERT_EQ(w.last.apply.size(), 1u);
  EXPECT_EQ(w.last.apply[0]["metadata"]["name"], "flights-retrain-2");
}

TEST(DriftMonitorPlan, SucceededRetrainIsSentToTheTargetsCanaryOnce) {
  World w;
  w.plan(kT0, 4);
  EXPECT_TRUE(w.last.patches.empty());  // Not before the job succeeds.
  w.finish_jobs();
  w.plan(kT0 + 1min, 4);  // Not an evaluation time: the rollout still happens.
  ASSERT_EQ(w.last.patches.size(), 1u);
  const auto& p = w.last.patches[0];
  EXPECT_EQ(p.target.kind, "ModelDeployment");
  EXPECT_EQ(p.target.name, "flights");
  EXPECT_FALSE(p.patch.contains("spec"));
  const json value =
      json::parse(p.patch["metadata"]["annotations"]["kiln.dev/canary-model"].get<std::string>());
  EXPECT_EQ(value["uri"], "pvc://models/retrained/flights-retrain-1/model.json");
  EXPECT_EQ(value["version"], "flights-retrain-1");
  EXPECT_EQ(value["trafficPercent"], 20);
  EXPECT_EQ(value["profileUri"], "pvc://models/retrained/profile.json");
  w.plan(kT0 + 2min, 4);  // The annotation is in place: nothing more.
  EXPECT_TRUE(w.last.patches.empty());
}

// The canary checks the digest the job reported and reaches the bucket the way the job did.
TEST(DriftMonitorPlan, TheCanaryCarriesTheRetrainedModelsDigestAndStorage) {
  World w;
  w.plan(kT0, 4);
  for (auto& j : w.observed.training_jobs) {
    j["spec"]["storage"] = {{"endpoint", "http://s3.example:7070"},
                            {"secretRef", {{"name", "team-s3"}}}};
  }
  w.finish_jobs();
  w.plan(kT0 + 1min, 4);
  ASSERT_EQ(w.last.patches.size(), 1u);
  const json value = json::parse(
      w.last.patches[0].patch["metadata"]["annotations"]["kiln.dev/canary-model"].get<std::string>());
  EXPECT_EQ(value["digest"], "sha256:00ff");
  EXPECT_EQ(value["storage"]["endpoint"], "http://s3.example:7070");
  EXPECT_EQ(value["storage"]["secretRef"]["name"], "team-s3");
}

// A monitor deleted and created again under its name counts its retrainings from 1 again: its
// first retraining must not write over the first one of the monitor before it.
TEST(DriftMonitorPlan, AMonitorCreatedAgainRetrainsUnderANewKey) {
  std::string first_uri;
  for (const char* uid : {"6f1c2a9e-0000-4000-8000-000000000001",
                          "b2d40c17-0000-4000-8000-000000000002"}) {
    World w;
    w.dm["metadata"]["uid"] = uid;
    w.plan(kT0, 0);
    w.plan(kT0 + 5min, 4);
    ASSERT_EQ(w.last.apply.size(), 1u);
    EXPECT_EQ(w.last.apply[0]["metadata"]["name"], "flights-retrain-1");
    const std::string uri = w.last.apply[0]["spec"]["output"]["modelUri"];
    EXPECT_EQ(uri, "pvc://models/retrained/flights-retrain-1-" + std::string(uid).substr(0, 8));
    EXPECT_NE(uri, first_uri);
    first_uri = uri;
  }
}

TEST(DriftMonitorPlan, DataPipelineRefIsTriggeredByAnnotation) {
  World w;
  w.dm["spec"]["actions"]["retrain"].erase("trainingJobTemplate");
  w.dm["spec"]["actions"]["retrain"]["dataPipelineRef"] = {{"name", "features"}};
  w.plan(kT0, 4);
  EXPECT_TRUE(w.last.apply.empty());
  ASSERT_EQ(w.last.patches.size(), 1u);
  EXPECT_EQ(w.last.patches[0].target.kind, "DataPipeline");
  EXPECT_EQ(w.last.patches[0].target.name, "features");
  EXPECT_EQ(w.last.patches[0].patch["metadata"]["annotations"]["kiln.dev/run"],
            "flights-retrain-1");
}

TEST(DriftMonitorPlan, EvaluatesOnlyEveryIntervalAndReportsMissingInputs) {
  World w;
  w.plan(kT0, 0);
  EXPECT_FALSE(evaluation_due(w.dm, kT0 + 4min));
  EXPECT_TRUE(evaluation_due(w.dm, kT0 + 5min));
  w.plan(kT0 + 1min, 0);
  EXPECT_FALSE(w.last.evaluation.has_value());
  ASSERT_TRUE(w.last.requeue_after.has_value());
  EXPECT_EQ(*w.last.requeue_after, std::chrono::milliseconds(4min));

  w.observed.target.reset();
  w.plan(kT0 + 5min, 0);
  EXPECT_EQ(w.condition("Ready"), "False");
  EXPECT_EQ(find_condition(w.dm["status"], "Ready")->value("reason", ""),
            "TargetNotFound");
}

TEST(DriftMonitorPlan, LiveProfileWithAnotherSchemaFailsTheEvaluation) {
  World w;
  auto other = drift::Profile::from_table(
      {{drift::Column::numerical("temp", std::vector<double>(600, 1.0))}});
  ASSERT_TRUE(other.ok());
  w.observed.baseline = baseline_json();
  w.observed.live_profiles = {{{"inputs", other->to_json()}}};
  w.last = plan_driftmonitor(w.dm, w.observed, kT0);
  EXPECT_EQ(condition_status(w.last.status, "Ready"), "False");
  EXPECT_EQ(find_condition(w.last.status, "Ready")->value("reason", ""),
            "EvaluationFailed");
}

TEST(DriftMonitorPlan, WindowDurationIsAskedOfThePodsInWholeSeconds) {
  struct Case {
    json window;
    std::string path;
  };
  const std::vector<Case> cases = {
      {json::object(), "/v2/models/flights/profile"},
      {{{"duration", "1h"}}, "/v2/models/flights/profile?windowSeconds=3600"},
      {{{"duration", "90s"}}, "/v2/models/flights/profile?windowSeconds=90"},
      {{{"duration", "1500ms"}}, "/v2/models/flights/profile?windowSeconds=2"},
  };
  const auto spec_with = [](json window) {
    json dm = monitor();
    if (window.empty()) {
      dm["spec"].erase("window");
    } else {
      dm["spec"]["window"] = window;
    }
    auto spec = api::parse_drift_monitor_spec(dm);
    EXPECT_TRUE(spec.ok()) << spec.error().to_string();
    return *spec;
  };
  for (const auto& c : cases) {
    auto path = live_profile_path(spec_with(c.window), "flights");
    ASSERT_TRUE(path.ok()) << c.window.dump();
    EXPECT_EQ(*path, c.path);
  }
  auto bad = live_profile_path(spec_with({{"duration", "an hour"}}), "flights");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("spec.window.duration"), std::string::npos);
}

TEST(DriftMonitorPlan, EvaluationReportsTheWindowThePodsCovered) {
  World w;
  w.plan(kT0, 0);
  EXPECT_EQ(w.dm["status"]["lastEvaluation"]["windowSeconds"], 3600);
  std::vector<json> pods = live(0);
  pods[1]["windowSeconds"] = 600;  // A pod that keeps a shorter window clips the evaluation's.
  EXPECT_EQ(covered_window_seconds(pods), 600);
}

TEST(DriftMonitorPlan, APinnedBaselineFromATrainingJobIsSetOnTheTargetAndWaitsForTheProfile) {
  World w;
  w.dm["spec"]["baseline"] = {{"fromTrainingJob", "flights-v1"}};
  w.plan(kT0, 0);
  EXPECT_EQ(w.condition("Ready"), "False");
  EXPECT_EQ(find_condition(w.dm["status"], "Ready")->at("reason"), "BaselineNotReady");
  EXPECT_TRUE(w.last.patches.empty());
  EXPECT_FALSE(w.last.evaluation.has_value());
  w.observed.baseline_job = json{{"metadata", {{"name", "flights-v1"}}},
                                 {"status", {{"model", {{"profileUri", "pvc://m/v1/profile.json"}}}}}};
  w.plan(kT0 + 5min, 0);
  ASSERT_EQ(w.last.patches.size(), 1u);
  EXPECT_EQ(w.last.patches[0].target.name, "flights");
  EXPECT_EQ(support::annotation(*w.observed.target, "kiln.dev/baseline-profile"),
            "pvc://m/v1/profile.json");
  EXPECT_EQ(w.dm["status"]["baselineUri"], "pvc://m/v1/profile.json");
  EXPECT_EQ(w.condition("Ready"), "True");
  w.plan(kT0 + 10min, 0);
  EXPECT_TRUE(w.last.patches.empty());  // Set once.
  // The pin removed: the target's stable pods go back to their model's own baseline.
  w.dm["spec"].erase("baseline");
  w.plan(kT0 + 15min, 0);
  ASSERT_EQ(w.last.patches.size(), 1u);
  EXPECT_FALSE(support::annotation(*w.observed.target, "kiln.dev/baseline-profile").has_value());
  EXPECT_EQ(w.dm["status"]["baselineUri"], "");
}

TEST(DriftMonitorPlan, ABaselineUriIsPinnedAsIs) {
  World w;
  w.dm["spec"]["baseline"] = {{"uri", "pvc://profiles/winter.json"}};
  auto spec = api::parse_drift_monitor_spec(w.dm);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(*baseline_uri(*spec, std::nullopt), "pvc://profiles/winter.json");
  w.plan(kT0, 0);
  EXPECT_EQ(support::annotation(*w.observed.target, "kiln.dev/baseline-profile"),
            "pvc://profiles/winter.json");
  EXPECT_EQ(w.condition("Ready"), "True");
}

TEST(DriftMonitorPlan, AFeatureWhoseTypeDiffersFromTheBaselineIsReportedAndNotCounted) {
  World w;
  w.dm["spec"]["features"][0]["type"] = "categorical";  // temp is numerical in the baseline.
  w.plan(kT0, 0);
  EXPECT_EQ(w.condition("Ready"), "True");
  const json& features = w.dm["status"]["lastEvaluation"]["features"];
  ASSERT_EQ(features.size(), 3u);
  const auto temp = std::find_if(features.begin(), features.end(),
                                 [](const json& f) { return f["name"] == "temp"; });
  ASSERT_NE(temp, features.end());
  EXPECT_EQ((*temp)["error"],
            "spec.features[0].type is categorical, but the baseline profiles temp as numerical");
  EXPECT_EQ((*temp)["drifted"], false);
}

TEST(DriftMonitorPlan, HellingerAndLInfinityAreTestsOfTheSpec) {
  World w;
  w.dm["spec"]["features"][2]["test"] = "hellinger";
  w.dm["spec"]["features"][1]["test"] = "linf";
  w.dm["spec"]["features"][1].erase("threshold");
  w.plan(kT0, 3);
  const json& features = w.dm["status"]["lastEvaluation"]["features"];
  ASSERT_EQ(features.size(), 3u);
  EXPECT_EQ(features[2]["test"], "hellinger");
  EXPECT_EQ(features[2]["drifted"], true);
  EXPECT_EQ(features[1]["test"], "linf");
}

TEST(DriftMonitorPlan, ASpecKilnCannotReadIsReported) {
  World w;
  w.dm["spec"]["windw"] = {{"duration", "1h"}};
  w.plan(kT0, 0);
  EXPECT_EQ(find_condition(w.dm["status"], "Ready")->at("reason"), "InvalidSpec");
  EXPECT_EQ(find_condition(w.dm["status"], "Ready")->at("message"),
            "spec.windw: unknown field");
}

TEST(DriftMonitorPlan, AMonitorWithoutABaselineLeavesAnotherMonitorsPinAlone) {
  World w;
  (*w.observed.target)["metadata"]["annotations"] = {
      {"kiln.dev/baseline-profile", "pvc://profiles/winter.json"},
      {"kiln.dev/baseline-profile-from", "another-monitor"}};
  w.plan(kT0, 0);
  EXPECT_TRUE(w.last.patches.empty());
  EXPECT_EQ(support::annotation(*w.observed.target, "kiln.dev/baseline-profile"),
            "pvc://profiles/winter.json");
  // Pinning one itself names itself as the pin's owner.
  w.dm["spec"]["baseline"] = {{"uri", "pvc://profiles/summer.json"}};
  w.plan(kT0 + 1s, 0);
  ASSERT_EQ(w.last.patches.size(), 1u);
  EXPECT_EQ(support::annotation(*w.observed.target, "kiln.dev/baseline-profile-from"), "flights");
}

}  // namespace
}  // namespace kiln::controllers::driftmonitor
