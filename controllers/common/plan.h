#pragma once

// What every controller's pure plan returns: the children to apply, the objects to delete,
// metadata patches of objects it does not own, the new status, the Events to emit and when to
// look again. kiln-manager's executor carries it out: server-side apply of every `apply` object
// with field manager kiln-manager, deletes with the given propagation, merge patches, a status
// update (subresource) when `status` differs from the object's, and Events on the parent.

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kiln::controllers {

// An object to delete or patch.
struct ObjectRef {
  std::string api_version;  // "batch/v1", "v1", ...
  std::string kind;         // "Job", "Service", "PersistentVolumeClaim", "Pod".
  std::string ns;
  std::string name;
  std::string propagation = "Background";  // Background | Foreground | Orphan.

  friend bool operator==(const ObjectRef&, const ObjectRef&) = default;
};

struct Event {
  std::string type;  // "Normal" or "Warning".
  std::string reason;
  std::string message;

  friend bool operator==(const Event&, const Event&) = default;
};

// A merge patch of another object's metadata (never its spec): the only write a plan makes to an
// object it does not own, e.g. {"metadata": {"annotations": {"kiln.dev/canary-model": "..."}}}.
struct MetadataPatch {
  ObjectRef target;
  nlohmann::json patch;
};

struct Plan {
  std::vector<nlohmann::json> apply;  // Complete objects (apiVersion, kind, metadata, spec).
  std::vector<ObjectRef> remove;
  std::vector<MetadataPatch> patches;
  nlohmann::json status = nlohmann::json::object();  // The full new status.
  std::vector<Event> events;
  std::optional<std::chrono::milliseconds> requeue_after;  // Look again after this long.

  // Keeps the earlier of the current and the given requeue time (never below one second: the
  // Job-driven controllers poll no faster).
  void requeue_in(std::chrono::seconds after) {
    requeue_within(std::max<std::chrono::milliseconds>(after, std::chrono::seconds(1)));
  }
  // Keeps the earlier of the current and the given requeue time (never below zero).
  void requeue_within(std::chrono::milliseconds after) {
    if (after < std::chrono::milliseconds(0)) after = std::chrono::milliseconds(0);
    if (!requeue_after || after < *requeue_after) requeue_after = after;
  }
};

// An ObjectRef for an observed object (apiVersion, kind, metadata.namespace, metadata.name).
ObjectRef delete_ref_of(const nlohmann::json& object,
                        const std::string& propagation = "Background");

}  // namespace kiln::controllers
