// The watcher and informer against the real API server, through faults: a dropped connection,
// an API server restart, and a forced 410 (etcd compaction). After each, the cache must equal a
// fresh list: nothing lost, nothing stale.

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "kube/api_error.h"
#include "kube/informer.h"
#include "tcp_proxy.h"
#include "test_cluster.h"

namespace kiln::kube {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::config_map;

// key -> resourceVersion
using State = std::map<std::string, std::string>;

State fresh_list(Client& client, const std::string& ns) {
  auto list = client.list_all(resources::kConfigMaps, ns);
  EXPECT_TRUE(list.ok()) << list.error().to_string();
  State state;
  if (!list.ok()) return state;
  for (const auto& item : (*list)["items"]) {
    state[object_key(item)] = item["metadata"]["resourceVersion"];
  }
  return state;
}

State cached(const Informer& informer) {
  State state;
  for (const auto& object : informer.store().list()) {
    state[object_key(*object)] = (*object)["metadata"]["resourceVersion"];
  }
  return state;
}

// Waits (bounded) until `done` holds, checking every 20 ms: waiting on an observed condition.
bool eventually(const std::function<bool()>& done, seconds timeout = seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return done();
}

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = testing::cluster_client();
    ASSERT_NE(client_, nullptr);
    ns_ = testing::make_namespace(*client_, "informer");
  }

  // An informer whose connections go through `proxy` (when given).
  std::unique_ptr<Informer> make_informer(testing::TcpProxy* proxy = nullptr,
                                          bool compact_store = false, int page_size = 500) {
    auto config = testing::cluster_config();
    config.qps = 0;
    if (proxy) config.server = "https://127.0.0.1:" + std::to_string(proxy->port());
    auto client = Client::create(config);
    EXPECT_TRUE(client.ok());
    informer_client_ = std::move(client).value();
    WatcherOptions watch{.ns = ns_,
                         .page_size = page_size,
                         .initial_backoff = milliseconds(100),
                         .max_backoff = milliseconds(1000)};
    auto informer = std::make_unique<Informer>(
        *informer_client_, resources::kConfigMaps, watch,
        InformerOptions{.transform = strip_managed_fields, .compact_store = compact_store});
    informer->add_handler({.on_add = [this](const ObjectPtr&) { ++adds_; },
                           .on_update = [this](const ObjectPtr&, const ObjectPtr&) { ++updates_; },
                           .on_delete = [this](const ObjectPtr&) { ++deletes_; }});
    return informer;
  }

  void create(const std::string& name, const json& labels = {}) {
    auto r = client_->create(resources::kConfigMaps, ns_, config_map(name, {{"v", "1"}}, labels));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
  }
  void modify(const std::string& name, const std::string& value) {
    auto r = client_->merge_patch(resources::kConfigMaps, ns_, name, {{"data", {{"v", value}}}});
    ASSERT_TRUE(r.ok()) << r.error().to_string();
  }
  void remove(const std::string& name) {
    auto r = client_->remove(resources::kConfigMaps, ns_, name);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
  }

  // Creates a marker object and waits until the informer holds it; the cache has then seen every
  // change made before it, so it must equal a fresh list.
  void expect_cache_equals_fresh_list(Informer& informer, const std::string& marker) {
    create(marker);
    ASSERT_TRUE(eventually([&] { return informer.store().get(ns_ + "/" + marker) != nullptr; }))
        << "informer never caught up; last watcher error: " << informer.watcher().last_error();
    EXPECT_EQ(cached(informer), fresh_list(*client_, ns_));
  }

  std::unique_ptr<Client> client_;
  std::unique_ptr<Client> informer_client_;
  std::string ns_;
  std::atomic<int> adds_{0}, updates_{0}, deletes_{0};
};

TEST_F(InformerTest, SyncsThenFollowsAddsUpdatesAndDeletes) {
  create("a", {{"app", "web"}});
  create("b", {{"app", "db"}});
  auto informer = make_informer();
  informer->start();
  ASSERT_TRUE(informer->wait_for_sync(milliseconds(30000)));
  EXPECT_EQ(informer->store().size(), 2u);
  EXPECT_EQ(adds_.load(), 2);

  create("c", {{"app", "web"}});
  modify("a", "2");
  remove("b");
  expect_cache_equals_fresh_list(*informer, "marker");
  EXPECT_EQ(adds_.load(), 4);  // a, b, c, marker
  EXPECT_GE(updates_.load(), 1);
  EXPECT_EQ(deletes_.load(), 1);
  EXPECT_EQ((*informer->store().get(ns_ + "/a"))["data"]["v"], "2");
}

TEST_F(InformerTest, CompactStoreFollowsTheSameEventsAsTheParsedOne) {
  create("a", {{"app", "web"}});
  auto informer = make_informer(nullptr, /*compact_store=*/true);
  informer->start();
  ASSERT_TRUE(informer->wait_for_sync(milliseconds(30000)));
  create("b", {{"app", "web"}});
  modify("a", "2");
  expect_cache_equals_fresh_list(*informer, "marker");
  EXPECT_EQ((*informer->store().get(ns_ + "/a"))["data"]["v"], "2");
  EXPECT_EQ(informer->store().by_index(kIndexLabel, "app=web").size(), 2u);
  EXPECT_EQ(adds_.load(), 3);  // a, b, marker
}

TEST_F(InformerTest, AListReadInPagesArrivesWholeInOneSwap) {
  for (const auto* name : {"a", "b", "c", "d", "e"}) create(name, {{"app", "web"}});
  auto informer = make_informer(nullptr, /*compact_store=*/true, /*page_size=*/2);  // 3 pages.
  informer->start();
  ASSERT_TRUE(informer->wait_for_sync(milliseconds(30000)));
  EXPECT_EQ(informer->relists(), 1);
  EXPECT_EQ(informer->watcher().lists(), 1);
  EXPECT_EQ(informer->store().size(), 5u);
  EXPECT_EQ(adds_.load(), 5);
  EXPECT_EQ(informer->store().by_index(kIndexLabel, "app=web").size(), 5u);
  expect_cache_equals_fresh_list(*informer, "marker");
}

TEST_F(InformerTest, IndexesByNamespaceLabelAndOwnerAndTransformsBeforeStoring) {
  create("owner");
  auto owner = client_->get(resources::kConfigMaps, ns_, "owner");
  ASSERT_TRUE(owner.ok());
  std::string uid = (*owner)["metadata"]["uid"];
  json child = config_map("child", {}, {{"app", "web"}});
  child["metadata"]["ownerReferences"] = {
      {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "owner"}, {"uid", uid}}};
  ASSERT_TRUE(client_->create(resources::kConfigMaps, ns_, child).ok());

  auto informer = make_informer();
  informer->start();
  ASSERT_TRUE(informer->wait_for_sync(milliseconds(30000)));
  auto by_owner = informer->store().by_index(kIndexOwner, uid);
  ASSERT_EQ(by_owner.size(), 1u);
  EXPECT_EQ((*by_owner[0])["metadata"]["name"], "child");
  EXPECT_EQ(informer->store().by_index(kIndexLabel, "app=web").size(), 1u);
  EXPECT_EQ(informer->store().by_index(kIndexNamespace, ns_).size(), 2u);
  // The server sets managedFields on every object; the transform dropped them.
  EXPECT_FALSE((*by_owner[0])["metadata"].contains("managedFields"));
  EXPECT_EQ((*by_owner[0])["kind"], "ConfigMap");
}

TEST_F(InformerTest, WatchResumesAfterADroppedConnectionWithoutRelisting) {
  for (int i = 0; i < 5; ++i) create("o" + std::to_string(i));
  testing::TcpProxy proxy(27443);
  auto informer = make_informer(&proxy);
  informer->start();
  ASSERT_TRUE(informer->wait_for_sync(milliseconds(30000)));
  ASSERT_TRUE(eventually([&] { return informer->watcher().watches_opened() >= 1; }));

  proxy.set_refusing(true);
  proxy.drop_connections();
  ASSERT_TRUE(eventually([&] { return informer->watcher().breaks() >= 1; }));
  modify("o0", "changed");
  remove("o1");
  create("o5");
  proxy.set_refusing(false);

  expect_cache_equals_fresh_list(*informer, "marker");
  EXPECT_EQ(informer->watcher().lists(), 1) << "resumed from the last resourceVersion";
  EXPECT_EQ(deletes_.load(), 1);
}

TEST_F(InformerTest, WatchSurvivesAnApiServerRestart) {
  for (int i = 0; i < 5; ++i) create("o" + std::to_string(i));
  auto informer = make_informer();
  informer->start();
  ASSERT_TRUE(informer->wait_for_sync(milliseconds(30000)));

  testing::restart_apiserver();
  modify("o0", "after-restart");
  remove("o1");
  expect_cache_equals_fresh_list(*informer, "marker");
  // The server ends its watches when it stops (a clean end, or a break): a new one was opened.
  EXPECT_GE(informer->watcher().watches_opened(), 2);
  std::cerr << "after the restart: lists=" << informer->watcher().lists()
            << " gones=" << informer->watcher().gones()
            << " breaks=" << informer->watcher().breaks() << "\n";
}

TEST_F(InformerTest, ForcedGoneAfterCompactionRelistsAndReportsWhatChanged) {
  for (int i = 0; i < 5; ++i) create("o" + std::to_string(i));
  testing::TcpProxy proxy(27443);
  auto informer = make_informer(&proxy);
  informer->start();
  ASSERT_TRUE(informer->wait_for_sync(milliseconds(30000)));
  ASSERT_TRUE(eventually([&] { return informer->watcher().watches_opened() >= 1; }));

  // Cut the informer off, change things, then compact etcd and restart the API server so its
  // watch cache holds nothing older than now: resuming from the old version must answer 410.
  proxy.set_refusing(true);
  proxy.drop_connections();
  modify("o0", "while-away");
  remove("o1");
  remove("o2");
  create("o9");
  testing::compact_etcd();
  testing::restart_apiserver();
  int deletes_before = deletes_.load();
  proxy.set_refusing(false);

  expect_cache_equals_fresh_list(*informer, "marker");
  EXPECT_GE(informer->watcher().gones(), 1) << informer->watcher().last_error();
  EXPECT_GE(informer->relists(), 2);
  EXPECT_EQ(deletes_.load() - deletes_before, 2) << "the re-list's diff reports o1 and o2";
}

// A list read in pages whose snapshot is compacted between two pages: the continue token answers
// 410, and the watcher lists again in one request (client-go's pager does the same), so a slow
// list cannot keep expiring.
TEST_F(InformerTest, ExpiredContinueTokenFallsBackToOneWholeList) {
  for (int i = 0; i < 5; ++i) create("p" + std::to_string(i));
  auto config = testing::cluster_config();
  config.qps = 0;
  auto client = Client::create(config);
  ASSERT_TRUE(client.ok());
  Watcher watcher(**client, resources::kConfigMaps,
                  {.ns = ns_, .page_size = 2, .initial_backoff = milliseconds(100)});
  auto first = watcher.step();
  ASSERT_TRUE(std::holds_alternative<watcher::ListPage>(first));
  // Compact etcd past the list's snapshot and drop the API server's watch cache with a restart,
  // so that the continuation has to come from etcd, where its revision is gone.
  modify("p0", "changed");
  testing::compact_etcd();
  testing::restart_apiserver();
  std::vector<std::size_t> pages_after_gone;
  bool restarted = false;
  for (int i = 0; i < 200 && !restarted; ++i) {
    auto event = watcher.step();
    if (auto* page = std::get_if<watcher::ListPage>(&event); page && watcher.gones() > 0) {
      pages_after_gone.push_back(json::parse(page->body)["items"].size());
    }
    restarted = std::holds_alternative<watcher::Restarted>(event);
  }
  ASSERT_TRUE(restarted) << watcher.last_error();
  EXPECT_EQ(watcher.gones(), 1) << watcher.last_error();
  EXPECT_EQ(pages_after_gone, std::vector<std::size_t>{5}) << "the re-list came in one page";
}

}  // namespace
}  // namespace kiln::kube
