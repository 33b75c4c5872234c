#include "controllers/modeldeployment/names.h"

#include "controllers/modeldeployment/support.h"

namespace kiln::controllers::modeldeployment {

std::string_view to_string(Variant v) noexcept {
  switch (v) {
    case Variant::kStable:
      return "stable";
    case Variant::kCanary:
      return "canary";
    case Variant::kShadow:
      return "shadow";
    case Variant::kRouter:
      return "router";
  }
  return "stable";
}

std::string variant_name(std::string_view md, Variant v) {
  if (v == Variant::kRouter) return support::child_name(md, "");
  return support::child_name(md, to_string(v));
}

std::string router_config_name(std::string_view md) { return support::child_name(md, "router"); }

json selector_labels(std::string_view md, Variant v) {
  // Label values are limited to 63 characters, as names are.
  return {{"kiln.dev/modeldeployment", support::child_name(md, "")},
          {"kiln.dev/variant", to_string(v)}};
}

json child_labels(std::string_view md, Variant v) {
  json labels = selector_labels(md, v);
  labels["app.kubernetes.io/managed-by"] = "kiln";
  labels["app.kubernetes.io/part-of"] = "kiln";
  return labels;
}

std::string service_url(std::string_view service, std::string_view ns) {
  return "http://" + std::string(service) + "." + std::string(ns) +
         ".svc:" + std::to_string(kServicePort);
}

}  // namespace kiln::controllers::modeldeployment
