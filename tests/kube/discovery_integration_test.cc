// Discovery against the real kube-apiserver of the kube_cluster fixture: built-in kinds, unknown
// kinds, and a CRD installed after the Discovery has already looked (the refresh-on-unknown path),
// with time for the refresh interval on a ManualClock.

#include <gtest/gtest.h>

#include <ostream>
#include <random>
#include <thread>

#include "kube/api_error.h"
#include "kube/discovery.h"
#include "test_cluster.h"

namespace kiln::kube {

void PrintTo(const ResourceRef& r, std::ostream* os) {
  *os << "{" << r.group << ", " << r.version << ", " << r.resource << ", "
      << (r.namespaced ? "namespaced" : "cluster") << "}";
}

namespace {

using nlohmann::json;
using testing::cluster_client;

constexpr auto kInterval = std::chrono::seconds(5);

// A group of its own per run, so the CRD is new to the server every time.
std::string fresh_group() {
  static std::mt19937 rng(std::random_device{}());
  return "disc" + std::to_string(rng() % 1000000) + ".test.kiln.dev";
}

json gadget_crd(const std::string& group) {
  json crd = json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "spec": {"scope": "Namespaced",
      "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
      "versions": [{"name": "v1alpha1", "served": true, "storage": true,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": {"type": "object",
          "x-kubernetes-preserve-unknown-fields": true}}}]}})");
  crd["metadata"]["name"] = "gadgets." + group;
  crd["spec"]["group"] = group;
  return crd;
}

// Waits until the server's own discovery document of `api_version` lists `kind`. The API server
// publishes a CRD's discovery asynchronously after Established; this makes that a precondition of
// the test rather than a race in it. Polls with a doubling pause, for at most 30 s.
void wait_until_served(Client& client, const std::string& api_version, const std::string& kind) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::chrono::milliseconds pause(5);
  while (std::chrono::steady_clock::now() < deadline) {
    auto doc = client.request_json("GET", "/apis/" + api_version);
    if (doc.ok()) {
      auto parsed = parse_api_resource_list(*doc);
      ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
      for (const auto& r : *parsed) {
        if (r.kind == kind) return;
      }
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(500));
  }
  FAIL() << kind << " never appeared in the discovery of " << api_version;
}

class DiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = cluster_client();
    ASSERT_NE(client_, nullptr);
  }
  std::unique_ptr<Client> client_;
  ManualClock clock_;
  DiscoveryOptions options_{.min_refresh_interval = kInterval, .clock = &clock_};
};

TEST_F(DiscoveryTest, ResolvesBuiltInKindsToTheirResources) {
  Discovery discovery(*client_, options_);
  struct Case {
    std::string api_version, kind;
    ResourceRef want;
  };
  for (const auto& c :
       {Case{"v1", "Pod", resources::kPods}, Case{"v1", "Namespace", resources::kNamespaces},
        Case{"apps/v1", "Deployment", {"apps", "v1", "deployments", true}},
        Case{"coordination.k8s.io/v1", "Lease", resources::kLeases},
        Case{"apiextensions.k8s.io/v1", "CustomResourceDefinition",
             resources::kCustomResourceDefinitions}}) {
    auto ref = discovery.resolve(c.api_version, c.kind);
    ASSERT_TRUE(ref.ok()) << c.kind << ": " << ref.error().to_string();
    EXPECT_EQ(*ref, c.want) << c.kind;
  }
  // One GET per group/version (v1 twice above), none for kinds already cached.
  EXPECT_EQ(discovery.fetches(), 4);
  auto again = discovery.resolve(json{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}});
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(again->resource, "deployments");
  EXPECT_EQ(discovery.fetches(), 4);

  // The resolved resource is one the client can use.
  auto leases = client_->list(*discovery.resolve("coordination.k8s.io/v1", "Lease"), "default");
  ASSERT_TRUE(leases.ok()) << leases.error().to_string();
  EXPECT_EQ((*leases)["kind"], "LeaseList");
}

TEST_F(DiscoveryTest, UnknownKindIsInvalidInputNamingTheKindAndRefreshesAtMostOncePerInterval) {
  Discovery discovery(*client_, options_);
  ASSERT_TRUE(discovery.resolve("v1", "Pod").ok());
  ASSERT_EQ(discovery.fetches(), 1);

  auto unknown = discovery.resolve("v1", "Gizmo");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_NE(unknown.error().message().find("unknown kind \"Gizmo\" in v1"), std::string::npos)
      << unknown.error().message();
  EXPECT_EQ(discovery.fetches(), 1);  // The first fetch of v1 was just now: no refresh yet.

  clock_.advance(kInterval);
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(discovery.resolve("v1", "Gizmo").ok());
  EXPECT_EQ(discovery.fetches(), 2);  // One refresh for twenty asks.

  // A group the server does not serve at all (404) is an unknown kind too.
  auto no_group = discovery.resolve("nothing.test.kiln.dev/v1", "Gizmo");
  ASSERT_FALSE(no_group.ok());
  EXPECT_EQ(no_group.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_NE(no_group.error().message().find("\"Gizmo\" in nothing.test.kiln.dev/v1"),
            std::string::npos)
      << no_group.error().message();
  EXPECT_EQ(discovery.fetches(), 3);

  auto bad = discovery.resolve("apps/v1/extra", "Deployment");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_EQ(discovery.fetches(), 3);  // Nothing was asked of the server.
}

TEST_F(DiscoveryTest, FindsTheKindOfACrdInstalledAfterItLooked) {
  std::string group = fresh_group();
  std::string api_version = group + "/v1alpha1";
  Discovery discovery(*client_, options_);
  auto before = discovery.resolve(api_version, "Gadget");
  ASSERT_FALSE(before.ok());
  EXPECT_EQ(before.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_EQ(discovery.fetches(), 1);

  auto crd = gadget_crd(group);
  auto created = client_->create(resources::kCustomResourceDefinitions, "", crd);
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  testing::kubectl("wait --for=condition=Established --timeout=60s crd/gadgets." + group + " >&2");
  wait_until_served(*client_, api_version, "Gadget");

  // Served now, but the refresh interval since the 404 has not passed: still unknown, no GET.
  EXPECT_FALSE(discovery.resolve(api_version, "Gadget").ok());
  EXPECT_EQ(discovery.fetches(), 1);

  clock_.advance(kInterval);
  auto after = discovery.resolve(api_version, "Gadget");
  ASSERT_TRUE(after.ok()) << after.error().to_string();
  EXPECT_EQ(*after, (ResourceRef{group, "v1alpha1", "gadgets", true}));
  EXPECT_EQ(discovery.fetches(), 2);

  // The same instance serves it from its cache from now on, and the resource works.
  std::string ns = testing::make_namespace(*client_, "discovery");
  json gadget = {{"apiVersion", api_version}, {"kind", "Gadget"}, {"metadata", {{"name", "g"}}}};
  auto ref = discovery.resolve(gadget);
  ASSERT_TRUE(ref.ok()) << ref.error().to_string();
  EXPECT_EQ(discovery.fetches(), 2);
  auto object = client_->create(*ref, ns, gadget);
  ASSERT_TRUE(object.ok()) << object.error().to_string();
  EXPECT_EQ((*object)["kind"], "Gadget");

  auto removed = client_->remove(resources::kCustomResourceDefinitions, "", "gadgets." + group);
  EXPECT_TRUE(removed.ok()) << removed.error().to_string();
}

TEST_F(DiscoveryTest, ConcurrentLookupsOfOneGroupVersionShareOneFetch) {
  Discovery discovery(*client_, options_);
  std::vector<std::thread> threads;
  std::vector<Result<ResourceRef>> results(8, Error::terminal("not run"));
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = discovery.resolve("apps/v1", "StatefulSet"); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(*r, (ResourceRef{"apps", "v1", "statefulsets", true}));
  }
  EXPECT_EQ(discovery.fetches(), 1);
}

TEST_F(DiscoveryTest, InvalidateMakesTheNextLookupFetchAgain) {
  Discovery discovery(*client_, options_);
  ASSERT_TRUE(discovery.resolve("v1", "ConfigMap").ok());
  discovery.invalidate();
  auto ref = discovery.resolve("v1", "ConfigMap");
  ASSERT_TRUE(ref.ok()) << ref.error().to_string();
  EXPECT_EQ(*ref, resources::kConfigMaps);
  EXPECT_EQ(discovery.fetches(), 2);
}

}  // namespace
}  // namespace kiln::kube
