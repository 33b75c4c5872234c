#pragma once

// Naming things in the Kubernetes API: a resource (group, version, plural name, scope) and an
// object's key (namespace/name).

#include <nlohmann/json.hpp>
#include <string>

namespace kiln::kube {

// A resource of the API, e.g. {"apps", "v1", "deployments", true}. The core group is "".
struct ResourceRef {
  std::string group;
  std::string version;
  std::string resource;  // Lower-case plural, as in the URL.
  bool namespaced = true;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }

  // The URL path of the collection (name empty) or of one object, with an optional subresource:
  // /api/v1/namespaces/<ns>/configmaps/<name>[/<sub>] or /apis/<g>/<v>/... . `ns` is ignored for
  // cluster-scoped resources; an empty `ns` on a namespaced resource means all namespaces.
  std::string path(const std::string& ns = "", const std::string& name = "",
                   const std::string& subresource = "") const {
    std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
    if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
    p += "/" + resource;
    if (!name.empty()) p += "/" + name;
    if (!subresource.empty()) p += "/" + subresource;
    return p;
  }

  friend bool operator==(const ResourceRef&, const ResourceRef&) = default;
};

// Well-known resources used by the runtime itself.
namespace resources {
inline const ResourceRef kConfigMaps{"", "v1", "configmaps", true};
inline const ResourceRef kSecrets{"", "v1", "secrets", true};
inline const ResourceRef kPods{"", "v1", "pods", true};
inline const ResourceRef kEvents{"", "v1", "events", true};
inline const ResourceRef kNamespaces{"", "v1", "namespaces", false};
inline const ResourceRef kLeases{"coordination.k8s.io", "v1", "leases", true};
inline const ResourceRef kCustomResourceDefinitions{"apiextensions.k8s.io", "v1",
                                                    "customresourcedefinitions", false};
}  // namespace resources

// An object's identity within one resource: "name" for cluster-scoped, "namespace/name" otherwise
// (the cache.MetaNamespaceKeyFunc format of client-go).
struct ObjectKey {
  std::string ns;
  std::string name;

  std::string str() const { return ns.empty() ? name : ns + "/" + name; }
  static ObjectKey parse(const std::string& key) {
    auto slash = key.find('/');
    if (slash == std::string::npos) return {"", key};
    return {key.substr(0, slash), key.substr(slash + 1)};
  }
  static ObjectKey of(const nlohmann::json& object) {
    const auto& meta = object.at("metadata");
    return {meta.value("namespace", ""), meta.value("name", "")};
  }
  friend bool operator==(const ObjectKey&, const ObjectKey&) = default;
  friend auto operator<=>(const ObjectKey&, const ObjectKey&) = default;
};

}  // namespace kiln::kube
