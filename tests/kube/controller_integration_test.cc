// The controller runner and the helpers against the real API server: a trivial controller that
// owns one child ConfigMap per parent ConfigMap, applied server-side.

#include <cpprest/http_client.h>
#include <gtest/gtest.h>

#include <thread>

#include "kube/api_error.h"
#include "kube/controller.h"
#include "kube/events.h"
#include "kube/manager.h"
#include "kube/object_helpers.h"
#include "test_cluster.h"

namespace kiln::kube {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::config_map;

// A ConfigMap created to record Events about, with the apiVersion and kind the API server's
// answer leaves out.
Result<json> event_subject(Client& client, const std::string& ns, const std::string& name) {
  auto object = client.create(resources::kConfigMaps, ns, config_map(name));
  if (object.ok()) {
    (*object)["apiVersion"] = "v1";
    (*object)["kind"] = "ConfigMap";
  }
  return object;
}

bool eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return done();
}

// Parents are ConfigMaps labelled role=parent; each gets a child "<name>-child" owned by it.
// A parent named "boom" makes reconcile throw; one named "fail" makes it return an error.
class ChildReconciler : public Reconciler {
 public:
  ChildReconciler(Client& client, Informer& parents) : client_(client), parents_(parents) {}

  Result<Requeue> reconcile(const ObjectKey& key) override {
    {
      std::lock_guard lock(mutex_);
      ++calls_[key.name];
    }
    if (key.name == "boom") throw std::runtime_error("boom");
    if (key.name == "fail") return Error::retryable("failing on purpose");
    ObjectPtr parent = parents_.store().get(key.str());
    if (!parent) return Requeue{};  // Deleted: the child goes with it (garbage collection).
    json child = {{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", {{"name", key.name + "-child"}, {"namespace", key.ns}}},
                  {"data", {{"from", (*parent)["data"].value("v", "")}}}};
    auto owned = set_controller_reference(child, *parent);
    if (!owned.ok()) return std::move(owned).error();
    auto applied = apply_desired(client_, resources::kConfigMaps, child, "kiln-test-controller");
    if (!applied.ok()) return std::move(applied).error();
    return Requeue{};
  }

  int calls(const std::string& name) {
    std::lock_guard lock(mutex_);
    return calls_[name];
  }

 private:
  Client& client_;
  Informer& parents_;
  std::mutex mutex_;
  std::map<std::string, int> calls_;
};

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = testing::cluster_client();
    ASSERT_NE(client_, nullptr);
    ns_ = testing::make_namespace(*client_, "controller");
  }
  std::unique_ptr<Client> client_;
  std::string ns_;
};

TEST_F(ControllerTest, OwnsAChildPerParentAndContainsErrorsAndExceptions) {
  for (const char* name : {"a", "boom", "fail"}) {
    ASSERT_TRUE(client_
                    ->create(resources::kConfigMaps, ns_,
                             config_map(name, {{"v", "1"}}, {{"role", "parent"}}))
                    .ok());
  }
  Informer parents(*client_, resources::kConfigMaps, {.ns = ns_, .label_selector = "role=parent"});
  Informer children(*client_, resources::kConfigMaps, {.ns = ns_, .label_selector = "!role"});
  ChildReconciler reconciler(*client_, parents);
  metrics::Registry registry;
  auto metrics = std::make_shared<ControllerMetrics>(registry);
  Controller controller("children", reconciler, {.workers = 2, .metrics = metrics});
  controller.watch_primary(parents);
  controller.watch_owned(children, "ConfigMap");
  parents.start();
  children.start();
  ASSERT_TRUE(parents.wait_for_sync(milliseconds(30000)));
  ASSERT_TRUE(children.wait_for_sync(milliseconds(30000)));
  controller.start();

  ASSERT_TRUE(eventually([&] { return children.store().get(ns_ + "/a-child") != nullptr; }));
  auto child = children.store().get(ns_ + "/a-child");
  EXPECT_EQ((*child)["data"]["from"], "1");
  EXPECT_TRUE(is_controlled_by(*child, *parents.store().get(ns_ + "/a")));

  // Someone edits the child: its event maps to the parent, whose reconcile puts it back.
  int before = reconciler.calls("a");
  ASSERT_TRUE(
      client_->merge_patch(resources::kConfigMaps, ns_, "a-child", {{"data", {{"from", "x"}}}})
          .ok());
  ASSERT_TRUE(eventually([&] {
    auto c = children.store().get(ns_ + "/a-child");
    return reconciler.calls("a") > before && c && (*c)["data"]["from"] == "1";
  }));

  // Errors and exceptions are retried with backoff and counted; the workers keep going.
  ASSERT_TRUE(eventually([&] {
    return metrics->reconciles.with({"children", "exception"}).value() >= 2 &&
           metrics->reconciles.with({"children", "error"}).value() >= 2;
  }));
  EXPECT_GE(controller.queue().num_requeues(ns_ + "/boom"), 1);
  EXPECT_EQ(controller.queue().num_requeues(ns_ + "/a"), 0);  // Success forgets.
  controller.stop();
  EXPECT_GE(metrics->reconciles.with({"children", "success"}).value(), 2);
}

TEST_F(ControllerTest, PeriodicResyncReconcilesEveryPrimaryAgain) {
  ASSERT_TRUE(
      client_
          ->create(resources::kConfigMaps, ns_, config_map("r", {{"v", "1"}}, {{"role", "parent"}}))
          .ok());
  Informer parents(*client_, resources::kConfigMaps, {.ns = ns_, .label_selector = "role=parent"});
  ChildReconciler reconciler(*client_, parents);
  Controller controller("resync", reconciler, {.workers = 1, .resync = milliseconds(200)});
  controller.watch_primary(parents);
  parents.start();
  ASSERT_TRUE(parents.wait_for_sync(milliseconds(30000)));
  controller.start();
  ASSERT_TRUE(eventually([&] { return reconciler.calls("r") >= 3; }));  // 1 event + resyncs.
}

TEST_F(ControllerTest, FinalizersAreAddedAndRemovedOnTheServer) {
  auto created = client_->create(resources::kConfigMaps, ns_, config_map("f"));
  ASSERT_TRUE(created.ok());
  auto with = add_finalizer(*client_, resources::kConfigMaps, *created, "kiln.dev/cleanup");
  ASSERT_TRUE(with.ok()) << with.error().to_string();
  EXPECT_TRUE(has_finalizer(*with, "kiln.dev/cleanup"));

  // A stale copy (old resourceVersion) conflicts instead of overwriting the list.
  auto stale = add_finalizer(*client_, resources::kConfigMaps, *created, "kiln.dev/other");
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(is_conflict(stale.error())) << stale.error().to_string();

  ASSERT_TRUE(client_->remove(resources::kConfigMaps, ns_, "f").ok());
  auto held = client_->get(resources::kConfigMaps, ns_, "f");
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE(is_being_deleted(*held));
  auto without = remove_finalizer(*client_, resources::kConfigMaps, *held, "kiln.dev/cleanup");
  ASSERT_TRUE(without.ok()) << without.error().to_string();
  auto gone = client_->get(resources::kConfigMaps, ns_, "f");
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(is_not_found(gone.error()));
}

TEST_F(ControllerTest, EventRecorderAggregatesRepeats) {
  auto object = event_subject(*client_, ns_, "e");
  ASSERT_TRUE(object.ok());
  metrics::Registry registry;
  auto& writes = registry.counter("kiln_kube_event_writes_total", "Events written.", {}).with({});
  EventRecorder recorder(*client_, "kiln-test", &writes);
  for (int i = 0; i < 3; ++i) {
    auto e = recorder.record(*object, "Warning", "BackOff", "retrying");
    ASSERT_TRUE(e.ok()) << e.error().to_string();
  }
  ASSERT_TRUE(recorder.record(*object, "Normal", "Synced", "done").ok());
  EXPECT_EQ(writes.value(), 4);  // Two creates and two bumps, each one request.
  auto events = client_->list(resources::kEvents, ns_);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ((*events)["items"].size(), 2u);
  for (const auto& e : (*events)["items"]) {
    EXPECT_EQ(e["involvedObject"]["uid"], (*object)["metadata"]["uid"]);
    EXPECT_EQ(e["count"], e["reason"] == "BackOff" ? 3 : 1) << e.dump();
  }
}

TEST_F(ControllerTest, PostedEventsAreWrittenByTheRecordersThreadAndAggregated) {
  auto object = event_subject(*client_, ns_, "p");
  ASSERT_TRUE(object.ok());
  metrics::Registry registry;
  auto& writes = registry.counter("kiln_kube_event_writes_total", "Events written.", {}).with({});
  auto& dropped = registry.counter("kiln_kube_events_dropped_total", "Dropped.", {}).with({});
  {
    EventRecorder recorder(*client_, "kiln-test", &writes);
    recorder.set_queue(EventRecorder::kDefaultMaxQueued, &dropped);
    for (int i = 0; i < 3; ++i) recorder.post(*object, "Normal", "Posted", "queued");
    ASSERT_TRUE(recorder.flush(std::chrono::seconds(10)));
    EXPECT_EQ(writes.value(), 3);  // One create, two bumps.
    EXPECT_EQ(dropped.value(), 0);
    auto events = client_->list(resources::kEvents, ns_,
                                {.field_selector = "involvedObject.name=p,reason=Posted"});
    ASSERT_TRUE(events.ok());
    ASSERT_EQ((*events)["items"].size(), 1u);
    EXPECT_EQ((*events)["items"][0]["count"], 3);
    EXPECT_EQ((*events)["items"][0]["involvedObject"]["uid"], (*object)["metadata"]["uid"]);

    recorder.set_queue(0, &dropped);  // A full queue drops the new Event, counted.
    recorder.post(*object, "Warning", "Dropped", "no room");
    EXPECT_TRUE(recorder.flush(std::chrono::seconds(10)));
    EXPECT_EQ(dropped.value(), 1);
    EXPECT_EQ(writes.value(), 3);
    recorder.set_queue(EventRecorder::kDefaultMaxQueued, &dropped);
    recorder.post(*object, "Normal", "AtShutdown", "written before the recorder goes");
  }  // The destructor flushes what was queued.
  auto last = client_->list(resources::kEvents, ns_,
                            {.field_selector = "involvedObject.name=p,reason=AtShutdown"});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ((*last)["items"].size(), 1u);
  EXPECT_EQ(writes.value(), 4);
}

TEST_F(ControllerTest, ManagerServesProbesAndMetricsOnOnePortAndStopsGracefully) {
  ASSERT_TRUE(
      client_
          ->create(resources::kConfigMaps, ns_, config_map("m", {{"v", "1"}}, {{"role", "parent"}}))
          .ok());
  Manager manager(*client_, {.bind_address = "127.0.0.1", .port = 0, .handle_signals = false});
  Informer& parents =
      manager.informer(resources::kConfigMaps, {.ns = ns_, .label_selector = "role=parent"});
  ChildReconciler reconciler(*client_, parents);
  manager.controller("children", reconciler).watch_primary(parents);
  Result<void> result = Ok();
  std::thread runner([&] { result = manager.run(); });
  ASSERT_TRUE(manager.wait_until_serving(milliseconds(10000)));
  auto get = [&](const std::string& path) {
    web::http::client::http_client http("http://127.0.0.1:" + std::to_string(manager.port()));
    auto response = http.request("GET", path).get();
    return std::make_pair(static_cast<int>(response.status_code()),
                          response.extract_utf8string(true).get());
  };
  EXPECT_EQ(get("/healthz").first, 200);
  ASSERT_TRUE(eventually([&] { return manager.ready(); }));
  EXPECT_EQ(get("/readyz").first, 200);
  const std::string success = "kiln_reconcile_total{controller=\"children\",result=\"success\"} 1";
  ASSERT_TRUE(
      eventually([&] { return get("/metrics").second.find(success) != std::string::npos; }));
  auto metrics = get("/metrics");
  EXPECT_EQ(metrics.first, 200);
  EXPECT_NE(metrics.second.find("kiln_reconcile_total{controller=\"children\",result=\"success\"}"),
            std::string::npos)
      << metrics.second;
  EXPECT_NE(metrics.second.find("kiln_workqueue_depth{name=\"children\"}"), std::string::npos);
  EXPECT_EQ(get("/nope").first, 404);
  manager.stop();
  runner.join();
  EXPECT_TRUE(result.ok());
  EXPECT_FALSE(manager.ready());
}

}  // namespace
}  // namespace kiln::kube
