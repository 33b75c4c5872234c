// The pure parts of discovery: apiVersion splitting and APIResourceList parsing. The cache and
// its refresh run against the real API server in discovery_integration_test.cc.

#include "kube/discovery.h"

#include <gtest/gtest.h>

namespace kiln::kube {
namespace {

using nlohmann::json;

TEST(SplitApiVersion, SplitsGroupAndVersionAndReadsABareVersionAsTheCoreGroup) {
  struct Case {
    std::string api_version, group, version;
  };
  for (const auto& c : {Case{"v1", "", "v1"}, Case{"apps/v1", "apps", "v1"},
                        Case{"kiln.dev/v1alpha1", "kiln.dev", "v1alpha1"},
                        Case{"coordination.k8s.io/v1", "coordination.k8s.io", "v1"}}) {
    auto parts = split_api_version(c.api_version);
    ASSERT_TRUE(parts.ok()) << c.api_version << ": " << parts.error().to_string();
    EXPECT_EQ(parts->first, c.group) << c.api_version;
    EXPECT_EQ(parts->second, c.version) << c.api_version;
  }
}

TEST(SplitApiVersion, RejectsMalformedApiVersionsAsInvalidInput) {
  for (const std::string bad :
       {"", "/v1", "apps/", "a/b/c", "Apps/v1", "apps/v1?watch=true", "apps/../v1", "v1 "}) {
    auto parts = split_api_version(bad);
    ASSERT_FALSE(parts.ok()) << bad;
    EXPECT_EQ(parts.error().category(), ErrorCategory::kInvalidInput) << bad;
    EXPECT_NE(parts.error().message().find("apiVersion \"" + bad + "\""), std::string::npos)
        << parts.error().message();
  }
}

// An excerpt of GET /api/v1 from kube-apiserver v1.34, fields the parser ignores trimmed.
const char* kCoreV1 = R"({
  "kind": "APIResourceList", "groupVersion": "v1",
  "resources": [
    {"name": "bindings", "singularName": "binding", "namespaced": true, "kind": "Binding",
     "verbs": ["create"]},
    {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace",
     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
     "shortNames": ["ns"]},
    {"name": "namespaces/status", "singularName": "", "namespaced": false, "kind": "Namespace",
     "verbs": ["get", "patch", "update"]},
    {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
     "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
     "shortNames": ["po"], "categories": ["all"]},
    {"name": "pods/binding", "singularName": "", "namespaced": true, "kind": "Binding",
     "verbs": ["create"]},
    {"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy",
     "version": "v1", "kind": "Eviction", "verbs": ["create"]},
    {"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod",
     "verbs": ["get", "patch", "update"]}
  ]})";

TEST(ParseApiResourceList, KeepsTopLevelResourcesAndSkipsSubresources) {
  auto parsed = parse_api_resource_list(json::parse(kCoreV1));
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  std::vector<DiscoveredResource> want = {
      {"Binding", {"", "v1", "bindings", true}},
      {"Namespace", {"", "v1", "namespaces", false}},
      {"Pod", {"", "v1", "pods", true}},
  };
  EXPECT_EQ(*parsed, want);
}

TEST(ParseApiResourceList, TakesGroupAndVersionFromGroupVersion) {
  auto parsed = parse_api_resource_list(json::parse(R"({
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
    "resources": [
      {"name": "deployments", "namespaced": true, "kind": "Deployment"},
      {"name": "deployments/scale", "namespaced": true, "group": "autoscaling", "version": "v1",
       "kind": "Scale"}]})"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0], (DiscoveredResource{"Deployment", {"apps", "v1", "deployments", true}}));
}

TEST(ParseApiResourceList, AbsentNamespacedMeansClusterScopedAndMalformedEntriesAreSkipped) {
  auto parsed = parse_api_resource_list(json::parse(R"({
    "groupVersion": "kiln.dev/v1alpha1",
    "resources": [
      {"name": "clusterthings", "kind": "ClusterThing"},
      {"name": "trainingjobs", "namespaced": true, "kind": "TrainingJob"},
      {"name": "nokind", "namespaced": true},
      {"kind": "NoName"},
      {"name": 7, "kind": "NumericName"},
      "not an object"]})"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
  std::vector<DiscoveredResource> want = {
      {"ClusterThing", {"kiln.dev", "v1alpha1", "clusterthings", false}},
      {"TrainingJob", {"kiln.dev", "v1alpha1", "trainingjobs", true}},
  };
  EXPECT_EQ(*parsed, want);
}

TEST(ParseApiResourceList, RejectsDocumentsThatAreNotAnApiResourceList) {
  for (const char* bad :
       {R"([])", R"("text")", R"({"resources": []})", R"({"groupVersion": 1, "resources": []})",
        R"({"groupVersion": "a/b/c", "resources": []})", R"({"groupVersion": "v1"})",
        R"({"groupVersion": "v1", "resources": {}})",
        R"({"kind": "APIGroupList", "groups": []})"}) {
    auto parsed = parse_api_resource_list(json::parse(bad));
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().category(), ErrorCategory::kInvalidInput) << bad;
  }
}

}  // namespace
}  // namespace kiln::kube
