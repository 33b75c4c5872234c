#include "kube/object_helpers.h"

#include <algorithm>

namespace kiln::kube {

nlohmann::json controller_reference(const nlohmann::json& owner) {
  const auto& meta = owner.at("metadata");
  return {{"apiVersion", owner.value("apiVersion", "")},
          {"kind", owner.value("kind", "")},
          {"name", meta.value("name", "")},
          {"uid", meta.value("uid", "")},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

Result<void> set_controller_reference(nlohmann::json& child, const nlohmann::json& owner) {
  auto ref = controller_reference(owner);
  auto& refs = child["metadata"]["ownerReferences"];
  if (!refs.is_array()) refs = nlohmann::json::array();
  for (auto& existing : refs) {
    if (existing.value("uid", "") == ref["uid"]) {
      existing = ref;
      return Ok();
    }
    if (existing.value("controller", false)) {
      return Error::invalid_input("object is already controlled by " + existing.value("kind", "") +
                                  " " + existing.value("name", ""));
    }
  }
  refs.push_back(ref);
  return Ok();
}

bool is_controlled_by(const nlohmann::json& child, const nlohmann::json& owner) {
  if (!child.contains("metadata")) return false;
  auto refs = child["metadata"].find("ownerReferences");
  if (refs == child["metadata"].end() || !refs->is_array()) return false;
  std::string uid = owner.at("metadata").value("uid", "");
  return std::any_of(refs->begin(), refs->end(), [&](const nlohmann::json& r) {
    return r.value("controller", false) && r.value("uid", "") == uid;
  });
}

bool has_finalizer(const nlohmann::json& object, const std::string& finalizer) {
  if (!object.contains("metadata")) return false;
  auto list = object["metadata"].find("finalizers");
  if (list == object["metadata"].end() || !list->is_array()) return false;
  return std::find(list->begin(), list->end(), finalizer) != list->end();
}

namespace {

Result<nlohmann::json> patch_finalizers(Client& client, const ResourceRef& r,
                                        const nlohmann::json& object, nlohmann::json finalizers) {
  const auto& meta = object.at("metadata");
  nlohmann::json patch = {{"metadata",
                           {{"finalizers", std::move(finalizers)},
                            {"resourceVersion", meta.value("resourceVersion", "")}}}};
  return client.merge_patch(r, meta.value("namespace", ""), meta.value("name", ""), patch);
}

}  // namespace

Result<nlohmann::json> add_finalizer(Client& client, const ResourceRef& r,
                                     const nlohmann::json& object, const std::string& finalizer) {
  if (has_finalizer(object, finalizer)) return object;
  auto list = object["metadata"].value("finalizers", nlohmann::json::array());
  list.push_back(finalizer);
  return patch_finalizers(client, r, object, std::move(list));
}

Result<nlohmann::json> remove_finalizer(Client& client, const ResourceRef& r,
                                        const nlohmann::json& object,
                                        const std::string& finalizer) {
  if (!has_finalizer(object, finalizer)) return object;
  auto list = object["metadata"]["finalizers"];
  list.erase(std::remove(list.begin(), list.end(), finalizer), list.end());
  return patch_finalizers(client, r, object, std::move(list));
}

Result<nlohmann::json> apply_desired(Client& client, const ResourceRef& r,
                                     const nlohmann::json& desired,
                                     const std::string& field_manager) {
  std::string ns = desired.at("metadata").value("namespace", "");
  return client.apply(r, ns, desired, {.field_manager = field_manager, .force = true});
}

}  // namespace kiln::kube
