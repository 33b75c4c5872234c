// The DataPipeline, ModelDeployment and DriftMonitor reconcilers: read the cache (and, when a
// plan needs a measurement, the pods), plan, execute.

#include <algorithm>

#include "controllers/datapipeline/names.h"
#include "controllers/datapipeline/plan.h"
#include "controllers/driftmonitor/plan.h"
#include "controllers/manager/pod_http.h"
#include "controllers/manager/reconcilers.h"
#include "controllers/modeldeployment/names.h"
#include "controllers/modeldeployment/plan.h"
#include "kube/informer.h"

namespace kiln::controllers::manager {

using nlohmann::json;
namespace api = kiln::api::v1alpha1;

namespace {

constexpr const char* kModelDeploymentLabel = "kiln.dev/modeldeployment";
constexpr const char* kVariantLabel = "kiln.dev/variant";
constexpr const char* kDriftMonitorLabel = "kiln.dev/driftmonitor";
constexpr std::chrono::milliseconds kPodTimeout{2000};

void append(std::vector<json>& out, std::vector<json> more) {
  for (auto& o : more) out.push_back(std::move(o));
}

// The pods of ModelDeployment `md` serving as `variant`.
std::vector<json> variant_pods(const Caches& caches, const std::string& ns, const std::string& md,
                               const std::string& variant) {
  std::vector<json> out;
  for (auto& pod : labelled(*caches.pods, ns, kModelDeploymentLabel, md)) {
    const auto labels = pod["metadata"].value("labels", json::object());
    if (labels.value(kVariantLabel, "") == variant) out.push_back(std::move(pod));
  }
  return out;
}

}  // namespace

std::vector<std::string> keys_referring(const kube::Informer& informer, const std::string& ns,
                                        const json::json_pointer& path, const std::string& value) {
  std::vector<std::string> keys;
  for (const auto& object : informer.store().by_index(kube::kIndexNamespace, ns)) {
    if (object->contains(path) && object->at(path).is_string() &&
        object->at(path).get<std::string>() == value) {
      keys.push_back(ns + "/" + object->at("metadata").value("name", ""));
    }
  }
  return keys;
}

// ---- DataPipeline ----------------------------------------------------------------------------

Result<kube::Requeue> DataPipelineReconciler::reconcile(const kube::ObjectKey& key) {
  auto pipeline = caches_.datapipelines->store().get(key.str());
  if (!pipeline) return kube::Requeue{};  // Deleted: its runs go with it (ownerReferences).
  datapipeline::Observed observed;
  observed.jobs = labelled(*caches_.jobs, key.ns, datapipeline::kPipelineLabel, key.name);
  observed.pods = labelled(*caches_.pods, key.ns, datapipeline::kPipelineLabel, key.name);
  observed.claims = labelled(*caches_.pvcs, key.ns, datapipeline::kPipelineLabel, key.name);
  auto plan = datapipeline::plan_datapipeline(*pipeline, observed, std::chrono::system_clock::now(),
                                              options_);
  return executor_.execute(*pipeline, kDataPipelines, plan);
}

// ---- ModelDeployment -------------------------------------------------------------------------

std::optional<modeldeployment::RouterSnapshot> ModelDeploymentReconciler::scrape_routers(
    const kube::ObjectKey& key) {
  const auto ips = ready_pod_ips(variant_pods(caches_, key.ns, key.name, "router"));
  auto answers = get_from_pods(ips, modeldeployment::kContainerPort, "/metrics", kPodTimeout);
  for (const auto& failure : answers.failures) {
    log::warn("router metrics not read", {{"modelDeployment", key.str()}, {"error", failure}});
  }
  std::optional<modeldeployment::RouterSnapshot> merged;
  for (const auto& body : answers.bodies) {
    auto snapshot = modeldeployment::parse_router_metrics(body);
    if (!snapshot.ok()) {
      log::warn("router metrics not parsed",
                {{"modelDeployment", key.str()}, {"error", snapshot.error().message()}});
      continue;
    }
    merged = merged ? modeldeployment::merge_snapshots(*merged, *snapshot) : *snapshot;
  }
  return merged;
}

Result<kube::Requeue> ModelDeploymentReconciler::reconcile(const kube::ObjectKey& key) {
  auto md = caches_.modeldeployments->store().get(key.str());
  if (!md) return kube::Requeue{};
  modeldeployment::Observed observed;
  for (auto* informer : {caches_.deployments, caches_.services, caches_.configmaps, caches_.hpas}) {
    if (informer)
      append(observed.children, labelled(*informer, key.ns, kModelDeploymentLabel, key.name));
  }
  observed.pods = labelled(*caches_.pods, key.ns, kModelDeploymentLabel, key.name);
  // A spec that does not decode is reported by the plan (Ready=False, InvalidSpec).
  const auto spec = api::parse_model_deployment_spec(*md);
  std::vector<const api::ModelSource*> models;
  if (spec.ok()) {
    models.push_back(&spec->model);
    if (spec->canary) models.push_back(&spec->canary->model);
    if (spec->shadow) models.push_back(&spec->shadow->model);
  }
  for (const api::ModelSource* model : models) {
    if (!model->from_training_job) continue;
    const std::string& job = *model->from_training_job;
    auto tj = caches_.trainingjobs->store().get(key.ns + "/" + job);
    if (tj && tj->contains("status") && (*tj)["status"].contains("model")) {
      json model = (*tj)["status"]["model"];
      // The job's storage block reaches its remote output the same way (model.h).
      if (const auto storage = tj->find("spec"); storage != tj->end() && storage->contains("storage")) {
        model["storage"] = (*storage)["storage"];
      }
      observed.training_models[job] = std::move(model);
    }
  }
  // A DriftMonitor's pinned baseline counts while that monitor exists and still targets this
  // ModelDeployment with a baseline of its own (a deleted monitor's pin lapses).
  const auto pinned = support::annotation(*md, modeldeployment::kBaselineProfileAnnotation);
  const auto from = support::annotation(*md, modeldeployment::kBaselineFromAnnotation);
  if (pinned && from) {
    if (auto dm = caches_.driftmonitors->store().get(key.ns + "/" + *from)) {
      auto dm_spec = api::parse_drift_monitor_spec(*dm);
      if (dm_spec.ok() && dm_spec->target.model_deployment_ref.name == key.name &&
          dm_spec->baseline) {
        observed.pinned_baseline = *pinned;
      }
    }
  }
  const auto now = std::chrono::system_clock::now();
  // The plan measures the window from the counters status keeps (measure_window).
  if (spec.ok() && modeldeployment::analysis_due(*md, *spec, now)) {
    observed.routers = scrape_routers(key);
  }
  auto plan = modeldeployment::plan_modeldeployment(*md, spec, observed, now, options_);
  return executor_.execute(*md, kModelDeployments, plan);
}

// ---- DriftMonitor ----------------------------------------------------------------------------

DriftMonitorReconciler::DriftMonitorReconciler(const Caches& caches, Executor& executor,
                                               metrics::Registry& registry)
    : caches_(caches),
      executor_(executor),
      statistic_(registry.gauge("kiln_driftmonitor_feature_statistic",
                                "Drift statistic of a feature at the last evaluation (PSI, KS D, "
                                "Jensen-Shannon distance, Wasserstein distance, ...)",
                                {"namespace", "monitor", "feature", "test"})),
      p_value_(registry.gauge("kiln_driftmonitor_feature_p_value",
                              "p-value of a feature's test at the last evaluation (after "
                              "correction; NaN for distance tests)",
                              {"namespace", "monitor", "feature", "test"})),
      drifted_(registry.gauge("kiln_driftmonitor_feature_drifted",
                              "1 when the feature drifted at the last evaluation, else 0",
                              {"namespace", "monitor", "feature"})) {}

void DriftMonitorReconciler::forget_series(const kube::ObjectKey& key,
                                           const driftmonitor::Evaluation* kept) {
  // Label values: namespace, monitor, feature[, test].
  auto stale = [&](const std::vector<std::string>& v) {
    if (v[0] != key.ns || v[1] != key.name) return false;
    if (kept == nullptr) return true;
    return std::none_of(kept->features.begin(), kept->features.end(), [&](const auto& f) {
      return f.error.empty() && f.feature == v[2] && (v.size() < 4 || f.test == v[3]);
    });
  };
  statistic_.remove_if(stale);
  p_value_.remove_if(stale);
  drifted_.remove_if(stale);
}

Result<kube::Requeue> DriftMonitorReconciler::reconcile(const kube::ObjectKey& key) {
  auto dm = caches_.driftmonitors->store().get(key.str());
  if (!dm) {
    forget_series(key, nullptr);  // Deleted: its features' series go with it.
    return kube::Requeue{};
  }
  // A spec that does not decode is reported by the plan (Ready=False, InvalidSpec).
  const auto spec = api::parse_drift_monitor_spec(*dm);
  const std::string target = spec.ok() ? spec->target.model_deployment_ref.name : "";
  driftmonitor::Observed observed;
  if (auto md = caches_.modeldeployments->store().get(key.ns + "/" + target)) observed.target = *md;
  if (spec.ok() && spec->baseline && spec->baseline->from_training_job) {
    if (auto tj = caches_.trainingjobs->store().get(key.ns + "/" +
                                                    *spec->baseline->from_training_job)) {
      observed.baseline_job = *tj;
    }
  }
  observed.training_jobs = labelled(*caches_.trainingjobs, key.ns, kDriftMonitorLabel, key.name);
  const auto now = std::chrono::system_clock::now();
  if (observed.target && spec.ok() && driftmonitor::evaluation_due(*dm, *spec, now)) {
    // With a pinned baseline, only the stable pods that load it (their template's
    // kiln.dev/baseline-profile): pods still rolling to it would answer with the old one.
    const auto wanted = driftmonitor::baseline_uri(*spec, observed.baseline_job);
    std::vector<json> pods;
    for (auto& pod : variant_pods(caches_, key.ns, target, "stable")) {
      const auto loaded = support::annotation(pod, modeldeployment::kBaselineProfileAnnotation);
      if (!wanted.ok() || wanted->empty() || loaded == *wanted) pods.push_back(std::move(pod));
    }
    const auto ips = ready_pod_ips(pods);
    const std::string model_path = "/v2/models/" + target + "/profile";
    // (The CRD's pattern admits only well-formed durations; a malformed one reads the pods'
    // whole window.)
    const auto live_path = driftmonitor::live_profile_path(*spec, target);
    auto live = get_from_pods(ips, modeldeployment::kContainerPort,
                              live_path.ok() ? *live_path : model_path, kPodTimeout);
    for (const auto& body : live.bodies) {
      auto parsed = json::parse(body, nullptr, false);
      if (!parsed.is_discarded()) observed.live_profiles.push_back(std::move(parsed));
    }
    for (const auto& failure : live.failures) {
      log::warn("live profile not read", {{"driftMonitor", key.str()}, {"error", failure}});
    }
    auto baseline =
        get_from_pods(ips, modeldeployment::kContainerPort, model_path + "/baseline", kPodTimeout);
    for (const auto& body : baseline.bodies) {
      auto parsed = json::parse(body, nullptr, false);
      if (!parsed.is_discarded()) {
        observed.baseline = std::move(parsed);
        break;
      }
    }
  }
  auto plan = driftmonitor::plan_driftmonitor(*dm, spec, observed, now);
  if (plan.evaluation) {
    forget_series(key, &*plan.evaluation);  // Features no longer evaluated (or now failing).
    for (const auto& f : plan.evaluation->features) {
      if (!f.error.empty()) continue;
      statistic_.with({key.ns, key.name, f.feature, f.test}).set(f.statistic);
      p_value_.with({key.ns, key.name, f.feature, f.test})
          .set(f.p_value ? *f.p_value : std::numeric_limits<double>::quiet_NaN());
      drifted_.with({key.ns, key.name, f.feature}).set(f.drifted ? 1 : 0);
    }
  }
  return executor_.execute(*dm, kDriftMonitors, plan);
}

}  // namespace kiln::controllers::manager
