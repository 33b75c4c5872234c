#include "controllers/driftmonitor/plan.h"

#include <algorithm>

#include "controllers/modeldeployment/model.h"

namespace kiln::controllers::driftmonitor {
namespace {

using std::chrono::milliseconds;
using support::value_or;
constexpr auto kDay = std::chrono::hours(24);

struct Context {
  const json& dm;
  const Observed& observed;
  TimePoint now;
  std::string name;
  std::string ns;
  int64_t generation = 0;
  DriftMonitorPlan plan;
};

void condition(Context& ctx, std::string_view type, std::string_view value, std::string_view reason,
               std::string_view message) {
  const bool existed = support::find_condition(ctx.plan.status, type) != nullptr;
  const bool changed = support::set_condition(ctx.plan.status, type, value, reason, message,
                                              ctx.generation, ctx.now);
  if (changed && existed) {
    const bool warning =
        (type == "Ready" && value != "True") || (type == "DriftDetected" && value == "True");
    ctx.plan.events.push_back({warning ? "Warning" : "Normal", std::string(reason),
                               std::string(type) + ": " + std::string(message)});
  }
}

milliseconds interval_of(const json& dm) {
  return support::duration_or(dm["spec"], "interval", std::chrono::minutes(5));
}

std::optional<TimePoint> time_at(const json& object, std::string_view key) {
  if (!object.is_object()) return std::nullopt;
  auto t = support::parse_time(value_or<std::string>(object, key, ""));
  return t.ok() ? std::optional<TimePoint>(*t) : std::nullopt;
}

// n of "<dm>-retrain-<n>", or 0.
int retrain_index(const std::string& job) {
  const auto dash = job.rfind('-');
  if (dash == std::string::npos || dash < 8 || job.compare(dash - 8, 8, "-retrain") != 0) return 0;
  const std::string digits = job.substr(dash + 1);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return 0;
  return std::stoi(digits);
}

const json* find_job(const Observed& observed, const std::string& name) {
  for (const auto& j : observed.training_jobs) {
    if (support::name_of(j) == name) return &j;
  }
  return nullptr;
}

std::string job_phase(const json* job) {
  return job && job->contains("status") ? value_or<std::string>((*job)["status"], "phase", "") : "";
}

void evaluate_now(Context& ctx) {
  const json& spec = ctx.dm["spec"];
  if (!ctx.observed.target) {
    condition(ctx, "Ready", "False", "TargetNotFound",
              "ModelDeployment " +
                  value_or<std::string>(spec["target"]["modelDeploymentRef"], "name", "") +
                  " not found");
    return;
  }
  if (!ctx.observed.baseline) {
    condition(ctx, "Ready", "False", "BaselineNotReady",
              "the baseline profile is not available yet");
    return;
  }
  if (ctx.observed.live_profiles.empty()) {
    condition(ctx, "Ready", "False", "NoLiveProfiles", "no serving pod returned a profile");
    return;
  }
  auto e = evaluate(spec, *ctx.observed.baseline, ctx.observed.live_profiles, ctx.now);
  if (!e.ok()) {
    condition(ctx, "Ready", "False", "EvaluationFailed", e.error().message());
    return;
  }
  condition(ctx, "Ready", "True", "Evaluating", "live traffic is compared with the baseline");
  ctx.plan.status["lastEvaluation"] = e->to_status();
  if (!e->verdict) {
    condition(ctx, "DriftDetected", "Unknown", "InsufficientSamples",
              std::to_string(e->samples) + " rows, fewer than window.minSamples");
  } else if (e->dataset_drift) {
    condition(ctx, "DriftDetected", "True", "DatasetDrift",
              "drift share " + std::to_string(e->drift_share) + " reached driftShare");
  } else {
    condition(ctx, "DriftDetected", "False", "NoDrift",
              "drift share " + std::to_string(e->drift_share) + " below driftShare");
  }
  ctx.plan.evaluation = std::move(*e);
}

// Retrains in the last 24 hours and the next index.
std::pair<int, int> retrain_history(const Context& ctx) {
  const json last = ctx.plan.status.value("lastRetrain", json::object());
  const std::string last_job = value_or<std::string>(last, "trainingJob", "");
  int count = 0, highest = retrain_index(last_job);
  bool last_seen = false;
  for (const auto& j : ctx.observed.training_jobs) {
    highest = std::max(highest, retrain_index(support::name_of(j)));
    last_seen = last_seen || support::name_of(j) == last_job;
    auto created = time_at(j.value("metadata", json::object()), "creationTimestamp");
    if (created && ctx.now - *created < kDay) ++count;
  }
  auto last_time = time_at(last, "time");
  if (!last_seen && last_time && ctx.now - *last_time < kDay) ++count;
  return {count, highest + 1};
}

json training_job(const Context& ctx, const json& tmpl, const std::string& job_name) {
  json meta = tmpl.value("metadata", json::object());
  json labels = meta.value("labels", json::object());
  labels["app.kubernetes.io/managed-by"] = "kiln";
  labels["app.kubernetes.io/part-of"] = "kiln";
  labels["kiln.dev/driftmonitor"] = support::child_name(ctx.name, "");
  json out_meta = {{"name", job_name},
                   {"namespace", ctx.ns},
                   {"labels", labels},
                   {"ownerReferences", support::owner_references(ctx.dm)}};
  if (meta.contains("annotations")) out_meta["annotations"] = meta["annotations"];
  // Each retraining writes under its own directory (<output.modelUri>/<job>), so it never
  // overwrites the files a serving model was loaded from and its model uri is new.
  json spec = tmpl.value("spec", json::object());
  const json::json_pointer output("/output/modelUri");
  if (spec.contains(output) && spec.at(output).is_string()) {
    std::string uri = spec.at(output).get<std::string>();
    while (!uri.empty() && uri.back() == '/') uri.pop_back();
    spec[output] = uri + "/" + job_name;
  }
  return {{"apiVersion", support::kGroupVersion},
          {"kind", "TrainingJob"},
          {"metadata", out_meta},
          {"spec", spec}};
}

void maybe_retrain(Context& ctx) {
  const json actions = ctx.dm["spec"].value("actions", json::object());
  if (!actions.contains("retrain") ||
      support::condition_status(ctx.plan.status, "DriftDetected") != "True") {
    return;
  }
  const json& retrain = actions["retrain"];
  json& status = ctx.plan.status;
  const json last = status.value("lastRetrain", json::object());
  const auto last_time = time_at(last, "time");
  const auto cooldown = support::duration_or(retrain, "cooldown", std::chrono::hours(6));
  const auto [today, next] = retrain_history(ctx);
  status["retrainsToday"] = today;
  if (last_time && ctx.now < *last_time + cooldown) {
    ctx.plan.requeue_within(
        std::chrono::duration_cast<milliseconds>(*last_time + cooldown - ctx.now));
    return;
  }
  const std::string running =
      job_phase(find_job(ctx.observed, value_or<std::string>(last, "trainingJob", "")));
  if (!running.empty() && running != "Succeeded" && running != "Failed") return;
  if (today >= value_or<int>(retrain, "maxRetrainsPerDay", 2)) {
    if (ctx.plan.evaluation) {
      ctx.plan.events.push_back(
          {"Warning", "RetrainCapReached", "drift persists but maxRetrainsPerDay was reached"});
    }
    return;
  }
  const std::string job_name = retrain_name(ctx.name, next);
  if (retrain.contains("trainingJobTemplate")) {
    ctx.plan.apply.push_back(training_job(ctx, retrain["trainingJobTemplate"], job_name));
    status["lastRetrain"] = {{"time", support::format_time(ctx.now)}, {"trainingJob", job_name}};
    ctx.plan.events.push_back({"Normal", "RetrainStarted", "created TrainingJob " + job_name});
  } else if (retrain.contains("dataPipelineRef")) {
    const std::string pipeline = value_or<std::string>(retrain["dataPipelineRef"], "name", "");
    ctx.plan.patches.push_back(
        {{std::string(support::kGroupVersion), "DataPipeline", ctx.ns, pipeline},
         {{"metadata", {{"annotations", {{"kiln.dev/run", job_name}}}}}}});
    status["lastRetrain"] = {{"time", support::format_time(ctx.now)}, {"trainingJob", ""}};
    ctx.plan.events.push_back(
        {"Normal", "RetrainStarted", "triggered DataPipeline " + pipeline + " run " + job_name});
  } else {
    return;
  }
  status["retrainsToday"] = today + 1;
}

void maybe_rollout(Context& ctx) {
  const json actions = ctx.dm["spec"].value("actions", json::object());
  const json rollout = actions.value("rollout", json::object());
  if (!value_or<bool>(rollout, "enabled", false) || !ctx.observed.target) return;
  const std::string job_name = value_or<std::string>(
      ctx.plan.status.value("lastRetrain", json::object()), "trainingJob", "");
  const json* job = find_job(ctx.observed, job_name);
  if (job_phase(job) != "Succeeded" || !(*job)["status"].contains("model")) return;
  const json& model = (*job)["status"]["model"];
  modeldeployment::ModelSource source{value_or<std::string>(model, "uri", ""),
                                      value_or<std::string>(model, "format", "xgboost"), job_name,
                                      value_or<std::string>(model, "profileUri", "")};
  if (source.uri.empty()) return;
  json value = json::parse(modeldeployment::canary_annotation_value(source));
  value["trafficPercent"] = value_or<int>(rollout, "trafficPercent", 10);
  const std::string text = value.dump();
  const json& target = *ctx.observed.target;
  if (support::annotation(target, "kiln.dev/canary-model") == text) return;
  ctx.plan.patches.push_back(
      {{target.value("apiVersion", std::string(support::kGroupVersion)), "ModelDeployment",
        support::namespace_of(target), support::name_of(target)},
       {{"metadata", {{"annotations", {{"kiln.dev/canary-model", text}}}}}}});
  ctx.plan.events.push_back({"Normal", "CanaryRequested",
                             "sent the model of " + job_name + " to ModelDeployment " +
                                 support::name_of(target) + "'s canary"});
}

}  // namespace

std::string retrain_name(std::string_view monitor, int n) {
  return support::child_name(monitor, "retrain-" + std::to_string(n));
}

bool evaluation_due(const json& monitor, TimePoint now) {
  const json status = monitor.value("status", json::object());
  const auto last = time_at(status.value("lastEvaluation", json::object()), "time");
  return !last || now >= *last + interval_of(monitor);
}

DriftMonitorPlan plan_driftmonitor(const json& monitor, const Observed& observed, TimePoint now) {
  Context ctx{monitor,
              observed,
              now,
              support::name_of(monitor),
              support::namespace_of(monitor),
              support::generation_of(monitor),
              {}};
  ctx.plan.status = monitor.value("status", json::object());
  ctx.plan.status["observedGeneration"] = ctx.generation;
  const bool due = evaluation_due(monitor, now);
  if (due) evaluate_now(ctx);
  maybe_retrain(ctx);
  maybe_rollout(ctx);
  // The next evaluation; after a failed one, one interval from now (no hot loop).
  const auto last = time_at(ctx.plan.status.value("lastEvaluation", json::object()), "time");
  const bool failed = due && !ctx.plan.evaluation;
  const auto next = last && !failed ? *last + interval_of(monitor) : now + interval_of(monitor);
  ctx.plan.requeue_within(std::chrono::duration_cast<milliseconds>(
      std::max(next - now, TimePoint::duration(std::chrono::seconds(1)))));
  return std::move(ctx.plan);
}

}  // namespace kiln::controllers::driftmonitor
