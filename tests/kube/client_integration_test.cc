// The REST client against the real kube-apiserver of the kube_cluster fixture.

#include <gtest/gtest.h>

#include "kube/api_error.h"
#include "kube/client.h"
#include "test_cluster.h"

namespace kiln::kube {
namespace {

using nlohmann::json;
using testing::cluster_client;
using testing::config_map;

const ResourceRef kWidgets{"test.kiln.dev", "v1", "widgets", true};

// A CRD with a status subresource, installed once (apply is idempotent).
void install_widget_crd(Client& client) {
  json crd = json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.kiln.dev"},
    "spec": {"group": "test.kiln.dev", "scope": "Namespaced",
      "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
      "versions": [{"name": "v1", "served": true, "storage": true,
        "subresources": {"status": {}},
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
          "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
          "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}})");
  auto applied = client.apply(resources::kCustomResourceDefinitions, "", crd,
                              {.field_manager = "kiln-test", .force = true});
  ASSERT_TRUE(applied.ok()) << applied.error().to_string();
  testing::kubectl("wait --for=condition=Established --timeout=60s crd/widgets.test.kiln.dev >&2");
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = cluster_client();
    ASSERT_NE(client_, nullptr);
    ns_ = testing::make_namespace(*client_, "client");
  }
  std::unique_ptr<Client> client_;
  std::string ns_;
};

TEST_F(ClientTest, CreatesGetsUpdatesAndDeletesAConfigMap) {
  auto created = client_->create(resources::kConfigMaps, ns_, config_map("a", {{"k", "1"}}));
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());

  auto got = client_->get(resources::kConfigMaps, ns_, "a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["k"], "1");

  json changed = *got;
  changed["data"]["k"] = "2";
  auto updated = client_->update(resources::kConfigMaps, ns_, changed);
  ASSERT_TRUE(updated.ok()) << updated.error().to_string();
  EXPECT_NE((*updated)["metadata"]["resourceVersion"], (*got)["metadata"]["resourceVersion"]);

  ASSERT_TRUE(client_->remove(resources::kConfigMaps, ns_, "a").ok());
  auto gone = client_->get(resources::kConfigMaps, ns_, "a");
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(is_not_found(gone.error())) << gone.error().to_string();
}

TEST_F(ClientTest, MissingObjectIsNotFoundWithTheServersStatus) {
  auto got = client_->get(resources::kConfigMaps, ns_, "missing");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(api_code(got.error()), 404);
  EXPECT_EQ(got.error().category(), ErrorCategory::kTerminal);
  EXPECT_NE(got.error().message().find("NotFound: configmaps \"missing\" not found"),
            std::string::npos)
      << got.error().message();
}

TEST_F(ClientTest, UpdateWithStaleResourceVersionIsARetryableConflict) {
  auto created = client_->create(resources::kConfigMaps, ns_, config_map("c", {{"k", "1"}}));
  ASSERT_TRUE(created.ok());
  json first = *created, second = *created;
  first["data"]["k"] = "2";
  second["data"]["k"] = "3";
  ASSERT_TRUE(client_->update(resources::kConfigMaps, ns_, first).ok());
  auto stale = client_->update(resources::kConfigMaps, ns_, second);
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(is_conflict(stale.error())) << stale.error().to_string();
  EXPECT_EQ(stale.error().category(), ErrorCategory::kRetryable);
}

TEST_F(ClientTest, CreatingAnExistingObjectIsAlreadyExists) {
  ASSERT_TRUE(client_->create(resources::kConfigMaps, ns_, config_map("dup")).ok());
  auto again = client_->create(resources::kConfigMaps, ns_, config_map("dup"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(api_code(again.error()), 409);
  EXPECT_NE(again.error().message().find("AlreadyExists"), std::string::npos);
}

TEST_F(ClientTest, ServerSideApplyTracksFieldOwnershipAndForceTakesItOver) {
  auto a = client_->apply(resources::kConfigMaps, ns_, config_map("ssa", {{"x", "1"}}),
                          {.field_manager = "manager-a"});
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  ASSERT_EQ((*a)["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ((*a)["metadata"]["managedFields"][0]["manager"], "manager-a");
  EXPECT_TRUE((*a)["metadata"]["managedFields"][0]["fieldsV1"]["f:data"].contains("f:x"));

  // Another manager setting the same field to another value conflicts ...
  auto b = client_->apply(resources::kConfigMaps, ns_, config_map("ssa", {{"x", "2"}}),
                          {.field_manager = "manager-b"});
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(is_conflict(b.error())) << b.error().to_string();
  EXPECT_NE(b.error().message().find("manager-a"), std::string::npos);

  // ... unless it forces, which moves the ownership of data.x to it.
  auto forced = client_->apply(resources::kConfigMaps, ns_, config_map("ssa", {{"x", "2"}}),
                               {.field_manager = "manager-b", .force = true});
  ASSERT_TRUE(forced.ok()) << forced.error().to_string();
  EXPECT_EQ((*forced)["data"]["x"], "2");
  for (const auto& entry : (*forced)["metadata"]["managedFields"]) {
    bool owns_x = entry.contains("fieldsV1") && entry["fieldsV1"].contains("f:data") &&
                  entry["fieldsV1"]["f:data"].contains("f:x");
    EXPECT_EQ(owns_x, entry["manager"] == "manager-b") << entry.dump();
  }
}

TEST_F(ClientTest, MergePatchChangesOnlyTheGivenFields) {
  ASSERT_TRUE(
      client_->create(resources::kConfigMaps, ns_, config_map("mp", {{"a", "1"}, {"b", "2"}}))
          .ok());
  auto patched = client_->merge_patch(resources::kConfigMaps, ns_, "mp",
                                      {{"data", {{"b", nullptr}, {"c", "3"}}}});
  ASSERT_TRUE(patched.ok()) << patched.error().to_string();
  EXPECT_EQ((*patched)["data"], json({{"a", "1"}, {"c", "3"}}));
}

TEST_F(ClientTest, StatusSubresourceWritesOnlyStatus) {
  install_widget_crd(*client_);
  json widget = {{"apiVersion", "test.kiln.dev/v1"},
                 {"kind", "Widget"},
                 {"metadata", {{"name", "w"}}},
                 {"spec", {{"size", 1}}}};
  auto created = client_->create(kWidgets, ns_, widget);
  ASSERT_TRUE(created.ok()) << created.error().to_string();

  json with_status = *created;
  with_status["status"] = {{"phase", "Ready"}};
  with_status["spec"]["size"] = 99;  // Ignored by the status endpoint.
  auto status = client_->update_status(kWidgets, ns_, with_status);
  ASSERT_TRUE(status.ok()) << status.error().to_string();
  EXPECT_EQ((*status)["status"]["phase"], "Ready");
  EXPECT_EQ((*status)["spec"]["size"], 1);

  json main = *status;
  main["status"]["phase"] = "Changed";  // Ignored by the main endpoint.
  main["spec"]["size"] = 2;
  auto updated = client_->update(kWidgets, ns_, main);
  ASSERT_TRUE(updated.ok()) << updated.error().to_string();
  EXPECT_EQ((*updated)["status"]["phase"], "Ready");
  EXPECT_EQ((*updated)["spec"]["size"], 2);

  auto patched =
      client_->merge_patch(kWidgets, ns_, "w", {{"status", {{"phase", "Patched"}}}}, "status");
  ASSERT_TRUE(patched.ok()) << patched.error().to_string();
  EXPECT_EQ((*patched)["status"]["phase"], "Patched");
}

TEST_F(ClientTest, ListPaginatesOverMoreThan500Objects) {
  constexpr int kCount = 520;
  for (int i = 0; i < kCount; ++i) {
    auto created =
        client_->create(resources::kConfigMaps, ns_, config_map("p" + std::to_string(i)));
    ASSERT_TRUE(created.ok()) << created.error().to_string();
  }
  int pages = 0;
  size_t seen = 0;
  ListOptions options{.limit = 100};
  do {
    auto page = client_->list(resources::kConfigMaps, ns_, options);
    ASSERT_TRUE(page.ok()) << page.error().to_string();
    ++pages;
    seen += (*page)["items"].size();
    options.continue_token = (*page)["metadata"].value("continue", "");
  } while (!options.continue_token.empty());
  // 520 ours + kube-root-ca.crt would be published by the controller-manager, absent here.
  EXPECT_EQ(seen, static_cast<size_t>(kCount));
  EXPECT_EQ(pages, 6);

  auto all = client_->list_all(resources::kConfigMaps, ns_);  // Pages of 500.
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)["items"].size(), static_cast<size_t>(kCount));
  EXPECT_FALSE((*all)["metadata"]["resourceVersion"].get<std::string>().empty());
}

TEST_F(ClientTest, LabelAndFieldSelectorsFilterTheList) {
  ASSERT_TRUE(
      client_->create(resources::kConfigMaps, ns_, config_map("web1", {}, {{"app", "web"}})).ok());
  ASSERT_TRUE(
      client_->create(resources::kConfigMaps, ns_, config_map("web2", {}, {{"app", "web"}})).ok());
  ASSERT_TRUE(
      client_->create(resources::kConfigMaps, ns_, config_map("db", {}, {{"app", "db"}})).ok());
  auto names = [](const json& list) {
    std::vector<std::string> out;
    for (const auto& item : list["items"]) out.push_back(item["metadata"]["name"]);
    return out;
  };
  auto web = client_->list(resources::kConfigMaps, ns_, {.label_selector = "app=web"});
  ASSERT_TRUE(web.ok());
  EXPECT_EQ(names(*web), (std::vector<std::string>{"web1", "web2"}));
  auto not_web = client_->list(resources::kConfigMaps, ns_, {.label_selector = "app!=web"});
  EXPECT_EQ(names(*not_web), (std::vector<std::string>{"db"}));
  auto by_name = client_->list(resources::kConfigMaps, ns_,
                               {.label_selector = "app", .field_selector = "metadata.name=web2"});
  EXPECT_EQ(names(*by_name), (std::vector<std::string>{"web2"}));
}

TEST_F(ClientTest, DeleteHonoursPreconditionsAndPropagationPolicy) {
  auto created = client_->create(resources::kConfigMaps, ns_, config_map("del"));
  ASSERT_TRUE(created.ok());
  auto wrong_uid = client_->remove(resources::kConfigMaps, ns_, "del",
                                   {.precondition_uid = "00000000-0000-0000-0000-000000000000"});
  ASSERT_FALSE(wrong_uid.ok());
  EXPECT_TRUE(is_conflict(wrong_uid.error())) << wrong_uid.error().to_string();

  // Foreground: with no garbage collector running here, the object stays, marked for deletion
  // and held by the foregroundDeletion finalizer, which proves the policy reached the server.
  auto foreground = client_->remove(
      resources::kConfigMaps, ns_, "del",
      {.propagation_policy = "Foreground", .precondition_uid = (*created)["metadata"]["uid"]});
  ASSERT_TRUE(foreground.ok()) << foreground.error().to_string();
  auto held = client_->get(resources::kConfigMaps, ns_, "del");
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE((*held)["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ((*held)["metadata"]["finalizers"], json::array({"foregroundDeletion"}));
  ASSERT_TRUE(client_
                  ->merge_patch(resources::kConfigMaps, ns_, "del",
                                {{"metadata", {{"finalizers", nullptr}}}})
                  .ok());
}

TEST_F(ClientTest, RequestsAreCountedByVerbAndCode) {
  (void)client_->get(resources::kConfigMaps, ns_, "missing");
  EXPECT_GE(client_->metrics().requests.with({"GET", "404"}).value(), 1);
  EXPECT_GE(client_->metrics().requests.with({"POST", "201"}).value(), 1);  // The namespace.
}

}  // namespace
}  // namespace kiln::kube
