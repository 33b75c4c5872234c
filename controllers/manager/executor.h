#pragma once

// Carries out a controller's plan against the API server: the reconcilers' "act" step, shared by
// every kind so none writes its own apply/delete/status code.
//
//   1. server-side apply of every desired child (field manager kiln-manager, force: the
//      controller owns its fields and takes them back),
//   2. deletes (a child already gone is fine),
//   3. metadata merge patches of other objects (annotations only; never spec),
//   4. the parent's status, with a PUT to the status subresource carrying the cached
//      resourceVersion, only when it differs from the cached status (a 409 is returned as a
//      retryable error: the reconcile runs again on the newer object),
//   5. Events on the parent.
// The first failing API call stops the plan and returns its error (retried by the work queue);
// everything before it is idempotent, so a retry converges.
//
// Thread-safety: execute() may be called from several workers at once (the client and the event
// recorder are thread-safe).

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "kube/client.h"
#include "kube/controller.h"
#include "kube/events.h"

namespace kiln::controllers::manager {

inline constexpr const char* kFieldManager = "kiln-manager";

// The resource of an apiVersion and kind among those Kiln reads or writes. Errors
// (invalid-input): any other kind.
Result<kube::ResourceRef> resource_for(const std::string& api_version, const std::string& kind);

// The parts of a plan, whatever the controller's own Plan type.
struct Actions {
  std::vector<nlohmann::json> apply;
  struct Delete {
    std::string api_version, kind, ns, name, propagation;
  };
  std::vector<Delete> remove;
  struct Patch {
    std::string api_version, kind, ns, name;
    nlohmann::json patch;  // JSON merge patch of metadata.
  };
  std::vector<Patch> patches;
  nlohmann::json status;
  struct Event {
    std::string type, reason, message;
  };
  std::vector<Event> events;
  std::optional<std::chrono::milliseconds> requeue_after;
};

class Executor {
 public:
  // `client` and `events` must outlive the executor.
  Executor(kube::Client& client, kube::EventRecorder& events) : client_(client), events_(events) {}

  // Carries out `actions` for `parent` (the cached object: apiVersion, kind, metadata, status) of
  // resource `parent_resource`. Returns the requeue the plan asked for.
  Result<kube::Requeue> execute(const nlohmann::json& parent,
                                const kube::ResourceRef& parent_resource, const Actions& actions);

 private:
  Result<void> update_status(const nlohmann::json& parent, const kube::ResourceRef& r,
                             const nlohmann::json& status);

  kube::Client& client_;
  kube::EventRecorder& events_;
};

}  // namespace kiln::controllers::manager
