#pragma once

// The reconcilers of kiln-manager: each reads one parent and its children from the informer
// caches, asks its kind's pure plan what the world should be, and has the Executor carry it out.
// They hold no state of their own between reconciles (level-based), so any replica that becomes
// leader continues where the last one stopped.

#include <memory>

#include "controllers/manager/executor.h"
#include "controllers/trainingjob/job.h"
#include "kube/controller.h"
#include "kube/informer.h"

namespace kiln::controllers::manager {

// The informers every reconciler may read (owned by the kube::Manager).
struct Caches {
  kube::Informer* trainingjobs = nullptr;
  kube::Informer* modeldeployments = nullptr;
  kube::Informer* driftmonitors = nullptr;
  kube::Informer* datapipelines = nullptr;
  kube::Informer* jobs = nullptr;
  kube::Informer* pods = nullptr;
  kube::Informer* services = nullptr;
  kube::Informer* deployments = nullptr;
  kube::Informer* configmaps = nullptr;
  kube::Informer* pvcs = nullptr;
  kube::Informer* hpas = nullptr;
};

// Cached objects in namespace `ns` carrying label `key=value`.
std::vector<nlohmann::json> labelled(const kube::Informer& informer, const std::string& ns,
                                     const std::string& key, const std::string& value);

class TrainingJobReconciler : public kube::Reconciler {
 public:
  TrainingJobReconciler(const Caches& caches, Executor& executor, trainingjob::BuildOptions options)
      : caches_(caches), executor_(executor), options_(std::move(options)) {}
  Result<kube::Requeue> reconcile(const kube::ObjectKey& key) override;

 private:
  Caches caches_;
  Executor& executor_;
  trainingjob::BuildOptions options_;
};

}  // namespace kiln::controllers::manager
