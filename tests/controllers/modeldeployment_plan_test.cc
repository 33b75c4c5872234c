#include <algorithm>
// Unit tests of the ModelDeployment plan and its rollout state machine: a small in-memory world
// applies each plan (applied children replace their cached copies, removed ones go, the rest
// stay; status replaces the parent's status; Deployments become available when told) and plans
// again at injected times.

#include <gtest/gtest.h>

#include <chrono>

#include "controllers/modeldeployment/names.h"
#include "controllers/modeldeployment/plan.h"

namespace kiln::controllers::modeldeployment {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0 = std::chrono::sys_days{std::chrono::year{2026} / 11 / 21} + 10h;

json base_md() {
  return json::parse(R"({
    "apiVersion": "kiln.dev/v1alpha1", "kind": "ModelDeployment",
    "metadata": {"name": "flights", "namespace": "ml", "uid": "u-1", "generation": 1},
    "spec": {"model": {"uri": "pvc://models/v1/model.json", "format": "xgboost", "version": "v1"},
             "replicas": 2}
  })");
}

json with_canary(json md) {
  md["spec"]["canary"] = json::parse(
      R"({"model": {"uri": "pvc://models/v2/model.json", "version": "v2"}, "trafficPercent": 10})");
  md["spec"]["rollout"] = json::parse(R"({
    "steps": [{"setWeight": 10, "pause": {"duration": "2m"}},
              {"setWeight": 50, "pause": {"duration": "2m"}},
              {"setWeight": 100}],
    "analysis": {"interval": "30s", "failureLimit": 1, "minRequests": 50,
                 "metrics": [{"name": "errorRate", "threshold": 0.01},
                             {"name": "agreement", "threshold": 0.9}]}})");
  return md;
}

AnalysisSample healthy() {
  AnalysisSample s;
  s.canary_requests = 100;
  s.stable_requests = 900;
  s.agreement = 0.98;
  return s;
}

AnalysisSample failing() {
  AnalysisSample s = healthy();
  s.canary_errors = 20;
  return s;
}

// The cluster as the plan sees it.
struct World {
  explicit World(json parent) : md(std::move(parent)) {}
  json md;
  Observed observed;
  bool ready = true;  // Whether applied Deployments report a ready pod.
  ModelDeploymentPlan last;

  // The routers' counters as a scrape would find them: those status keeps, plus `sample`'s
  // traffic, so that the plan's window (measure_window) measures exactly `sample`.
  RouterSnapshot scrape_after(const AnalysisSample& sample) const {
    RouterSnapshot s;
    const json::json_pointer kept("/status/lastAnalysis/routerCounters");
    if (md.contains(kept)) s = *snapshot_from_json(md.at(kept));
    auto& canary = s.variants["canary"];
    canary.requests += sample.canary_requests;
    canary.errors += sample.canary_errors;
    if (sample.agreement) {
      canary.comparisons += sample.canary_requests;
      canary.agreements += *sample.agreement * sample.canary_requests;
    }
    auto& stable = s.variants["stable"];
    stable.requests += sample.stable_requests;
    stable.errors += sample.stable_errors;
    return s;
  }

  ModelDeploymentPlan plan(TimePoint now, std::optional<AnalysisSample> sample = std::nullopt) {
    if (sample) {
      observed.routers = scrape_after(*sample);
    } else {
      observed.routers.reset();
    }
    last = plan_modeldeployment(md, observed, now, BuildOptions{});
    md["status"] = last.status;
    std::vector<json> children;
    for (json o : last.apply) {
      if (o["kind"] == "Deployment" && ready) {
        o["status"] = {{"readyReplicas", 1}, {"updatedReplicas", 1}, {"observedGeneration", 0}};
      }
      children.push_back(std::move(o));
    }
    for (const json& old : observed.children) {  // Neither applied nor removed: still there.
      const auto same = [&](const std::string& kind, const std::string& name) {
        return old["kind"] == kind && old["metadata"]["name"] == name;
      };
      const bool applied = std::any_of(last.apply.begin(), last.apply.end(), [&](const json& o) {
        return same(o["kind"], o["metadata"]["name"]);
      });
      const bool removed = std::any_of(last.remove.begin(), last.remove.end(),
                                       [&](const auto& r) { return same(r.kind, r.name); });
      if (!applied && !removed) children.push_back(old);
    }
    observed.children = std::move(children);
    return last;
  }
  const json* child(std::string_view kind, const std::string& name) const {
    for (const auto& c : observed.children) {
      if (c["kind"] == kind && c["metadata"]["name"] == name) return &c;
    }
    return nullptr;
  }
  // What the last plan deletes, as "Kind/name", sorted.
  std::vector<std::string> removed() const {
    std::vector<std::string> out;
    for (const auto& r : last.remove) out.push_back(r.kind + "/" + r.name);
    std::sort(out.begin(), out.end());
    return out;
  }
  // The variant whose pods the endpoint Service <md> selects.
  std::string endpoint_selects() const {
    const json* s = child("Service", "flights");
    return s ? (*s)["spec"]["selector"].value("kiln.dev/variant", "") : "";
  }
  json router_config() const {
    const json* cm = child("ConfigMap", "flights-router");
    return cm ? json::parse((*cm)["data"]["config.json"].get<std::string>()) : json();
  }
  // An annotation of the router's ConfigMap ("" when it has none by that key).
  std::string router_annotation(const std::string& key) const {
    const json* cm = child("ConfigMap", "flights-router");
    return cm ? (*cm)["metadata"].value("annotations", json::object()).value(key, "") : "";
  }
  std::string condition(std::string_view type) const {
    return condition_status(md["status"], type);
  }
  std::string stable_model_arg() const {
    const json* d = child("Deployment", "flights-stable");
    return d ? (*d)["spec"]["template"]["spec"]["containers"][0]["args"][4].get<std::string>() : "";
  }
};

bool has_event(const support::Plan& p, std::string_view reason) {
  for (const auto& e : p.events) {
    if (e.reason == reason) return true;
  }
  return false;
}

TEST(ModelDeploymentPlan, StableOnlyServesWithoutARouterAndBecomesReady) {
  World w{base_md()};
  w.ready = false;
  w.plan(kT0);
  EXPECT_EQ(w.last.apply.size(), 2u);  // The stable Deployment and the endpoint Service.
  EXPECT_EQ(w.endpoint_selects(), "stable");
  EXPECT_EQ(w.child("Deployment", "flights"), nullptr);  // No router.
  EXPECT_EQ(w.condition("Ready"), "False");
  EXPECT_EQ(w.md["status"]["url"], "http://flights.ml.svc:80");
  EXPECT_EQ(w.md["status"]["observedGeneration"], 1);
  w.ready = true;
  w.plan(kT0);  // Deployments report ready pods from now on.
  w.plan(kT0 + 1s);
  EXPECT_EQ(w.condition("Ready"), "True");
  EXPECT_EQ(w.md["status"]["traffic"], json({{"stable", 100}, {"canary", 0}, {"shadowMirror", 0}}));
  EXPECT_EQ(w.condition("CanaryReady"), "False");
  EXPECT_TRUE(has_event(w.last, "Available"));
  const auto before = w.last.apply;
  const json status_before = w.md["status"];
  w.plan(kT0 + 2s);  // Idempotent: nothing new.
  EXPECT_EQ(w.last.apply, before);
  EXPECT_EQ(w.md["status"], status_before);
  EXPECT_TRUE(w.last.remove.empty());
  EXPECT_TRUE(w.last.events.empty());
}

TEST(ModelDeploymentPlan, CanaryGoesTenPercentThroughStepsToPromoted) {
  World w{with_canary(base_md())};
  w.ready = false;
  w.plan(kT0);
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 0);  // The canary is not ready yet.
  EXPECT_EQ(w.condition("Progressing"), "True");
  ASSERT_NE(w.child("Deployment", "flights-canary"), nullptr);
  ASSERT_NE(w.child("Deployment", "flights"), nullptr);  // The router, not ready yet:
  EXPECT_EQ(w.endpoint_selects(), "stable");             // the endpoint stays on stable.
  w.ready = true;
  w.plan(kT0);
  w.plan(kT0 + 1s);
  EXPECT_EQ(w.endpoint_selects(), "router");
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 10);
  EXPECT_EQ(w.router_config()["canary"]["weight"], 10);
  EXPECT_EQ(w.router_config()["canary"]["url"], "http://flights-canary.ml.svc:80");
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  EXPECT_EQ(w.condition("CanaryReady"), "True");

  EXPECT_TRUE(analysis_due(w.md, kT0 + 31s));
  const json counters = snapshot_to_json(w.scrape_after(healthy()));
  w.plan(kT0 + 31s, healthy());
  EXPECT_TRUE(w.last.analysis_recorded);
  // The counters the window ended at stay in status: the next window starts there.
  EXPECT_EQ(w.md["status"]["lastAnalysis"]["routerCounters"], counters);
  EXPECT_EQ(w.md["status"]["lastAnalysis"]["routerCounters"]["canary"]["requests"], 100);
  EXPECT_EQ(w.md["status"]["lastAnalysis"]["passed"], true);
  EXPECT_EQ(w.md["status"]["lastAnalysis"]["requests"], 100);
  EXPECT_FALSE(analysis_due(w.md, kT0 + 40s));

  w.plan(kT0 + 2min + 1s);
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 1);
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 50);
  EXPECT_TRUE(has_event(w.last, "RolloutStep"));

  w.plan(kT0 + 4min + 2s);
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 2);
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 100);
  w.plan(kT0 + 4min + 40s, healthy());  // The last step needs one passing measurement.
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
  EXPECT_TRUE(has_event(w.last, "Promoted"));
  EXPECT_EQ(w.md["status"]["stable"]["uri"], "pvc://models/v2/model.json");
  EXPECT_EQ(w.md["status"]["stable"]["version"], "v2");
  EXPECT_EQ(w.md["status"]["traffic"]["stable"], 100);
  EXPECT_EQ(w.stable_model_arg(), "/mnt/kiln/models/v2/model.json");
  EXPECT_EQ(w.condition("Progressing"), "False");
  // No split any more: the endpoint moves back to the stable pods at once; the router, which
  // Service rules not yet updated may still use, retires 30 s later with what it forwards to.
  EXPECT_FALSE(w.router_config().contains("canary"));
  EXPECT_EQ(w.endpoint_selects(), "stable");
  EXPECT_NE(w.child("Deployment", "flights"), nullptr);
  EXPECT_NE(w.child("Deployment", "flights-canary"), nullptr);
  EXPECT_TRUE(w.last.remove.empty());
  ASSERT_NE(w.child("ConfigMap", "flights-router"), nullptr);
  EXPECT_EQ(w.router_annotation("kiln.dev/router-retire-after"),
            "2026-11-21T10:05:10Z");  // 30 s after the promotion at 10:04:40.
  w.plan(kT0 + 5min);  // 20 s on: still retiring.
  EXPECT_TRUE(w.last.remove.empty());
  EXPECT_EQ(w.router_annotation("kiln.dev/router-retire-after"),
            "2026-11-21T10:05:10Z");  // The time is kept, not pushed back.

  // Past the grace: the router, its ConfigMap, the canary and the stable Service it forwarded
  // to are deleted, once.
  w.plan(kT0 + 5min + 11s);
  EXPECT_EQ(w.removed(), std::vector<std::string>({"ConfigMap/flights-router", "Deployment/flights",
                                               "Deployment/flights-canary",
                                               "Service/flights-canary",
                                               "Service/flights-stable"}));
  EXPECT_EQ(w.endpoint_selects(), "stable");
  w.plan(kT0 + 6min);  // Settled: promoted stays promoted, stable keeps the canary's model.
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
  EXPECT_EQ(w.stable_model_arg(), "/mnt/kiln/models/v2/model.json");
  EXPECT_TRUE(w.last.remove.empty());
}

// The router loses its ready pods mid-rollout: the endpoint falls back to stable, the router's
// configuration keeps the step's weight (a change would roll the router again and again), and the
// rollout holds; the step's pause starts again once traffic reaches the canary.
TEST(ModelDeploymentPlan, RouterWithoutReadyPodsHoldsTheRolloutAndKeepsItsConfiguration) {
  json md = with_canary(base_md());
  md["spec"]["rollout"].erase("analysis");
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  ASSERT_EQ(w.endpoint_selects(), "router");
  ASSERT_EQ(w.md["status"]["traffic"]["canary"], 10);
  const json config = w.router_config();
  w.ready = false;
  w.plan(kT0 + 10s);  // Applied Deployments report no ready pod from here on.
  w.plan(kT0 + 3min);  // The 2-minute pause of step 0 has run out meanwhile.
  EXPECT_EQ(w.endpoint_selects(), "stable");
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 0);
  EXPECT_EQ(w.router_config(), config);
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 0);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  EXPECT_EQ(w.condition("CanaryReady"), "False");
  w.ready = true;
  w.plan(kT0 + 3min + 1s);
  w.plan(kT0 + 3min + 2s);
  EXPECT_EQ(w.endpoint_selects(), "router");
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 10);  // Step 0's pause runs again in full.
  w.plan(kT0 + 4min + 50s);
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 0);
  w.plan(kT0 + 5min + 2s);  // 2 minutes of traffic after the hold.
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 1);
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 50);
  EXPECT_EQ(w.router_config()["canary"]["weight"], 50);
}

// A canary promoted while a shadow stays: the router goes on, and the canary's Deployment and
// Service, which the router's old pods may still forward to, retire 30 s later.
TEST(ModelDeploymentPlan, ACanaryLeavingASplitTheRouterKeepsServingRetiresAfterTheGrace) {
  json md = with_canary(base_md());
  md["spec"]["rollout"] = json::parse(R"({"steps": [{"setWeight": 50}]})");
  md["spec"]["shadow"] = json::parse(R"({"model": {"uri": "pvc://models/s/model.json"}})");
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  w.plan(kT0 + 2s);
  ASSERT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
  EXPECT_EQ(w.endpoint_selects(), "router");  // The shadow still needs the router.
  EXPECT_FALSE(w.router_config().contains("canary"));
  EXPECT_NE(w.child("Deployment", "flights-canary"), nullptr);
  EXPECT_NE(w.child("Service", "flights-canary"), nullptr);
  EXPECT_TRUE(w.last.remove.empty());
  ASSERT_NE(w.child("ConfigMap", "flights-router"), nullptr);
  EXPECT_EQ(w.router_annotation("kiln.dev/canary-retire-after"),
            "2026-11-21T10:00:31Z");  // 30 s after the promotion at 10:00:01.
  w.plan(kT0 + 20s);
  EXPECT_TRUE(w.last.remove.empty());
  w.plan(kT0 + 33s);
  EXPECT_EQ(w.removed(),
            std::vector<std::string>({"Deployment/flights-canary", "Service/flights-canary"}));
  EXPECT_NE(w.child("Deployment", "flights"), nullptr);
  ASSERT_NE(w.child("ConfigMap", "flights-router"), nullptr);
  EXPECT_EQ(w.router_annotation("kiln.dev/canary-retire-after"), "");
  w.plan(kT0 + 40s);  // Settled.
  EXPECT_TRUE(w.last.remove.empty());
}

// A canary Deployment still rolling from an older template (pods of a previous canary, kept while
// it retired) is not ready for the new canary: its ready pods serve the old model.
TEST(ModelDeploymentPlan, ACanaryDeploymentWithPodsOfAnOlderTemplateIsNotReady) {
  World w{with_canary(base_md())};
  w.plan(kT0);
  for (json& c : w.observed.children) {
    if (c["metadata"]["name"] == "flights-canary" && c["kind"] == "Deployment") {
      c["status"] = {{"readyReplicas", 2}, {"updatedReplicas", 1}, {"replicas", 3},
                     {"observedGeneration", 0}};
    }
  }
  const auto plan = plan_modeldeployment(w.md, w.observed, kT0 + 1s, BuildOptions{});
  EXPECT_EQ(condition_status(plan.status, "CanaryReady"), "False");
  EXPECT_EQ(plan.status["traffic"]["canary"], 0);
  EXPECT_FALSE(plan.status["rollout"].contains("stepStartTime"));  // Not started.
}

// After a promotion the stable pods keep the promoted model's baseline profile, also once the
// next canary (the next retraining) arrives and stable is rendered from status.stable.
TEST(ModelDeploymentPlan, PromotedStableKeepsItsBaselineProfileWhenTheNextCanaryArrives) {
  json md = base_md();
  md["spec"]["rollout"] = json::parse(R"({"steps": [{"setWeight": 50}]})");
  md["metadata"]["annotations"]["kiln.dev/canary-model"] =
      R"({"uri": "pvc://models/v2/model.json", "version": "v2",
          "profileUri": "pvc://models/v2/profile.json", "trafficPercent": 10})";
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  w.plan(kT0 + 2s);
  ASSERT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
  EXPECT_EQ(w.md["status"]["stable"]["profileUri"], "pvc://models/v2/profile.json");
  EXPECT_EQ(w.md["status"]["stable"]["format"], "xgboost");

  w.md["metadata"]["annotations"]["kiln.dev/canary-model"] =
      R"({"uri": "pvc://models/v3/model.json", "version": "v3", "trafficPercent": 10})";
  w.plan(kT0 + 3s);  // The v3 canary starts; stable is rendered from status.stable.
  EXPECT_EQ(w.stable_model_arg(), "/mnt/kiln/models/v2/model.json");
  const json* stable = w.child("Deployment", "flights-stable");
  ASSERT_NE(stable, nullptr);
  const json args = (*stable)["spec"]["template"]["spec"]["containers"][0]["args"];
  auto flag = std::find(args.begin(), args.end(), "--baseline-profile");
  ASSERT_NE(flag, args.end()) << args.dump();
  EXPECT_EQ(*(flag + 1), "/mnt/kiln/models/v2/profile.json");
}

// A promoted model keeps its digest and storage: once the next canary arrives, stable is rendered
// from status.stable and must still verify the file and reach the same bucket.
TEST(ModelDeploymentPlan, PromotedStableKeepsItsDigestAndStorage) {
  json md = base_md();
  md["spec"]["rollout"] = json::parse(R"({"steps": [{"setWeight": 50}]})");
  md["metadata"]["annotations"]["kiln.dev/canary-model"] =
      R"({"uri": "s3://models/v2/model.json", "version": "v2", "digest": "sha256:00ff",
          "storage": {"endpoint": "http://s3.example:7070"}, "trafficPercent": 10})";
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  w.plan(kT0 + 2s);
  ASSERT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
  EXPECT_EQ(w.md["status"]["stable"]["digest"], "sha256:00ff");
  EXPECT_EQ(w.md["status"]["stable"]["storage"]["endpoint"], "http://s3.example:7070");

  w.md["metadata"]["annotations"]["kiln.dev/canary-model"] =
      R"({"uri": "pvc://models/v3/model.json", "version": "v3", "trafficPercent": 10})";
  w.plan(kT0 + 3s);  // Stable is rendered from status.stable now.
  const json* stable = w.child("Deployment", "flights-stable");
  ASSERT_NE(stable, nullptr);
  const std::string pod = (*stable)["spec"]["template"]["spec"].dump();
  EXPECT_NE(pod.find("sha256:00ff"), std::string::npos) << pod;
  EXPECT_NE(pod.find("http://s3.example:7070"), std::string::npos) << pod;
}

TEST(ModelDeploymentPlan, FailingAnalysisBeyondTheLimitRollsBack) {
  World w{with_canary(base_md())};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  ASSERT_EQ(w.md["status"]["traffic"]["canary"], 10);
  w.plan(kT0 + 31s, failing());  // failureLimit 1 tolerates one failure.
  EXPECT_EQ(w.md["status"]["rollout"]["failedAnalyses"], 1);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  EXPECT_EQ(w.md["status"]["lastAnalysis"]["passed"], false);
  EXPECT_TRUE(has_event(w.last, "AnalysisFailed"));
  w.plan(kT0 + 62s, failing());
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "RolledBack");
  EXPECT_EQ(w.condition("RolledBack"), "True");
  EXPECT_EQ(w.md["status"]["traffic"], json({{"stable", 100}, {"canary", 0}, {"shadowMirror", 0}}));
  EXPECT_EQ(w.router_config()["canary"]["weight"], 0);
  EXPECT_NE(w.child("Deployment", "flights-canary"), nullptr);  // Kept for inspection.
  EXPECT_EQ(w.stable_model_arg(), "/mnt/kiln/models/v1/model.json");
  EXPECT_FALSE(analysis_due(w.md, kT0 + 10min));
  w.plan(kT0 + 10min);  // Stays rolled back.
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "RolledBack");

  // A new canary starts a new rollout.
  w.md["spec"]["canary"]["model"] = {{"uri", "pvc://models/v3/model.json"}, {"version", "v3"}};
  w.plan(kT0 + 11min);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  EXPECT_EQ(w.md["status"]["rollout"]["failedAnalyses"], 0);
  EXPECT_EQ(w.condition("RolledBack"), "False");
}

// Times in status are RFC 3339 seconds: a measurement that completed a step, or the previous
// rollout's last one, must not complete a step started within the same second.
TEST(ModelDeploymentPlan, OneMeasurementCompletesOneAnalysisStepEvenWithinTheSameSecond) {
  json md = with_canary(base_md());
  md["spec"]["rollout"]["steps"] =
      json::parse(R"([{"setWeight": 10}, {"setWeight": 50}, {"setWeight": 100}])");
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  ASSERT_EQ(w.md["status"]["rollout"]["step"], 0);
  ASSERT_EQ(w.md["status"]["traffic"]["canary"], 10);
  w.plan(kT0 + 31s, healthy());  // Completes step 0 only.
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 1);
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 50);
  w.plan(kT0 + 31s + 400ms);
  w.plan(kT0 + 31s + 800ms);
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 1);
  w.plan(kT0 + 62s, healthy());
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 2);
  w.plan(kT0 + 62s + 500ms);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  w.plan(kT0 + 93s, healthy());
  ASSERT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
  ASSERT_EQ(w.md["status"]["lastAnalysis"]["passed"], true);

  // The next canary, ready within the second of the last passing measurement.
  w.md["spec"]["canary"]["model"] = {{"uri", "pvc://models/v3/model.json"}, {"version", "v3"}};
  for (auto t : {200ms, 400ms, 600ms, 800ms}) w.plan(kT0 + 93s + t);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 0);
  EXPECT_EQ(w.md["status"]["stable"]["version"], "v2");
  // The kept counters end v2's window: v3's first measurement only starts its own.
  w.plan(kT0 + 124s, failing());
  EXPECT_TRUE(w.last.analysis_recorded);
  EXPECT_EQ(w.md["status"]["lastAnalysis"]["baseline"], true);
  EXPECT_EQ(w.md["status"]["lastAnalysis"]["canary"]["version"], "v3");
  EXPECT_EQ(w.md["status"]["rollout"]["failedAnalyses"], 0);
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 0);
  w.plan(kT0 + 155s, healthy());
  EXPECT_FALSE(w.md["status"]["lastAnalysis"].contains("baseline"));
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 1);
}

TEST(ModelDeploymentPlan, AMeasurementTakenAsAPauseEndsDoesNotCompleteTheAnalysisStepAfterIt) {
  World w{with_canary(base_md())};  // pause 2m at 10%, pause 2m at 50%, then 100% with analysis.
  w.plan(kT0);
  w.plan(kT0 + 1s);
  w.plan(kT0 + 2min + 1s, healthy());
  ASSERT_EQ(w.md["status"]["rollout"]["step"], 1);
  w.plan(kT0 + 4min + 1s, healthy());  // Ends the 50% pause; taken at 50%, it counts for none.
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 2);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 100);
  w.plan(kT0 + 4min + 1s + 500ms);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  w.plan(kT0 + 4min + 31s, healthy());  // Taken at 100%.
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
}

TEST(ModelDeploymentPlan, FailedAnalysisWithoutAutoRollbackHaltsUntilTheSpecDecides) {
  json md = with_canary(base_md());
  md["spec"]["rollout"]["autoRollback"] = false;
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  w.plan(kT0 + 31s, failing());
  w.plan(kT0 + 62s, failing());
  ASSERT_EQ(w.md["status"]["rollout"]["phase"], "Paused");
  EXPECT_EQ(w.md["status"]["rollout"]["halted"], true);
  EXPECT_EQ(w.md["status"]["rollout"]["failedAnalyses"], 2);
  EXPECT_TRUE(has_event(w.last, "RolloutHalted"));
  EXPECT_FALSE(analysis_due(w.md, kT0 + 10min));  // No more measurements.
  w.plan(kT0 + 93s, healthy());
  w.plan(kT0 + 10min);  // Step 0's 2-minute pause would have ended long ago.
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Paused");
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 0);
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 10);
  EXPECT_EQ(w.md["status"]["stable"]["version"], "v1");
  EXPECT_EQ(w.condition("RolledBack"), "False");

  // A promote annotation (say, left from an earlier pause) does not promote a failing canary.
  w.md["metadata"]["annotations"]["kiln.dev/promote"] = "true";
  w.plan(kT0 + 11min);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Paused");
  EXPECT_EQ(w.md["status"]["stable"]["version"], "v1");
  w.md["metadata"]["annotations"].erase("kiln.dev/promote");

  // A failureLimit above the failures resumes the step, its pause counted from now.
  w.md["spec"]["rollout"]["analysis"]["failureLimit"] = 3;
  w.plan(kT0 + 12min);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  EXPECT_FALSE(w.md["status"]["rollout"].contains("halted"));
  EXPECT_TRUE(has_event(w.last, "RolloutResumed"));
  w.plan(kT0 + 13min);
  EXPECT_EQ(w.md["status"]["rollout"]["step"], 0);  // The 2-minute pause runs again.
  w.plan(kT0 + 13min + 1s, failing());  // Tolerated: 3 of 3.
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  w.plan(kT0 + 13min + 31s, failing());
  ASSERT_EQ(w.md["status"]["rollout"]["failedAnalyses"], 4);
  EXPECT_EQ(w.md["status"]["rollout"]["halted"], true);

  // autoRollback turned on rolls the halted canary back.
  w.md["spec"]["rollout"]["autoRollback"] = true;
  w.plan(kT0 + 14min);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "RolledBack");
  EXPECT_EQ(w.condition("RolledBack"), "True");
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 0);
}

TEST(ModelDeploymentPlan, TooFewRequestsNeitherPassNorFail) {
  World w{with_canary(base_md())};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  AnalysisSample quiet = failing();
  quiet.canary_requests = 10;
  w.plan(kT0 + 31s, quiet);
  EXPECT_EQ(w.md["status"]["rollout"]["failedAnalyses"], 0);
  EXPECT_TRUE(w.last.analysis_recorded);
}

TEST(ModelDeploymentPlan, PauseWithoutDurationWaitsForThePromoteAnnotation) {
  json md = with_canary(base_md());
  md["spec"]["rollout"]["steps"] =
      json::parse(R"([{"setWeight": 20, "pause": {}}, {"setWeight": 60}])");
  md["spec"]["rollout"].erase("analysis");
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  w.plan(kT0 + 1h);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Paused");
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 20);
  w.md["metadata"]["annotations"] = {{"kiln.dev/promote", "true"}};
  w.plan(kT0 + 1h + 1s);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
}

TEST(ModelDeploymentPlan, ModelFromTrainingJobWaitsUntilTheJobReportsIt) {
  json md = base_md();
  md["spec"]["model"] = {{"fromTrainingJob", "train-7"}};
  World w{md};
  w.plan(kT0);
  EXPECT_EQ(w.condition("Ready"), "False");
  EXPECT_EQ(find_condition(w.md["status"], "Ready")->value("reason", ""), "ModelNotReady");
  EXPECT_TRUE(w.last.apply.empty());
  w.observed.training_models["train-7"] = {{"uri", "pvc://models/t7/model.json"},
                                           {"format", "xgboost"},
                                           {"digest", "sha256:abcdef0123456789"},
                                           {"profileUri", "pvc://models/t7/profile.json"}};
  w.plan(kT0 + 1s);
  w.plan(kT0 + 2s);
  EXPECT_EQ(w.condition("Ready"), "True");
  EXPECT_EQ(w.md["status"]["stable"]["version"], "abcdef012345");
  const json* d = w.child("Deployment", "flights-stable");
  ASSERT_NE(d, nullptr);
  const auto args = (*d)["spec"]["template"]["spec"]["containers"][0]["args"];
  EXPECT_EQ(args.back(), "/mnt/kiln/models/t7/profile.json");
}

TEST(ModelDeploymentPlan, CanaryFromTheDriftMonitorAnnotationRollsOutAndSpecModelWinsAfter) {
  json md = with_canary(base_md());
  md["spec"].erase("canary");
  md["metadata"]["annotations"] = {
      {"kiln.dev/canary-model", R"({"uri": "pvc://models/r1/model.json", "version": "r1"})"}};
  md["spec"]["rollout"]["steps"] =
      json::parse(R"([{"setWeight": 10, "pause": {"duration": "1m"}}])");
  md["spec"]["rollout"].erase("analysis");
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  EXPECT_EQ(w.md["status"]["canary"]["version"], "r1");
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 10);
  w.plan(kT0 + 2min);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
  EXPECT_EQ(w.stable_model_arg(), "/mnt/kiln/models/r1/model.json");
  // GitOps later changes spec.model: the spec wins over the promotion.
  w.md["spec"]["model"] = {{"uri", "pvc://models/v5/model.json"}, {"version", "v5"}};
  w.md["metadata"].erase("annotations");
  w.plan(kT0 + 3min);
  EXPECT_EQ(w.md["status"]["stable"]["version"], "v5");
  EXPECT_EQ(w.stable_model_arg(), "/mnt/kiln/models/v5/model.json");
}

TEST(ModelDeploymentPlan, ShadowAndAutoscalingAddChildrenAndRemovingThemDeletes) {
  json md = base_md();
  md["spec"]["shadow"] =
      json::parse(R"({"model": {"uri": "pvc://models/s/model.json"}, "mirrorPercent": 25})");
  md["spec"]["autoscaling"] = {{"minReplicas", 2}, {"maxReplicas", 5}};
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  EXPECT_NE(w.child("HorizontalPodAutoscaler", "flights-stable"), nullptr);
  EXPECT_NE(w.child("Deployment", "flights-shadow"), nullptr);
  EXPECT_EQ(w.router_config()["shadow"]["mirrorPercent"], 25);
  EXPECT_EQ(w.condition("ShadowReady"), "True");
  EXPECT_EQ(w.md["status"]["traffic"]["shadowMirror"], 25);
  EXPECT_EQ(w.endpoint_selects(), "router");
  w.md["spec"].erase("shadow");
  w.md["spec"].erase("autoscaling");
  w.plan(kT0 + 2s);
  ASSERT_EQ(w.last.remove.size(), 1u);  // The HPA; the router and the shadow retire later.
  EXPECT_EQ(w.last.remove[0].kind, "HorizontalPodAutoscaler");
  EXPECT_EQ(w.condition("ShadowReady"), "False");
  EXPECT_EQ(w.endpoint_selects(), "stable");
  EXPECT_EQ(w.md["status"]["traffic"]["shadowMirror"], 0);
  w.plan(kT0 + 33s);  // Past the grace: router ConfigMap + Deployment, stable and shadow go.
  EXPECT_EQ(w.last.remove.size(), 5u);
  EXPECT_EQ(w.child("Deployment", "flights"), nullptr);
  EXPECT_EQ(w.child("Deployment", "flights-shadow"), nullptr);
  EXPECT_EQ(w.condition("Ready"), "True");
}

TEST(ModelDeploymentPlan, AnUnmountableModelUriLeavesTheRunningVariantAlone) {
  World w{base_md()};
  w.plan(kT0);
  ASSERT_NE(w.child("Deployment", "flights-stable"), nullptr);
  w.md["spec"]["model"]["uri"] = "pvc://models";  // A claim without a path.
  const auto plan = plan_modeldeployment(w.md, w.observed, kT0 + 1s, BuildOptions{});
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(has_event(plan, "InvalidModel"));
  for (const auto& o : plan.apply) EXPECT_NE(o["metadata"]["name"], "flights-stable");
}

// A serving pod of `variant` for model `version` whose storage init container ended as
// `init_status` (a containerStatus without its name).
json serving_pod(const std::string& variant, const std::string& version, json init_status) {
  init_status["name"] = "storage-initializer";
  return {{"metadata",
           {{"name", "flights-" + variant + "-abc"},
            {"namespace", "ml"},
            {"labels", {{"kiln.dev/modeldeployment", "flights"}, {"kiln.dev/variant", variant}}},
            {"annotations", {{"kiln.dev/model-version", version}}}}},
          {"status", {{"phase", "Pending"}, {"initContainerStatuses", {init_status}}}}};
}

std::string condition_field(const json& md, std::string_view type, const char* field) {
  for (const auto& c : md["status"].value("conditions", json::array())) {
    if (c.value("type", "") == type) return c.value(field, "");
  }
  return "";
}

TEST(ModelDeploymentPlan, AModelThatCannotBeFetchedIsReportedWithTheStorageMessage) {
  json md = base_md();
  md["spec"]["model"]["uri"] = "s3://models/v1/model.json";
  World w{md};
  w.ready = false;
  w.observed.pods.push_back(serving_pod(
      "stable", "v1",
      json::parse(R"({"state": {"waiting": {"reason": "CrashLoopBackOff"}},
                      "lastState": {"terminated": {"exitCode": 1,
                        "message": "s3://models/v1/model.json: 403 AccessDenied\n"}}})")));
  w.plan(kT0);
  EXPECT_EQ(w.condition("Ready"), "False");
  EXPECT_EQ(condition_field(w.md, "Ready", "reason"), "ModelFetchFailed");
  EXPECT_EQ(condition_field(w.md, "Ready", "message"),
            "stable model s3://models/v1/model.json: s3://models/v1/model.json: 403 AccessDenied");

  // A Secret that does not exist keeps the initializer from starting: that is the message.
  w.observed.pods = {serving_pod("stable", "v1", json::parse(R"({"state": {"waiting": {
      "reason": "CreateContainerConfigError", "message": "secret \"team-s3\" not found"}}})"))};
  w.plan(kT0 + 1s);
  EXPECT_EQ(condition_field(w.md, "Ready", "reason"), "ModelFetchFailed");
  EXPECT_NE(condition_field(w.md, "Ready", "message").find("CreateContainerConfigError: secret \"team-s3\" not found"),
            std::string::npos);

  // A failure of a pod of another version (an older template) says nothing of this one.
  w.observed.pods = {serving_pod(
      "stable", "v0",
      json::parse(R"({"state": {"terminated": {"exitCode": 1, "message": "old"}}})"))};
  w.plan(kT0 + 2s);
  EXPECT_EQ(condition_field(w.md, "Ready", "reason"), "StableNotReady");

  // Once the initializer has fetched the model (the endpoint came back), its earlier failure is
  // history: the pod is only not ready yet.
  w.observed.pods = {serving_pod(
      "stable", "v1",
      json::parse(R"({"state": {"terminated": {"exitCode": 0}},
                      "lastState": {"terminated": {"exitCode": 1, "message": "unreachable"}}})"))};
  w.plan(kT0 + 3s);
  EXPECT_EQ(condition_field(w.md, "Ready", "reason"), "StableNotReady");
}

TEST(ModelDeploymentPlan, ACanaryThatCannotBeFetchedLeavesStableServing) {
  json md = with_canary(base_md());
  md["spec"]["canary"]["model"]["uri"] = "s3://models/v2/model.json";
  World w{md};
  w.plan(kT0);
  w.observed.pods.push_back(serving_pod(
      "canary", "v2",
      json::parse(R"({"state": {"terminated": {"exitCode": 1,
        "message": "s3://models/v2/model.json: digest mismatch"}}})")));
  // The canary Deployment never gets a ready pod.
  for (auto& c : w.observed.children) {
    if (c["metadata"]["name"] == "flights-canary") c["status"]["readyReplicas"] = 0;
  }
  w.ready = false;
  w.plan(kT0 + 1s);
  EXPECT_EQ(w.condition("Ready"), "True");
  EXPECT_EQ(condition_field(w.md, "CanaryReady", "reason"), "ModelFetchFailed");
  EXPECT_NE(condition_field(w.md, "CanaryReady", "message").find("digest mismatch"),
            std::string::npos);
  EXPECT_EQ(w.md["status"]["traffic"]["canary"], 0);
}

// Walks with_canary's rollout to its promotion.
void promote(World& w) {
  w.plan(kT0);
  w.plan(kT0 + 1s);
  w.plan(kT0 + 2min + 1s);
  w.plan(kT0 + 4min + 2s);
  w.plan(kT0 + 4min + 40s, healthy());
}

TEST(ModelDeploymentPlan, AFinishedRolloutShowsNoCanaryAndDoesNotStartAgain) {
  World w{with_canary(base_md())};
  promote(w);
  ASSERT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
  // status.canary is what the CANARY printer column shows: a promoted canary is the stable one.
  EXPECT_FALSE(w.md["status"].contains("canary"));
  EXPECT_EQ(w.md["status"]["stable"]["version"], "v2");
  for (auto t : {kT0 + 10min, kT0 + 11min, kT0 + 12min}) {
    w.plan(t, healthy());
    EXPECT_FALSE(w.md["status"].contains("canary"));
    EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Promoted");
    EXPECT_EQ(w.md["status"]["traffic"]["canary"], 0);
    EXPECT_FALSE(has_event(w.last, "RolloutStarted"));
  }
  EXPECT_EQ(w.condition("CanaryReady"), "False");
  EXPECT_EQ(w.condition("Progressing"), "False");
  EXPECT_EQ(w.child("Deployment", "flights-canary"), nullptr);  // Retired after the grace.
}

TEST(ModelDeploymentPlan, CanaryAndShadowReplicasFollowTheirShareOfStablesCurrentReplicas) {
  json md = with_canary(base_md());
  md["spec"].erase("replicas");
  md["spec"]["autoscaling"] = {{"minReplicas", 2}, {"maxReplicas", 20}};
  md["spec"]["shadow"] = {{"model", {{"uri", "pvc://models/s/model.json"}}}, {"mirrorPercent", 30}};
  md["spec"]["rollout"]["steps"] = json::parse(
      R"([{"setWeight": 10, "pause": {"duration": "2m"}}, {"setWeight": 50, "pause": {"duration": "2m"}}])");
  World w{md};
  w.plan(kT0);
  // The HPA scaled stable to 10 pods.
  for (auto& c : w.observed.children) {
    if (c["metadata"]["name"] == "flights-stable") c["spec"]["replicas"] = 10;
  }
  w.plan(kT0 + 1s);
  const json* canary = w.child("Deployment", "flights-canary");
  const json* shadow = w.child("Deployment", "flights-shadow");
  ASSERT_NE(canary, nullptr);
  ASSERT_NE(shadow, nullptr);
  EXPECT_EQ((*canary)["spec"]["replicas"], 5);  // Sized for its peak weight, 50% of 10.
  EXPECT_EQ((*shadow)["spec"]["replicas"], 3);  // 30% of 10.
  EXPECT_FALSE(w.child("Deployment", "flights-stable")->at("spec").contains("replicas"));
}

TEST(ModelDeploymentPlan, UnderAnHpaTheCanaryIsSizedForAllTheTrafficNotStablesShare) {
  json md = with_canary(base_md());
  md["spec"].erase("replicas");
  md["spec"]["autoscaling"] = {{"minReplicas", 2}, {"maxReplicas", 20}};
  md["spec"]["rollout"]["steps"] = json::parse(
      R"([{"setWeight": 50, "pause": {"duration": "2m"}}, {"setWeight": 100, "pause": {"duration": "2m"}}])");
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  ASSERT_EQ(w.md["status"]["traffic"]["canary"], 50);
  // Half the traffic left stable, so the HPA scaled it from 10 to 5: all of it needs 10 pods.
  const auto stable_at = [&](int replicas) {
    for (auto& c : w.observed.children) {
      if (c["metadata"]["name"] == "flights-stable") c["spec"]["replicas"] = replicas;
    }
  };
  stable_at(5);
  w.plan(kT0 + 2s);
  EXPECT_EQ(w.child("Deployment", "flights-canary")->at("spec")["replicas"], 10);  // 100% of 10.
  stable_at(5);  // The HPA owns stable's replicas; an apply leaves them (this World replaces it).
  w.plan(kT0 + 2min + 3s);
  ASSERT_EQ(w.md["status"]["traffic"]["canary"], 100);
  stable_at(2);  // No traffic left on stable: minReplicas says nothing of the load.
  w.plan(kT0 + 2min + 4s);
  EXPECT_EQ(w.child("Deployment", "flights-canary")->at("spec")["replicas"], 10);
}

TEST(ModelDeploymentPlan, ACanaryOfStablesFileUnderAnotherVersionIsRolledOutNotTakenAsPromoted) {
  json md = with_canary(base_md());
  md["spec"]["canary"]["model"] = {{"uri", "pvc://models/v1/model.json"}, {"version", "v1-relabelled"}};
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  EXPECT_EQ(w.md["status"]["canary"]["version"], "v1-relabelled");
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Progressing");
  EXPECT_EQ(w.md["status"]["stable"]["version"], "v1");
}

TEST(ModelDeploymentPlan, ACanaryUnderAFixedStableGetsItsShareRoundedUp) {
  json md = with_canary(base_md());
  md["spec"]["replicas"] = 3;
  md["spec"].erase("rollout");
  md["spec"]["canary"]["trafficPercent"] = 20;
  World w{md};
  w.plan(kT0);
  ASSERT_NE(w.child("Deployment", "flights-canary"), nullptr);
  EXPECT_EQ(w.child("Deployment", "flights-canary")->at("spec")["replicas"], 1);  // ceil(0.6).
  w.md["spec"]["canary"]["trafficPercent"] = 40;
  w.plan(kT0 + 1s);
  EXPECT_EQ(w.child("Deployment", "flights-canary")->at("spec")["replicas"], 2);  // ceil(1.2).
}

TEST(ModelDeploymentPlan, ASpecKilnCannotReadIsReportedAndTouchesNoChild) {
  World w{base_md()};
  w.plan(kT0);
  w.md["spec"]["canary"] = {{"model", {{"uri", "pvc://models/v2/model.json"}}}, {"trafficPercnt", 5}};
  const auto plan = plan_modeldeployment(w.md, w.observed, kT0 + 1s, BuildOptions{});
  EXPECT_TRUE(plan.apply.empty());
  EXPECT_TRUE(plan.remove.empty());
  const json* ready = find_condition(plan.status, "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ((*ready)["status"], "False");
  EXPECT_EQ((*ready)["reason"], "InvalidSpec");
  EXPECT_EQ((*ready)["message"], "spec.canary.trafficPercnt: unknown field");
}

TEST(ModelDeploymentPlan, APauseWithoutDurationAndTheEndWithoutAutoPromoteShareOneReason) {
  json md = with_canary(base_md());
  md["spec"]["rollout"]["steps"] = json::parse(R"([{"setWeight": 10, "pause": {}}])");
  md["spec"]["rollout"]["autoPromote"] = false;
  md["spec"]["rollout"]["analysis"]["metrics"] = json::array();
  World w{md};
  w.plan(kT0);
  w.plan(kT0 + 1s);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Paused");
  EXPECT_EQ(find_condition(w.md["status"], "Progressing")->at("reason"),
            "WaitingForPromotion");
  w.md["metadata"]["annotations"] = {{"kiln.dev/promote", "0"}};
  w.plan(kT0 + 2s);
  EXPECT_EQ(w.md["status"]["rollout"]["phase"], "Paused");  // Done; autoPromote is off.
  EXPECT_EQ(find_condition(w.md["status"], "Progressing")->at("reason"),
            "WaitingForPromotion");
}

// The --baseline-profile argument and the template's kiln.dev/baseline-profile of a Deployment.
std::pair<std::string, std::string> baseline_of(const json* d) {
  if (d == nullptr) return {};
  const json& tmpl = (*d)["spec"]["template"];
  const auto args = tmpl["spec"]["containers"][0]["args"].get<std::vector<std::string>>();
  std::string arg;
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--baseline-profile") arg = args[i + 1];
  }
  return {arg, tmpl["metadata"]["annotations"].value("kiln.dev/baseline-profile", "")};
}

TEST(ModelDeploymentPlan, AUriModelWithAProfileUriServesItsBaselineAndADriftMonitorPinOverridesIt) {
  json md = base_md();
  md["spec"]["model"]["profileUri"] = "pvc://models/v1/profile.json";
  World w{md};
  w.plan(kT0);
  EXPECT_EQ(baseline_of(w.child("Deployment", "flights-stable")),
            std::make_pair(std::string("/mnt/kiln/models/v1/profile.json"),
                           std::string("pvc://models/v1/profile.json")));
  w.observed.pinned_baseline = "pvc://profiles/winter.json";  // A DriftMonitor's pin.
  w.plan(kT0 + 1s);
  const json* stable = w.child("Deployment", "flights-stable");
  EXPECT_EQ(baseline_of(stable), std::make_pair(std::string("/mnt/kiln/profiles/winter.json"),
                                                std::string("pvc://profiles/winter.json")));
  // The pinned profile's claim is mounted beside the model's.
  const json volumes = (*stable)["spec"]["template"]["spec"]["volumes"];
  EXPECT_EQ(volumes.size(), 2u);
  // status.stable keeps the model's own profile (what a promotion renders again).
  EXPECT_EQ(w.md["status"]["stable"]["profileUri"], "pvc://models/v1/profile.json");
}

}  // namespace
}  // namespace kiln::controllers::modeldeployment
