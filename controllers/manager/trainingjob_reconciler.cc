#include "controllers/manager/reconcilers.h"
#include "controllers/trainingjob/names.h"
#include "controllers/trainingjob/plan.h"

namespace kiln::controllers::manager {

using nlohmann::json;

std::vector<json> labelled(const kube::Informer& informer, const std::string& ns,
                           const std::string& key, const std::string& value) {
  std::vector<json> out;
  for (const auto& object : informer.store().by_index(kube::kIndexLabel, key + "=" + value)) {
    if (object->at("metadata").value("namespace", "") == ns) out.push_back(*object);
  }
  return out;
}

Result<kube::Requeue> TrainingJobReconciler::reconcile(const kube::ObjectKey& key) {
  auto tj = caches_.trainingjobs->store().get(key.str());
  if (!tj) return kube::Requeue{};  // Deleted: its children go with it (ownerReferences).
  trainingjob::Observed observed;
  observed.jobs = labelled(*caches_.jobs, key.ns, trainingjob::kLabel, key.name);
  observed.pods = labelled(*caches_.pods, key.ns, trainingjob::kLabel, key.name);
  observed.services = labelled(*caches_.services, key.ns, trainingjob::kLabel, key.name);
  auto plan =
      trainingjob::plan_trainingjob(*tj, observed, std::chrono::system_clock::now(), options_);
  return executor_.execute(*tj, kTrainingJobs, plan);
}

}  // namespace kiln::controllers::manager
