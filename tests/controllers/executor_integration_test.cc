// The executor's no-op check against the real kube-apiserver. Every child that the ModelDeployment
// plan (canary, shadow, HPA; and a model file in the image, with no volumes) and the TrainingJob
// plan make, applied and read back, counts as
// already applied, so a second reconcile sends no apply. A changed field, a dropped field and
// another writer's change to a field we own do not count.

#include <gtest/gtest.h>

#include <sstream>

#include "../kube/test_cluster.h"
#include "controllers/manager/executor.h"
#include "controllers/modeldeployment/plan.h"
#include "controllers/trainingjob/plan.h"
#include "kube/informer.h"
#include "kube/object_helpers.h"

namespace kiln::controllers::manager {
namespace {

using nlohmann::json;
namespace kt = kube::testing;

// The children a plan applies, in namespace `ns`.
std::vector<json> planned_children(const std::string& ns) {
  const auto now = std::chrono::system_clock::now();
  json md = json::parse(R"({
    "apiVersion": "kiln.dev/v1alpha1", "kind": "ModelDeployment",
    "metadata": {"name": "flights", "uid": "00000000-0000-0000-0000-0000000000aa",
                 "generation": 1},
    "spec": {"model": {"uri": "pvc://models/v1/model.json", "format": "xgboost", "version": "v1"},
             "autoscaling": {"minReplicas": 2, "maxReplicas": 5},
             "canary": {"model": {"uri": "pvc://models/v2/model.json", "version": "v2"},
                        "trafficPercent": 10},
             "shadow": {"model": {"uri": "pvc://models/v3/model.json", "version": "v3"}}}
  })");
  md["metadata"]["namespace"] = ns;
  json tj = json::parse(R"({
    "apiVersion": "kiln.dev/v1alpha1", "kind": "TrainingJob",
    "metadata": {"name": "mnist", "uid": "00000000-0000-0000-0000-0000000000bb", "generation": 1},
    "spec": {"framework": "pytorch", "replicas": 2,
             "template": {"spec": {"containers": [{"name": "main", "image": "t:1",
                                                   "resources": {"requests": {"cpu": "500m"}}}]}},
             "runPolicy": {"backoffLimit": 2},
             "output": {"modelUri": "pvc://models/mnist"}}
  })");
  tj["metadata"]["namespace"] = ns;
  // A model file in the image and fixed replicas: no volumes at all.
  json plain = json::parse(R"({
    "apiVersion": "kiln.dev/v1alpha1", "kind": "ModelDeployment",
    "metadata": {"name": "scorer", "uid": "00000000-0000-0000-0000-0000000000cc",
                 "generation": 1},
    "spec": {"model": {"uri": "file:///opt/models/model.json", "format": "xgboost",
                       "version": "v1"},
             "replicas": 2}
  })");
  plain["metadata"]["namespace"] = ns;
  std::vector<json> out =
      modeldeployment::plan_modeldeployment(md, {}, now, modeldeployment::BuildOptions{}).apply;
  for (auto& child :
       modeldeployment::plan_modeldeployment(plain, {}, now, modeldeployment::BuildOptions{})
           .apply) {
    out.push_back(std::move(child));
  }
  for (auto& child : trainingjob::plan_trainingjob(tj, {}, now, {}).apply) {
    out.push_back(std::move(child));
  }
  return out;
}

std::string describe(const json& child) {
  return child.value("kind", "") + " " + child["metadata"].value("name", "");
}

double patches_sent(const metrics::Registry& registry) {
  std::istringstream text(registry.expose());
  double total = 0;
  for (std::string line; std::getline(text, line);) {
    if (line.rfind("kiln_kube_client_requests_total{", 0) == 0 &&
        line.find("verb=\"PATCH\"") != std::string::npos) {
      total += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return total;
}

class ExecutorOnServer : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ =
        kube::Client::create(kt::cluster_config(), std::make_shared<kube::ClientMetrics>(registry_))
            .value();
    ns_ = kt::make_namespace(*client_, "executor");
  }

  // An object as the informers keep it: read from the server, managedFields stripped.
  kube::ObjectPtr cached_copy(const kube::ResourceRef& r, const std::string& ns,
                              const std::string& name) {
    auto got = client_->get(r, ns, name);
    if (!got.ok()) return nullptr;
    json object = std::move(got).value();
    kube::strip_managed_fields(object);
    return std::make_shared<const json>(std::move(object));
  }
  kube::ObjectPtr read_back(const json& child) {
    return cached_copy(resource_for(child["apiVersion"], child["kind"]).value(), ns_,
                       child["metadata"]["name"]);
  }

  metrics::Registry registry_;
  std::unique_ptr<kube::Client> client_;
  std::string ns_;
};

TEST_F(ExecutorOnServer, EveryPlannedChildReadBackIsAlreadyApplied) {
  const auto children = planned_children(ns_);
  ASSERT_GE(children.size(), 13u);  // 3 + 1 variants x (Deployment, Service), 2 routers x 3, ...
  for (const json& plain : children) {
    const json desired = stamp_applied_hash(plain);
    auto r = resource_for(desired["apiVersion"], desired["kind"]);
    ASSERT_TRUE(r.ok()) << describe(desired);
    auto applied = kube::apply_desired(*client_, *r, desired, kFieldManager);
    ASSERT_TRUE(applied.ok()) << describe(desired) << ": " << applied.error().message();
    auto seen = read_back(desired);
    ASSERT_NE(seen, nullptr);
    EXPECT_TRUE(already_applied(*seen, desired))
        << describe(desired) << " read back differs from what was applied:\n"
        << seen->dump(1) << "\nagainst\n"
        << desired.dump(1);
  }
}

TEST_F(ExecutorOnServer, SecondRunSendsNoApplyAndChangesAreSent) {
  kube::EventRecorder events(*client_, "executor-test");
  manager::Executor executor(*client_, events);
  // The lookup reads the server, as a synced informer would hold it.
  manager::Executor cached(*client_, events,
                           [this](const kube::ResourceRef& r, const std::string& ns,
                                  const std::string& name) { return cached_copy(r, ns, name); });
  json parent = {{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", {{"name", "parent"}, {"namespace", ns_}, {"uid", "p"}}}};
  Actions actions;
  actions.apply = planned_children(ns_);
  actions.status = nullptr;
  const kube::ResourceRef parent_resource{"", "v1", "configmaps", true};
  const auto children = static_cast<double>(actions.apply.size());
  // Runs `e` once over the children; returns the applies (PATCH requests) it sent.
  auto applies_of_one_run = [&](manager::Executor& e) {
    const double before = patches_sent(registry_);
    EXPECT_TRUE(e.execute(parent, parent_resource, actions).ok());
    return patches_sent(registry_) - before;
  };
  auto first_of_kind = [&](const char* kind) -> json& {
    return *std::find_if(actions.apply.begin(), actions.apply.end(),
                         [&](const json& c) { return c["kind"] == kind; });
  };

  EXPECT_EQ(applies_of_one_run(cached), children);  // Nothing cached yet.
  EXPECT_EQ(applies_of_one_run(cached), 0) << "unchanged children were applied again";
  // Without a lookup every child is applied every time.
  EXPECT_EQ(applies_of_one_run(executor), children);

  // A field the plan changes, and a field it stops sending, are applied (one child each).
  json& config = first_of_kind("ConfigMap");
  config["metadata"]["labels"]["extra"] = "1";
  EXPECT_EQ(applies_of_one_run(cached), 1);
  config["metadata"]["labels"].erase("extra");
  EXPECT_EQ(applies_of_one_run(cached), 1);
  auto seen = read_back(config);
  ASSERT_NE(seen, nullptr);
  EXPECT_FALSE((*seen)["metadata"]["labels"].contains("extra")) << "a dropped label stayed";

  // Another writer adds a key to a Service's selector (a map the server replaces whole): the next
  // run takes the selector back, though it still contains every key sent.
  const json& service = first_of_kind("Service");
  const std::string name = service["metadata"]["name"];
  kt::kubectl("-n " + ns_ + " patch service " + name +
              " --type merge -p '{\"spec\":{\"selector\":{\"extra\":\"1\"}}}'");
  EXPECT_EQ(applies_of_one_run(cached), 1);
  seen = read_back(service);
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ((*seen)["spec"]["selector"], service["spec"]["selector"]);

  // Another writer changes a field we own: the next run takes it back.
  kt::kubectl("-n " + ns_ + " label service " + name + " app.kubernetes.io/managed-by=someone " +
              "--overwrite");
  EXPECT_EQ(applies_of_one_run(cached), 1);
  seen = read_back(service);
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ((*seen)["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            service["metadata"]["labels"]["app.kubernetes.io/managed-by"]);
}

TEST(AlreadyApplied, ComparesOnlyWhatIsSentAndWholeArrays) {
  const json desired = stamp_applied_hash(json::parse(R"({"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": "s", "labels": {"a": "1"}},
                      "spec": {"ports": [{"port": 80}], "selector": {"a": "1"}}})"));
  json observed = desired;
  observed.erase("apiVersion");  // List items come without them.
  observed.erase("kind");
  observed["metadata"]["uid"] = "u";  // Fields the server adds do not matter.
  observed["spec"]["ports"][0]["protocol"] = "TCP";
  observed["spec"]["clusterIP"] = "10.0.0.1";
  EXPECT_TRUE(already_applied(observed, desired));
  json sparse = desired;  // Empty lists and maps the server drops.
  sparse["spec"]["externalIPs"] = json::array();
  sparse["spec"]["sessionAffinityConfig"] = json::object();
  sparse = stamp_applied_hash(sparse);
  json sparse_observed = observed;
  sparse_observed["metadata"]["annotations"] = sparse["metadata"]["annotations"];
  EXPECT_TRUE(already_applied(sparse_observed, sparse));
  json other = observed;
  other["spec"]["ports"].push_back({{"port", 81}});
  EXPECT_FALSE(already_applied(other, desired));  // An extra element: arrays are whole.
  other = observed;
  other["spec"]["ports"][0]["port"] = 8080;
  EXPECT_FALSE(already_applied(other, desired));
  other = observed;
  other["metadata"]["annotations"].erase(kAppliedHashAnnotation);
  EXPECT_FALSE(already_applied(other, desired));  // Applied by someone else, or before stamps.
  // The stamp ignores an old stamp and changes with the content.
  EXPECT_EQ(stamp_applied_hash(desired), desired);
  json changed = desired;
  changed["spec"]["selector"]["a"] = "2";
  EXPECT_NE(stamp_applied_hash(changed)["metadata"]["annotations"][kAppliedHashAnnotation],
            desired["metadata"]["annotations"][kAppliedHashAnnotation]);
}

}  // namespace
}  // namespace kiln::controllers::manager
