#pragma once

// The informer's cache: objects by key, plus indexes by namespace, owner UID and label. One writer
// (the informer thread), many readers. Readers get std::shared_ptr<const json>: immutable
// objects they may keep as long as they like, cheap to copy, never changed under them.
// A re-list replaces the whole content in one swap, so a reader sees the old or the new list,
// never a mix.
//
// Thread-safety: all const members may be called from any thread concurrently with the writer.

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

class Store {
 public:
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
  struct Content {
    std::unordered_map<std::string, ObjectPtr> objects;
    // index name -> value -> keys
    std::unordered_map<std::string,
                       std::unordered_map<std::string, std::unordered_set<std::string>>>
        indexes;
    void index(const std::string& key, const nlohmann::json& object);
    void unindex(const std::string& key, const nlohmann::json& object);
  };

  mutable std::shared_mutex mutex_;
  std::unique_ptr<Content> content_ = std::make_unique<Content>();  // Guarded by mutex_.
};

}  // namespace kiln::kube
