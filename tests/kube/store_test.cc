// The informer's Store in both storage forms (parsed trees and compact, dictionary-compressed
// MessagePack): the same reads, indexes and writer results either way, below and above the size
// at which the compact form trains its dictionary.
#include "kube/store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

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

// A pod-like object: what a dictionary is trained on (shared keys, differing names and values).
ObjectPtr pod(int i, const std::string& app) {
  json o = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", "web-" + std::to_string(i)},
        {"namespace", i % 2 ? "odd" : "even"},
        {"uid", "uid-" + std::to_string(i * 7919)},
        {"labels", {{"app", app}, {"shard", std::to_string(i % 10)}}},
        {"ownerReferences", {{{"uid", "rs-" + std::to_string(i % 3)}, {"kind", "ReplicaSet"}}}}}},
      {"spec",
       {{"containers",
         {{{"name", "web"},
           {"image", "registry.example.com/web:1." + std::to_string(i % 5)},
           {"ports", {{{"containerPort", 8080 + i % 4}, {"protocol", "TCP"}}}}}}},
        {"nodeName", "node-" + std::to_string(i % 13)},
        {"priority", -i},
        {"ratio", i / 8.0}}},
      {"status", {{"phase", i % 7 ? "Running" : "Pending"}, {"ready", i % 3 == 0}}}};
  return std::make_shared<const json>(std::move(o));
}

std::vector<ObjectPtr> pods(int from, int count, const std::string& app = "web") {
  std::vector<ObjectPtr> out;
  for (int i = from; i < from + count; ++i) out.push_back(pod(i, app));
  return out;
}

// Every stored object reads back equal to `expected`, by key and through the indexes.
void expect_holds(const Store& store, const std::vector<ObjectPtr>& expected) {
  ASSERT_EQ(store.size(), expected.size());
  size_t by_namespace = 0;
  for (const auto& object : expected) {
    auto got = store.get(object_key(*object));
    ASSERT_NE(got, nullptr) << object_key(*object);
    EXPECT_EQ(*got, *object);
  }
  for (const auto& ns : {"odd", "even"}) by_namespace += store.by_index(kIndexNamespace, ns).size();
  EXPECT_EQ(by_namespace, expected.size());
}

TEST_P(StoreTest, LargeListsReadBackExactlyAndTrainTheCompactFormsDictionaryOnce) {
  const auto first = pods(0, 3000);  // Past kDictionaryTrainObjects: trained mid-list.
  store_.replace(first);
  expect_holds(store_, first);
  EXPECT_EQ(store_.by_index(kIndexLabel, "shard=3").size(), 300u);
  EXPECT_EQ(store_.by_index(kIndexOwner, "rs-1").size(), 1000u);
  const unsigned dictionary = store_.dictionary_id();
  EXPECT_EQ(dictionary != 0, GetParam()) << "a dictionary exactly in the compact form";
  EXPECT_EQ(store_.codec_bytes() > 0, GetParam());

  // A re-list, upserts and objects of another shape all use the same dictionary.
  const auto second = pods(2000, 2000, "api");
  store_.replace(second);
  EXPECT_EQ(store_.dictionary_id(), dictionary);
  expect_holds(store_, second);
  EXPECT_TRUE(store_.by_index(kIndexLabel, "app=web").empty());
  json odd = {{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", "x"}, {"namespace", "odd"}}},
              {"data", {{"k", std::string(5000, 'z')}}},
              {"list", {1, "two", 3.5, nullptr, false}}};
  EXPECT_EQ(store_.upsert(std::make_shared<const json>(odd)), nullptr);
  EXPECT_EQ(*store_.get("odd/x"), odd);
  auto changed = pod(2001, "db");
  auto previous = store_.upsert(changed);
  ASSERT_NE(previous, nullptr);
  EXPECT_EQ(*previous, *second[1]);
  EXPECT_EQ(*store_.get(object_key(*changed)), *changed);
  EXPECT_EQ(store_.by_index(kIndexLabel, "app=db").size(), 1u);
  EXPECT_EQ(store_.dictionary_id(), dictionary);
}

TEST_P(StoreTest, SmallListsStayExactWithoutADictionary) {
  const auto few = pods(0, static_cast<int>(kDictionaryMinObjects) - 1);
  store_.replace(few);
  EXPECT_EQ(store_.dictionary_id(), 0u);
  expect_holds(store_, few);
}

TEST_P(StoreTest, ABuildersObjectsAreInvisibleUntilReplaceWhichHandsBackTheOldContent) {
  store_.replace(pods(0, 2));
  Store::Builder builder = store_.builder();
  builder.add(pod(5, "web"));
  builder.add(pod(1, "api"));
  builder.add(pod(1, "db"));  // The same key again: replaces.
  EXPECT_EQ(builder.size(), 2u);
  EXPECT_EQ(store_.size(), 2u);
  EXPECT_EQ(store_.get("odd/web-5"), nullptr);

  Store::Snapshot old = store_.replace(std::move(builder));
  EXPECT_EQ(names(store_.list()), (std::vector<std::string>{"web-1", "web-5"}));
  EXPECT_EQ(names(store_.by_index(kIndexLabel, "app=db")), std::vector<std::string>{"web-1"});
  EXPECT_TRUE(store_.by_index(kIndexLabel, "app=api").empty());

  auto keys = old.keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"even/web-0", "odd/web-1"}));
  auto taken = old.take("even/web-0");
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, *pod(0, "web"));
  EXPECT_EQ(old.take("even/web-0"), nullptr);
  EXPECT_EQ(old.keys(), std::vector<std::string>{"odd/web-1"});
}

TEST_P(StoreTest, ReadersOnOtherThreadsSeeWholeObjectsWhileTheWriterWorks) {
  store_.replace(pods(0, 600));  // Enough for a dictionary in the compact form.
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, reads{0};
  auto reader = [&](int seed) {
    for (int i = seed; !done.load(); i += 7) {
      const std::string name = "web-" + std::to_string(i % 600);
      auto got = store_.get(std::string(i % 600 % 2 ? "odd/" : "even/") + name);
      if (got && (*got)["metadata"]["name"] != name) ++bad;
      for (const auto& o : store_.by_index(kIndexLabel, "shard=" + std::to_string(i % 10))) {
        const auto& app = (*o)["metadata"]["labels"]["app"];
        if (app != "web" && app != "db") ++bad;
      }
      ++reads;
    }
  };
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) readers.emplace_back(reader, r);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 600; ++i) store_.upsert(pod(i, round % 2 ? "db" : "web"));
    for (int i = 0; i < 600; i += 5) store_.erase(object_key(*pod(i, "web")));
    store_.replace(pods(0, 600, round % 2 ? "web" : "db"));
  }
  while (reads.load() < 30) std::this_thread::yield();  // Every reader got going.
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  expect_holds(store_, pods(0, 600, "db"));
}

INSTANTIATE_TEST_SUITE_P(BothForms, StoreTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Compact" : "Parsed"; });

}  // namespace
}  // namespace kiln::kube
