// The informer's Store in both storage forms (parsed trees and compact MessagePack): the same
// reads, indexes and writer results either way.
#include "kube/store.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kiln::kube {
namespace {

using nlohmann::json;

ObjectPtr object(const std::string& name, const std::string& ns, json labels,
                 const std::string& owner = "", json data = json::object()) {
  json o = {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"namespace", ns}, {"labels", std::move(labels)}}},
            {"data", std::move(data)}};
  if (!owner.empty()) {
    o["metadata"]["ownerReferences"] = {{{"uid", owner}, {"kind", "DataPipeline"}}};
  }
  return std::make_shared<const json>(std::move(o));
}

std::vector<std::string> names(const std::vector<ObjectPtr>& objects) {
  std::vector<std::string> out;
  for (const auto& o : objects) out.push_back((*o)["metadata"]["name"].get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

class StoreTest : public ::testing::TestWithParam<bool> {
 protected:
  Store store_{StoreOptions{.compact = GetParam()}};
};

TEST_P(StoreTest, ReadsReturnWhatWasStoredWithItsTypes) {
  const auto original =
      object("a", "ml", {{"app", "web"}}, "", {{"n", 3}, {"f", 0.5}, {"b", true}, {"z", nullptr}});
  store_.replace({original});
  auto got = store_.get("ml/a");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, *original);
  EXPECT_TRUE((*got)["data"]["n"].is_number_integer());
  EXPECT_EQ(store_.get("ml/missing"), nullptr);
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_EQ(store_.keys(), std::vector<std::string>{"ml/a"});
}

TEST_P(StoreTest, IndexesFollowUpsertsAndErases) {
  store_.replace({object("a", "ml", {{"app", "web"}}, "uid-1"), object("b", "ml", {{"app", "db"}}),
                  object("c", "ops", {{"app", "web"}})});
  EXPECT_EQ(names(store_.by_index(kIndexLabel, "app=web")), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(names(store_.by_index(kIndexNamespace, "ml")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names(store_.by_index(kIndexOwner, "uid-1")), std::vector<std::string>{"a"});

  // Relabel a: the old label's index entry goes, the previous object comes back.
  auto previous = store_.upsert(object("a", "ml", {{"app", "db"}}));
  ASSERT_NE(previous, nullptr);
  EXPECT_EQ((*previous)["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(names(store_.by_index(kIndexLabel, "app=web")), std::vector<std::string>{"c"});
  EXPECT_EQ(names(store_.by_index(kIndexLabel, "app=db")), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(store_.by_index(kIndexOwner, "uid-1").empty());
  EXPECT_EQ(store_.upsert(object("d", "ml", json::object())), nullptr);  // New: no previous.

  auto erased = store_.erase("ops/c");
  ASSERT_NE(erased, nullptr);
  EXPECT_EQ((*erased)["metadata"]["name"], "c");
  EXPECT_EQ(store_.erase("ops/c"), nullptr);
  EXPECT_TRUE(store_.by_index(kIndexNamespace, "ops").empty());
  EXPECT_EQ(names(store_.list()), (std::vector<std::string>{"a", "b", "d"}));
}

TEST_P(StoreTest, ReplaceSwapsTheWholeContent) {
  store_.replace({object("a", "ml", {{"app", "web"}})});
  const auto kept = store_.get("ml/a");  // A reader's object outlives the swap.
  store_.replace({object("b", "ml", {{"app", "db"}})});
  EXPECT_EQ(store_.get("ml/a"), nullptr);
  EXPECT_TRUE(store_.by_index(kIndexLabel, "app=web").empty());
  EXPECT_EQ((*kept)["metadata"]["name"], "a");
  EXPECT_EQ(names(store_.list()), std::vector<std::string>{"b"});
}

INSTANTIATE_TEST_SUITE_P(BothForms, StoreTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Compact" : "Parsed"; });

}  // namespace
}  // namespace kiln::kube
