#pragma once

// Carries out a controller's plan against the API server: the reconcilers' "act" step, shared by
// every kind so none writes its own apply/delete/status code.
//
//   1. server-side apply of every desired child (field manager kiln-manager, force: the
//      controller owns its fields and takes them back), except a child whose cached copy shows the
//      apply would change nothing (see already_applied): reconciles run on every child event,
//      and re-sending unchanged children spent most of the client's QPS budget on no-ops,
//   2. deletes (a child already gone is fine),
//   3. metadata merge patches of other objects (annotations only; never spec),
//   4. the parent's status, with a PUT to the status subresource carrying the cached
//      resourceVersion, only when it differs from the cached status (a 409 is returned as a
//      retryable error: the reconcile runs again on the newer object),
//   5. Events on the parent.
// The first failing API call stops the plan and returns its error (retried by the work queue when
// retryable; a terminal or invalid-input one waits for the parent's next change); everything
// before it is idempotent, so a retry converges.
//
// A failed plan is reported on the parent as Crossplane does: condition Synced=False, reason
// ReconcileError, the error's message (cut to 4 KiB), written to the cached status through the
// status subresource with the cached resourceVersion, so nothing else in the status changes and a
// newer object is never overwritten. A 409 is not reported (the newer object's event runs the
// reconcile again at once). Once an object carries Synced, a successful plan sets it True with
// reason ReconcileSuccess; objects that never failed carry no Synced condition, which spares every
// object a status write.
//
// Thread-safety: execute() may be called from several workers at once (the client and the event
// recorder are thread-safe).

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "controllers/common/names.h"
#include "controllers/common/plan.h"
#include "controllers/manager/kinds.h"
#include "kube/client.h"
#include "kube/controller.h"
#include "kube/events.h"
#include "kube/store.h"

namespace kiln::controllers::manager {

using controllers::kFieldManager;  // controllers/common/names.h

// The condition reporting whether the last reconcile carried out its plan, and its reasons.
inline constexpr const char* kSyncedCondition = "Synced";
inline constexpr const char* kReconcileError = "ReconcileError";
inline constexpr const char* kReconcileSuccess = "ReconcileSuccess";

// The annotation carrying a hash of what kiln-manager last applied to a child.
inline constexpr const char* kAppliedHashAnnotation = "kiln.dev/applied-hash";

// Returns `desired` with metadata.annotations[kAppliedHashAnnotation] set to the first 16 hex
// digits of the SHA-256 (OpenSSL) of its JSON text without that annotation. The hash changes when
// any field the plan sends changes, including a field it stops sending.
nlohmann::json stamp_applied_hash(nlohmann::json desired);

// True when `desired` (stamped) is already in `observed` (the cached child): every field of
// `desired` has the same value in `observed`: objects key by key, arrays of the same length
// element by element, scalars equal (numbers by value); an empty list or map sent matches an
// absent field (the server omits empty ones). Fields the server replaces whole (a Service's
// selector, nodeSelector, tolerations, an HPA's metrics) must be equal, not only contain what is
// sent. The top level's apiVersion and kind are not compared (list items come without them).
// The caches hold no managedFields, so a field whose ownership another manager took while keeping
// our value is not seen; an apply would not prune such a shared field either. Together with the
// hash annotation this means a server-side apply would change nothing: the fields sent are set, and
// no field was dropped from the plan since the last apply. A value the server normalizes (a
// quantity "0.5" read back as "500m") never matches, so such a child is applied every time, as
// without this check.
bool already_applied(const nlohmann::json& observed, const nlohmann::json& desired);
// The JSON pointer of the first field of `desired` that `observed` lacks or holds another value
// of ("/spec/replicas"); empty when already_applied. For logs.
std::string applied_difference(const nlohmann::json& observed, const nlohmann::json& desired);

// Where the executor finds a child's cached copy: (resource, namespace, name) → the object, or
// null when it is not cached (then it is applied).
using ObservedLookup = std::function<kube::ObjectPtr(const kube::ResourceRef&, const std::string&,
                                                     const std::string&)>;

// What the executor carries out: the plan every kind returns (controllers/common/plan.h), taken
// as it is. A null `status` keeps the object's.
using Actions = controllers::Plan;

class Executor {
 public:
  // `client` and `events` must outlive the executor. Without `observed`, every child is applied
  // on every call.
  Executor(kube::Client& client, kube::EventRecorder& events, ObservedLookup observed = {})
      : client_(client), events_(events), observed_(std::move(observed)) {}

  // Carries out `actions` for `parent` (the cached object: apiVersion, kind, metadata, status) of
  // resource `parent_resource`. Returns the requeue the plan asked for, or the first failing
  // call's error (its code, reason and category kept) after reporting it on the parent (Synced).
  //
  // Own writes not yet in the cache (client-go's expectations): after this executor wrote a
  // parent's status, a `parent` still at the resourceVersion that write replaced is a copy the
  // cache has not updated yet, planned from a status that is no longer current (a rollout step
  // behind, a restart count behind). Such a plan is not carried out — it would apply children of
  // the past, e.g. roll a canary's weight back — and the call returns a requeue after
  // kAwaitOwnWrite instead, for at most kAwaitOwnWriteLimit after the write (then the copy is
  // taken as it is). Thread-safe: reconciles of different keys may call it at once.
  Result<kube::Requeue> execute(const nlohmann::json& parent,
                                const kube::ResourceRef& parent_resource, const Actions& actions);

  static constexpr std::chrono::milliseconds kAwaitOwnWrite{250};
  static constexpr std::chrono::seconds kAwaitOwnWriteLimit{10};

 private:
  Result<kube::Requeue> carry_out(const nlohmann::json& parent, const kube::ResourceRef& r,
                                  const Actions& actions);
  // Sets Synced=False (ReconcileError, the message of `error`) on the parent's cached status and
  // writes it when that changes it. A failure to write is logged, not returned.
  void report_failure(const nlohmann::json& parent, const kube::ResourceRef& r,
                      const Error& error);
  // PUTs `status` on the parent's status subresource. With `expect` (the plan's own write), a
  // write that changed the object's resourceVersion is remembered for awaiting_own_write; the
  // Synced report of a failure is not (its retry keeps its backoff).
  Result<void> update_status(const nlohmann::json& parent, const kube::ResourceRef& r,
                             const nlohmann::json& status, bool expect = true);
  // Whether `parent` is a copy older than this executor's last status write to it (see execute);
  // forgets the write once the cache shows anything else.
  bool awaiting_own_write(const nlohmann::json& parent);

  // A status write the cache may not show yet: the resourceVersion it replaced, and when.
  struct OwnWrite {
    std::string replaced_version;
    std::chrono::steady_clock::time_point at;
  };

  kube::Client& client_;
  kube::EventRecorder& events_;
  ObservedLookup observed_;
  std::mutex own_writes_mu_;
  std::map<std::string, OwnWrite> own_writes_;  // By "<resource>/<namespace>/<name>".
};

}  // namespace kiln::controllers::manager
