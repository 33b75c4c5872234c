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
// A list arrives page by page (WatcherOptions::page_size) as text, and its items are decoded one
// at a time: each is transformed and handed to a Store::Builder before the next is decoded, so
// beyond what the store keeps (every tree in the parsed form, bytes in the compact one) at most
// one object's tree and one page's text exist at once. The new content is swapped in whole when
// the list completes, and only then do handlers hear of it, one object at a time (in the compact
// form each is decoded again for its handlers: tens of microseconds per pod).
//
// Handlers run on the informer's thread, in event order; they must be quick (enqueue a key) and
// must not throw (exceptions are caught and logged). Add handlers before start().

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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

// What an informer does with its watcher's events: objects go through the transform into the
// store (a list page by page into a Store::Builder, swapped in at Restarted) and handlers hear
// what changed (after a list: adds, updates by resourceVersion, deletions of what the list no
// longer has). The Informer owns one and feeds it from its thread; tests and benchmarks feed one
// directly. Not thread-safe: one thread applies events (it is the store's writer). `store` must
// outlive it.
class CacheWriter {
 public:
  CacheWriter(Store& store, std::function<void(nlohmann::json&)> transform,
              std::string resource = "");

  void add_handler(EventHandler handler);
  // Applies one event; true when it completed a list (the store now holds exactly that list).
  bool apply(watcher::Event& event);
  // Objects of the list being received (0 between lists).
  size_t pending() const { return list_ ? list_->size() : 0; }

 private:
  void on_page(watcher::ListPage& page);
  void on_restarted();
  ObjectPtr prepare(nlohmann::json&& object) const;
  template <class F>
  void notify(F&& f);

  Store& store_;
  const std::function<void(nlohmann::json&)> transform_;
  const std::string resource_;  // For logs.
  std::vector<EventHandler> handlers_;
  std::optional<Store::Builder> list_;
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

  const ResourceRef resource_;
  const InformerOptions options_;
  Watcher watcher_;
  Store store_;
  CacheWriter writer_;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable synced_cv_;
  bool synced_ = false;
  int relists_ = 0;
};

}  // namespace kiln::kube
