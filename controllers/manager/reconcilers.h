#pragma once

// The reconcilers of kiln-manager: each reads one parent and its children from the informer
// caches, asks its kind's pure plan what the world should be, and has the Executor carry it out.
// They hold no state of their own between reconciles (level-based), so any replica that becomes
// leader continues where the last one stopped.

#include <map>
#include <memory>
#include <mutex>

#include "common/metrics.h"
#include "controllers/datapipeline/job.h"
#include "controllers/driftmonitor/evaluate.h"
#include "controllers/manager/executor.h"
#include "controllers/modeldeployment/analysis.h"
#include "controllers/modeldeployment/serving.h"
#include "controllers/trainingjob/job.h"
#include "kube/controller.h"
#include "kube/informer.h"
#include "kube/manager.h"

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

// Starts, on `manager`, the informers of the kinds in kinds.h: Kiln's four whole, the children
// (label app.kubernetes.io/managed-by=kiln) without managedFields, pods in the compact store.
Caches make_caches(kube::Manager& manager);
// Where the executor finds a child's cached copy (Jobs, Services, Deployments, ConfigMaps, PVCs,
// HPAs, TrainingJobs) in `caches`.
ObservedLookup child_lookup(const Caches& caches);
// Maps a child to the key "<ns>/<value of its label `label`>" of its parent.
std::function<std::vector<std::string>(const nlohmann::json&)> parent_by_label(std::string label);

// Cached objects in namespace `ns` carrying label `key=value`.
std::vector<nlohmann::json> labelled(const kube::Informer& informer, const std::string& ns,
                                     const std::string& key, const std::string& value);

class TrainingJobReconciler : public kube::Reconciler {
 public:
  TrainingJobReconciler(const Caches& caches, Executor& executor, trainingjob::BuildOptions options)
      : caches_(caches), executor_(executor), options_(std::move(options)) {}
  Result<kube::Requeue> reconcile(const kube::ObjectKey& key) override;
  // Registers this reconciler on `manager` with its sources (setup.cc); call once, before run().
  kube::Controller& setup(kube::Manager& manager, kube::ControllerOptions options);

 private:
  Caches caches_;
  Executor& executor_;
  trainingjob::BuildOptions options_;
};

// DataPipeline: its Jobs, their Pods and the run workspaces (label kiln.dev/pipeline).
class DataPipelineReconciler : public kube::Reconciler {
 public:
  DataPipelineReconciler(const Caches& caches, Executor& executor,
                         datapipeline::BuildOptions options)
      : caches_(caches), executor_(executor), options_(std::move(options)) {}
  Result<kube::Requeue> reconcile(const kube::ObjectKey& key) override;
  // Registers this reconciler on `manager` with its sources (setup.cc); call once, before run().
  kube::Controller& setup(kube::Manager& manager, kube::ControllerOptions options);

 private:
  Caches caches_;
  Executor& executor_;
  datapipeline::BuildOptions options_;
};

// ModelDeployment: its Deployments, Services, router ConfigMap and HPA (label
// kiln.dev/modeldeployment), the TrainingJobs its models come from, and, when an analysis is
// due, the metrics of its router pods (GET :8080/metrics on each Ready router pod); the plan
// measures the window from the counters status keeps (analysis.h measure_window).
class ModelDeploymentReconciler : public kube::Reconciler {
 public:
  ModelDeploymentReconciler(const Caches& caches, Executor& executor,
                            modeldeployment::BuildOptions options)
      : caches_(caches), executor_(executor), options_(std::move(options)) {}
  Result<kube::Requeue> reconcile(const kube::ObjectKey& key) override;
  // Registers this reconciler on `manager` with its sources (setup.cc); call once, before run().
  kube::Controller& setup(kube::Manager& manager, kube::ControllerOptions options);

 private:
  std::optional<modeldeployment::RouterSnapshot> scrape_routers(const kube::ObjectKey& key);

  Caches caches_;
  Executor& executor_;
  modeldeployment::BuildOptions options_;
};

// DriftMonitor: its target ModelDeployment, its retraining TrainingJobs (label
// kiln.dev/driftmonitor) and, when an evaluation is due, the profiles of the target's Ready
// stable pods: GET /v2/models/<md>/profile (live traffic) and /v2/models/<md>/profile/baseline
// (the baseline the pods were started with: the stable model's profileUri). Publishes
// kiln_driftmonitor_feature_{statistic,p_value,drifted}{namespace,monitor,feature}.
class DriftMonitorReconciler : public kube::Reconciler {
 public:
  DriftMonitorReconciler(const Caches& caches, Executor& executor, metrics::Registry& registry);
  Result<kube::Requeue> reconcile(const kube::ObjectKey& key) override;
  // Registers this reconciler on `manager` with its sources (setup.cc); call once, before run().
  kube::Controller& setup(kube::Manager& manager, kube::ControllerOptions options);

 private:
  // Removes the monitor's per-feature series, except those of `kept`'s evaluated features (all of
  // them when `kept` is null).
  void forget_series(const kube::ObjectKey& key, const driftmonitor::Evaluation* kept);

  Caches caches_;
  Executor& executor_;
  metrics::Family<metrics::Gauge>& statistic_;
  metrics::Family<metrics::Gauge>& p_value_;
  metrics::Family<metrics::Gauge>& drifted_;
};

// Cached objects of `informer` in namespace `ns` whose `path` (a JSON pointer such as
// /spec/target/modelDeploymentRef/name) equals `value`, as keys "<ns>/<name>".
std::vector<std::string> keys_referring(const kube::Informer& informer, const std::string& ns,
                                        const nlohmann::json::json_pointer& path,
                                        const std::string& value);

}  // namespace kiln::controllers::manager
