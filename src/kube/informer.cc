#include "kube/informer.h"

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

CacheWriter::CacheWriter(Store& store, std::function<void(nlohmann::json&)> transform,
                         std::string resource)
    : store_(store), transform_(std::move(transform)), resource_(std::move(resource)) {}

void CacheWriter::add_handler(EventHandler handler) { handlers_.push_back(std::move(handler)); }

ObjectPtr CacheWriter::prepare(nlohmann::json&& object) const {
  if (transform_) transform_(object);
  return std::make_shared<const nlohmann::json>(std::move(object));
}

template <class F>
void CacheWriter::notify(F&& f) {
  for (auto& handler : handlers_) {
    try {
      f(handler);
    } catch (const std::exception& e) {
      log::error("informer handler threw", {{"resource", resource_}, {"what", e.what()}});
    }
  }
}

bool CacheWriter::apply(watcher::Event& event) {
  if (auto* page = std::get_if<watcher::ListPage>(&event)) {
    on_page(*page);
  } else if (std::holds_alternative<watcher::Restarted>(event)) {
    on_restarted();
    return true;
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
  return false;
}

void CacheWriter::on_page(watcher::ListPage& page) {
  if (page.first || !list_) list_.emplace(store_.builder());  // Drops an abandoned list.
  // Each item is stored (compact: encoded) and its tree freed before the next is decoded.
  watcher::for_each_item(page, [&](nlohmann::json& item) { list_->add(prepare(std::move(item))); });
}

void CacheWriter::on_restarted() {
  if (!list_) list_.emplace(store_.builder());  // A list without pages: empty.
  Store::Snapshot before = store_.replace(std::move(*list_));
  list_.reset();
  if (handlers_.empty()) return;
  // Diff against what we had, one object at a time (compact: decoded for the handlers and dropped),
  // so handlers hear about what changed while we were not watching.
  for (const auto& key : store_.keys()) {
    ObjectPtr object = store_.get(key);
    ObjectPtr old = before.take(key);
    if (!object) continue;
    if (!old) {
      notify([&](EventHandler& h) {
        if (h.on_add) h.on_add(object);
      });
    } else if ((*old)["metadata"].value("resourceVersion", "") !=
               (*object)["metadata"].value("resourceVersion", "")) {
      notify([&](EventHandler& h) {
        if (h.on_update) h.on_update(old, object);
      });
    }
  }
  for (const auto& key : before.keys()) {
    ObjectPtr old = before.take(key);
    notify([&](EventHandler& h) {
      if (h.on_delete) h.on_delete(old);
    });
  }
}

Informer::Informer(Client& client, ResourceRef resource, WatcherOptions watch,
                   InformerOptions options)
    : resource_(resource),
      options_(std::move(options)),
      watcher_(client, resource, watch),
      store_(StoreOptions{.compact = options_.compact_store}),
      writer_(store_, options_.transform, resource_.resource) {}

Informer::~Informer() { stop(); }

void Informer::add_handler(EventHandler handler) { writer_.add_handler(std::move(handler)); }

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
  while (!watcher_.stopped()) {
    watcher::Event event = watcher_.step();
    if (!writer_.apply(event)) continue;
    std::lock_guard lock(mutex_);
    ++relists_;
    synced_ = true;
    synced_cv_.notify_all();
  }
}

}  // namespace kiln::kube
