// The informer's path from a List's pages to its store and handlers (CacheWriter, the watcher's
// read_list_page and for_each_item), in both store forms, without an API server: the pages are
// List responses as the API server writes them. The watcher's requests themselves are covered by
// informer_integration_test.cc.
#include "kube/informer.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kiln::kube {
namespace {

using nlohmann::json;

json config_map(const std::string& name, const std::string& rv, const std::string& value = "v") {
  return {
      {"metadata",
       {{"name", name},
        {"namespace", "ml"},
        {"resourceVersion", rv},
        {"labels", {{"app", "web"}}},
        {"managedFields", {{{"manager", "kubectl"}, {"fieldsV1", {{"f:data", json::object()}}}}}}}},
      {"data", {{"k", value}}}};
}

// A ConfigMapList page as the API server sends it: items without kind and apiVersion.
std::string list_text(const std::vector<json>& items, const std::string& continue_token = "") {
  json list = {{"kind", "ConfigMapList"},
               {"apiVersion", "v1"},
               {"metadata", {{"resourceVersion", "42"}}},
               {"items", items}};
  if (!continue_token.empty()) list["metadata"]["continue"] = continue_token;
  return list.dump();
}

watcher::Event page(const std::vector<json>& items, bool first, const std::string& next = "") {
  auto read = watcher::read_list_page(list_text(items, next), resources::kConfigMaps, first);
  EXPECT_TRUE(read.ok());
  return std::move(read).value();
}

watcher::Event restarted() { return watcher::Restarted{"42"}; }

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class CacheWriterTest : public ::testing::TestWithParam<bool> {
 protected:
  CacheWriterTest() {
    writer_.add_handler({
        .on_add = [this](const ObjectPtr& o) { heard_.push_back("add " + object_key(*o)); },
        .on_update =
            [this](const ObjectPtr& old, const ObjectPtr& o) {
              heard_.push_back("update " + object_key(*o) + " from " +
                               (*old)["metadata"]["resourceVersion"].get<std::string>());
            },
        .on_delete = [this](const ObjectPtr& o) { heard_.push_back("delete " + object_key(*o)); },
    });
  }
  void apply(watcher::Event event) { completed_ = writer_.apply(event); }

  Store store_{StoreOptions{.compact = GetParam()}};
  CacheWriter writer_{store_, strip_managed_fields, "configmaps"};
  std::vector<std::string> heard_;
  bool completed_ = false;
};

TEST_P(CacheWriterTest, PagesReachTheStoreOnlyWhenTheListCompletes) {
  apply(page({config_map("a", "1"), config_map("b", "1")}, true, "next"));
  apply(page({config_map("c", "1")}, false));
  EXPECT_FALSE(completed_);
  EXPECT_EQ(writer_.pending(), 3u);
  EXPECT_EQ(store_.size(), 0u) << "readers see no part of a list in progress";
  EXPECT_TRUE(heard_.empty());

  apply(restarted());
  EXPECT_TRUE(completed_);
  EXPECT_EQ(writer_.pending(), 0u);
  EXPECT_EQ(sorted(store_.keys()), (std::vector<std::string>{"ml/a", "ml/b", "ml/c"}));
  EXPECT_EQ(sorted(heard_), (std::vector<std::string>{"add ml/a", "add ml/b", "add ml/c"}));
  auto c = store_.get("ml/c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["kind"], "ConfigMap") << "a List's items get their kind";
  EXPECT_EQ((*c)["apiVersion"], "v1");
  EXPECT_FALSE((*c)["metadata"].contains("managedFields")) << "the transform ran";
  EXPECT_EQ((*c)["data"]["k"], "v");
  EXPECT_EQ(store_.by_index(kIndexLabel, "app=web").size(), 3u);
}

TEST_P(CacheWriterTest, AnAbandonedListIsDroppedWhenTheNextListStarts) {
  apply(page({config_map("a", "1")}, true));
  apply(page({config_map("b", "1")}, true));  // The first list failed mid-way; a new one began.
  apply(restarted());
  EXPECT_EQ(store_.keys(), std::vector<std::string>{"ml/b"});
  EXPECT_EQ(heard_, std::vector<std::string>{"add ml/b"});
}

TEST_P(CacheWriterTest, AReListTellsHandlersWhatChangedWhileAway) {
  apply(page({config_map("a", "1"), config_map("b", "1"), config_map("same", "1")}, true));
  apply(restarted());
  const auto kept = store_.get("ml/b");  // A reader's object outlives the swap.
  heard_.clear();

  apply(page({config_map("a", "2", "new"), config_map("same", "1")}, true, "more"));
  apply(page({config_map("c", "1")}, false));
  EXPECT_EQ(store_.get("ml/a")->at("data")["k"], "v") << "the old list until the new completes";
  apply(restarted());
  EXPECT_EQ(sorted(heard_),
            (std::vector<std::string>{"add ml/c", "delete ml/b", "update ml/a from 1"}));
  EXPECT_EQ(sorted(store_.keys()), (std::vector<std::string>{"ml/a", "ml/c", "ml/same"}));
  EXPECT_EQ(store_.get("ml/a")->at("data")["k"], "new");
  EXPECT_EQ((*kept)["metadata"]["name"], "b");
}

TEST_P(CacheWriterTest, WatchEventsFollowTheList) {
  apply(page({config_map("a", "1")}, true));
  apply(restarted());
  heard_.clear();
  apply(watcher::Applied{config_map("a", "2", "changed")});
  apply(watcher::Applied{config_map("b", "3")});
  apply(watcher::Deleted{config_map("a", "4")});
  apply(watcher::Deleted{config_map("never-seen", "5")});
  EXPECT_EQ(heard_, (std::vector<std::string>{"update ml/a from 1", "add ml/b", "delete ml/a",
                                              "delete ml/never-seen"}));
  EXPECT_EQ(store_.keys(), std::vector<std::string>{"ml/b"});
  EXPECT_FALSE((*store_.get("ml/b"))["metadata"].contains("managedFields"));
}

TEST_P(CacheWriterTest, AListLargeEnoughForADictionaryReadsBackExactly) {
  std::vector<json> expected;
  bool first = true;
  for (int from = 0; from < 2500; from += 500) {  // Pages of WatcherOptions::page_size.
    std::vector<json> items;
    for (int i = from; i < from + 500; ++i) {
      items.push_back(config_map("cm-" + std::to_string(i), std::to_string(i), std::to_string(i)));
    }
    for (const auto& item : items) {
      json stored = item;
      stored["kind"] = "ConfigMap";
      stored["apiVersion"] = "v1";
      strip_managed_fields(stored);
      expected.push_back(std::move(stored));
    }
    apply(page(items, first, from + 500 < 2500 ? "next" : ""));
    first = false;
  }
  apply(restarted());
  EXPECT_EQ(heard_.size(), expected.size());
  EXPECT_EQ(store_.dictionary_id() != 0, GetParam());
  for (const auto& object : expected) {
    auto got = store_.get(object_key(object));
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(*got, object);
  }
}

INSTANTIATE_TEST_SUITE_P(BothForms, CacheWriterTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Compact" : "Parsed"; });

TEST(ListPageTest, ReadsTheListsMetadataAndDecodesItsItemsInOrder) {
  auto read = watcher::read_list_page(
      list_text({config_map("x", "7"), config_map("y", "8")}, "tok"), resources::kConfigMaps, true);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->resource_version, "42");
  EXPECT_EQ(read->continue_token, "tok");
  EXPECT_EQ(read->item_kind, "ConfigMap");
  EXPECT_TRUE(read->first);
  std::vector<std::string> seen;
  watcher::for_each_item(*read, [&](json& item) {
    seen.push_back(item["metadata"]["name"].get<std::string>() + " " +
                   item["kind"].get<std::string>() + " " + item["apiVersion"].get<std::string>());
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"x ConfigMap v1", "y ConfigMap v1"}));
}

TEST(ListPageTest, ItemsKeepTheirOwnKindAndNestedListsStayWhole) {
  json item = config_map("x", "7");
  item["kind"] = "Special";
  item["data"] = {{"items", {{{"nested", 1}}, {{"nested", 2}}}}};
  auto read = watcher::read_list_page(list_text({item}), resources::kConfigMaps, false);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->continue_token.empty());
  std::vector<json> seen;
  watcher::for_each_item(*read, [&](json& i) { seen.push_back(std::move(i)); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0]["kind"], "Special");
  EXPECT_EQ(seen[0]["data"]["items"][1]["nested"], 2);
}

TEST(ListPageTest, TextThatIsNotAJsonObjectIsARetryableError) {
  for (const std::string body : {"", "{\"items\": [", "[1,2]", "<html>"}) {
    auto read = watcher::read_list_page(body, resources::kConfigMaps, true);
    ASSERT_FALSE(read.ok()) << body;
    EXPECT_EQ(read.error().category(), ErrorCategory::kRetryable) << body;
  }
}

}  // namespace
}  // namespace kiln::kube
