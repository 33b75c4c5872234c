#pragma once

// Names and labels of a ModelDeployment's children.
//
//   <md>-stable, <md>-canary, <md>-shadow   Deployment + ClusterIP Service per variant
//   <md>                                   router Deployment + Service (the public endpoint)
//   <md>-router                            router ConfigMap (router_config.h)
//   <md>-stable                            HorizontalPodAutoscaler of the stable Deployment
//
// Every name is a DNS label (support::child_name truncates and hashes long parents). Every child
// carries app.kubernetes.io/managed-by: kiln, app.kubernetes.io/part-of: kiln,
// kiln.dev/modeldeployment: <md> and kiln.dev/variant: stable|canary|shadow|router; selectors use
// the last two only.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kiln::controllers::modeldeployment {

using json = nlohmann::json;

enum class Variant { kStable, kCanary, kShadow, kRouter };

// "stable", "canary", "shadow", "router".
std::string_view to_string(Variant v) noexcept;

// Deployment and Service name of a serving variant (<md>-<variant>), or of the router (<md>).
std::string variant_name(std::string_view md, Variant v);
// The router's ConfigMap: <md>-router.
std::string router_config_name(std::string_view md);

// {kiln.dev/modeldeployment, kiln.dev/variant}: the selector of the variant's pods.
json selector_labels(std::string_view md, Variant v);
// selector_labels plus the two app.kubernetes.io labels: the labels of every child and pod.
json child_labels(std::string_view md, Variant v);

// In-cluster URL of a Service on port 80: http://<service>.<ns>.svc:80.
std::string service_url(std::string_view service, std::string_view ns);

// Annotations the controller reads or writes.
inline constexpr std::string_view kPromoteAnnotation = "kiln.dev/promote";
inline constexpr std::string_view kCanaryModelAnnotation = "kiln.dev/canary-model";
// On the ModelDeployment, set by a DriftMonitor that pins a baseline: the profile URI the stable
// pods load instead of their model's. On a serving pod template: the baseline it loads.
inline constexpr std::string_view kBaselineProfileAnnotation = "kiln.dev/baseline-profile";
// On the ModelDeployment, beside it: the DriftMonitor that pinned it.
inline constexpr std::string_view kBaselineFromAnnotation = "kiln.dev/baseline-profile-from";
// On the stable Deployment: the spec.model uri it was rendered for (see plan.h, "Promotion").
inline constexpr std::string_view kSpecModelAnnotation = "kiln.dev/spec-model-uri";
// On every serving Deployment: the served model's uri and format.
inline constexpr std::string_view kModelUriAnnotation = "kiln.dev/model-uri";
inline constexpr std::string_view kModelFormatAnnotation = "kiln.dev/model-format";
// On the router's pod template: a hash of its configuration, so a change rolls the router.
inline constexpr std::string_view kRouterConfigHashAnnotation = "kiln.dev/router-config-hash";
// On the router's ConfigMap once traffic is no longer split: when the router, the variant
// Services and a promoted or removed canary/shadow may go (RFC 3339). Until then nodes whose
// Service rules still point at the router keep being answered.
inline constexpr std::string_view kRouterRetireAnnotation = "kiln.dev/router-retire-after";
// The same for a canary or shadow that left a split the router goes on serving: its Deployment
// and Service stay until then, as the router's old pods may still forward to them.
inline constexpr std::string_view kCanaryRetireAnnotation = "kiln.dev/canary-retire-after";
inline constexpr std::string_view kShadowRetireAnnotation = "kiln.dev/shadow-retire-after";

// The serving port of kiln-runtime serve and of the router, and the Services' port.
inline constexpr int kContainerPort = 8080;
inline constexpr int kServicePort = 80;
// The OIP v2 gRPC port of kiln-runtime serve (--grpc-port), the same number on the pods and on
// the Services, as KServe's 8081.
inline constexpr int kGrpcPort = 8081;

}  // namespace kiln::controllers::modeldeployment
