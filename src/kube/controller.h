#pragma once

// The controller runner: N workers take keys from a WorkQueue and call a Reconciler
// (controller-runtime's controller.Controller; kube-rs' Controller).
//
// Reconciler contract (written on the interface, as controller-runtime does):
//  - reconcile(key) brings the world in line with the object named `key`, reading what it needs
//    from informer caches. It is level-based: it must not depend on which event woke it, and it
//    must be idempotent (it may run any number of times for one change).
//  - It returns Requeue{} ("wait for a change"), Requeue::after(d) ("look again in d", e.g. to
//    poll something outside the cluster), or an Error, handled by its category:
//      retryable      queued again after the key's backoff (the work queue's rule 4);
//      terminal,      not queued again: the key's backoff is forgotten and it waits for its
//      invalid-input  next change event (or resync), as controller-runtime's TerminalError.
//                     Retrying cannot help (a 422 from the API server, an unknown kind); the
//                     reconciler reports it on the object (kiln-manager: condition Synced=False).
//  - It may throw; the runner catches, counts (result=exception) and retries it with backoff like
//    a retryable error, as controller-runtime does with a recovered panic (RecoverPanic): a throw
//    is a bug or an unexpected input whose cause may pass (a cache read mid-swap), and a backoff
//    capped at 1000 s costs little. Nothing escapes a worker.
//  - One key is never reconciled by two workers at once (the queue's rule 2).
//
// Sources: watch_primary() enqueues each event's own key; watch_owned() maps a child's events to
// its controller owner's key (ownerReferences with controller=true and the owner's kind);
// watch_mapped() maps with any function. Resync re-enqueues every primary key periodically.
//
// Metrics: kiln_reconcile_total{controller,result=success|requeue|error|exception},
// kiln_reconcile_errors_total{controller,category=retryable|terminal|invalid-input} (an exception
// counts as retryable), kiln_reconcile_duration_seconds{controller}, plus the queue's
// kiln_workqueue_* (name=controller).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "common/result.h"
#include "kube/informer.h"
#include "kube/resource.h"
#include "kube/work_queue.h"

namespace kiln::kube {

struct Requeue {
  std::optional<Clock::duration> delay;  // nullopt: wait for a change.
  static Requeue after(Clock::duration d) { return Requeue{d}; }
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  [[nodiscard]] virtual Result<Requeue> reconcile(const ObjectKey& key) = 0;
};

struct ControllerMetrics {
  explicit ControllerMetrics(metrics::Registry& registry);
  metrics::Family<metrics::Counter>& reconciles;
  metrics::Family<metrics::Counter>& errors;  // By category.
  metrics::Family<metrics::Histogram>& duration;
  std::shared_ptr<WorkQueueMetrics> queue;
};

struct ControllerOptions {
  int workers = 2;
  std::chrono::milliseconds resync{0};           // 0: no periodic resync.
  WorkQueueOptions queue{};                      // name and metrics are set from the controller's.
  std::shared_ptr<ControllerMetrics> metrics{};  // Null: a private registry.
};

class Controller {
 public:
  // `reconciler` must outlive the controller.
  Controller(std::string name, Reconciler& reconciler, ControllerOptions options = {});
  ~Controller();  // stop()

  // Register sources before the informers start.
  void watch_primary(Informer& informer);
  void watch_owned(Informer& informer, const std::string& owner_kind);
  void watch_mapped(Informer& informer,
                    std::function<std::vector<std::string>(const nlohmann::json&)> map);

  // Starts the workers (and the resync loop). Call once.
  void start();
  // Stops taking new keys, lets running reconciles finish, joins the workers.
  void stop();

  WorkQueue& queue() { return *queue_; }
  const std::string& name() const { return name_; }

 private:
  void worker();
  void process(const std::string& key);
  // Requeues a failed key by `category` and counts it.
  void handle_error(const std::string& key, ErrorCategory category);
  void resync_loop();

  const std::string name_;
  Reconciler& reconciler_;
  ControllerOptions options_;
  std::unique_ptr<metrics::Registry> own_registry_;
  std::shared_ptr<ControllerMetrics> metrics_;
  std::unique_ptr<WorkQueue> queue_;
  Informer* primary_ = nullptr;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

// The key of the controller owner of `child` whose kind is `owner_kind`, if any.
std::optional<std::string> controller_owner_key(const nlohmann::json& child,
                                                const std::string& owner_kind);

}  // namespace kiln::kube
