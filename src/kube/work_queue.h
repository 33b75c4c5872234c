#pragma once

// The rate-limited work queue of a controller (the contract of client-go's workqueue, which
// controller-runtime and kube-rs share). Keys are strings ("namespace/name").
//
// Contract:
//  1. Dedupe. A key waiting in the queue is held once: adding it again does nothing.
//  2. Exclusive. A key handed out by get() is not handed out again until its WorkItem is
//     released (done). An add while it is processed marks it dirty; it is queued again at done.
//  3. Done always runs. get() returns a WorkItem whose destructor calls done (RAII), so an early
//     return or an exception in the worker cannot leak the key.
//  4. Backoff. add_rate_limited(key) queues the key after max(per-key exponential backoff,
//     global token bucket): the per-key delay is base*2^(n-1) for the key's n-th failure since its
//     last forget, capped at max_delay (5 ms .. 1000 s by default); the bucket is 10 qps with a
//     burst of 100 (client-go's DefaultControllerRateLimiter).
//  5. Forget. forget(key) (call it on success) resets the key's failure count.
//  6. Earlier wins. add_after(key, d) of a key already waiting with a later time moves it
//     earlier; a later time never delays it. A key already ready ignores add_after.
//  7. Shutdown. After shut_down() adds are ignored and delayed keys dropped; get() still hands out
//     keys already queued, then returns nullopt. shut_down_with_drain() also waits until every
//     handed-out key is done.
//  8. Metrics: kiln_workqueue_depth, _adds_total, _queue_duration_seconds (add to get),
//     _work_duration_seconds (get to done), _retries_total, labelled by the queue's name.
//
// Thread-safety: every member may be called from any thread. Time comes from the injected Clock;
// a blocked get() re-checks delayed keys at least every `max_idle_wait` of real time.

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "common/metrics.h"
#include "kube/clock.h"
#include "kube/token_bucket.h"

namespace kiln::kube {

struct WorkQueueMetrics {
  explicit WorkQueueMetrics(metrics::Registry& registry);
  metrics::Family<metrics::Gauge>& depth;
  metrics::Family<metrics::Counter>& adds;
  metrics::Family<metrics::Histogram>& queue_duration;
  metrics::Family<metrics::Histogram>& work_duration;
  metrics::Family<metrics::Counter>& retries;
};

struct WorkQueueOptions {
  std::string name = "default";
  Clock::duration base_delay = std::chrono::milliseconds(5);
  Clock::duration max_delay = std::chrono::seconds(1000);
  double qps = 10;  // Global bucket; <= 0 disables it.
  double burst = 100;
  const Clock* clock = &SystemClock::instance();  // Must outlive the queue.
  std::shared_ptr<WorkQueueMetrics> metrics;      // Null: a private registry.
  std::chrono::milliseconds max_idle_wait{100};
};

class WorkQueue;

// A key handed out by get(); calls done on destruction. Movable, not copyable.
class WorkItem {
 public:
  WorkItem(WorkQueue* queue, std::string key) : queue_(queue), key_(std::move(key)) {}
  WorkItem(WorkItem&& other) noexcept : queue_(other.queue_), key_(std::move(other.key_)) {
    other.queue_ = nullptr;
  }
  WorkItem& operator=(WorkItem&&) = delete;
  WorkItem(const WorkItem&) = delete;
  ~WorkItem();
  const std::string& key() const { return key_; }

 private:
  WorkQueue* queue_;
  std::string key_;
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});
  ~WorkQueue();

  void add(const std::string& key);
  void add_after(const std::string& key, Clock::duration delay);
  // Queues the key after its backoff (rule 4) and returns the delay chosen.
  Clock::duration add_rate_limited(const std::string& key);
  void forget(const std::string& key);
  // Failures of `key` since its last forget.
  int num_requeues(const std::string& key) const;

  // Blocks until a key is ready (nullopt after shutdown once the queue is empty).
  std::optional<WorkItem> get();
  // As get() without blocking: nullopt when no key is ready now.
  std::optional<WorkItem> try_get();

  void shut_down();
  void shut_down_with_drain();
  bool shutting_down() const;

  // Keys ready now (not counting delayed or processing ones).
  size_t len() const;
  // Keys waiting for a later time.
  size_t delayed() const;

 private:
  friend class WorkItem;
  void done(const std::string& key);
  void add_locked(const std::string& key);
  void promote_due_locked();
  WorkItem take_locked();

  WorkQueueOptions options_;
  std::unique_ptr<metrics::Registry> own_registry_;
  std::shared_ptr<WorkQueueMetrics> metrics_;
  const Clock& clock_;
  TokenBucket bucket_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;       // A key became ready, or shutdown.
  std::condition_variable drained_;  // processing_ became empty.
  std::deque<std::string> ready_;
  std::unordered_set<std::string> dirty_;  // Needs processing (in ready_ or re-queued at done).
  std::unordered_set<std::string> processing_;                     // Handed out, not done.
  std::unordered_map<std::string, Clock::time_point> added_at_;    // For queue latency.
  std::unordered_map<std::string, Clock::time_point> started_at_;  // For work duration.
  std::unordered_map<std::string, Clock::time_point> due_;         // Delayed key -> time.
  std::set<std::pair<Clock::time_point, std::string>> by_due_;     // The same, ordered.
  std::unordered_map<std::string, int> failures_;
  bool shutting_down_ = false;
};

}  // namespace kiln::kube
