#pragma once

// The informer's cache: objects by key, plus indexes by namespace, owner UID and label. One writer
// (the informer thread), many readers. Readers get std::shared_ptr<const json>: immutable
// objects they may keep as long as they like, cheap to copy, never changed under them.
// A re-list replaces the whole content in one swap, so a reader sees the old or the new list,
// never a mix.
//
// Two storage forms (StoreOptions::compact):
//   parsed   (default) each object is kept as its nlohmann::json tree and reads share it: a read
//            costs a shared_ptr copy. A tree costs several times its JSON text (bench/kube:
//            ~2.9 KB per stripped ConfigMap, ~20 KB per stripped pod-shaped object).
//   compact  each object is kept as MessagePack bytes (nlohmann::json::to_msgpack, spec
//            https://github.com/msgpack/msgpack/blob/master/spec.md) and every read decodes a fresh
//            tree (microseconds per object): about a fifth of the memory, for caches much larger
//            than what is read of them (all pods, read by a few label selectors).
// Readers see the same objects either way.
//
// Thread-safety: all const members may be called from any thread concurrently with the writer.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace kiln::kube {

using ObjectPtr = std::shared_ptr<const nlohmann::json>;

// The index names Store maintains.
inline constexpr const char* kIndexNamespace = "namespace";  // value: the namespace
inline constexpr const char* kIndexOwner = "owner";          // value: an ownerReference's uid
inline constexpr const char* kIndexLabel = "label";          // value: "key=value"

// "namespace/name" (or "name") of an object; "" when it has no metadata.name.
std::string object_key(const nlohmann::json& object);

struct StoreOptions {
  // Keep objects as MessagePack bytes and decode on read (see above).
  bool compact = false;
};

class Store {
 public:
  explicit Store(StoreOptions options = {}) : options_(options) {}

  ObjectPtr get(const std::string& key) const;  // Null when absent.
  std::vector<ObjectPtr> list() const;
  // Objects whose index value matches, e.g. by_index(kIndexLabel, "app=web").
  std::vector<ObjectPtr> by_index(const std::string& index, const std::string& value) const;
  std::vector<std::string> keys() const;
  size_t size() const;

  // Writer side (one thread). replace() swaps the whole content at once.
  void replace(std::vector<ObjectPtr> objects);
  // Inserts or replaces; returns the previous object (null if new).
  ObjectPtr upsert(ObjectPtr object);
  // Removes; returns the removed object (null if absent).
  ObjectPtr erase(const std::string& key);

 private:
  // One stored object: `object` in the parsed form, `packed` (MessagePack) in the compact one.
  struct Entry {
    ObjectPtr object;
    std::vector<std::uint8_t> packed;
  };
  Entry make_entry(ObjectPtr object) const;
  ObjectPtr read(const Entry& entry) const;

  struct Content {
    std::unordered_map<std::string, Entry> objects;
    // index name -> value -> keys
    std::unordered_map<std::string,
                       std::unordered_map<std::string, std::unordered_set<std::string>>>
        indexes;
    void index(const std::string& key, const nlohmann::json& object);
    void unindex(const std::string& key, const nlohmann::json& object);
  };

  const StoreOptions options_;
  mutable std::shared_mutex mutex_;
  std::unique_ptr<Content> content_ = std::make_unique<Content>();  // Guarded by mutex_.
};

}  // namespace kiln::kube
