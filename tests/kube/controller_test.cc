// The controller runner without a cluster: keys added to its queue directly.
#include "kube/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
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

}  // namespace
}  // namespace kiln::kube
