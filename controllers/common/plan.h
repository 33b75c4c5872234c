#pragma once

// What a controller's pure plan returns: the children to apply, the objects to delete, the new
// status, the Events to emit and when to look again. The reconciler (src/kube runner) carries it
// out: server-side apply of every `apply` object with field manager kiln-manager, deletes with the
// given propagation, a status update (subresource) when `status` differs from the object's, and
// Events attributed to the parent.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kiln::controllers {

// An object to delete.
struct DeleteRef {
  std::string api_version;  // "batch/v1", "v1", ...
  std::string kind;         // "Job", "Service", "PersistentVolumeClaim", "Pod".
  std::string ns;
  std::string name;
  std::string propagation = "Background";  // Background | Foreground | Orphan.

  friend bool operator==(const DeleteRef&, const DeleteRef&) = default;
};

struct Event {
  std::string type;  // "Normal" or "Warning".
  std::string reason;
  std::string message;

  friend bool operator==(const Event&, const Event&) = default;
};

struct Plan {
  std::vector<nlohmann::json> apply;  // Complete objects (apiVersion, kind, metadata, spec).
  std::vector<DeleteRef> remove;
  nlohmann::json status = nlohmann::json::object();  // The full new status.
  std::vector<Event> events;
  std::optional<std::chrono::seconds> requeue_after;  // Look again after this long.

  // Keeps the earlier of the current and the given requeue time (never below one second).
  void requeue_in(std::chrono::seconds after) {
    if (after < std::chrono::seconds(1)) after = std::chrono::seconds(1);
    if (!requeue_after || after < *requeue_after) requeue_after = after;
  }
};

// A DeleteRef for an observed object (apiVersion, kind, metadata.namespace, metadata.name).
DeleteRef delete_ref_of(const nlohmann::json& object,
                        const std::string& propagation = "Background");

}  // namespace kiln::controllers
