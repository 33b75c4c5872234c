// A reconcile whose child the API server rejects (422), against the real kube-apiserver: the
// runner and the executor of kiln-manager together. The parent is a TrainingJob (its CRD from
// crds/); its reconcile applies a ConfigMap whose data key is taken from the parent's annotation
// kiln.dev/test-key, which the server refuses while it is not a valid key. The error ends up as
// the condition Synced=False on the parent, the rest of its status untouched, and the key is not
// retried until the parent changes; once fixed, Synced turns True.

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "../kube/test_cluster.h"
#include "controllers/common/conditions.h"
#include "controllers/manager/executor.h"
#include "kube/clock.h"
#include "kube/controller.h"
#include "kube/events.h"
#include "kube/informer.h"

namespace kiln::controllers::manager {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace kt = kube::testing;

const kube::ResourceRef kTrainingJobs{"kiln.dev", "v1alpha1", "trainingjobs", true};
constexpr const char* kKeyAnnotation = "kiln.dev/test-key";

bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

// Applies "<parent>-child", a ConfigMap whose one data key is the parent's kiln.dev/test-key, and
// leaves the parent's status as it is (the plan's status: null).
class ChildReconciler : public kube::Reconciler {
 public:
  ChildReconciler(kube::Informer& parents, Executor& executor)
      : parents_(parents), executor_(executor) {}

  Result<kube::Requeue> reconcile(const kube::ObjectKey& key) override {
    ++running_;
    ++calls_;
    auto done = run(key);
    --running_;
    return done;
  }

  int calls() const { return calls_; }
  bool running() const { return running_ > 0; }

 private:
  Result<kube::Requeue> run(const kube::ObjectKey& key) {
    auto parent = parents_.store().get(key.str());
    if (!parent) return kube::Requeue{};
    const json annotations = (*parent)["metadata"].value("annotations", json::object());
    Actions actions;
    actions.status = nullptr;
    actions.apply.push_back(
        {{"apiVersion", "v1"},
         {"kind", "ConfigMap"},
         {"metadata", {{"name", key.name + "-child"}, {"namespace", key.ns}}},
         {"data", {{annotations.value(kKeyAnnotation, "not a key!"), "v"}}}});
    return executor_.execute(*parent, kTrainingJobs, actions);
  }

  kube::Informer& parents_;
  Executor& executor_;
  std::atomic<int> calls_{0};
  std::atomic<int> running_{0};
};

class ReconcileErrorOnServer : public ::testing::Test {
 protected:
  void SetUp() override {
    kt::kubectl(std::string("apply --server-side -f ") + KILN_CRDS_DIR);
    kt::kubectl("wait --for=condition=Established crd/trainingjobs.kiln.dev --timeout=60s");
    client_ = kt::cluster_client();
    ns_ = kt::make_namespace(*client_, "reconcile-error");
  }

  // The TrainingJob "flights" with status.phase Running and status.jobName "keep-me".
  void create_parent() {
    json tj = json::parse(R"({
      "apiVersion": "kiln.dev/v1alpha1", "kind": "TrainingJob",
      "metadata": {"name": "flights", "annotations": {"kiln.dev/test-key": "not a key!"}},
      "spec": {"framework": "pytorch", "replicas": 1,
               "template": {"spec": {"containers": [{"name": "main", "image": "t:1"}]}},
               "output": {"modelUri": "pvc://models/flights"}}
    })");
    auto created = client_->create(kTrainingJobs, ns_, tj);
    ASSERT_TRUE(created.ok()) << created.error().message();
    json with_status = *created;
    with_status["status"] = {{"phase", "Running"}, {"jobName", "keep-me"}};
    auto updated = client_->update_status(kTrainingJobs, ns_, with_status);
    ASSERT_TRUE(updated.ok()) << updated.error().message();
  }

  json server_status() {
    auto got = client_->get(kTrainingJobs, ns_, "flights");
    return got.ok() ? got->value("status", json::object()) : json::object();
  }

  std::unique_ptr<kube::Client> client_;
  std::string ns_;
};

TEST_F(ReconcileErrorOnServer, A422ApplyIsReportedAsSyncedFalseAndNotRetriedUntilTheParentChanges) {
  create_parent();
  kube::Informer parents(*client_, kTrainingJobs, {.ns = ns_});
  kube::EventRecorder events(*client_, "reconcile-error-test");
  Executor executor(*client_, events);
  ChildReconciler reconciler(parents, executor);
  metrics::Registry registry;
  auto metrics = std::make_shared<kube::ControllerMetrics>(registry);
  // On a manual clock a key queued with backoff stays delayed: a retried key never looks idle.
  kube::ManualClock clock;
  kube::WorkQueueOptions queue;
  queue.clock = &clock;
  kube::Controller controller("reconcile-error", reconciler,
                              {.workers = 1, .queue = queue, .metrics = metrics});
  controller.watch_primary(parents);
  parents.start();
  ASSERT_TRUE(parents.wait_for_sync(30000ms));
  controller.start();

  // The condition reaches the cache (so its own update event has been queued).
  const std::string key = ns_ + "/flights";
  ASSERT_TRUE(eventually([&] {
    auto cached = parents.store().get(key);
    return cached != nullptr &&
           find_condition(cached->value("status", json::object()), kSyncedCondition) != nullptr;
  })) << server_status().dump(1);
  // Then the controller goes idle: nothing queued, nothing waiting for a backoff, twice in a row
  // with no reconcile between.
  auto idle = [&] {
    return !reconciler.running() && controller.queue().len() == 0 &&
           controller.queue().delayed() == 0;
  };
  ASSERT_TRUE(eventually([&] {
    const int before = reconciler.calls();
    if (!idle()) return false;
    std::this_thread::sleep_for(300ms);
    return idle() && reconciler.calls() == before;
  })) << "still retried: " << controller.queue().num_requeues(key) << " requeues, "
      << reconciler.calls() << " reconciles";
  // The first reconcile and the one woken by its own status write; the second writes nothing.
  EXPECT_LE(reconciler.calls(), 3);
  EXPECT_EQ(metrics->errors.with({"reconcile-error", "invalid-input"}).value(), reconciler.calls());
  EXPECT_EQ(metrics->errors.with({"reconcile-error", "retryable"}).value(), 0);
  EXPECT_EQ(controller.queue().num_requeues(key), 0);

  const json status = server_status();
  const json* synced = find_condition(status, kSyncedCondition);
  ASSERT_NE(synced, nullptr) << status.dump(1);
  EXPECT_EQ(synced->value("status", ""), "False");
  EXPECT_EQ(synced->value("reason", ""), kReconcileError);
  const std::string message = synced->value("message", "");
  EXPECT_NE(message.find("apply ConfigMap flights-child"), std::string::npos) << message;
  EXPECT_NE(message.find("422 Invalid"), std::string::npos) << message;
  EXPECT_NE(message.find("not a key!"), std::string::npos) << message;
  EXPECT_EQ(synced->value("observedGeneration", 0), 1);
  EXPECT_EQ(status.value("phase", ""), "Running") << status.dump(1);  // The rest is kept.
  EXPECT_EQ(status.value("jobName", ""), "keep-me");

  // A change to the parent brings the key back; the apply now works and Synced turns True.
  const int failed = reconciler.calls();
  ASSERT_TRUE(client_
                  ->merge_patch(kTrainingJobs, ns_, "flights",
                                {{"metadata", {{"annotations", {{kKeyAnnotation, "good-key"}}}}}})
                  .ok());
  ASSERT_TRUE(eventually([&] {
    const json now = server_status();
    const json* c = find_condition(now, kSyncedCondition);
    return c != nullptr && c->value("status", "") == "True";
  })) << server_status().dump(1);
  EXPECT_GT(reconciler.calls(), failed);
  const json fixed = server_status();
  EXPECT_EQ(find_condition(fixed, kSyncedCondition)->value("reason", ""), kReconcileSuccess);
  EXPECT_EQ(fixed.value("phase", ""), "Running");
  auto child = client_->get(kube::ResourceRef{"", "v1", "configmaps", true}, ns_, "flights-child");
  ASSERT_TRUE(child.ok()) << child.error().message();
  EXPECT_EQ((*child)["data"].value("good-key", ""), "v");
  controller.stop();
  parents.stop();
}

// The executor's expectations: a copy of the parent older than the executor's own status write
// (the cache has not caught up) is not acted on, so a plan made from the old status cannot apply
// children of the past; the next copy is.
TEST_F(ReconcileErrorOnServer, ACopyOlderThanTheExecutorsOwnStatusWriteIsNotActedOn) {
  create_parent();
  const json cached = client_->get(kTrainingJobs, ns_, "flights").value();
  kube::EventRecorder events(*client_, "own-write-test");
  Executor executor(*client_, events);
  const auto plan = [&](const json& parent, const std::string& step) {
    Actions a;
    a.status = parent["status"];
    a.status["restarts"] = std::stoi(step);
    a.apply.push_back({{"apiVersion", "v1"},
                       {"kind", "ConfigMap"},
                       {"metadata", {{"name", "flights-step"}, {"namespace", ns_}}},
                       {"data", {{"step", step}}}});
    return a;
  };
  const auto step_on_server = [&] {
    auto cm = client_->get(kube::ResourceRef{"", "v1", "configmaps", true}, ns_, "flights-step");
    return cm.ok() ? (*cm)["data"].value("step", "") : "";
  };
  ASSERT_TRUE(executor.execute(cached, kTrainingJobs, plan(cached, "1")).ok());
  ASSERT_EQ(step_on_server(), "1");
  ASSERT_EQ(server_status()["restarts"], 1);

  // The same, now stale, copy planned again: step 0 would roll the child back.
  auto held = executor.execute(cached, kTrainingJobs, plan(cached, "0"));
  ASSERT_TRUE(held.ok()) << held.error().message();
  ASSERT_TRUE(held->delay.has_value());
  EXPECT_EQ(*held->delay, Executor::kAwaitOwnWrite);
  EXPECT_EQ(step_on_server(), "1") << "a plan from a stale copy was carried out";
  EXPECT_EQ(server_status()["restarts"], 1);

  // The copy after the write is acted on.
  const json fresh = client_->get(kTrainingJobs, ns_, "flights").value();
  ASSERT_TRUE(executor.execute(fresh, kTrainingJobs, plan(fresh, "2")).ok());
  EXPECT_EQ(step_on_server(), "2");
  EXPECT_EQ(server_status()["restarts"], 2);
}

}  // namespace
}  // namespace kiln::controllers::manager
