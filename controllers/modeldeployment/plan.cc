#include "controllers/modeldeployment/plan.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "controllers/modeldeployment/names.h"
#include "controllers/modeldeployment/router_config.h"

namespace kiln::controllers::modeldeployment {
namespace {

using support::value_or;

// How long a router outlives the end of a split (see plan_modeldeployment).
constexpr std::chrono::seconds kRouterRetireGrace{30};

struct Variants {
  ModelSource stable;
  std::string spec_stable_uri;
  std::optional<ModelSource> canary;  // Resolved canary source (active or not).
  int canary_percent = 10;
  std::optional<ModelError> canary_error;
  std::optional<ModelSource> shadow;
  int shadow_mirror = 100;
  std::optional<ModelError> shadow_error;
};

struct Context {
  const json& md;
  const api::ModelDeploymentSpec& spec;  // md.spec, decoded once.
  const Observed& observed;
  TimePoint now;
  std::string name;
  int64_t generation = 0;
  ModelDeploymentPlan plan;
  // Children kept as they are because their desired state could not be built (never deleted).
  std::set<std::pair<std::string, std::string>> keep;
  // The router Deployment reports a ready pod.
  bool router_available = false;
  json& status() { return plan.status; }
};

const json* find_child(const Observed& observed, std::string_view kind, const std::string& name) {
  for (const auto& c : observed.children) {
    if (c.value("kind", "") == kind && support::name_of(c) == name) return &c;
  }
  return nullptr;
}

// Why the pods of `variant` for `model` cannot start: a storage init container's failure on a pod
// whose template serves model.version (storage.h storage_failure), prefixed with the variant.
std::optional<std::string> fetch_failure(const Context& ctx, Variant variant,
                                         const ModelSource& model) {
  const std::string variant_label(to_string(variant));
  for (const auto& pod : ctx.observed.pods) {
    const json meta = pod.value("metadata", json::object());
    if (meta.value("labels", json::object()).value("kiln.dev/variant", "") != variant_label) {
      continue;
    }
    if (meta.value("annotations", json::object()).value("kiln.dev/model-version", "") !=
        model.version) {
      continue;
    }
    if (auto failure = storage_failure(pod, kStorageInitializer)) {
      return variant_label + " model " + model.uri + ": " + *failure;
    }
  }
  return std::nullopt;
}

int ready_replicas(const json* d) {
  return d && d->contains("status") ? value_or<int>((*d)["status"], "readyReplicas", 0) : 0;
}

// Available: the Deployment rolled out the model `uri` ("" : any) and has a ready pod.
bool deployment_available(const json* d, const std::string& uri) {
  if (d == nullptr || !d->contains("status")) return false;
  const json& s = (*d)["status"];
  if (!uri.empty() && support::annotation(*d, kModelUriAnnotation) != uri) return false;
  return value_or<int>(s, "readyReplicas", 0) >= 1 && value_or<int>(s, "updatedReplicas", 1) >= 1 &&
         value_or<int64_t>(s, "observedGeneration", 0) >= support::generation_of(*d);
}

// Every pod of the Deployment runs its current template (status.replicas counts the older ones).
bool no_older_pods(const json* d) {
  if (d == nullptr || !d->contains("status")) return false;
  const json& s = (*d)["status"];
  return value_or<int>(s, "replicas", 0) <= value_or<int>(s, "updatedReplicas", 0);
}

void condition(Context& ctx, std::string_view type, bool value, std::string_view reason,
               std::string_view message, bool warning_when_false = true) {
  const bool existed = find_condition(ctx.status(), type) != nullptr;
  const bool changed = set_condition(ctx.status(), type, value, reason,
                                              message, ctx.generation, ctx.now);
  if (changed && existed) {
    ctx.plan.events.push_back({value || !warning_when_false ? "Normal" : "Warning",
                               std::string(reason),
                               std::string(type) + ": " + std::string(message)});
  }
}

// status.stable: what choose_stable() needs to render a promoted model again (its baseline
// profile included, so the stable pods keep serving /profile/baseline after a promotion).
json stable_status(const ModelSource& m) {
  json out = {{"version", m.version}, {"uri", m.uri}, {"format", m.format}};
  if (!m.profile_uri.empty()) out["profileUri"] = m.profile_uri;
  if (!m.digest.empty()) out["digest"] = m.digest;
  if (m.storage) api::to_json(out["storage"], *m.storage);
  return out;
}

// The stable model: status.stable after a promotion, unless spec.model changed since (plan.h).
ModelSource choose_stable(const Context& ctx, const ModelSource& spec_stable,
                          const std::optional<ModelSource>& canary) {
  const json st =
      ctx.md.contains("status") ? ctx.md["status"].value("stable", json::object()) : json::object();
  const auto uri = value_or<std::string>(st, "uri", "");
  if (uri.empty() || uri == spec_stable.uri) return spec_stable;
  const json* dep =
      find_child(ctx.observed, "Deployment", variant_name(ctx.name, Variant::kStable));
  const auto rendered_for = dep ? support::annotation(*dep, kSpecModelAnnotation) : std::nullopt;
  if (rendered_for && *rendered_for != spec_stable.uri) return spec_stable;  // spec.model changed.
  if (canary && canary->uri == uri) return *canary;
  ModelSource promoted{uri, value_or<std::string>(st, "format", ""),
                       value_or<std::string>(st, "version", ""),
                       value_or<std::string>(st, "profileUri", "")};
  promoted.digest = value_or<std::string>(st, "digest", "");
  if (st.contains("storage")) {
    api::StorageConfig storage;
    if (api::decode(st["storage"], "status.stable.storage", storage).ok()) promoted.storage = storage;
  }
  if (promoted.format.empty()) {
    promoted.format = "xgboost";
    if (dep && support::annotation(*dep, kModelUriAnnotation) == uri) {
      promoted.format = support::annotation(*dep, kModelFormatAnnotation).value_or("xgboost");
    }
  }
  return promoted;
}

void resolve_optional(const api::ModelSource& spec_model, const TrainingModels& models,
                      std::optional<ModelSource>& out, std::optional<ModelError>& error) {
  auto r = resolve_model(spec_model, models);
  if (auto* m = std::get_if<ModelSource>(&r)) {
    out = *m;
  } else {
    error = std::get<ModelError>(r);
  }
}

void resolve_canary_and_shadow(const Context& ctx, Variants& v) {
  const api::ModelDeploymentSpec& spec = ctx.spec;
  if (spec.canary) {
    resolve_optional(spec.canary->model, ctx.observed.training_models, v.canary, v.canary_error);
    v.canary_percent = spec.canary->traffic_percent;
  } else if (auto a = support::annotation(ctx.md, kCanaryModelAnnotation)) {
    auto parsed = parse_canary_annotation(*a);
    if (parsed.ok()) {
      v.canary = *parsed;
      // The annotation's share, else the schema's default for spec.canary.trafficPercent.
      v.canary_percent = value_or<int>(json::parse(*a, nullptr, false), "trafficPercent",
                                       api::CanarySpec{}.traffic_percent);
    } else {
      v.canary_error = ModelError{ModelProblem::kInvalid, parsed.error().message()};
    }
  }
  if (spec.shadow) {
    resolve_optional(spec.shadow->model, ctx.observed.training_models, v.shadow, v.shadow_error);
    v.shadow_mirror = spec.shadow->mirror_percent;
  }
}

json variant_status(const ModelSource& m, const json* deployment) {
  return {{"version", m.version}, {"uri", m.uri}, {"readyReplicas", ready_replicas(deployment)}};
}

// status.rollout decoded (nullopt when absent or not of the schema's shape: a new rollout).
std::optional<api::RolloutStatus> rollout_status(const json& status) {
  if (!status.is_object() || !status.contains("rollout")) return std::nullopt;
  api::RolloutStatus out;
  if (!api::decode(status["rollout"], "status.rollout", out).ok()) return std::nullopt;
  return out;
}

std::optional<TimePoint> analysis_time(const json& status) {
  const json last = status.value("lastAnalysis", json::object());
  auto t = support::parse_time(value_or<std::string>(last, "time", ""));
  return t.ok() ? std::optional<TimePoint>(*t) : std::nullopt;
}

// Runs the rollout for an active canary; returns the canary weight and whether the canary's
// Deployment stays. May promote (changes v.stable).
std::pair<int, bool> run_canary(Context& ctx, Variants& v) {
  json& status = ctx.status();
  const ModelSource& c = *v.canary;
  const json old = status.value("canary", json::object());
  const bool same = value_or<std::string>(old, "uri", "") == c.uri &&
                    value_or<std::string>(old, "version", "") == c.version;
  RolloutState state = same ? RolloutState::from_status(rollout_status(status)) : RolloutState{};
  if (!same)
    set_condition(status, "RolledBack", false, "NewCanary", "a new canary",
                           ctx.generation, ctx.now);
  const json* dep =
      find_child(ctx.observed, "Deployment", variant_name(ctx.name, Variant::kCanary));
  const api::RolloutSpec* rollout = ctx.spec.rollout ? &*ctx.spec.rollout : nullptr;
  RolloutInput in;
  in.rollout = rollout;
  in.initial_weight = v.canary_percent;
  // The split takes effect once the router serves it.
  // A canary Deployment kept from the previous canary (retiring) rolls to the new model: its old
  // pods are ready but serve the old one, so it counts only once they are gone.
  const bool canary_available = deployment_available(dep, c.uri) && no_older_pods(dep);
  in.canary_ready = canary_available && ctx.router_available;
  in.promote = support::annotation(ctx.md, kPromoteAnnotation).value_or("");
  in.now = ctx.now;
  if (ctx.observed.routers && rollout != nullptr &&
      modeldeployment::analysis_due(rollout, state, analysis_time(status), ctx.now)) {
    const AnalysisWindow window = measure_window(status.value("lastAnalysis", json::object()),
                                                 {c.uri, c.version}, *ctx.observed.routers);
    static const api::AnalysisSpec kDefaults;
    AnalysisResult result =
        evaluate_analysis(rollout->analysis ? *rollout->analysis : kDefaults, window.sample);
    if (window.baseline) {  // Only starts this canary's window.
      result.counted = false;
      result.passed = false;
    }
    if (!window.restarted.empty()) {
      ctx.plan.events.push_back({"Warning", "AnalysisWindowRestarted",
                                 "the kept router counters did not decode (" + window.restarted +
                                     "): this window is the routers' whole life"});
    }
    status["lastAnalysis"] = result.to_status(ctx.now);
    status["lastAnalysis"]["canary"] = {{"uri", c.uri}, {"version", c.version}};
    if (window.baseline) status["lastAnalysis"]["baseline"] = true;
    status["lastAnalysis"]["routerCounters"] = window.router_counters;
    ctx.plan.analysis_recorded = true;
    in.analysis = result;
  }
  RolloutDecision d = step_rollout(state, in);
  for (auto& e : d.events) ctx.plan.events.push_back(std::move(e));
  if (d.requeue_after) ctx.plan.requeue_within(*d.requeue_after);
  status["rollout"] = d.state.to_status();
  status["canary"] = variant_status(c, dep);
  if (d.promote) {
    v.stable = c;
    status["stable"] = stable_status(c);
    status.erase("canary");  // A finished rollout shows no canary: it is the stable model now.
  }
  const bool promoted = d.state.phase == RolloutPhase::kPromoted;
  const bool rolled_back = d.state.phase == RolloutPhase::kRolledBack;
  const bool progressing =
      d.state.phase == RolloutPhase::kProgressing || d.state.phase == RolloutPhase::kPaused;
  condition(ctx, "Progressing", progressing, to_string(d.reason), d.message, false);
  condition(ctx, "RolledBack", rolled_back, rolled_back ? "AnalysisFailed" : "NotRolledBack",
            rolled_back ? d.message : "the canary was not rolled back");
  if (promoted) {
    condition(ctx, "CanaryReady", false, "Promoted", "the canary was promoted to stable", false);
  } else {
    const auto fetch = canary_available ? std::nullopt : fetch_failure(ctx, Variant::kCanary, c);
    condition(ctx, "CanaryReady", in.canary_ready,
              in.canary_ready     ? "Available"
              : canary_available ? "RouterNotReady"
              : fetch            ? "ModelFetchFailed"
                                 : "CanaryNotReady",
              in.canary_ready     ? "the canary Deployment is available"
              : canary_available ? "the router Deployment has no ready pod yet"
              : fetch            ? *fetch
                                 : "the canary Deployment has no ready pod yet");
  }
  return {promoted ? 0 : d.canary_weight, !promoted};
}

// The canary is the stable model (promoted earlier, or named as both): no canary runs, status
// shows none, and status.rollout keeps the finished rollout.
void canary_is_stable(Context& ctx) {
  ctx.status().erase("canary");
  condition(ctx, "CanaryReady", false, "Promoted", "the canary was promoted to stable", false);
  condition(ctx, "Progressing", false, to_string(RolloutReason::kRolloutPromoted),
            "rollout finished: the canary's model is stable", false);
  condition(ctx, "RolledBack", false, "NotRolledBack", "the canary was not rolled back", false);
}

void no_canary(Context& ctx, const Variants& v) {
  json& status = ctx.status();
  status.erase("canary");
  if (v.canary_error) {
    condition(ctx, "CanaryReady", false,
              v.canary_error->problem == ModelProblem::kNotReady ? "ModelNotReady" : "InvalidModel",
              v.canary_error->message);
  } else {
    status.erase("rollout");
    condition(ctx, "CanaryReady", false, "NoCanary", "no canary is configured", false);
  }
  condition(ctx, "Progressing", false, "NoCanary", "no rollout under way", false);
  condition(ctx, "RolledBack", false, "NotRolledBack", "no canary", false);
}

}  // namespace

namespace {

// The variant's Deployment, and its Service when a router sends traffic to it.
void add_serving(Context& ctx, const VariantSpec& spec, const BuildOptions& options,
                 bool with_service) {
  auto d = desired_variant_deployment(ctx.md, ctx.spec, spec, options);
  if (!d.ok()) {
    // An unmountable uri: report it and leave what runs alone rather than delete it.
    ctx.plan.events.push_back({"Warning", "InvalidModel", d.error().message()});
    const std::string name = variant_name(ctx.name, spec.variant);
    ctx.keep.insert({"Deployment", name});
    ctx.keep.insert({"Service", name});
    return;
  }
  ctx.plan.apply.push_back(std::move(*d));
  if (with_service) ctx.plan.apply.push_back(desired_variant_service(ctx.md, spec.variant));
}

void shadow_status(Context& ctx, const Variants& v) {
  json& status = ctx.status();
  if (!v.shadow) {
    status.erase("shadow");
    if (v.shadow_error) {
      condition(
          ctx, "ShadowReady", false,
          v.shadow_error->problem == ModelProblem::kNotReady ? "ModelNotReady" : "InvalidModel",
          v.shadow_error->message);
    } else {
      condition(ctx, "ShadowReady", false, "NoShadow", "no shadow is configured", false);
    }
    return;
  }
  const json* dep =
      find_child(ctx.observed, "Deployment", variant_name(ctx.name, Variant::kShadow));
  status["shadow"] = variant_status(*v.shadow, dep);
  const bool available = deployment_available(dep, v.shadow->uri);
  const bool ready = available && ctx.router_available;
  const auto fetch = available ? std::nullopt : fetch_failure(ctx, Variant::kShadow, *v.shadow);
  condition(ctx, "ShadowReady", ready,
            ready       ? "Available"
            : available ? "RouterNotReady"
            : fetch     ? "ModelFetchFailed"
                        : "ShadowNotReady",
            ready       ? "the shadow Deployment is available"
            : available ? "the router Deployment has no ready pod yet"
            : fetch     ? *fetch
                        : "the shadow Deployment has no ready pod yet");
}

// A retirement time kept on the router's ConfigMap under `annotation`: the noted time while it is
// ahead (and a requeue for it), a new one kRouterRetireGrace from now when `start` and none is
// noted, else "" (passed: what it kept may go).
std::string retire_time(Context& ctx, const json* config, std::string_view annotation,
                        bool start) {
  const auto noted = config ? support::annotation(*config, annotation) : std::nullopt;
  std::optional<TimePoint> noted_time;
  if (noted) {
    if (auto t = support::parse_time(*noted); t.ok()) noted_time = *t;
  }
  if (noted_time && ctx.now < *noted_time) {
    ctx.plan.requeue_within(
        std::chrono::duration_cast<std::chrono::milliseconds>(*noted_time - ctx.now));
    return *noted;
  }
  if (noted || !start) return "";
  ctx.plan.requeue_within(kRouterRetireGrace);
  return support::format_time(ctx.now + kRouterRetireGrace);
}

// Deletes observed children that the plan no longer applies.
void remove_unwanted(Context& ctx) {
  std::set<std::pair<std::string, std::string>> wanted;
  for (const auto& o : ctx.plan.apply) wanted.insert({o.value("kind", ""), support::name_of(o)});
  for (const auto& c : ctx.observed.children) {
    const std::string kind = c.value("kind", "");
    if (wanted.count({kind, support::name_of(c)}) || ctx.keep.count({kind, support::name_of(c)})) {
      continue;
    }
    ctx.plan.remove.push_back(
        {c.value("apiVersion", ""), kind, support::namespace_of(c), support::name_of(c)});
  }
}

void ready_condition(Context& ctx, const Variants& v) {
  // The endpoint selects the stable pods until a router is ready, so stable alone decides.
  const json* stable =
      find_child(ctx.observed, "Deployment", variant_name(ctx.name, Variant::kStable));
  if (!deployment_available(stable, v.stable.uri)) {
    if (auto fetch = fetch_failure(ctx, Variant::kStable, v.stable)) {
      condition(ctx, "Ready", false, "ModelFetchFailed", *fetch);
    } else {
      condition(ctx, "Ready", false, "StableNotReady",
                "the stable Deployment has no ready pod yet");
    }
  } else {
    condition(ctx, "Ready", true, "Available",
              "serving at " + value_or<std::string>(ctx.status(), "url", ""));
  }
}

}  // namespace

bool analysis_due(const json& md, const api::ModelDeploymentSpec& spec, TimePoint now) {
  if (!md.contains("status") || !spec.rollout) return false;
  const json& status = md["status"];
  const RolloutState state = RolloutState::from_status(rollout_status(status));
  return modeldeployment::analysis_due(&*spec.rollout, state, analysis_time(status), now);
}

bool analysis_due(const json& md, TimePoint now) {
  auto spec = api::parse_model_deployment_spec(md);
  return spec.ok() && analysis_due(md, *spec, now);
}

namespace {

// The replicas of a canary or shadow carrying `percent` of the traffic that `total` pods serve:
// ceil(total * percent / 100), at least 1.
int replicas_for_share(int total, int percent) {
  return std::max(1, (total * percent + 99) / 100);
}

// The highest canary weight of the rollout: the canary is sized for it from the start, so it
// never scales (and goes briefly unready) between steps.
int peak_canary_weight(const api::ModelDeploymentSpec& spec, int initial_weight) {
  int peak = initial_weight;
  if (spec.rollout) {
    for (const auto& step : spec.rollout->steps) {
      if (step.set_weight) peak = std::max(peak, *step.set_weight);
    }
  }
  return peak;
}

// Stable's replicas now: spec.replicas, or under an HPA the stable Deployment's (the HPA sets
// them; minReplicas before it has).
int stable_replicas_now(const Context& ctx) {
  if (!ctx.spec.autoscaling) return ctx.spec.replicas;
  const json* d = find_child(ctx.observed, "Deployment", variant_name(ctx.name, Variant::kStable));
  if (d != nullptr && d->contains("spec")) {
    const int replicas = value_or<int>((*d)["spec"], "replicas", 0);
    if (replicas > 0) return replicas;
  }
  return ctx.spec.autoscaling->min_replicas;
}

// The pods all of the traffic needs now: spec.replicas; under an HPA, which sizes stable for the
// share it serves, stable's pods scaled back up by the canary's current weight (status.traffic,
// the split the routers serve): stable * 100 / (100 - weight). With every request on the canary
// stable is at minReplicas and says nothing of the load, so the canary's own pods count.
int total_replicas_now(const Context& ctx) {
  const int stable = stable_replicas_now(ctx);
  if (!ctx.spec.autoscaling) return stable;
  const json::json_pointer weight_at("/status/traffic/canary");
  const int weight = ctx.md.contains(weight_at) && ctx.md.at(weight_at).is_number_integer()
                         ? std::clamp(ctx.md.at(weight_at).get<int>(), 0, 100)
                         : 0;
  if (weight < 100) return (stable * 100 + (100 - weight) - 1) / (100 - weight);
  const json* canary =
      find_child(ctx.observed, "Deployment", variant_name(ctx.name, Variant::kCanary));
  const int canary_pods = canary != nullptr && canary->contains("spec")
                              ? value_or<int>((*canary)["spec"], "replicas", 0)
                              : 0;
  return std::max(stable, canary_pods);
}

}  // namespace

ModelDeploymentPlan plan_modeldeployment(const json& md, const Observed& observed, TimePoint now,
                                         const BuildOptions& options) {
  return plan_modeldeployment(md, api::parse_model_deployment_spec(md), observed, now, options);
}

ModelDeploymentPlan plan_modeldeployment(const json& md,
                                         const Result<api::ModelDeploymentSpec>& parsed,
                                         const Observed& observed, TimePoint now,
                                         const BuildOptions& options) {
  static const api::ModelDeploymentSpec kNoSpec;
  Context ctx{md,  parsed.ok() ? *parsed : kNoSpec, observed, now, support::name_of(md),
              support::generation_of(md), {}, {}};
  json& status = ctx.status();
  status = md.value("status", json::object());
  status["observedGeneration"] = ctx.generation;
  status["url"] = service_url(variant_name(ctx.name, Variant::kRouter), support::namespace_of(md));
  if (!parsed.ok()) {
    // The API server validates the schema, so this is a spec it let through that Kiln cannot
    // read: say so and touch no child.
    condition(ctx, "Ready", false, "InvalidSpec", parsed.error().message());
    return std::move(ctx.plan);
  }
  const api::ModelDeploymentSpec& spec = ctx.spec;

  auto stable = resolve_model(spec.model, observed.training_models);
  if (auto* error = std::get_if<ModelError>(&stable)) {
    const bool waiting = error->problem == ModelProblem::kNotReady;
    condition(ctx, "Ready", false, waiting ? "ModelNotReady" : "InvalidModel", error->message);
    return std::move(ctx.plan);
  }
  Variants v;
  v.spec_stable_uri = std::get<ModelSource>(stable).uri;
  resolve_canary_and_shadow(ctx, v);
  v.stable = choose_stable(ctx, std::get<ModelSource>(stable), v.canary);
  status["stable"] = stable_status(v.stable);

  // Any ready router pod serves: a router rolling to a new configuration keeps its old pods
  // until new ones are ready, so this does not flicker with every weight change.
  ctx.router_available =
      ready_replicas(find_child(observed, "Deployment", variant_name(ctx.name, Variant::kRouter))) >=
      1;
  int canary_weight = 0;
  bool canary_deployed = false;
  if (v.canary && v.canary->uri == v.stable.uri && v.canary->version == v.stable.version) {
    canary_is_stable(ctx);
  } else if (v.canary) {
    std::tie(canary_weight, canary_deployed) = run_canary(ctx, v);
  } else {
    no_canary(ctx, v);
  }

  // A router runs while traffic is split (a canary or a shadow). When the split ends the endpoint
  // moves back to the stable pods at once, and the router retires kRouterRetireGrace later (the
  // time is kept on its ConfigMap): with the variant Services it forwards to and a promoted or
  // removed canary/shadow, so that requests still sent to it by Service rules not yet updated
  // are answered.
  const json* endpoint = find_child(observed, "Service", variant_name(ctx.name, Variant::kRouter));
  const bool router_selected =
      endpoint != nullptr &&
      support::value_or<std::string>(endpoint->value("spec", json::object()).value("selector",
                                                                                   json::object()),
                                     "kiln.dev/variant", "") == to_string(Variant::kRouter);
  const bool split = canary_deployed || v.shadow.has_value();
  const json* config = find_child(observed, "ConfigMap", router_config_name(ctx.name));
  const std::string retire_after =
      split ? "" : retire_time(ctx, config, kRouterRetireAnnotation, router_selected);
  // A canary or shadow that left a split the router goes on serving retires the same way.
  std::vector<std::pair<std::string_view, std::string>> variant_retire;
  if (split) {
    for (const auto& [variant, serving, annotation] :
         {std::tuple{Variant::kCanary, canary_deployed, kCanaryRetireAnnotation},
          std::tuple{Variant::kShadow, v.shadow.has_value(), kShadowRetireAnnotation}}) {
      const json* left = find_child(observed, "Deployment", variant_name(ctx.name, variant));
      if (serving || left == nullptr) continue;
      const std::string until = retire_time(ctx, config, annotation, true);
      if (until.empty()) continue;
      variant_retire.emplace_back(annotation, until);
      ctx.keep.insert({"Deployment", variant_name(ctx.name, variant)});
      ctx.keep.insert({"Service", variant_name(ctx.name, variant)});
    }
  }
  const bool retiring = !retire_after.empty();
  const bool with_router = split || retiring;
  const bool through_router = split && ctx.router_available;
  if (retiring) {  // Keep what the router may still forward to.
    for (Variant gone : {Variant::kCanary, Variant::kShadow}) {
      ctx.keep.insert({"Deployment", variant_name(ctx.name, gone)});
      ctx.keep.insert({"Service", variant_name(ctx.name, gone)});
    }
  }

  const bool autoscaled = spec.autoscaling.has_value();
  // The stable pods load a DriftMonitor's pinned baseline instead of their model's own.
  ModelSource stable_served = v.stable;
  if (observed.pinned_baseline && !observed.pinned_baseline->empty()) {
    stable_served.profile_uri = *observed.pinned_baseline;
  }
  add_serving(ctx,
              {Variant::kStable, stable_served,
               autoscaled ? std::nullopt : std::optional<int>(spec.replicas), v.spec_stable_uri},
              options, with_router);
  // A canary or shadow gets the share of all the traffic's pods that its traffic is.
  const int total_now = total_replicas_now(ctx);
  if (canary_deployed) {
    const int peak = peak_canary_weight(spec, v.canary_percent);
    add_serving(ctx, {Variant::kCanary, *v.canary, replicas_for_share(total_now, peak), ""},
                options, true);
  }
  if (v.shadow) {
    add_serving(ctx,
                {Variant::kShadow, *v.shadow, replicas_for_share(total_now, v.shadow_mirror), ""},
                options, true);
  }
  if (auto hpa = desired_stable_hpa(md, spec)) ctx.plan.apply.push_back(std::move(*hpa));

  // The router's configuration follows the rollout alone (not whether the router is ready), so
  // it does not change, and roll the router, while the router starts.
  RouterSplit router_split;
  router_split.stable_weight = 100 - canary_weight;
  if (canary_deployed) router_split.canary_weight = canary_weight;
  if (v.shadow) router_split.shadow_mirror = v.shadow_mirror;
  if (with_router) {
    json config_map = desired_router_config_map(md, router_split);
    const std::string hash = support::short_hash(config_map["data"].dump());
    if (retiring) {
      config_map["metadata"]["annotations"][std::string(kRouterRetireAnnotation)] = retire_after;
    }
    for (const auto& [annotation, until] : variant_retire) {
      config_map["metadata"]["annotations"][std::string(annotation)] = until;
    }
    ctx.plan.apply.push_back(std::move(config_map));
    ctx.plan.apply.push_back(desired_router_deployment(md, spec, hash, options));
  }
  ctx.plan.apply.push_back(
      desired_endpoint_service(md, through_router ? Variant::kRouter : Variant::kStable));
  remove_unwanted(ctx);
  if (!through_router) canary_weight = 0;  // What the status reports: no split reaches anyone.

  const json* stable_dep =
      find_child(observed, "Deployment", variant_name(ctx.name, Variant::kStable));
  status["stable"]["readyReplicas"] = ready_replicas(stable_dep);
  status["traffic"] = {{"stable", 100 - canary_weight},
                       {"canary", canary_weight},
                       {"shadowMirror", v.shadow && through_router ? v.shadow_mirror : 0}};
  shadow_status(ctx, v);
  ready_condition(ctx, v);
  return std::move(ctx.plan);
}

}  // namespace kiln::controllers::modeldeployment
