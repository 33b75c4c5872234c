#include "kube/informer.h"

#include <unordered_map>

#include "common/log.h"

namespace kiln::kube {

void strip_managed_fields(nlohmann::json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return;
  meta->erase("managedFields");
  if (auto annotations = meta->find("annotations"); annotations != meta->end()) {
    annotations->erase("kubectl.kubernetes.io/last-applied-configuration");
    if (annotations->empty()) meta->erase(annotations);
  }
}

Informer::Informer(Client& client, ResourceRef resource, WatcherOptions watch,
                   InformerOptions options)
    : resource_(resource),
      options_(std::move(options)),
      watcher_(client, resource, watch),
      store_(StoreOptions{.compact = options_.compact_store}) {}

Informer::~Informer() { stop(); }

void Informer::add_handler(EventHandler handler) { handlers_.push_back(std::move(handler)); }

void Informer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  watcher_.stop();
  if (thread_.joinable()) thread_.join();
}

bool Informer::wait_for_sync(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return synced_cv_.wait_for(lock, timeout, [&] { return synced_; });
}

bool Informer::has_synced() const {
  std::lock_guard lock(mutex_);
  return synced_;
}

int Informer::relists() const {
  std::lock_guard lock(mutex_);
  return relists_;
}

void Informer::run() {
  while (!watcher_.stopped()) apply(watcher_.step());
}

ObjectPtr Informer::prepare(nlohmann::json&& object) const {
  if (options_.transform) options_.transform(object);
  return std::make_shared<const nlohmann::json>(std::move(object));
}

template <class F>
void Informer::notify(F&& f) {
  for (auto& handler : handlers_) {
    try {
      f(handler);
    } catch (const std::exception& e) {
      log::error("informer handler threw", {{"resource", resource_.resource}, {"what", e.what()}});
    }
  }
}

void Informer::apply(watcher::Event event) {
  if (auto* restarted = std::get_if<watcher::Restarted>(&event)) {
    on_restarted(*restarted);
  } else if (auto* applied = std::get_if<watcher::Applied>(&event)) {
    ObjectPtr object = prepare(std::move(applied->object));
    ObjectPtr old = store_.upsert(object);
    notify([&](EventHandler& h) {
      if (old && h.on_update) h.on_update(old, object);
      if (!old && h.on_add) h.on_add(object);
    });
  } else if (auto* deleted = std::get_if<watcher::Deleted>(&event)) {
    ObjectPtr old = store_.erase(object_key(deleted->object));
    ObjectPtr last = old ? old : prepare(std::move(deleted->object));
    notify([&](EventHandler& h) {
      if (h.on_delete) h.on_delete(last);
    });
  }
}

void Informer::on_restarted(watcher::Restarted& restarted) {
  std::vector<ObjectPtr> objects;
  objects.reserve(restarted.objects.size());
  for (auto& object : restarted.objects) objects.push_back(prepare(std::move(object)));

  // Diff against what we had, so handlers hear about what changed while we were not watching.
  std::unordered_map<std::string, ObjectPtr> before;
  for (auto& object : store_.list()) before.emplace(object_key(*object), object);
  store_.replace(objects);
  for (const auto& object : objects) {
    auto it = before.find(object_key(*object));
    if (it == before.end()) {
      notify([&](EventHandler& h) {
        if (h.on_add) h.on_add(object);
      });
      continue;
    }
    ObjectPtr old = std::move(it->second);
    before.erase(it);
    if ((*old)["metadata"].value("resourceVersion", "") !=
        (*object)["metadata"].value("resourceVersion", "")) {
      notify([&](EventHandler& h) {
        if (h.on_update) h.on_update(old, object);
      });
    }
  }
  for (const auto& [key, old] : before) {
    notify([&](EventHandler& h) {
      if (h.on_delete) h.on_delete(old);
    });
  }
  std::lock_guard lock(mutex_);
  ++relists_;
  synced_ = true;
  synced_cv_.notify_all();
}

}  // namespace kiln::kube
