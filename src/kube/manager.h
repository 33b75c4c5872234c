#pragma once

// The manager: wires informers, controllers, leader election and the probe/metrics endpoint, and
// shuts them down in order (controller-runtime's manager.Manager).
//
//   const ResourceRef kTrainingJobs{"kiln.dev", "v1alpha1", "trainingjobs", true};
//   const ResourceRef kJobs{"batch", "v1", "jobs", true};
//   Manager manager(client, {.port = 8080, .leader_election = LeaderElectionOptions{...}});
//   Informer& jobs = manager.informer(kJobs);
//   Controller& c = manager.controller("trainingjob", reconciler);  // reconciler: a Reconciler&
//   c.watch_primary(manager.informer(kTrainingJobs));
//   c.watch_owned(jobs, "TrainingJob");
//   Result<void> stopped = manager.run();  // Until SIGTERM/SIGINT or stop().
//
// One port serves:
//   /healthz  200 while the process runs its loops;
//   /readyz   200 once every informer has synced (503 before, and while shutting down);
//   /metrics  the shared Prometheus registry (client, work queues, reconciles, leader).
// Only the leader runs controllers (when leader election is configured); informers run on every
// replica so a new leader starts with warm caches.
//
// Shutdown (SIGTERM, SIGINT or stop()): readiness goes false, controllers drain (running
// reconciles finish), the lease is released, informers stop, the HTTP server closes.
//
// Thread-safety: build (informer(), controller()) from one thread before run(); stop() from any.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "kube/client.h"
#include "kube/controller.h"
#include "kube/health_server.h"
#include "kube/informer.h"
#include "kube/leader_election.h"

namespace kiln::kube {

struct ManagerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 8080;  // 0: any free port (see Manager::port()).
  std::optional<LeaderElectionOptions> leader_election{};
  bool handle_signals = true;  // Stop on SIGTERM/SIGINT.
  std::chrono::milliseconds sync_timeout{120000};
};

class Manager {
 public:
  // `client` must outlive the manager.
  Manager(Client& client, ManagerOptions options);
  ~Manager();

  metrics::Registry& registry() { return registry_; }
  // Also exposes `other` at /metrics, after this manager's own families (e.g. the registry of the
  // client's metrics, made before the manager). Its family names must differ from the manager's.
  // `other` must outlive the manager. Call before run().
  void expose_registry(const metrics::Registry& other) { extra_registries_.push_back(&other); }
  Client& client() { return client_; }
  // One informer per (resource, namespace, selectors); the manager owns it.
  Informer& informer(const ResourceRef& resource, WatcherOptions watch = {},
                     InformerOptions options = {});
  Controller& controller(const std::string& name, Reconciler& reconciler,
                         ControllerOptions options = {});

  // Runs until stop() or a signal. Errors: the port cannot be bound, or caches never synced.
  Result<void> run();
  void stop();

  int port() const { return server_.port(); }
  bool ready() const { return ready_.load(); }
  bool leading() const { return leading_.load(); }
  // Blocks until run() serves its port (or stopped); for tests and callers on other threads.
  bool wait_until_serving(std::chrono::milliseconds timeout);

 private:
  HttpReply handle(const std::string& path);
  void start_controllers();
  void stop_controllers();

  Client& client_;
  ManagerOptions options_;
  metrics::Registry registry_;
  std::vector<const metrics::Registry*> extra_registries_;
  std::shared_ptr<ControllerMetrics> controller_metrics_;
  metrics::Gauge& leader_gauge_;
  std::vector<std::unique_ptr<Informer>> informers_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  std::unique_ptr<LeaderElector> elector_;
  HealthServer server_;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool serving_ = false;
  bool controllers_started_ = false;
  std::atomic<bool> ready_{false};
  std::atomic<bool> leading_{false};
};

}  // namespace kiln::kube
