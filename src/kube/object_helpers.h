#pragma once

// Helpers every controller needs, so none writes these patches by hand: finalizers,
// ownerReferences, and server-side apply of a desired object.

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "kube/client.h"

namespace kiln::kube {

// --- ownerReferences -----------------------------------------------------------------------
// The ownerReference naming `owner` as controller (controller=true, blockOwnerDeletion=true), as
// controllerutil.SetControllerReference builds it. `owner` needs apiVersion, kind, name, uid.
nlohmann::json controller_reference(const nlohmann::json& owner);
// Adds (or replaces) the controller reference to `owner` in child.metadata.ownerReferences.
// Errors (invalid-input): the child already has a controller reference to another object.
Result<void> set_controller_reference(nlohmann::json& child, const nlohmann::json& owner);
// True when `child` has a controller reference to `owner`'s uid.
bool is_controlled_by(const nlohmann::json& child, const nlohmann::json& owner);

// --- finalizers ----------------------------------------------------------------------------
bool has_finalizer(const nlohmann::json& object, const std::string& finalizer);
// Adds / removes the finalizer on the server with a merge patch carrying the object's
// resourceVersion (optimistic concurrency: a concurrent change is a 409 to retry). No request when
// nothing changes. Returns the object as the server has it.
Result<nlohmann::json> add_finalizer(Client& client, const ResourceRef& r,
                                     const nlohmann::json& object, const std::string& finalizer);
Result<nlohmann::json> remove_finalizer(Client& client, const ResourceRef& r,
                                        const nlohmann::json& object, const std::string& finalizer);
inline bool is_being_deleted(const nlohmann::json& object) {
  return object.contains("metadata") && object["metadata"].contains("deletionTimestamp");
}

// --- server-side apply -----------------------------------------------------------------------
// Applies `desired` (apiVersion, kind, metadata.name[, namespace] and the fields this manager
// owns) with force: a controller owns its fields and takes them back when another writer changed
// them. Fields it stops sending are removed by the server. Returns the object after apply.
Result<nlohmann::json> apply_desired(Client& client, const ResourceRef& r,
                                     const nlohmann::json& desired,
                                     const std::string& field_manager);

}  // namespace kiln::kube
