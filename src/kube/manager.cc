#include "kube/manager.h"

#include <csignal>

#include "common/log.h"

namespace kiln::kube {
namespace {
// The last SIGTERM/SIGINT received (0: none). Lock-free, so the handler may store to it.
std::atomic<int> g_signalled{0};
static_assert(std::atomic<int>::is_always_lock_free);
}  // namespace

Manager::Manager(Client& client, ManagerOptions options)
    : client_(client),
      options_(std::move(options)),
      controller_metrics_(std::make_shared<ControllerMetrics>(registry_)),
      leader_gauge_(registry_
                        .gauge("kiln_leader_election_master_status",
                               "1 while this replica holds the leader lease.")
                        .with({})) {}

Manager::~Manager() {
  stop();
  stop_controllers();
}

Informer& Manager::informer(const ResourceRef& resource, WatcherOptions watch,
                            InformerOptions options) {
  for (auto& existing : informers_) {
    if (existing->resource() == resource) return *existing;
  }
  informers_.push_back(
      std::make_unique<Informer>(client_, resource, std::move(watch), std::move(options)));
  return *informers_.back();
}

Controller& Manager::controller(const std::string& name, Reconciler& reconciler,
                                ControllerOptions options) {
  options.metrics = controller_metrics_;
  controllers_.push_back(std::make_unique<Controller>(name, reconciler, std::move(options)));
  return *controllers_.back();
}

HttpReply Manager::handle(const std::string& path) {
  if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/readyz") {
    if (ready_) return {200, "text/plain; charset=utf-8", "ok\n"};
    return {503, "text/plain; charset=utf-8", "informers not synced\n"};
  }
  if (path == "/metrics") {
    std::string text = registry_.expose();
    for (const auto* other : extra_registries_) text += other->expose();
    return {200, metrics::kExpositionContentType, text};
  }
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

void Manager::start_controllers() {
  std::lock_guard lock(mutex_);
  if (controllers_started_ || stopping_) return;
  for (auto& c : controllers_) c->start();
  controllers_started_ = true;
}

void Manager::stop_controllers() {
  {
    std::lock_guard lock(mutex_);
    if (!controllers_started_) return;
    controllers_started_ = false;
  }
  for (auto& c : controllers_) c->stop();
}

Result<void> Manager::run() {
  // SIGTERM/SIGINT set a flag (whatever thread receives them, including library thread pools
  // created earlier); a thread of ours polls it and stops the manager.
  struct sigaction action{}, old_term{}, old_int{};
  std::thread signal_thread;
  if (options_.handle_signals) {
    g_signalled.store(0);
    action.sa_handler = [](int sig) { g_signalled.store(sig); };
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, &old_term);
    sigaction(SIGINT, &action, &old_int);
    signal_thread = std::thread([this] {
      for (;;) {
        {
          std::unique_lock lock(mutex_);
          if (cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_; })) return;
        }
        if (int sig = g_signalled.load(); sig != 0) {
          log::info("signal received, shutting down", {{"signal", sig}});
          stop();
          return;
        }
      }
    });
  }
  auto started = server_.start(options_.bind_address, options_.port,
                               [this](const std::string& path) { return handle(path); });
  if (!started.ok()) {
    stop();
    if (signal_thread.joinable()) signal_thread.join();
    return started;
  }
  {
    std::lock_guard lock(mutex_);
    serving_ = true;
  }
  cv_.notify_all();
  log::info("manager serving probes and metrics", {{"port", server_.port()}});

  for (auto& informer : informers_) informer->start();
  bool synced = true;
  for (auto& informer : informers_)
    synced = synced && informer->wait_for_sync(options_.sync_timeout);
  Result<void> result = Ok();
  if (!synced) {
    result = Error::retryable("informers did not sync within the timeout");
    stop();
  } else {
    ready_ = true;
  }

  std::thread election;
  if (synced && options_.leader_election) {
    elector_ = std::make_unique<LeaderElector>(client_, *options_.leader_election);
    election = std::thread([this] {
      elector_->run(
          [this] {
            leading_ = true;
            leader_gauge_.set(1);
            start_controllers();
          },
          [this] {
            leading_ = false;
            leader_gauge_.set(0);
            stop_controllers();
            // A leader that lost its lease must not act on stale beliefs: stop the process.
            stop();
          });
    });
  } else if (synced) {
    start_controllers();
  }

  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return stopping_; });
  }
  ready_ = false;
  stop_controllers();
  if (elector_) elector_->stop();
  if (election.joinable()) election.join();
  for (auto& informer : informers_) informer->stop();
  server_.stop();
  if (signal_thread.joinable()) signal_thread.join();
  if (options_.handle_signals) {
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGINT, &old_int, nullptr);
  }
  log::info("manager stopped");
  return result;
}

void Manager::stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  cv_.notify_all();
}

bool Manager::wait_until_serving(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return serving_ || stopping_; }) && serving_;
}

}  // namespace kiln::kube
