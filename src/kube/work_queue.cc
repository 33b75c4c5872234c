#include "kube/work_queue.h"

#include <algorithm>
#include <cmath>

namespace kiln::kube {
namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

const std::vector<double>& duration_buckets() {
  static const std::vector<double> buckets = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100, 1000};
  return buckets;
}

}  // namespace

WorkQueueMetrics::WorkQueueMetrics(metrics::Registry& registry)
    : depth(registry.gauge("kiln_workqueue_depth", "Keys ready in the work queue.", {"name"})),
      adds(
          registry.counter("kiln_workqueue_adds_total", "Keys added to the work queue.", {"name"})),
      queue_duration(registry.histogram("kiln_workqueue_queue_duration_seconds",
                                        "Time a key waited in the queue before a worker took it.",
                                        {"name"}, duration_buckets())),
      work_duration(registry.histogram("kiln_workqueue_work_duration_seconds",
                                       "Time a worker spent on a key.", {"name"},
                                       duration_buckets())),
      retries(registry.counter("kiln_workqueue_retries_total",
                               "Keys re-queued with backoff after a failure.", {"name"})) {}

WorkItem::~WorkItem() {
  if (queue_ != nullptr) queue_->done(key_);
}

WorkQueue::WorkQueue(WorkQueueOptions options)
    : options_(std::move(options)),
      metrics_(options_.metrics),
      clock_(*options_.clock),
      bucket_(options_.qps, options_.burst, *options_.clock) {
  if (!metrics_) {
    own_registry_ = std::make_unique<metrics::Registry>();
    metrics_ = std::make_shared<WorkQueueMetrics>(*own_registry_);
  }
}

WorkQueue::~WorkQueue() { shut_down(); }

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mutex_);
  add_locked(key);
}

void WorkQueue::add_locked(const std::string& key) {
  if (shutting_down_) return;
  if (auto it = due_.find(key); it != due_.end()) {  // Ready now beats any delay.
    by_due_.erase({it->second, key});
    due_.erase(it);
  }
  if (!dirty_.insert(key).second) return;  // Rule 1.
  added_at_[key] = clock_.now();
  metrics_->adds.with({options_.name}).inc();
  if (processing_.contains(key)) return;  // Rule 2: queued again at done.
  ready_.push_back(key);
  metrics_->depth.with({options_.name}).set(static_cast<double>(ready_.size()));
  cv_.notify_one();
}

void WorkQueue::add_after(const std::string& key, Clock::duration delay) {
  std::lock_guard lock(mutex_);
  if (shutting_down_) return;
  if (delay <= Clock::duration::zero()) return add_locked(key);
  if (dirty_.contains(key) && !processing_.contains(key)) return;  // Already ready (rule 6).
  auto due = clock_.now() + delay;
  if (auto it = due_.find(key); it != due_.end()) {
    if (it->second <= due) return;  // Earlier wins.
    by_due_.erase({it->second, key});
  }
  due_[key] = due;
  by_due_.insert({due, key});
  cv_.notify_one();  // A waiting get() may need to wake earlier.
}

Clock::duration WorkQueue::add_rate_limited(const std::string& key) {
  Clock::duration per_key;
  {
    std::lock_guard lock(mutex_);
    int n = ++failures_[key];
    // base * 2^(n-1), computed in double to avoid overflow, then capped.
    double delay = seconds(options_.base_delay) * std::pow(2.0, std::min(n - 1, 62));
    per_key =
        delay >= seconds(options_.max_delay)
            ? options_.max_delay
            : std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
  }
  Clock::duration delay = std::max(per_key, bucket_.reserve());
  metrics_->retries.with({options_.name}).inc();
  add_after(key, delay);
  return delay;
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mutex_);
  failures_.erase(key);
}

int WorkQueue::num_requeues(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::promote_due_locked() {
  auto now = clock_.now();
  while (!by_due_.empty() && by_due_.begin()->first <= now) {
    std::string key = by_due_.begin()->second;
    by_due_.erase(by_due_.begin());
    due_.erase(key);
    add_locked(key);
  }
}

WorkItem WorkQueue::take_locked() {
  std::string key = std::move(ready_.front());
  ready_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  auto now = clock_.now();
  if (auto it = added_at_.find(key); it != added_at_.end()) {
    metrics_->queue_duration.with({options_.name}).observe(seconds(now - it->second));
    added_at_.erase(it);
  }
  started_at_[key] = now;
  metrics_->depth.with({options_.name}).set(static_cast<double>(ready_.size()));
  return WorkItem(this, std::move(key));
}

std::optional<WorkItem> WorkQueue::try_get() {
  std::lock_guard lock(mutex_);
  promote_due_locked();
  if (ready_.empty()) return std::nullopt;
  return take_locked();
}

std::optional<WorkItem> WorkQueue::get() {
  std::unique_lock lock(mutex_);
  for (;;) {
    promote_due_locked();
    if (!ready_.empty()) return take_locked();
    if (shutting_down_) return std::nullopt;
    auto wait = std::chrono::duration_cast<Clock::duration>(options_.max_idle_wait);
    if (!by_due_.empty()) wait = std::min(wait, by_due_.begin()->first - clock_.now());
    cv_.wait_for(lock, std::max(wait, Clock::duration(std::chrono::microseconds(100))));
  }
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mutex_);
  processing_.erase(key);
  if (auto it = started_at_.find(key); it != started_at_.end()) {
    metrics_->work_duration.with({options_.name}).observe(seconds(clock_.now() - it->second));
    started_at_.erase(it);
  }
  if (dirty_.contains(key)) {  // Added while processed (rule 2).
    ready_.push_back(key);
    metrics_->depth.with({options_.name}).set(static_cast<double>(ready_.size()));
    cv_.notify_one();
  }
  if (processing_.empty()) drained_.notify_all();
}

void WorkQueue::shut_down() {
  std::lock_guard lock(mutex_);
  shutting_down_ = true;
  due_.clear();
  by_due_.clear();
  cv_.notify_all();
}

void WorkQueue::shut_down_with_drain() {
  shut_down();
  std::unique_lock lock(mutex_);
  drained_.wait(lock, [&] { return processing_.empty(); });
}

bool WorkQueue::shutting_down() const {
  std::lock_guard lock(mutex_);
  return shutting_down_;
}

size_t WorkQueue::len() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

size_t WorkQueue::delayed() const {
  std::lock_guard lock(mutex_);
  return due_.size();
}

}  // namespace kiln::kube
