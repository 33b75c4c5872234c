// One test per rule of the WorkQueue contract (work_queue.h), on an injected clock.

#include "kube/work_queue.h"

#include <gtest/gtest.h>

#include <thread>

namespace kiln::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class WorkQueueTest : public ::testing::Test {
 protected:
  WorkQueueOptions options() {
    WorkQueueOptions o;
    o.clock = &clock_;
    o.metrics = metrics_;
    return o;
  }
  ManualClock clock_;
  metrics::Registry registry_;
  std::shared_ptr<WorkQueueMetrics> metrics_ = std::make_shared<WorkQueueMetrics>(registry_);
};

TEST_F(WorkQueueTest, Rule1AddingAWaitingKeyAgainHoldsItOnce) {
  WorkQueue queue(options());
  queue.add("a");
  queue.add("a");
  queue.add("b");
  EXPECT_EQ(queue.len(), 2u);
  EXPECT_EQ(queue.try_get()->key(), "a");
  EXPECT_EQ(queue.try_get()->key(), "b");
  EXPECT_FALSE(queue.try_get().has_value());
}

TEST_F(WorkQueueTest, Rule2AKeyBeingProcessedIsNotHandedOutAgainUntilDone) {
  WorkQueue queue(options());
  queue.add("a");
  auto item = queue.try_get();
  ASSERT_TRUE(item);
  queue.add("a");  // Dirty while processed.
  EXPECT_FALSE(queue.try_get().has_value());
  item.reset();  // done
  auto again = queue.try_get();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->key(), "a");
}

TEST_F(WorkQueueTest, Rule2ManyWorkersNeverHoldOneKeyAtOnce) {
  WorkQueueOptions o = options();
  o.clock = &SystemClock::instance();
  WorkQueue queue(o);
  std::atomic<int> holding{0}, overlaps{0}, processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto item = queue.get()) {
        if (holding.fetch_add(1) != 0) overlaps.fetch_add(1);
        queue.add(item->key());  // Re-add while held: must not reach another worker.
        std::this_thread::yield();
        holding.fetch_sub(1);
        if (processed.fetch_add(1) >= 2000) queue.shut_down();
      }
    });
  }
  queue.add("only");
  for (auto& t : workers) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_GE(processed.load(), 2000);
}

TEST_F(WorkQueueTest, Rule3DoneRunsWhenTheItemGoesOutOfScope) {
  WorkQueue queue(options());
  queue.add("a");
  try {
    auto item = queue.try_get();
    queue.add("a");
    throw std::runtime_error("reconcile failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(queue.try_get()->key(), "a");  // done ran during unwinding, re-queueing the key.
}

TEST_F(WorkQueueTest, Rule4PerKeyBackoffDoublesFrom5msAndCapsAt1000s) {
  WorkQueueOptions o = options();
  o.qps = 0;  // Per-key part alone.
  WorkQueue queue(o);
  std::vector<Clock::duration> want = {milliseconds(5), milliseconds(10), milliseconds(20),
                                       milliseconds(40)};
  for (auto expected : want) EXPECT_EQ(queue.add_rate_limited("a"), expected);
  for (int i = 0; i < 40; ++i) (void)queue.add_rate_limited("a");
  EXPECT_EQ(queue.add_rate_limited("a"), seconds(1000));
  EXPECT_EQ(queue.add_rate_limited("b"), milliseconds(5));  // Per key.
  EXPECT_EQ(queue.num_requeues("a"), 45);
}

TEST_F(WorkQueueTest, Rule4TheGlobalBucketAllows100ThenSpacesAt10PerSecond) {
  WorkQueue queue(options());
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(queue.add_rate_limited("k" + std::to_string(i)), milliseconds(5)) << i;
  }
  // The bucket is empty: the next distinct keys wait 100 ms, 200 ms, ... (max with 5 ms).
  EXPECT_EQ(queue.add_rate_limited("x"), milliseconds(100));
  EXPECT_EQ(queue.add_rate_limited("y"), milliseconds(200));
}

TEST_F(WorkQueueTest, Rule4ARateLimitedKeyBecomesReadyOnlyAfterItsDelay) {
  WorkQueue queue(options());
  queue.add_rate_limited("a");
  queue.add_rate_limited("a");  // 10 ms now, but the earlier 5 ms wins (rule 6).
  EXPECT_FALSE(queue.try_get().has_value());
  clock_.advance(milliseconds(4));
  EXPECT_FALSE(queue.try_get().has_value());
  clock_.advance(milliseconds(1));
  EXPECT_EQ(queue.try_get()->key(), "a");
}

TEST_F(WorkQueueTest, Rule5ForgetResetsTheBackoff) {
  WorkQueue queue(options());
  (void)queue.add_rate_limited("a");
  (void)queue.add_rate_limited("a");
  queue.forget("a");
  EXPECT_EQ(queue.num_requeues("a"), 0);
  EXPECT_EQ(queue.add_rate_limited("a"), milliseconds(5));
}

TEST_F(WorkQueueTest, Rule6TheEarlierOfTwoDelayedAddsWins) {
  WorkQueue queue(options());
  queue.add_after("a", seconds(10));
  queue.add_after("a", seconds(2));
  queue.add_after("a", seconds(5));  // Later: ignored.
  EXPECT_EQ(queue.delayed(), 1u);
  clock_.advance(seconds(2));
  EXPECT_EQ(queue.try_get()->key(), "a");
  clock_.advance(seconds(10));
  EXPECT_FALSE(queue.try_get().has_value());  // Not queued a second time.
}

TEST_F(WorkQueueTest, Rule6AReadyKeyIgnoresAddAfterAndAnAddCancelsADelay) {
  WorkQueue queue(options());
  queue.add("a");
  queue.add_after("a", seconds(5));
  EXPECT_EQ(queue.delayed(), 0u);
  EXPECT_EQ(queue.try_get()->key(), "a");
  queue.add_after("b", seconds(5));
  queue.add("b");
  EXPECT_EQ(queue.delayed(), 0u);
  EXPECT_EQ(queue.try_get()->key(), "b");
}

TEST_F(WorkQueueTest, Rule7ShutdownHandsOutQueuedKeysThenStops) {
  WorkQueue queue(options());
  queue.add("a");
  queue.add_after("later", seconds(1));
  queue.shut_down();
  queue.add("b");  // Ignored.
  EXPECT_EQ(queue.get()->key(), "a");
  clock_.advance(seconds(2));
  EXPECT_FALSE(queue.get().has_value());  // "later" was dropped; get() does not block.
}

TEST_F(WorkQueueTest, Rule7ShutDownWithDrainWaitsForKeysInProcess) {
  WorkQueue queue(options());
  queue.add("a");
  auto item = queue.try_get();
  std::atomic<bool> drained{false};
  std::thread stopper([&] {
    queue.shut_down_with_drain();
    drained = true;
  });
  while (!queue.shutting_down()) std::this_thread::yield();
  EXPECT_FALSE(drained.load());  // "a" is still in process.
  item.reset();
  stopper.join();
  EXPECT_TRUE(drained.load());
}

TEST_F(WorkQueueTest, Rule8MetricsCountAddsDepthLatencyWorkAndRetries) {
  WorkQueue queue(options());
  queue.add("a");
  queue.add("b");
  EXPECT_EQ(metrics_->depth.with({"default"}).value(), 2);
  clock_.advance(milliseconds(30));
  {
    auto item = queue.try_get();
    clock_.advance(milliseconds(70));
  }
  (void)queue.add_rate_limited("a");
  EXPECT_EQ(metrics_->adds.with({"default"}).value(), 2);
  EXPECT_EQ(metrics_->retries.with({"default"}).value(), 1);
  EXPECT_EQ(metrics_->depth.with({"default"}).value(), 1);
  auto latency = metrics_->queue_duration.with({"default"}).snapshot();
  EXPECT_EQ(latency.cumulative_counts.back(), 1u);
  EXPECT_DOUBLE_EQ(latency.sum, 0.03);
  auto work = metrics_->work_duration.with({"default"}).snapshot();
  EXPECT_EQ(work.cumulative_counts.back(), 1u);
  EXPECT_DOUBLE_EQ(work.sum, 0.07);
}

}  // namespace
}  // namespace kiln::kube
