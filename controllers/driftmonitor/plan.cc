#include "controllers/driftmonitor/plan.h"

#include <algorithm>

#include "controllers/modeldeployment/model.h"

namespace kiln::controllers::driftmonitor {
namespace {

using std::chrono::milliseconds;
using support::value_or;
constexpr auto kDay = std::chrono::hours(24);

// The annotation of the target ModelDeployment that pins its stable pods' baseline profile.
constexpr std::string_view kBaselineProfileAnnotation = "kiln.dev/baseline-profile";
// Beside it: the monitor that pinned it (the ModelDeployment honours a pin only while that monitor
// exists and pins, so a deleted monitor's pin lapses).
constexpr std::string_view kBaselineFromAnnotation = "kiln.dev/baseline-profile-from";

struct Context {
  const json& dm;
  const api::DriftMonitorSpec& spec;  // dm.spec, decoded once.
  const Observed& observed;
  TimePoint now;
  std::string name;
  std::string ns;
  int64_t generation = 0;
  DriftMonitorPlan plan;
  bool baseline_known = true;  // pin_baseline found the baseline's URI.
};

void condition(Context& ctx, std::string_view type, ConditionStatus value, std::string_view reason,
               std::string_view message) {
  const bool existed = find_condition(ctx.plan.status, type) != nullptr;
  const bool changed =
      set_condition(ctx.plan.status, type, value, reason, message, ctx.generation, ctx.now);
  if (changed && existed) {
    const bool warning = (type == "Ready" && value != ConditionStatus::kTrue) ||
                         (type == "DriftDetected" && value == ConditionStatus::kTrue);
    ctx.plan.events.push_back({warning ? "Warning" : "Normal", std::string(reason),
                               std::string(type) + ": " + std::string(message)});
  }
}

// A duration the CRD's pattern admitted; `fallback` should the text still not parse.
milliseconds duration_of(std::string_view text, milliseconds fallback) {
  auto d = support::parse_duration(text);
  return d.ok() ? *d : fallback;
}

milliseconds interval_of(const api::DriftMonitorSpec& spec) {
  return duration_of(spec.interval, std::chrono::minutes(5));
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

// Pins the target's baseline (plan.h, BASELINE); false while the pinned baseline is not known.
// Runs on every plan, so a changed spec.baseline reaches the target at once.
bool pin_baseline(Context& ctx) {
  auto wanted = baseline_uri(ctx.spec, ctx.observed.baseline_job);
  if (!wanted.ok()) {
    condition(ctx, "Ready", ConditionStatus::kFalse, "BaselineNotReady", wanted.error().message());
    return false;
  }
  ctx.plan.status["baselineUri"] = *wanted;
  const json& target = *ctx.observed.target;
  const auto pinned = support::annotation(target, kBaselineProfileAnnotation);
  const auto from = support::annotation(target, kBaselineFromAnnotation);
  if (wanted->empty()) {
    // Only this monitor's own pin is taken back.
    if (!pinned || from != ctx.name) return true;
  } else if (pinned == *wanted && from == ctx.name) {
    return true;
  }
  const json value = wanted->empty() ? json(nullptr) : json(*wanted);
  const json by = wanted->empty() ? json(nullptr) : json(ctx.name);
  ctx.plan.patches.push_back(
      {{target.value("apiVersion", std::string(support::kGroupVersion)), "ModelDeployment",
        support::namespace_of(target), support::name_of(target)},
       {{"metadata",
         {{"annotations",
           {{std::string(kBaselineProfileAnnotation), value},
            {std::string(kBaselineFromAnnotation), by}}}}}}});
  ctx.plan.events.push_back(
      {"Normal", "BaselinePinned",
       wanted->empty() ? "the target's stable pods use their model's own baseline again"
                       : "the target's stable pods load the baseline " + *wanted});
  return true;
}

void evaluate_now(Context& ctx) {
  if (!ctx.observed.target) {
    condition(ctx, "Ready", ConditionStatus::kFalse, "TargetNotFound",
              "ModelDeployment " + ctx.spec.target.model_deployment_ref.name + " not found");
    return;
  }
  if (!ctx.baseline_known) return;
  if (!ctx.observed.baseline) {
    condition(ctx, "Ready", ConditionStatus::kFalse, "BaselineNotReady",
              "the baseline profile is not available yet");
    return;
  }
  if (ctx.observed.live_profiles.empty()) {
    condition(ctx, "Ready", ConditionStatus::kFalse, "NoLiveProfiles", "no serving pod returned a profile");
    return;
  }
  auto e = evaluate(ctx.spec, *ctx.observed.baseline, ctx.observed.live_profiles, ctx.now);
  if (!e.ok()) {
    condition(ctx, "Ready", ConditionStatus::kFalse, "EvaluationFailed", e.error().message());
    return;
  }
  condition(ctx, "Ready", ConditionStatus::kTrue, "Evaluating", "live traffic is compared with the baseline");
  ctx.plan.status["lastEvaluation"] = e->to_status();
  if (!e->verdict) {
    condition(ctx, "DriftDetected", ConditionStatus::kUnknown, "InsufficientSamples",
              std::to_string(e->samples) + " rows, fewer than window.minSamples");
  } else if (e->dataset_drift) {
    condition(ctx, "DriftDetected", ConditionStatus::kTrue, "DatasetDrift",
              "drift share " + std::to_string(e->drift_share) + " reached driftShare");
  } else {
    condition(ctx, "DriftDetected", ConditionStatus::kFalse, "NoDrift",
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

json training_job(const Context& ctx, const api::TrainingJobTemplate& tmpl,
                  const std::string& job_name) {
  json meta = tmpl.metadata.is_object() ? tmpl.metadata : json::object();
  json labels = meta.value("labels", json::object());
  labels["app.kubernetes.io/managed-by"] = "kiln";
  labels["app.kubernetes.io/part-of"] = "kiln";
  labels["kiln.dev/driftmonitor"] = support::child_name(ctx.name, "");
  json out_meta = {{"name", job_name},
                   {"namespace", ctx.ns},
                   {"labels", labels},
                   {"ownerReferences", json::array({owner_reference(ctx.dm)})}};
  if (meta.contains("annotations")) out_meta["annotations"] = meta["annotations"];
  // Each retraining writes under its own directory (<output.modelUri>/<job>-<uid>, uid the
  // monitor's first 8 characters), so it never overwrites the files a serving model was loaded
  // from, also when a monitor of the same name is created again and counts from 1.
  json spec = tmpl.spec.is_object() ? tmpl.spec : json::object();
  const json::json_pointer output("/output/modelUri");
  if (spec.contains(output) && spec.at(output).is_string()) {
    std::string uri = spec.at(output).get<std::string>();
    while (!uri.empty() && uri.back() == '/') uri.pop_back();
    std::string key = job_name;
    const std::string uid =
        ctx.dm.contains("metadata") ? ctx.dm["metadata"].value("uid", "") : std::string();
    if (!uid.empty()) key += "-" + uid.substr(0, 8);
    spec[output] = uri + "/" + key;
  }
  return {{"apiVersion", support::kGroupVersion},
          {"kind", "TrainingJob"},
          {"metadata", out_meta},
          {"spec", spec}};
}

void maybe_retrain(Context& ctx) {
  if (!ctx.spec.actions || !ctx.spec.actions->retrain ||
      !condition_true(ctx.plan.status, "DriftDetected")) {
    return;
  }
  const api::RetrainAction& retrain = *ctx.spec.actions->retrain;
  json& status = ctx.plan.status;
  const json last = status.value("lastRetrain", json::object());
  const auto last_time = time_at(last, "time");
  const auto cooldown = duration_of(retrain.cooldown, std::chrono::hours(6));
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
  if (today >= retrain.max_retrains_per_day) {
    if (ctx.plan.evaluation) {
      ctx.plan.events.push_back(
          {"Warning", "RetrainCapReached", "drift persists but maxRetrainsPerDay was reached"});
    }
    return;
  }
  const std::string job_name = retrain_name(ctx.name, next);
  if (retrain.training_job_template) {
    ctx.plan.apply.push_back(training_job(ctx, *retrain.training_job_template, job_name));
    status["lastRetrain"] = {{"time", support::format_time(ctx.now)}, {"trainingJob", job_name}};
    ctx.plan.events.push_back({"Normal", "RetrainStarted", "created TrainingJob " + job_name});
  } else if (retrain.data_pipeline_ref) {
    const std::string& pipeline = retrain.data_pipeline_ref->name;
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
  if (!ctx.spec.actions || !ctx.spec.actions->rollout || !ctx.spec.actions->rollout->enabled ||
      !ctx.observed.target) {
    return;
  }
  const api::RolloutAction& rollout = *ctx.spec.actions->rollout;
  const std::string job_name = value_or<std::string>(
      ctx.plan.status.value("lastRetrain", json::object()), "trainingJob", "");
  const json* job = find_job(ctx.observed, job_name);
  if (job_phase(job) != "Succeeded" || !(*job)["status"].contains("model")) return;
  const json& model = (*job)["status"]["model"];
  modeldeployment::ModelSource source{value_or<std::string>(model, "uri", ""),
                                      value_or<std::string>(model, "format", "xgboost"), job_name,
                                      value_or<std::string>(model, "profileUri", "")};
  if (source.uri.empty()) return;
  // The canary verifies what the job uploaded and reaches it the way the job did.
  source.digest = value_or<std::string>(model, "digest", "");
  if (job->contains("spec") && (*job)["spec"].contains("storage")) {
    api::StorageConfig storage;
    if (api::decode((*job)["spec"]["storage"], "spec.storage", storage).ok()) {
      source.storage = storage;
    }
  }
  json value = json::parse(modeldeployment::canary_annotation_value(source));
  value["trafficPercent"] = rollout.traffic_percent;
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

Result<std::string> baseline_uri(const api::DriftMonitorSpec& spec,
                                 const std::optional<json>& baseline_job) {
  if (!spec.baseline) return std::string();
  if (spec.baseline->uri) return *spec.baseline->uri;
  if (!spec.baseline->from_training_job) return std::string();
  const std::string& job = *spec.baseline->from_training_job;
  const json::json_pointer profile("/status/model/profileUri");
  if (!baseline_job || !baseline_job->contains(profile) || !baseline_job->at(profile).is_string() ||
      baseline_job->at(profile).get<std::string>().empty()) {
    return Error::invalid_input("waiting for TrainingJob " + job + " (spec.baseline." +
                                "fromTrainingJob) to report its profile");
  }
  return baseline_job->at(profile).get<std::string>();
}

bool evaluation_due(const json& monitor, const api::DriftMonitorSpec& spec, TimePoint now) {
  const json status = monitor.value("status", json::object());
  const auto last = time_at(status.value("lastEvaluation", json::object()), "time");
  return !last || now >= *last + interval_of(spec);
}

bool evaluation_due(const json& monitor, TimePoint now) {
  auto spec = api::parse_drift_monitor_spec(monitor);
  return spec.ok() && evaluation_due(monitor, *spec, now);
}

DriftMonitorPlan plan_driftmonitor(const json& monitor, const Observed& observed, TimePoint now) {
  return plan_driftmonitor(monitor, api::parse_drift_monitor_spec(monitor), observed, now);
}

DriftMonitorPlan plan_driftmonitor(const json& monitor,
                                   const Result<api::DriftMonitorSpec>& parsed,
                                   const Observed& observed, TimePoint now) {
  static const api::DriftMonitorSpec kNoSpec;
  Context ctx{monitor,
              parsed.ok() ? *parsed : kNoSpec,
              observed,
              now,
              support::name_of(monitor),
              support::namespace_of(monitor),
              support::generation_of(monitor),
              {}};
  ctx.plan.status = monitor.value("status", json::object());
  ctx.plan.status["observedGeneration"] = ctx.generation;
  if (!parsed.ok()) {
    condition(ctx, "Ready", ConditionStatus::kFalse, "InvalidSpec", parsed.error().message());
    return std::move(ctx.plan);
  }
  const bool due = evaluation_due(monitor, ctx.spec, now);
  ctx.baseline_known = !ctx.observed.target || pin_baseline(ctx);
  if (due) evaluate_now(ctx);
  maybe_retrain(ctx);
  maybe_rollout(ctx);
  // The next evaluation; after a failed one, one interval from now (no hot loop).
  const auto last = time_at(ctx.plan.status.value("lastEvaluation", json::object()), "time");
  const bool failed = due && !ctx.plan.evaluation;
  const auto interval = interval_of(ctx.spec);
  const auto next = last && !failed ? *last + interval : now + interval;
  ctx.plan.requeue_within(std::chrono::duration_cast<milliseconds>(
      std::max(next - now, TimePoint::duration(std::chrono::seconds(1)))));
  return std::move(ctx.plan);
}

}  // namespace kiln::controllers::driftmonitor
