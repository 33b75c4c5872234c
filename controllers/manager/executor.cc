#include "controllers/manager/executor.h"

#include <map>

#include "common/log.h"
#include "kube/api_error.h"
#include "kube/object_helpers.h"

namespace kiln::controllers::manager {

using nlohmann::json;

Result<kube::ResourceRef> resource_for(const std::string& api_version, const std::string& kind) {
  static const std::map<std::pair<std::string, std::string>, kube::ResourceRef> kKnown{
      {{"v1", "Pod"}, {"", "v1", "pods", true}},
      {{"v1", "Service"}, {"", "v1", "services", true}},
      {{"v1", "ConfigMap"}, {"", "v1", "configmaps", true}},
      {{"v1", "Secret"}, {"", "v1", "secrets", true}},
      {{"v1", "PersistentVolumeClaim"}, {"", "v1", "persistentvolumeclaims", true}},
      {{"batch/v1", "Job"}, {"batch", "v1", "jobs", true}},
      {{"apps/v1", "Deployment"}, {"apps", "v1", "deployments", true}},
      {{"autoscaling/v2", "HorizontalPodAutoscaler"},
       {"autoscaling", "v2", "horizontalpodautoscalers", true}},
      {{"kiln.dev/v1alpha1", "DataPipeline"}, {"kiln.dev", "v1alpha1", "datapipelines", true}},
      {{"kiln.dev/v1alpha1", "TrainingJob"}, {"kiln.dev", "v1alpha1", "trainingjobs", true}},
      {{"kiln.dev/v1alpha1", "ModelDeployment"},
       {"kiln.dev", "v1alpha1", "modeldeployments", true}},
      {{"kiln.dev/v1alpha1", "DriftMonitor"}, {"kiln.dev", "v1alpha1", "driftmonitors", true}},
  };
  auto it = kKnown.find({api_version, kind});
  if (it == kKnown.end()) {
    return Error::invalid_input("no resource known for " + api_version + " " + kind);
  }
  return it->second;
}

Result<kube::Requeue> Executor::execute(const json& parent,
                                        const kube::ResourceRef& parent_resource,
                                        const Actions& actions) {
  for (const auto& object : actions.apply) {
    KILN_TRY(auto r, resource_for(object.value("apiVersion", ""), object.value("kind", "")));
    auto applied = kube::apply_desired(client_, r, object, kFieldManager);
    if (!applied.ok()) {
      return applied.error().with_context("apply " + object.value("kind", "") + " " +
                                          object["metadata"].value("name", ""));
    }
  }
  for (const auto& d : actions.remove) {
    KILN_TRY(auto r, resource_for(d.api_version, d.kind));
    auto removed = client_.remove(r, d.ns, d.name, {.propagation_policy = d.propagation});
    if (!removed.ok() && !kube::is_not_found(removed.error())) {
      return removed.error().with_context("delete " + d.kind + " " + d.name);
    }
  }
  for (const auto& p : actions.patches) {
    KILN_TRY(auto r, resource_for(p.api_version, p.kind));
    auto patched = client_.merge_patch(r, p.ns, p.name, p.patch);
    if (!patched.ok()) return patched.error().with_context("patch " + p.kind + " " + p.name);
  }
  if (!actions.status.is_null() && actions.status != parent.value("status", json::object())) {
    auto updated = update_status(parent, parent_resource, actions.status);
    if (!updated.ok()) return updated.error();
  }
  for (const auto& e : actions.events) {
    auto recorded = events_.record(parent, e.type, e.reason, e.message);
    if (!recorded.ok()) {  // An Event lost is not worth a retry of the whole reconcile.
      log::warn("event not recorded",
                {{"reason", e.reason}, {"error", recorded.error().message()}});
    }
  }
  if (actions.requeue_after) return kube::Requeue::after(*actions.requeue_after);
  return kube::Requeue{};
}

Result<void> Executor::update_status(const json& parent, const kube::ResourceRef& r,
                                     const json& status) {
  json object = {{"apiVersion", parent["apiVersion"]},
                 {"kind", parent["kind"]},
                 {"metadata",
                  {{"name", parent["metadata"]["name"]},
                   {"namespace", parent["metadata"].value("namespace", "")},
                   {"resourceVersion", parent["metadata"].value("resourceVersion", "")}}},
                 {"status", status}};
  auto updated = client_.update_status(r, parent["metadata"].value("namespace", ""), object);
  if (!updated.ok()) return updated.error().with_context("update status");
  return Ok();
}

}  // namespace kiln::controllers::manager
