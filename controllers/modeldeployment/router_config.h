#pragma once

// The router of a ModelDeployment (the public endpoint) and the contract between the operator and
// `kiln-runtime route`, plus the stable variant's optional HorizontalPodAutoscaler.
//
// Children:
//   ConfigMap  <md>-router   data["config.json"]: the routing configuration below
//   Deployment <md>          kiln-runtime route --config /etc/kiln/router/config.json --port 8080
//                            --grpc-port 8081 (ports "http" 8080 and "grpc" 8081)
//                            (the ConfigMap mounted read-only at /etc/kiln/router); the pod
//                            template carries kiln.dev/router-config-hash, so every change of the
//                            configuration rolls the router (weights apply within one rollout, not
//                            after the kubelet's ConfigMap sync period).
//   Service    <md>          ClusterIP, port 80 -> "http" (8080): http://<md>.<ns>.svc:80, and
//                            port 8081 "grpc" (appProtocol grpc) -> "grpc": <md>.<ns>.svc:8081
//
// ROUTING CONFIGURATION (config.json): the format of `kiln-runtime route --config`
// (src/cmd/runtime_route_command.cc, runtime::RouterConfig::from_json in src/runtime/router.h):
//
//   {
//     "stable": {"url": "http://<md>-stable.<ns>.svc:80", "grpcUrl": "<md>-stable.<ns>.svc:8081"},
//     "canary": {"url": "http://<md>-canary.<ns>.svc:80",                    // when a canary
//                "grpcUrl": "<md>-canary.<ns>.svc:8081", "weight": 10},
//     "shadow": {"url": "http://<md>-shadow.<ns>.svc:80",                    // when a shadow
//                "grpcUrl": "<md>-shadow.<ns>.svc:8081", "mirrorPercent": 100},
//     "stickyHeader": "x-request-key"
//   }
//
// The router sends a request to the canary with probability weight/100 (sticky by the header's
// value), else to stable; mirrors mirrorPercent of stable-routed infer requests to the shadow
// without waiting; compares canary and shadow answers with stable's; and exports the metrics
// analysis.h reads. "grpcUrl" is each variant Service's gRPC port: the router's gRPC side
// (src/runtime/grpc_router.h) splits, mirrors and compares OIP v2 gRPC calls the same way, into the
// same metrics. A rolled-back canary stays listed with weight 0. The router re-reads its file
// on SIGHUP only, so the operator rolls it through the config hash instead (above). The router
// forwards every path, /v2/health/* included, so its probes are TCP checks of the port.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controllers/modeldeployment/names.h"
#include "controllers/modeldeployment/serving.h"

namespace kiln::controllers::modeldeployment {

// The traffic split the router applies.
struct RouterSplit {
  int stable_weight = 100;
  std::optional<int> canary_weight;  // Set when a canary Service exists.
  std::optional<int> shadow_mirror;  // Set when a shadow Service exists.
  std::string sticky_header = "x-request-key";
};

inline constexpr std::string_view kRouterConfigKey = "config.json";
inline constexpr std::string_view kRouterConfigDir = "/etc/kiln/router";

// The routing configuration document (above) for `md` and `split`.
json router_config(const json& md, const RouterSplit& split);

// ConfigMap <md>-router holding router_config(md, split).dump(2) under "config.json".
json desired_router_config_map(const json& md, const RouterSplit& split);

// Deployment <md> running the router; `config_hash` goes on the pod template. Replicas: 2 when
// the stable variant asks for 2 or more (or autoscales), else 1.
json desired_router_deployment(const json& md, const api::ModelDeploymentSpec& spec,
                               const std::string& config_hash,
                               const BuildOptions& options);

// Service <md>: the public endpoint. It selects the pods of `behind`: the router's while traffic is
// split (a canary or a shadow), the stable variant's otherwise, so a single-variant deployment
// runs no router and answers without its hop.
json desired_endpoint_service(const json& md, Variant behind);

// autoscaling/v2 HorizontalPodAutoscaler <md>-stable for spec.autoscaling {minReplicas,
// maxReplicas, targetCPUUtilizationPercentage}; nullopt when spec.autoscaling is absent.
std::optional<json> desired_stable_hpa(const json& md, const api::ModelDeploymentSpec& spec);

}  // namespace kiln::controllers::modeldeployment
