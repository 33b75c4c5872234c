#include "controllers/modeldeployment/router_config.h"

#include "controllers/modeldeployment/support.h"

namespace kiln::controllers::modeldeployment {
namespace {


json variant_url(const json& md, Variant v) {
  return service_url(variant_name(support::name_of(md), v), support::namespace_of(md));
}

// The variant Service's gRPC port as route's grpcUrl: "<service>.<ns>.svc:8081".
json variant_grpc_url(const json& md, Variant v) {
  return variant_name(support::name_of(md), v) + "." + support::namespace_of(md) +
         ".svc:" + std::to_string(kGrpcPort);
}

}  // namespace

json router_config(const json& md, const RouterSplit& split) {
  json config = {{"stable",
                  {{"url", variant_url(md, Variant::kStable)},
                   {"grpcUrl", variant_grpc_url(md, Variant::kStable)}}},
                 {"stickyHeader", split.sticky_header}};
  if (split.canary_weight) {
    config["canary"] = {{"url", variant_url(md, Variant::kCanary)},
                        {"grpcUrl", variant_grpc_url(md, Variant::kCanary)},
                        {"weight", *split.canary_weight}};
  }
  if (split.shadow_mirror) {
    config["shadow"] = {{"url", variant_url(md, Variant::kShadow)},
                        {"grpcUrl", variant_grpc_url(md, Variant::kShadow)},
                        {"mirrorPercent", *split.shadow_mirror}};
  }
  return config;
}

json desired_router_config_map(const json& md, const RouterSplit& split) {
  const std::string name = router_config_name(support::name_of(md));
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", object_meta(md, name, Variant::kRouter)},
          {"data", {{std::string(kRouterConfigKey), router_config(md, split).dump(2)}}}};
}

json desired_router_deployment(const json& md, const api::ModelDeploymentSpec& spec,
                               const std::string& config_hash, const BuildOptions& options) {
  const std::string md_name = support::name_of(md);
  const bool wide = spec.autoscaling.has_value() || spec.replicas >= 2;
  const std::string config_path =
      std::string(kRouterConfigDir) + "/" + std::string(kRouterConfigKey);
  json container = {
      {"name", "router"},
      {"image", runtime_image(spec, options)},
      {"imagePullPolicy", image_pull_policy(spec, options)},
      {"command", {"kiln-runtime"}},
      {"args",
       {"route", "--config", config_path, "--port", std::to_string(kContainerPort), "--grpc-port",
        std::to_string(kGrpcPort)}},
      {"ports",
       {{{"name", "http"}, {"containerPort", kContainerPort}},
        {{"name", "grpc"}, {"containerPort", kGrpcPort}}}},
      // The router forwards /v2/health/* to a variant, so its own health is its port.
      {"readinessProbe", {{"tcpSocket", {{"port", "http"}}}, {"periodSeconds", 5}}},
      {"livenessProbe", {{"tcpSocket", {{"port", "http"}}}, {"periodSeconds", 10}}},
      {"securityContext", restricted_container_security_context()},
      {"volumeMounts",
       {{{"name", "router-config"}, {"mountPath", kRouterConfigDir}, {"readOnly", true}}}}};
  json pod_spec = {
      {"containers", {container}},
      {"volumes",
       {{{"name", "router-config"}, {"configMap", {{"name", router_config_name(md_name)}}}}}},
      {"securityContext", restricted_pod_security_context()},
      {"terminationGracePeriodSeconds", 40}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", object_meta(md, variant_name(md_name, Variant::kRouter), Variant::kRouter)},
          {"spec",
           {{"replicas", wide ? 2 : 1},
            {"selector", {{"matchLabels", selector_labels(md_name, Variant::kRouter)}}},
            {"template",
             {{"metadata",
               {{"labels", child_labels(md_name, Variant::kRouter)},
                {"annotations", {{std::string(kRouterConfigHashAnnotation), config_hash}}}}},
              {"spec", pod_spec}}}}}};
}

json desired_endpoint_service(const json& md, Variant behind) {
  json service = desired_variant_service(md, Variant::kRouter);
  service["spec"]["selector"] = selector_labels(support::name_of(md), behind);
  return service;
}

std::optional<json> desired_stable_hpa(const json& md, const api::ModelDeploymentSpec& spec) {
  if (!spec.autoscaling) return std::nullopt;
  const api::AutoscalingSpec& a = *spec.autoscaling;
  const std::string md_name = support::name_of(md);
  const std::string target = variant_name(md_name, Variant::kStable);
  return json{
      {"apiVersion", "autoscaling/v2"},
      {"kind", "HorizontalPodAutoscaler"},
      {"metadata", object_meta(md, target, Variant::kStable)},
      {"spec",
       {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", target}}},
        {"minReplicas", a.min_replicas},
        {"maxReplicas", a.max_replicas},
        {"metrics",
         {{{"type", "Resource"},
           {"resource",
            {{"name", "cpu"},
             {"target",
              {{"type", "Utilization"},
               {"averageUtilization", a.target_cpu_utilization_percentage}}}}}}}}}}};
}

}  // namespace kiln::controllers::modeldeployment
