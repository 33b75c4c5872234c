#include "controllers/manager/kinds.h"

namespace kiln::controllers::manager {

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> kAll{
      {"kiln.dev/v1alpha1", "DataPipeline", kDataPipelines},
      {"kiln.dev/v1alpha1", "TrainingJob", kTrainingJobs},
      {"kiln.dev/v1alpha1", "ModelDeployment", kModelDeployments},
      {"kiln.dev/v1alpha1", "DriftMonitor", kDriftMonitors},
      {"batch/v1", "Job", kJobs},
      {"v1", "Pod", kPods},
      {"v1", "Service", kServices},
      {"apps/v1", "Deployment", kDeployments},
      {"v1", "ConfigMap", kConfigMaps},
      {"v1", "Secret", kSecrets},
      {"v1", "PersistentVolumeClaim", kClaims},
      {"autoscaling/v2", "HorizontalPodAutoscaler", kHpas},
  };
  return kAll;
}

Result<kube::ResourceRef> resource_for(const std::string& api_version, const std::string& kind) {
  for (const auto& k : kinds()) {
    if (k.api_version == api_version && k.kind == kind) return k.resource;
  }
  return Error::invalid_input("no resource known for " + api_version + " " + kind);
}

}  // namespace kiln::controllers::manager
