// How kiln-manager is assembled: the informers every reconciler reads (make_caches) and each
// reconciler's sources — its primary kind, the children it owns, and the objects mapped to it —
// declared next to it, as controller-runtime's SetupWithManager (For / Owns / Watches).

#include "controllers/datapipeline/names.h"
#include "controllers/manager/kinds.h"
#include "controllers/manager/reconcilers.h"
#include "controllers/modeldeployment/names.h"
#include "controllers/trainingjob/names.h"

namespace kiln::controllers::manager {

using nlohmann::json;

Caches make_caches(kube::Manager& manager) {
  const kube::InformerOptions strip{.transform = kube::strip_managed_fields};
  // Children carry this label (common_labels); nothing else of the cluster is cached.
  const kube::WatcherOptions ours{.label_selector = "app.kubernetes.io/managed-by=kiln"};
  // Pods are the most numerous and the least read (a few per reconcile, by label): kept compact
  // (zstd-compressed MessagePack, ~0.4 KB a pod against ~19 KB parsed; kube/store.h).
  const kube::InformerOptions compact{.transform = kube::strip_managed_fields,
                                      .compact_store = true};
  Caches caches;
  caches.trainingjobs = &manager.informer(kTrainingJobs, {}, strip);
  caches.datapipelines = &manager.informer(kDataPipelines, {}, strip);
  caches.modeldeployments = &manager.informer(kModelDeployments, {}, strip);
  caches.driftmonitors = &manager.informer(kDriftMonitors, {}, strip);
  caches.jobs = &manager.informer(kJobs, ours, strip);
  caches.pods = &manager.informer(kPods, ours, compact);
  caches.services = &manager.informer(kServices, ours, strip);
  caches.deployments = &manager.informer(kDeployments, ours, strip);
  caches.configmaps = &manager.informer(kConfigMaps, ours, strip);
  caches.pvcs = &manager.informer(kClaims, ours, strip);
  caches.hpas = &manager.informer(kHpas, ours, strip);
  return caches;
}

ObservedLookup child_lookup(const Caches& caches) {
  const std::map<std::string, kube::Informer*> children{
      {kJobs.resource, caches.jobs},          {kServices.resource, caches.services},
      {kDeployments.resource, caches.deployments}, {kConfigMaps.resource, caches.configmaps},
      {kClaims.resource, caches.pvcs},        {kHpas.resource, caches.hpas},
      {kTrainingJobs.resource, caches.trainingjobs}};
  return [children](const kube::ResourceRef& r, const std::string& ns,
                    const std::string& name) -> kube::ObjectPtr {
    auto it = children.find(r.resource);
    if (it == children.end() || it->second == nullptr) return nullptr;
    return it->second->store().get(ns.empty() ? name : ns + "/" + name);
  };
}

std::function<std::vector<std::string>(const json&)> parent_by_label(std::string label) {
  return [label](const json& child) -> std::vector<std::string> {
    const auto& meta = child["metadata"];
    auto labels = meta.value("labels", json::object());
    if (!labels.contains(label) || !labels[label].is_string()) return {};
    return {meta.value("namespace", "") + "/" + labels[label].get<std::string>()};
  };
}

namespace {

// The keys of the objects of `informer` whose field at any of `paths` names the object mapped.
std::function<std::vector<std::string>(const json&)> referring(
    const kube::Informer& informer, std::vector<std::string> paths) {
  return [&informer, paths](const json& object) {
    const auto& meta = object["metadata"];
    const std::string ns = meta.value("namespace", ""), name = meta.value("name", "");
    std::vector<std::string> keys;
    for (const auto& p : paths) {
      for (auto& k : keys_referring(informer, ns, json::json_pointer(p), name)) {
        keys.push_back(std::move(k));
      }
    }
    return keys;
  };
}

}  // namespace

kube::Controller& TrainingJobReconciler::setup(kube::Manager& manager,
                                               kube::ControllerOptions options) {
  auto& c = manager.controller("trainingjob", *this, options);
  c.watch_primary(*caches_.trainingjobs);
  c.watch_owned(*caches_.jobs, "TrainingJob");
  c.watch_owned(*caches_.services, "TrainingJob");
  c.watch_mapped(*caches_.pods, parent_by_label(trainingjob::kLabel));
  return c;
}

kube::Controller& DataPipelineReconciler::setup(kube::Manager& manager,
                                                kube::ControllerOptions options) {
  auto& c = manager.controller("datapipeline", *this, options);
  c.watch_primary(*caches_.datapipelines);
  c.watch_owned(*caches_.jobs, "DataPipeline");
  c.watch_owned(*caches_.pvcs, "DataPipeline");
  c.watch_mapped(*caches_.pods, parent_by_label("kiln.dev/pipeline"));
  return c;
}

kube::Controller& ModelDeploymentReconciler::setup(kube::Manager& manager,
                                                   kube::ControllerOptions options) {
  auto& c = manager.controller("modeldeployment", *this, options);
  c.watch_primary(*caches_.modeldeployments);
  for (auto* owned : {caches_.deployments, caches_.services, caches_.configmaps, caches_.hpas}) {
    c.watch_owned(*owned, "ModelDeployment");
  }
  // A serving pod whose storage init container fails (ModelFetchFailed) reaches its parent.
  c.watch_mapped(*caches_.pods, parent_by_label("kiln.dev/modeldeployment"));
  // A DriftMonitor pinning (or no longer pinning, or deleted) reaches its target.
  c.watch_mapped(*caches_.driftmonitors, [](const json& dm) -> std::vector<std::string> {
    const json::json_pointer target("/spec/target/modelDeploymentRef/name");
    if (!dm.contains(target) || !dm.at(target).is_string()) return {};
    return {dm["metadata"].value("namespace", "") + "/" + dm.at(target).get<std::string>()};
  });
  // A TrainingJob's new status.model reaches the ModelDeployments naming it.
  c.watch_mapped(*caches_.trainingjobs,
                 referring(*caches_.modeldeployments,
                           {"/spec/model/fromTrainingJob", "/spec/canary/model/fromTrainingJob",
                            "/spec/shadow/model/fromTrainingJob"}));
  return c;
}

kube::Controller& DriftMonitorReconciler::setup(kube::Manager& manager,
                                                kube::ControllerOptions options) {
  auto& c = manager.controller("driftmonitor", *this, options);
  c.watch_primary(*caches_.driftmonitors);
  c.watch_owned(*caches_.trainingjobs, "DriftMonitor");
  // A pinned baseline's TrainingJob reporting its profile reaches the monitors naming it.
  c.watch_mapped(*caches_.trainingjobs,
                 referring(*caches_.driftmonitors, {"/spec/baseline/fromTrainingJob"}));
  // The target's status (a promotion, a new canary) reaches the monitors watching it.
  c.watch_mapped(*caches_.modeldeployments,
                 referring(*caches_.driftmonitors, {"/spec/target/modelDeploymentRef/name"}));
  return c;
}

}  // namespace kiln::controllers::manager
