#pragma once

// The one table of the kinds kiln-manager reads and writes: Kiln's four and the children they
// own, each with its apiVersion, kind and API resource. main builds its informers from it, the
// reconcilers name their parents with it, and the executor finds the resource of every object a
// plan applies, deletes or patches (resource_for). Constant data; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "kube/resource.h"

namespace kiln::controllers::manager {

struct KindInfo {
  std::string api_version;  // "kiln.dev/v1alpha1", "apps/v1", "v1", ...
  std::string kind;         // "ModelDeployment", "Deployment", ...
  kube::ResourceRef resource;
};

inline const kube::ResourceRef kDataPipelines{"kiln.dev", "v1alpha1", "datapipelines", true};
inline const kube::ResourceRef kTrainingJobs{"kiln.dev", "v1alpha1", "trainingjobs", true};
inline const kube::ResourceRef kModelDeployments{"kiln.dev", "v1alpha1", "modeldeployments", true};
inline const kube::ResourceRef kDriftMonitors{"kiln.dev", "v1alpha1", "driftmonitors", true};
inline const kube::ResourceRef kJobs{"batch", "v1", "jobs", true};
inline const kube::ResourceRef kPods{"", "v1", "pods", true};
inline const kube::ResourceRef kServices{"", "v1", "services", true};
inline const kube::ResourceRef kDeployments{"apps", "v1", "deployments", true};
inline const kube::ResourceRef kConfigMaps{"", "v1", "configmaps", true};
inline const kube::ResourceRef kSecrets{"", "v1", "secrets", true};
inline const kube::ResourceRef kClaims{"", "v1", "persistentvolumeclaims", true};
inline const kube::ResourceRef kHpas{"autoscaling", "v2", "horizontalpodautoscalers", true};

// Every kind above, Kiln's four first.
const std::vector<KindInfo>& kinds();

// The resource of objects of `api_version` and `kind`. invalid-input for a kind not in the table
// (a plan naming one is a bug that retrying cannot fix).
Result<kube::ResourceRef> resource_for(const std::string& api_version, const std::string& kind);

}  // namespace kiln::controllers::manager
