#pragma once

// An informer: a Watcher driven by its own thread, feeding a Store and calling handlers
// (client-go's SharedInformer, controller-runtime's cache). The store is exact after each
// Restarted (swapped whole) and follows every Applied/Deleted after it.
//
//   Informer pods(client, resources::kPods, {}, {.transform = strip_managed_fields});
//   pods.add_handler({.on_add = ..., .on_update = ..., .on_delete = ...});
//   pods.start();
//   if (!pods.wait_for_sync(std::chrono::seconds(30))) ...;
//   for (auto& pod : pods.store().by_index(kIndexNamespace, "default")) ...;
//
// Handlers run on the informer's thread, in event order; they must be quick (enqueue a key) and
// must not throw (exceptions are caught and logged). Add handlers before start().

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "kube/store.h"
#include "kube/watcher.h"

namespace kiln::kube {

// Drops metadata.managedFields and the kubectl last-applied annotation: what controllers rarely
// read and what makes up much of an object's size.
void strip_managed_fields(nlohmann::json& object);

struct InformerOptions {
  // Applied to every object before it is stored (and before handlers see it). Empty: none.
  std::function<void(nlohmann::json&)> transform{};
  // Store objects in the compact (MessagePack) form; see store.h.
  bool compact_store = false;
};

struct EventHandler {
  std::function<void(const ObjectPtr&)> on_add{};
  std::function<void(const ObjectPtr& old_object, const ObjectPtr& new_object)> on_update{};
  std::function<void(const ObjectPtr&)> on_delete{};
};

class Informer {
 public:
  // `client` must outlive the informer.
  Informer(Client& client, ResourceRef resource, WatcherOptions watch = {},
           InformerOptions options = {});
  ~Informer();  // Stops and joins.

  void add_handler(EventHandler handler);
  void start();
  void stop();

  // Blocks until the first list is in the store or `timeout` passes; true when synced.
  bool wait_for_sync(std::chrono::milliseconds timeout);
  bool has_synced() const;

  const Store& store() const { return store_; }
  const Watcher& watcher() const { return watcher_; }
  const ResourceRef& resource() const { return resource_; }
  // Restarted events applied so far (the first list included).
  int relists() const;

 private:
  void run();
  void apply(watcher::Event event);
  void on_restarted(watcher::Restarted& restarted);
  ObjectPtr prepare(nlohmann::json&& object) const;
  template <class F>
  void notify(F&& f);

  const ResourceRef resource_;
  const InformerOptions options_;
  Watcher watcher_;
  Store store_;
  std::vector<EventHandler> handlers_;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable synced_cv_;
  bool synced_ = false;
  int relists_ = 0;
};

}  // namespace kiln::kube
