#include "kube/store.h"

#include <mutex>

namespace kiln::kube {
namespace {

// Calls f(index, value) for every index entry of `object`.
template <class F>
void for_each_index_value(const nlohmann::json& object, F&& f) {
  if (!object.contains("metadata")) return;
  const auto& meta = object["metadata"];
  f(kIndexNamespace, meta.value("namespace", ""));
  if (auto it = meta.find("ownerReferences"); it != meta.end() && it->is_array()) {
    for (const auto& owner : *it) f(kIndexOwner, owner.value("uid", ""));
  }
  if (auto it = meta.find("labels"); it != meta.end() && it->is_object()) {
    for (auto label = it->begin(); label != it->end(); ++label) {
      const nlohmann::json& v = label.value();
      f(kIndexLabel,
        label.key() + "=" + (v.is_string() ? v.get_ref<const std::string&>() : v.dump()));
    }
  }
}

}  // namespace

std::string object_key(const nlohmann::json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  std::string name = meta->value("name", "");
  std::string ns = meta->value("namespace", "");
  return ns.empty() ? name : ns + "/" + name;
}

void Store::Content::index(const std::string& key, const nlohmann::json& object) {
  for_each_index_value(object, [&](const char* index, const std::string& value) {
    indexes[index][value].insert(key);
  });
}

void Store::Content::unindex(const std::string& key, const nlohmann::json& object) {
  for_each_index_value(object, [&](const char* index, const std::string& value) {
    auto& values = indexes[index];
    auto it = values.find(value);
    if (it == values.end()) return;
    it->second.erase(key);
    if (it->second.empty()) values.erase(it);
  });
}

Store::Entry Store::make_entry(ObjectPtr object) const {
  if (!options_.compact) return {std::move(object), {}};
  Entry entry{nullptr, nlohmann::json::to_msgpack(*object)};
  entry.packed.shrink_to_fit();
  return entry;
}

ObjectPtr Store::read(const Entry& entry) const {
  if (entry.object) return entry.object;
  // Bytes this store wrote itself: decoding cannot fail short of memory corruption.
  return std::make_shared<const nlohmann::json>(nlohmann::json::from_msgpack(entry.packed));
}

ObjectPtr Store::get(const std::string& key) const {
  std::shared_lock lock(mutex_);
  auto it = content_->objects.find(key);
  return it == content_->objects.end() ? nullptr : read(it->second);
}

std::vector<ObjectPtr> Store::list() const {
  std::shared_lock lock(mutex_);
  std::vector<ObjectPtr> out;
  out.reserve(content_->objects.size());
  for (const auto& [key, entry] : content_->objects) out.push_back(read(entry));
  return out;
}

std::vector<ObjectPtr> Store::by_index(const std::string& index, const std::string& value) const {
  std::shared_lock lock(mutex_);
  std::vector<ObjectPtr> out;
  auto values = content_->indexes.find(index);
  if (values == content_->indexes.end()) return out;
  auto keys = values->second.find(value);
  if (keys == values->second.end()) return out;
  for (const auto& key : keys->second) out.push_back(read(content_->objects.at(key)));
  return out;
}

std::vector<std::string> Store::keys() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [key, entry] : content_->objects) out.push_back(key);
  return out;
}

size_t Store::size() const {
  std::shared_lock lock(mutex_);
  return content_->objects.size();
}

void Store::replace(std::vector<ObjectPtr> objects) {
  auto fresh = std::make_unique<Content>();  // Built outside the lock.
  fresh->objects.reserve(objects.size());
  for (auto& object : objects) {
    std::string key = object_key(*object);
    fresh->index(key, *object);
    fresh->objects[key] = make_entry(std::move(object));
  }
  std::unique_ptr<Content> old;
  {
    std::unique_lock lock(mutex_);
    old = std::exchange(content_, std::move(fresh));
  }
  // `old` (and objects only it held) is freed here, outside the lock.
}

ObjectPtr Store::upsert(ObjectPtr object) {
  std::string key = object_key(*object);
  Entry entry = make_entry(object);  // Encoded outside the lock.
  std::unique_lock lock(mutex_);
  auto& slot = content_->objects[key];
  ObjectPtr previous = slot.object || !slot.packed.empty() ? read(slot) : nullptr;
  if (previous) content_->unindex(key, *previous);
  content_->index(key, *object);
  slot = std::move(entry);
  return previous;
}

ObjectPtr Store::erase(const std::string& key) {
  std::unique_lock lock(mutex_);
  auto it = content_->objects.find(key);
  if (it == content_->objects.end()) return nullptr;
  ObjectPtr previous = read(it->second);
  content_->objects.erase(it);
  content_->unindex(key, *previous);
  return previous;
}

}  // namespace kiln::kube
