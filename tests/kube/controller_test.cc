// The controller runner without a cluster: keys added to its queue directly.
#include "kube/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace kiln::kube {
namespace {

using namespace std::chrono_literals;

// Blocks in its first reconcile until released; counts every call.
class BlockingReconciler : public Reconciler {
 public:
  Result<Requeue> reconcile(const ObjectKey&) override {
    if (calls_.fetch_add(1) == 0) {
      started_.set_value();
      release_.get_future().wait();
    }
    return Requeue{};
  }
  std::atomic<int> calls_{0};
  std::promise<void> started_, release_;
};

// stop() lets the running reconcile finish and takes no queued key after it: a manager with
// thousands of keys queued (10,000 objects applied at once) stops within one reconcile instead of
// reconciling them all first.
TEST(Controller, StopFinishesTheRunningReconcileAndLeavesQueuedKeys) {
  BlockingReconciler reconciler;
  Controller controller("blocking", reconciler, {.workers = 1});
  auto started = reconciler.started_.get_future();
  for (int i = 0; i < 100; ++i) controller.queue().add("ns/key-" + std::to_string(i));
  controller.start();
  ASSERT_EQ(started.wait_for(30s), std::future_status::ready);
  std::thread stopping([&] { controller.stop(); });
  // stop() marks the controller stopping before it shuts the queue down.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!controller.queue().shutting_down() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_TRUE(controller.queue().shutting_down());
  EXPECT_EQ(reconciler.calls_.load(), 1);  // Still in the first reconcile.
  reconciler.release_.set_value();
  stopping.join();
  EXPECT_EQ(reconciler.calls_.load(), 1) << "queued keys were reconciled after stop()";
}

// Fails by the key's name: "retryable", "terminal", "invalid" return that error, "throws" throws.
class FailingReconciler : public Reconciler {
 public:
  Result<Requeue> reconcile(const ObjectKey& key) override {
    {
      std::lock_guard lock(mutex_);
      ++calls_[key.name];
    }
    if (key.name == "retryable") return Error::retryable("try later");
    if (key.name == "terminal") return Error::terminal("will not work");
    if (key.name == "invalid") return Error::invalid_input("spec.x is wrong");
    throw std::runtime_error("a bug");
  }
  int calls(const std::string& name) {
    std::lock_guard lock(mutex_);
    return calls_[name];
  }

 private:
  std::mutex mutex_;
  std::map<std::string, int> calls_;
};

bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// controller-runtime's TerminalError: terminal and invalid-input errors are counted and the key
// waits for its next change; retryable errors and exceptions go back with backoff. On a manual
// clock, a key queued with backoff stays delayed until the clock moves.
TEST(Controller, TerminalAndInvalidInputErrorsAreNotRetriedRetryableOnesBackOff) {
  ManualClock clock;
  FailingReconciler reconciler;
  metrics::Registry registry;
  auto metrics = std::make_shared<ControllerMetrics>(registry);
  WorkQueueOptions queue;
  queue.clock = &clock;
  Controller controller("failing", reconciler, {.workers = 2, .queue = queue, .metrics = metrics});
  for (const char* name : {"retryable", "terminal", "invalid", "throws"}) {
    controller.queue().add(std::string("ns/") + name);
  }
  controller.start();
  auto reconciles = [&](const char* result) {
    return metrics->reconciles.with({"failing", result}).value();
  };
  auto errors = [&](const char* category) {
    return metrics->errors.with({"failing", category}).value();
  };
  ASSERT_TRUE(eventually([&] { return reconciles("error") + reconciles("exception") == 4; }));
  EXPECT_EQ(reconciles("error"), 3);
  EXPECT_EQ(reconciles("exception"), 1);
  EXPECT_EQ(errors("retryable"), 2);  // The exception counts as retryable.
  EXPECT_EQ(errors("terminal"), 1);
  EXPECT_EQ(errors("invalid-input"), 1);
  EXPECT_EQ(controller.queue().num_requeues("ns/retryable"), 1);
  EXPECT_EQ(controller.queue().num_requeues("ns/throws"), 1);
  EXPECT_EQ(controller.queue().num_requeues("ns/terminal"), 0);
  EXPECT_EQ(controller.queue().num_requeues("ns/invalid"), 0);
  EXPECT_EQ(controller.queue().delayed(), 2u);  // Only the two retried keys wait.
  EXPECT_EQ(controller.queue().len(), 0u);

  // Past every backoff: the retried keys run again, the others do not.
  clock.advance(std::chrono::hours(1));
  ASSERT_TRUE(eventually([&] {
    return reconciler.calls("retryable") == 2 && reconciler.calls("throws") == 2 &&
           controller.queue().delayed() == 2;
  }));
  EXPECT_EQ(reconciler.calls("terminal"), 1);
  EXPECT_EQ(reconciler.calls("invalid"), 1);
  EXPECT_EQ(controller.queue().num_requeues("ns/retryable"), 2);

  // A change event brings a terminal key back.
  controller.queue().add("ns/terminal");
  ASSERT_TRUE(eventually([&] { return reconciler.calls("terminal") == 2; }));
  EXPECT_TRUE(eventually([&] { return errors("terminal") == 2; }));
  controller.stop();
}

}  // namespace
}  // namespace kiln::kube
