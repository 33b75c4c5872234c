#pragma once

// The informer's cache: objects by key, plus indexes by namespace, owner UID and label. One writer
// (the informer thread), many readers. Readers get std::shared_ptr<const json>: immutable
// objects they may keep as long as they like, cheap to copy, never changed under them.
// A re-list builds a whole new content (Store::Builder, one object at a time, so the list never
// exists as trees all at once) and swaps it in at once: a reader sees the old or the new list,
// never a mix.
//
// Two storage forms (StoreOptions::compact):
//   parsed   (default) each object is kept as its nlohmann::json tree and reads share it: a read
//            costs a shared_ptr copy. A tree costs several times its JSON text.
//   compact  each object is kept as MessagePack (nlohmann::json::to_msgpack, spec
//            https://github.com/msgpack/msgpack/blob/master/spec.md) compressed by zstd (RFC 8878)
//            with a dictionary of the store's own: every read decompresses and decodes a fresh tree
//            (microseconds per object, see below). For caches much larger than what is read of
//            them (all pods, read by a few label selectors).
// Readers see the same objects either way.
//
// The compact form's dictionary (ZDICT_trainFromBuffer, zstd's dictionary builder) is trained
// once per store, from the MessagePack of the first kDictionaryTrainObjects objects of the first
// list that has at least kDictionaryMinObjects, and kept for the store's life: later re-lists,
// upserts and reads all use it, so objects added long after compress as well as they resemble
// what it was trained on (a kind whose shape drifts compresses less, never incorrectly). Until a
// dictionary exists (small stores) objects are kept as plain MessagePack. The dictionary and the
// zstd contexts built from it are a fixed cost per store (130-210 KB in the bench; codec_bytes()),
// plus one decompression context per reading thread (~96 KB, shared by all stores).
//
// Memory, bench/kube/informer_memory_bench.cc: 10,000 objects, managedFields stripped, a first list
// in pages of 500 through the informer's path (CacheWriter), bytes per object as RSS after
// malloc_trim / live heap (the fixed cost included):
//   ConfigMaps    parsed  2,682 / 2,689    compact  308 / 319
//   pod-shaped    parsed 19,473 / 19,481   compact  397 / 398
// Of a compact pod's ~400 bytes ~40 are its compressed object: the bench's pods differ only in
// names and numbers; pods with their own UIDs, container IDs, IPs and times cost 474 / 478. The
// rest is the key, the hash node and the index entries, which point at the node instead of
// copying its key. Reads (Store::get, same bench): parsed ~0.1 us; compact ~3 us for a ConfigMap,
// ~23 us for a pod, nearly all of it building the tree from MessagePack.
//
// Thread-safety: all const members may be called from any thread concurrently with the writer.
// Reads hold a shared lock only to copy what they read (compact: the bytes) and decode after
// releasing it, so a large by_index() or list() never keeps the writer waiting.
// builder(), replace(), upsert() and erase() are the writer's (one thread at a time).

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
  // Keep objects as dictionary-compressed MessagePack and decode on read (see above).
  bool compact = false;
};

// The compact form's dictionary: trained from the first kDictionaryTrainObjects objects (at most
// kDictionaryTrainBytes of them) of the first list with at least kDictionaryMinObjects (below
// that its fixed cost outweighs what it saves); at most kDictionaryMaxBytes and 1/20 of the
// samples (zstd's guide says ~1/100; objects of one kind share most of their bytes, so a small
// one suffices).
inline constexpr size_t kDictionaryMinObjects = 512;
inline constexpr size_t kDictionaryTrainObjects = 1000;
inline constexpr size_t kDictionaryTrainBytes = 8 << 20;  // Samples stop at this many bytes.
inline constexpr size_t kDictionaryMaxBytes = 32 * 1024;

class Store {
  struct Content;
  class Codec;

 public:
  explicit Store(StoreOptions options = {});
  ~Store();

  ObjectPtr get(const std::string& key) const;  // Null when absent.
  std::vector<ObjectPtr> list() const;
  // Objects whose index value matches, e.g. by_index(kIndexLabel, "app=web").
  std::vector<ObjectPtr> by_index(const std::string& index, const std::string& value) const;
  std::vector<std::string> keys() const;
  size_t size() const;
  // Bytes of the compact form's dictionary and the zstd contexts built from it (the store's fixed
  // cost); 0 when none was trained (or the parsed form).
  size_t codec_bytes() const;
  // The compact form's dictionary ID (ZDICT_getDictID; the same for the store's life once
  // trained); 0 when none.
  unsigned dictionary_id() const;

  // A new content built one object at a time, invisible to readers until replace(). Each add()
  // stores (compact: encodes) the object at once, so the caller's tree may die before the next
  // is decoded. Writer side; one builder at a time; the store must outlive it.
  class Builder {
   public:
    Builder(Builder&&) noexcept;
    Builder& operator=(Builder&&) noexcept;
    ~Builder();
    // Adds `object` (non-null); a later add of the same key replaces it.
    void add(ObjectPtr object);
    size_t size() const;

   private:
    friend class Store;
    explicit Builder(Store& store);
    void train();  // Trains the store's dictionary from what was added so far, re-encodes it.
    Store* store_;
    std::unique_ptr<Content> content_;
  };
  Builder builder();

  // What a replace() swapped out: no reader sees it any more; the writer may read and take from
  // it (e.g. to tell handlers what changed) and then drop it. Not thread-safe.
  class Snapshot {
   public:
    Snapshot(Snapshot&&) noexcept;
    ~Snapshot();
    // Removes the object and returns it; null when absent.
    ObjectPtr take(const std::string& key);
    std::vector<std::string> keys() const;

   private:
    friend class Store;
    explicit Snapshot(std::unique_ptr<Content> content);
    std::unique_ptr<Content> content_;
  };

  // Writer side. replace() swaps the whole content at once and returns the old one.
  Snapshot replace(Builder builder);
  Snapshot replace(std::vector<ObjectPtr> objects);
  // Inserts or replaces; returns the previous object (null if new).
  ObjectPtr upsert(ObjectPtr object);
  // Removes; returns the removed object (null if absent).
  ObjectPtr erase(const std::string& key);

 private:
  const StoreOptions options_;
  // The compact form's dictionary once trained (writer side; readers reach it through content_).
  std::shared_ptr<const Codec> codec_;
  mutable std::shared_mutex mutex_;
  std::unique_ptr<Content> content_;  // Guarded by mutex_.
};

}  // namespace kiln::kube
