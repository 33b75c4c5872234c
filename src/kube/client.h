#pragma once

// A REST client for any resource of the kube-apiserver, with objects as JSON
// (https://kubernetes.io/docs/reference/using-api/api-concepts/).
//
//   KILN_TRY(auto client, Client::create(config));
//   KILN_TRY(auto cm, client->get(resources::kConfigMaps, "default", "settings"));
//
// Errors: API failures come back as ApiStatus errors ("<code> <reason>: <message>", see
// api_error.h) with the verb and path in front; transport failures (connection refused, TLS
// handshake, timeout) are errors naming the server and the cause: retryable, except a certificate
// that does not verify (terminal). Nothing throws.
//
// Retries: a 429 or 5xx response carrying Retry-After is retried after that many seconds (as
// client-go does), at most `max_retries` times; GETs also retry transport failures with backoff,
// and every verb retries a request that never left (a pooled connection the server had closed).
// Conflicts (409) are returned to the caller, who must re-read before trying again.
//
// Rate limit: every request, watches included, first takes a token from a bucket of Config::qps
// and Config::burst (client-go's 20/30 by default) and waits for it.
//
// Thread-safety: all members may be called concurrently. The Client owns its connection pool.

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/metrics.h"
#include "common/result.h"
#include "kube/clock.h"
#include "kube/config.h"
#include "kube/resource.h"
#include "kube/token_bucket.h"

namespace kiln::kube {

using nlohmann::json;

// The client's Prometheus metrics, registered once per registry and shared by its clients.
struct ClientMetrics {
  explicit ClientMetrics(metrics::Registry& registry);
  metrics::Family<metrics::Counter>& requests;   // kiln_kube_client_requests_total{verb,code}
  metrics::Family<metrics::Histogram>& latency;  // ..._request_duration_seconds{verb}
  metrics::Family<metrics::Histogram>& rate_limiter_wait;  // ..._rate_limiter_wait_seconds{client}
  metrics::Counter& retries;                     // ..._retries_total
};

struct ListOptions {
  std::string label_selector{};  // e.g. "app=web,tier!=db"
  std::string field_selector{};  // e.g. "metadata.name=x"
  int limit = 0;                 // Page size; 0 = the server's default (everything).
  std::string continue_token{};  // From the previous page's metadata.continue.
  std::string resource_version{};
};

struct DeleteOptions {
  std::string propagation_policy{};             // "", "Orphan", "Background" or "Foreground".
  std::string precondition_uid{};               // Delete only if the object still has this UID ...
  std::string precondition_resource_version{};  // ... and/or this resourceVersion.
};

struct ApplyOptions {
  std::string field_manager{};  // Required by server-side apply.
  bool force = false;           // Take ownership of fields other managers own.
};

struct WatchOptions {
  std::string resource_version{};  // Start after this version ("" = now, with synthetic adds).
  std::string label_selector{};
  std::string field_selector{};
  int timeout_seconds = 300;    // The server closes the stream after this.
  bool allow_bookmarks = true;  // Ask for BOOKMARK events carrying the current version.
};

// A raw HTTP response.
struct Response {
  int code = 0;
  std::string body{};
  std::string retry_after{};  // The Retry-After header, "" when absent.
};

class WatchStream;

class Client {
 public:
  // Builds a client for `config`. `metrics` may be null (a private registry is used). `clock` must
  // outlive the client. Errors: invalid-input when the config has no server or CA.
  static Result<std::unique_ptr<Client>> create(Config config,
                                                std::shared_ptr<ClientMetrics> metrics = nullptr,
                                                const Clock& clock = SystemClock::instance());
  ~Client();

  Result<json> get(const ResourceRef& r, const std::string& ns, const std::string& name);
  // One page of a list; `metadata.continue` of the result is the next page's token.
  Result<json> list(const ResourceRef& r, const std::string& ns, const ListOptions& options = {});
  // Every page of a list (options.limit, default 500, as the page size) merged into one List
  // whose metadata.resourceVersion is that of the first page (the snapshot all pages belong to).
  Result<json> list_all(const ResourceRef& r, const std::string& ns, ListOptions options = {});
  Result<json> create(const ResourceRef& r, const std::string& ns, const json& object);
  // PUT: object must carry metadata.name and, for optimistic concurrency, resourceVersion.
  Result<json> update(const ResourceRef& r, const std::string& ns, const json& object);
  // PUT of the status subresource.
  Result<json> update_status(const ResourceRef& r, const std::string& ns, const json& object);
  Result<json> remove(const ResourceRef& r, const std::string& ns, const std::string& name,
                      const DeleteOptions& options = {});
  // JSON merge patch (RFC 7386), optionally of a subresource ("status").
  Result<json> merge_patch(const ResourceRef& r, const std::string& ns, const std::string& name,
                           const json& patch, const std::string& subresource = "");
  // Server-side apply of `object` (it carries apiVersion, kind, metadata.name).
  Result<json> apply(const ResourceRef& r, const std::string& ns, const json& object,
                     const ApplyOptions& options, const std::string& subresource = "");
  // Opens a watch. The stream is read with WatchStream::next().
  Result<std::unique_ptr<WatchStream>> watch(const ResourceRef& r, const std::string& ns,
                                             const WatchOptions& options);

  // Any request: `path_and_query` starts with "/". Rate-limited and retried as above; returns
  // the response whatever its code (transport failures are errors).
  Result<Response> request(const std::string& method, const std::string& path_and_query,
                           const std::string& body = "", const std::string& content_type = "");
  // request() plus JSON decoding; non-2xx codes become ApiStatus errors.
  Result<json> request_json(const std::string& method, const std::string& path_and_query,
                            const std::string& body = "", const std::string& content_type = "");

  const Config& config() const { return config_; }
  ClientMetrics& metrics() { return *metrics_; }
  int max_retries = 5;

 private:
  struct Impl;
  Client(Config config, std::shared_ptr<ClientMetrics> metrics, const Clock& clock);
  void wait_for_token();

  Config config_;
  std::unique_ptr<metrics::Registry> own_registry_;
  std::shared_ptr<ClientMetrics> metrics_;
  metrics::Histogram* rate_limiter_wait_ = nullptr;  // metrics_'s, for config_.client_name.
  const Clock& clock_;
  TokenBucket bucket_;
  std::unique_ptr<Impl> impl_;
};

// Builds "?a=b&c=d" from pairs, skipping empty values and URL-encoding them.
std::string query_string(std::initializer_list<std::pair<std::string, std::string>> params);

}  // namespace kiln::kube
