#include "kube/store.h"

#include <zdict.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>

namespace kiln::kube {
namespace {

using nlohmann::json;

// Calls f(index, value) for every index entry of `object`.
template <class F>
void for_each_index_value(const json& object, F&& f) {
  if (!object.contains("metadata")) return;
  const auto& meta = object["metadata"];
  f(kIndexNamespace, meta.value("namespace", ""));
  if (auto it = meta.find("ownerReferences"); it != meta.end() && it->is_array()) {
    for (const auto& owner : *it) f(kIndexOwner, owner.value("uid", ""));
  }
  if (auto it = meta.find("labels"); it != meta.end() && it->is_object()) {
    for (auto label = it->begin(); label != it->end(); ++label) {
      const json& v = label.value();
      f(kIndexLabel,
        label.key() + "=" + (v.is_string() ? v.get_ref<const std::string&>() : v.dump()));
    }
  }
}

// A reading thread's decompression buffer is kept up to this size between reads.
constexpr size_t kKeptBufferBytes = 256 * 1024;

// Bytes this store wrote itself fail to decode only on memory corruption: an invariant, not input.
[[noreturn]] void corrupt(const char* what) {
  std::fprintf(stderr, "kiln store: stored object does not decode (%s)\n", what);
  std::abort();
}

ObjectPtr from_msgpack(const std::uint8_t* data, size_t size) {
  json object = json::from_msgpack(data, data + size, true, false);
  if (object.is_discarded()) corrupt("MessagePack");
  return std::make_shared<const json>(std::move(object));
}

}  // namespace

std::string object_key(const json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  std::string name = meta->value("name", "");
  std::string ns = meta->value("namespace", "");
  return ns.empty() ? name : ns + "/" + name;
}

// ---- Codec: a trained zstd dictionary and the tables built from it

class Store::Codec {
 public:
  // Trains from `samples` (MessagePack of objects); null when zstd finds nothing worth a
  // dictionary.
  static std::shared_ptr<const Codec> train(
      const std::vector<const std::vector<uint8_t>*>& samples);
  ~Codec();

  // Writer side only (one compression context).
  std::vector<std::uint8_t> compress(const std::vector<std::uint8_t>& msgpack) const;
  // Any thread.
  ObjectPtr decode(const std::vector<std::uint8_t>& frame) const;
  unsigned id() const { return id_; }
  // The dictionary with zstd's tables built from it (the store's fixed cost).
  size_t bytes() const { return ZSTD_sizeof_CCtx(cctx_) + ZSTD_sizeof_DDict(ddict_); }

 private:
  explicit Codec(const std::vector<char>& dictionary);  // zstd copies it into its tables.
  bool ready_ = false;  // Both contexts made and the dictionary loaded.
  unsigned id_ = 0;     // The dictionary's ID (ZDICT_getDictID).
  ZSTD_DDict* ddict_ = nullptr;
  ZSTD_CCtx* cctx_ = nullptr;
  mutable std::vector<std::uint8_t> scratch_;  // Compression output, writer side.
};

std::shared_ptr<const Store::Codec> Store::Codec::train(
    const std::vector<const std::vector<uint8_t>*>& samples) {
  std::vector<char> joined;
  std::vector<size_t> sizes;
  for (const auto* sample : samples) {
    joined.insert(joined.end(), sample->begin(), sample->end());
    sizes.push_back(sample->size());
  }
  std::vector<char> dictionary(
      std::min(kDictionaryMaxBytes, std::max<size_t>(joined.size() / 20, 1024)));
  size_t size = ZDICT_trainFromBuffer(dictionary.data(), dictionary.size(), joined.data(),
                                      sizes.data(), static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(size)) return nullptr;
  dictionary.resize(size);
  std::shared_ptr<const Codec> codec(new Codec(dictionary));
  return codec->ready_ ? codec : nullptr;
}

Store::Codec::Codec(const std::vector<char>& dictionary)
    : id_(ZDICT_getDictID(dictionary.data(), dictionary.size())) {
  ddict_ = ZSTD_createDDict(dictionary.data(), dictionary.size());
  cctx_ = ZSTD_createCCtx();
  if (!ddict_ || !cctx_) return;
  // Small match tables (2^12 entries): objects are a few KB, the dictionary at most 32 KB, and
  // the default (2^17) would cost ~0.5 MB per store for no measurable gain in size.
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, ZSTD_CLEVEL_DEFAULT);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_hashLog, 12);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_chainLog, 12);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_dictIDFlag, 0);  // The store knows its dictionary.
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 0);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_contentSizeFlag, 1);  // decode() sizes its buffer by it.
  // Sticky: every later frame of this context uses it.
  ready_ = !ZSTD_isError(ZSTD_CCtx_loadDictionary(cctx_, dictionary.data(), dictionary.size()));
}

Store::Codec::~Codec() {
  ZSTD_freeCCtx(cctx_);
  ZSTD_freeDDict(ddict_);
}

std::vector<std::uint8_t> Store::Codec::compress(const std::vector<std::uint8_t>& msgpack) const {
  scratch_.resize(ZSTD_compressBound(msgpack.size()));
  size_t n =
      ZSTD_compress2(cctx_, scratch_.data(), scratch_.size(), msgpack.data(), msgpack.size());
  if (ZSTD_isError(n)) {  // Only allocation can fail with a bound-sized output.
    throw std::bad_alloc();
  }
  return {scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(n)};
}

ObjectPtr Store::Codec::decode(const std::vector<std::uint8_t>& frame) const {
  struct Context {  // One decompression context and buffer per reading thread.
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    std::vector<std::uint8_t> buffer;
    ~Context() { ZSTD_freeDCtx(dctx); }
  };
  thread_local Context context;
  if (!context.dctx) throw std::bad_alloc();
  auto size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) corrupt("zstd header");
  context.buffer.resize(size);
  size_t n = ZSTD_decompress_usingDDict(context.dctx, context.buffer.data(), size, frame.data(),
                                        frame.size(), ddict_);
  if (ZSTD_isError(n) || n != size) corrupt(ZSTD_getErrorName(n));
  ObjectPtr object = from_msgpack(context.buffer.data(), n);
  if (context.buffer.capacity() > kKeptBufferBytes) context.buffer = {};  // A rare large object.
  return object;
}

// ---- Content: one generation of the store

struct Store::Content {
  // One stored object: `object` in the parsed form, `packed` in the compact one (a zstd frame
  // when `codec` is set, plain MessagePack until then).
  struct Entry {
    ObjectPtr object;
    std::vector<std::uint8_t> packed;
  };

  using Objects = std::unordered_map<std::string, Entry>;
  using Node = Objects::value_type;  // Stays where it is until erased (rehashing moves no node).

  bool compact = false;
  std::shared_ptr<const Codec> codec;
  Objects objects;
  // index name -> value -> the objects' nodes (pointers, not copies of their keys: a pod's four
  // index entries would otherwise cost more than its compressed bytes).
  std::unordered_map<std::string, std::unordered_map<std::string, std::unordered_set<const Node*>>>
      indexes;

  Entry encode(ObjectPtr object) const {
    if (!compact) return {std::move(object), {}};
    Entry entry{nullptr, json::to_msgpack(*object)};
    if (codec) {
      entry.packed = codec->compress(entry.packed);
    } else {
      entry.packed.shrink_to_fit();
    }
    return entry;
  }

  static ObjectPtr read(const Codec* codec, const Entry& entry) {
    if (entry.object) return entry.object;
    if (codec) return codec->decode(entry.packed);
    return from_msgpack(entry.packed.data(), entry.packed.size());
  }
  ObjectPtr read(const Entry& entry) const { return read(codec.get(), entry); }

  // What a reader copies under the lock and decodes after releasing it: the parsed form's trees
  // (shared, not copied), the compact form's bytes (tens to hundreds each). Decoding, the costly
  // part (tens of microseconds a pod), so never holds the lock nor keeps the writer waiting.
  struct Taken {
    std::shared_ptr<const Codec> codec;
    std::vector<Entry> entries;
    std::vector<ObjectPtr> decode() const {
      std::vector<ObjectPtr> out;
      out.reserve(entries.size());
      for (const auto& entry : entries) out.push_back(read(codec.get(), entry));
      return out;
    }
  };

  void index(const Node* node, const json& object) {
    for_each_index_value(object, [&](const char* index, const std::string& value) {
      indexes[index][value].insert(node);
    });
  }

  void unindex(const Node* node, const json& object) {
    for_each_index_value(object, [&](const char* index, const std::string& value) {
      auto& values = indexes[index];
      auto it = values.find(value);
      if (it == values.end()) return;
      it->second.erase(node);
      if (it->second.empty()) values.erase(it);
    });
  }

  // Inserts or replaces the object under `key` with `entry` (encoded from `object`); returns the
  // previous object when `want_previous`, else null.
  ObjectPtr put(const std::string& key, const json& object, Entry entry, bool want_previous) {
    auto [it, inserted] = objects.try_emplace(key);
    const Node* node = &*it;
    ObjectPtr previous;
    if (!inserted) {
      previous = read(it->second);
      unindex(node, *previous);
    }
    index(node, object);
    it->second = std::move(entry);
    return want_previous ? previous : nullptr;
  }

  ObjectPtr remove(const std::string& key) {
    auto it = objects.find(key);
    if (it == objects.end()) return nullptr;
    ObjectPtr previous = read(it->second);
    unindex(&*it, *previous);
    objects.erase(it);
    return previous;
  }
};

// ---- Store

Store::Store(StoreOptions options) : options_(options), content_(std::make_unique<Content>()) {
  content_->compact = options_.compact;
}

Store::~Store() = default;

ObjectPtr Store::get(const std::string& key) const {
  std::shared_ptr<const Codec> codec;
  Content::Entry packed;
  {
    std::shared_lock lock(mutex_);
    auto it = content_->objects.find(key);
    if (it == content_->objects.end()) return nullptr;
    if (it->second.object) return it->second.object;
    codec = content_->codec;
    packed.packed = it->second.packed;  // Decoded below, without the lock (see Taken).
  }
  return Content::read(codec.get(), packed);
}

std::vector<ObjectPtr> Store::list() const {
  Content::Taken taken;
  {
    std::shared_lock lock(mutex_);
    taken.codec = content_->codec;
    taken.entries.reserve(content_->objects.size());
    for (const auto& [key, entry] : content_->objects) taken.entries.push_back(entry);
  }
  return taken.decode();
}

std::vector<ObjectPtr> Store::by_index(const std::string& index, const std::string& value) const {
  Content::Taken taken;
  {
    std::shared_lock lock(mutex_);
    auto values = content_->indexes.find(index);
    if (values == content_->indexes.end()) return {};
    auto nodes = values->second.find(value);
    if (nodes == values->second.end()) return {};
    taken.codec = content_->codec;
    taken.entries.reserve(nodes->second.size());
    for (const auto* node : nodes->second) taken.entries.push_back(node->second);
  }
  return taken.decode();
}

std::vector<std::string> Store::keys() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> out;
  out.reserve(content_->objects.size());
  for (const auto& [key, entry] : content_->objects) out.push_back(key);
  return out;
}

size_t Store::size() const {
  std::shared_lock lock(mutex_);
  return content_->objects.size();
}

unsigned Store::dictionary_id() const {
  std::shared_lock lock(mutex_);
  return content_->codec ? content_->codec->id() : 0;
}

size_t Store::codec_bytes() const {
  std::shared_lock lock(mutex_);
  return content_->codec ? content_->codec->bytes() : 0;
}

Store::Builder Store::builder() { return Builder(*this); }

Store::Snapshot Store::replace(Builder builder) {
  if (options_.compact && !codec_ && builder.size() >= kDictionaryMinObjects) builder.train();
  std::unique_ptr<Content> old;
  {
    std::unique_lock lock(mutex_);
    old = std::exchange(content_, std::move(builder.content_));
  }
  return Snapshot(std::move(old));  // Freed by the caller, outside the lock.
}

Store::Snapshot Store::replace(std::vector<ObjectPtr> objects) {
  Builder fresh = builder();
  for (auto& object : objects) fresh.add(std::move(object));
  return replace(std::move(fresh));
}

ObjectPtr Store::upsert(ObjectPtr object) {
  std::string key = object_key(*object);
  Content::Entry entry = content_->encode(object);  // Encoded outside the lock.
  std::unique_lock lock(mutex_);
  return content_->put(key, *object, std::move(entry), true);
}

ObjectPtr Store::erase(const std::string& key) {
  std::unique_lock lock(mutex_);
  return content_->remove(key);
}

// ---- Builder

Store::Builder::Builder(Store& store) : store_(&store), content_(std::make_unique<Content>()) {
  content_->compact = store.options_.compact;
  content_->codec = store.codec_;
}

Store::Builder::Builder(Builder&&) noexcept = default;
Store::Builder& Store::Builder::operator=(Builder&&) noexcept = default;
Store::Builder::~Builder() = default;

size_t Store::Builder::size() const { return content_->objects.size(); }

void Store::Builder::add(ObjectPtr object) {
  std::string key = object_key(*object);
  Content::Entry entry = content_->encode(object);
  content_->put(key, *object, std::move(entry), false);
  if (content_->compact && !content_->codec && size() == kDictionaryTrainObjects) train();
}

void Store::Builder::train() {
  std::vector<const std::vector<std::uint8_t>*> samples;
  size_t bytes = 0;
  for (const auto& [key, entry] : content_->objects) {
    if (samples.size() == kDictionaryTrainObjects || bytes >= kDictionaryTrainBytes) break;
    samples.push_back(&entry.packed);
    bytes += entry.packed.size();
  }
  auto codec = Codec::train(samples);
  if (!codec) return;  // Stays plain MessagePack; the next list tries again.
  store_->codec_ = codec;
  content_->codec = codec;
  for (auto& [key, entry] : content_->objects) entry.packed = codec->compress(entry.packed);
}

// ---- Snapshot

Store::Snapshot::Snapshot(std::unique_ptr<Content> content) : content_(std::move(content)) {
  content_->indexes.clear();  // Only take() and keys() are left to serve.
}

Store::Snapshot::Snapshot(Snapshot&&) noexcept = default;
Store::Snapshot::~Snapshot() = default;

ObjectPtr Store::Snapshot::take(const std::string& key) {
  auto it = content_->objects.find(key);
  if (it == content_->objects.end()) return nullptr;
  ObjectPtr object = content_->read(it->second);
  content_->objects.erase(it);
  return object;
}

std::vector<std::string> Store::Snapshot::keys() const {
  std::vector<std::string> out;
  out.reserve(content_->objects.size());
  for (const auto& [key, entry] : content_->objects) out.push_back(key);
  return out;
}

}  // namespace kiln::kube
