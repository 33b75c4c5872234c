#pragma once

// Discovery: from a kind (apiVersion + kind, as written in an object) to the resource that serves
// it (client-go's discovery client with a RESTMapper on top, controller-runtime's
// DynamicRESTMapper).
//
//   Discovery discovery(*client);
//   KILN_TRY(ResourceRef jobs, discovery.resolve("kiln.dev/v1alpha1", "TrainingJob"));
//   KILN_TRY(auto job, client->get(jobs, "default", "mnist"));
//
// Source: the API server's discovery documents, APIResourceList objects served at /api/v1 (the
// core group) and /apis/<group>/<version> (every other group)
// (https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api). Each lists the
// resources of one group/version with their plural name, kind and scope. Subresources
// ("pods/status", "deployments/scale") are skipped: they are not what a kind maps to.
//
// Caching: one document per group/version, fetched the first time a kind of it is asked for and
// kept. When a kind is not in the cached document (a CRD installed after we looked), the document
// is fetched once more — but at most once per `min_refresh_interval` per group/version, so asking
// again and again for a kind that truly does not exist costs the server one GET per interval, not
// one per call. A group/version the server does not serve (404) is cached as empty, so a CRD that
// creates a new group is found the same way.
//
// Errors: an unknown kind (not in the document after the refresh, or a refresh not yet allowed)
// is invalid-input, "unknown kind \"<Kind>\" in <apiVersion>"; a malformed apiVersion or empty
// kind is invalid-input; a failed fetch returns the client's error (transport, 5xx, 403) or a
// retryable one (a body that is not an APIResourceList) with "discovery of <apiVersion>" in
// front, and until the next allowed refresh the same error is returned for that group/version's
// unknown kinds (its known kinds keep resolving from the last good document). Nothing throws.
//
// Thread-safety: every member may be called from any thread. At most one fetch of a given
// group/version runs at a time; callers asking about it meanwhile wait for that fetch and use its
// result rather than fetching again. Lookups of kinds already cached take one mutex and never wait
// for a fetch of another group/version.

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "kube/client.h"
#include "kube/clock.h"
#include "kube/resource.h"

namespace kiln::kube {

// One resource of a discovery document: the kind it serves and where.
struct DiscoveredResource {
  std::string kind;  // e.g. "Deployment".
  ResourceRef ref;   // e.g. {"apps", "v1", "deployments", true}.
  friend bool operator==(const DiscoveredResource&, const DiscoveredResource&) = default;
};

// Splits an apiVersion into {group, version}: "apps/v1" -> {"apps", "v1"}, "v1" -> {"", "v1"}.
// Errors: invalid-input when empty, with an empty part, or with more than one '/'.
Result<std::pair<std::string, std::string>> split_api_version(const std::string& api_version);

// Parses an APIResourceList (the body of GET /api/v1 or /apis/<group>/<version>) into its
// top-level resources, in document order. The group and version come from the document's
// `groupVersion`. Skipped: subresources (a name with '/') and entries without a string name and
// kind. `namespaced` defaults to false when absent, as in the API's JSON (omitempty).
// Errors: invalid-input when the document is not an object with a valid string `groupVersion` and
// an array `resources`.
Result<std::vector<DiscoveredResource>> parse_api_resource_list(const nlohmann::json& document);

struct DiscoveryOptions {
  // The least time between two fetches of one group/version's document caused by unknown kinds
  // (the first fetch of a group/version is never delayed).
  Clock::duration min_refresh_interval = std::chrono::seconds(5);
  // Time for the interval above. Must outlive the Discovery.
  const Clock* clock = &SystemClock::instance();
};

class Discovery {
 public:
  // `client` must outlive the Discovery; its rate limit applies to the discovery GETs.
  explicit Discovery(Client& client, DiscoveryOptions options = {});
  ~Discovery();
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // The resource serving `kind` in `api_version` ("v1", "apps/v1", "kiln.dev/v1alpha1"), from
  // the cache or, when unknown, after one rate-limited refresh of that group/version. Errors as in
  // the file comment. May block on a GET to the API server.
  Result<ResourceRef> resolve(const std::string& api_version, const std::string& kind);
  // resolve() of an object's own `apiVersion` and `kind`. Errors: invalid-input when either is
  // missing or not a string.
  Result<ResourceRef> resolve(const nlohmann::json& object);

  // Forgets every cached document and refresh time: the next lookup of each group/version fetches.
  void invalidate();
  // Discovery GETs issued so far (every outcome counted), for metrics and tests.
  int fetches() const;

 private:
  struct GroupVersion;  // One group/version's cached document; defined in discovery.cc.

  std::shared_ptr<GroupVersion> entry(const std::string& api_version);
  Result<ResourceRef> lookup(const GroupVersion& gv, const std::string& api_version,
                             const std::string& kind) const;
  void fetch(GroupVersion& gv, const std::string& api_version);

  Client& client_;
  const DiscoveryOptions options_;
  mutable std::mutex mutex_;
  // apiVersion -> its entry. Guarded by mutex_ (the map and every entry's fields but `fetching`).
  std::unordered_map<std::string, std::shared_ptr<GroupVersion>> entries_;
  int fetches_ = 0;  // Guarded by mutex_.
};

}  // namespace kiln::kube
