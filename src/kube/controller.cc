#include "kube/controller.h"

#include "common/log.h"

namespace kiln::kube {

ControllerMetrics::ControllerMetrics(metrics::Registry& registry)
    : reconciles(registry.counter("kiln_reconcile_total", "Reconciles by controller and result.",
                                  {"controller", "result"})),
      errors(registry.counter("kiln_reconcile_errors_total",
                              "Failed reconciles by controller and error category; terminal and "
                              "invalid-input ones are not retried.",
                              {"controller", "category"})),
      duration(registry.histogram("kiln_reconcile_duration_seconds", "Time spent in reconcile.",
                                  {"controller"})),
      queue(std::make_shared<WorkQueueMetrics>(registry)) {}

std::optional<std::string> controller_owner_key(const nlohmann::json& child,
                                                const std::string& owner_kind) {
  const auto meta = child.find("metadata");
  if (meta == child.end()) return std::nullopt;
  auto owners = meta->find("ownerReferences");
  if (owners == meta->end() || !owners->is_array()) return std::nullopt;
  for (const auto& owner : *owners) {
    if (owner.value("controller", false) && owner.value("kind", "") == owner_kind) {
      std::string ns = meta->value("namespace", "");
      std::string name = owner.value("name", "");
      return ns.empty() ? name : ns + "/" + name;
    }
  }
  return std::nullopt;
}

Controller::Controller(std::string name, Reconciler& reconciler, ControllerOptions options)
    : name_(std::move(name)), reconciler_(reconciler), options_(std::move(options)) {
  metrics_ = options_.metrics;
  if (!metrics_) {
    own_registry_ = std::make_unique<metrics::Registry>();
    metrics_ = std::make_shared<ControllerMetrics>(*own_registry_);
  }
  options_.queue.name = name_;
  options_.queue.metrics = metrics_->queue;
  queue_ = std::make_unique<WorkQueue>(options_.queue);
}

Controller::~Controller() { stop(); }

void Controller::watch_mapped(Informer& informer,
                              std::function<std::vector<std::string>(const nlohmann::json&)> map) {
  auto enqueue = [this, map](const ObjectPtr& object) {
    for (const auto& key : map(*object)) queue_->add(key);
  };
  informer.add_handler({.on_add = enqueue,
                        .on_update =
                            [enqueue](const ObjectPtr& old_object, const ObjectPtr& new_object) {
                              enqueue(old_object);  // An owner may have changed: tell both.
                              enqueue(new_object);
                            },
                        .on_delete = enqueue});
}

void Controller::watch_primary(Informer& informer) {
  primary_ = &informer;
  watch_mapped(informer, [](const nlohmann::json& object) {
    return std::vector<std::string>{object_key(object)};
  });
}

void Controller::watch_owned(Informer& informer, const std::string& owner_kind) {
  watch_mapped(informer, [owner_kind](const nlohmann::json& object) {
    std::vector<std::string> keys;
    if (auto key = controller_owner_key(object, owner_kind)) keys.push_back(*key);
    return keys;
  });
}

void Controller::start() {
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    threads_.emplace_back([this] { worker(); });
  }
  if (options_.resync.count() > 0 && primary_ != nullptr) {
    threads_.emplace_back([this] { resync_loop(); });
  }
}

void Controller::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  queue_->shut_down_with_drain();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Controller::worker() {
  // After stop() a worker takes no new key, though the queue still hands out queued ones: a manager
  // with thousands of keys queued stops within one reconcile. The next leader lists everything
  // again, so nothing queued is lost.
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    auto item = queue_->get();
    if (!item) return;
    process(item->key());
  }
}

void Controller::handle_error(const std::string& key, ErrorCategory category) {
  metrics_->errors.with({name_, std::string(to_string(category))}).inc();
  if (category == ErrorCategory::kRetryable) {
    (void)queue_->add_rate_limited(key);
  } else {
    queue_->forget(key);  // Until the key's next change event.
  }
}

void Controller::process(const std::string& key) {
  auto start = std::chrono::steady_clock::now();
  std::string result;
  try {
    auto outcome = reconciler_.reconcile(ObjectKey::parse(key));
    if (!outcome.ok()) {
      result = "error";
      const Error& error = outcome.error();
      const bool retried = error.category() == ErrorCategory::kRetryable;
      log::warn(retried ? "reconcile failed" : "reconcile failed, not retried",
                {{"controller", name_},
                 {"key", key},
                 {"error", error.to_string()},
                 {"retries", queue_->num_requeues(key)}});
      handle_error(key, error.category());
    } else if (outcome->delay) {
      result = "requeue";
      queue_->forget(key);
      queue_->add_after(key, *outcome->delay);
    } else {
      result = "success";
      queue_->forget(key);
    }
  } catch (const std::exception& e) {
    result = "exception";
    log::error("reconcile threw", {{"controller", name_}, {"key", key}, {"what", e.what()}});
    handle_error(key, ErrorCategory::kRetryable);
  } catch (...) {
    result = "exception";
    log::error("reconcile threw a non-exception", {{"controller", name_}, {"key", key}});
    handle_error(key, ErrorCategory::kRetryable);
  }
  metrics_->reconciles.with({name_, result}).inc();
  metrics_->duration.with({name_}).observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

void Controller::resync_loop() {
  std::unique_lock lock(mutex_);
  while (!stop_cv_.wait_for(lock, options_.resync, [&] { return stopping_; })) {
    for (const auto& key : primary_->store().keys()) queue_->add(key);
  }
}

}  // namespace kiln::kube
