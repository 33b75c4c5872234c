#include "kube/client.h"

#include <cpprest/uri.h>

#include <thread>

#include "kube/api_error.h"
#include "kube/http.h"
#include "kube/watch_stream.h"

namespace kiln::kube {
namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kMergePatch = "application/merge-patch+json";
constexpr const char* kApplyPatch = "application/apply-patch+yaml";  // JSON is valid YAML.

double seconds_since(const Clock& clock, Clock::time_point start) {
  return std::chrono::duration<double>(clock.now() - start).count();
}

std::string name_of(const json& object) {
  if (!object.is_object() || !object.contains("metadata")) return "";
  return object["metadata"].value("name", "");
}

}  // namespace

ClientMetrics::ClientMetrics(metrics::Registry& registry)
    : requests(registry.counter("kiln_kube_client_requests_total",
                                "Requests to the kube-apiserver by verb and HTTP code.",
                                {"verb", "code"})),
      latency(registry.histogram("kiln_kube_client_request_duration_seconds",
                                 "Latency of requests to the kube-apiserver, rate-limit wait "
                                 "excluded.",
                                 {"verb"})),
      rate_limiter_wait(registry.histogram(
          "kiln_kube_client_rate_limiter_wait_seconds",
          "Time requests waited for the client-side rate limiter, by client (Config::client_name).",
          {"client"})),
      retries(registry
                  .counter("kiln_kube_client_retries_total",
                           "Requests retried after 429/5xx with Retry-After or transport errors.")
                  .with({})) {}

struct Client::Impl {
  std::unique_ptr<web::http::client::http_client> http;
};

Client::Client(Config config, std::shared_ptr<ClientMetrics> metrics, const Clock& clock)
    : config_(std::move(config)),
      metrics_(std::move(metrics)),
      clock_(clock),
      bucket_(config_.qps, config_.burst, clock),
      impl_(std::make_unique<Impl>()) {
  if (!metrics_) {
    own_registry_ = std::make_unique<metrics::Registry>();
    metrics_ = std::make_shared<ClientMetrics>(*own_registry_);
  }
  rate_limiter_wait_ = &metrics_->rate_limiter_wait.with({config_.client_name});
  impl_->http = detail::make_http_client(config_, config_.timeout);
}

Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(Config config,
                                               std::shared_ptr<ClientMetrics> metrics,
                                               const Clock& clock) {
  if (config.server.empty()) return Error::invalid_input("config has no server");
  if (config.ca_pem.empty()) return Error::invalid_input("config has no certificate-authority");
  try {
    return std::unique_ptr<Client>(new Client(std::move(config), std::move(metrics), clock));
  } catch (const std::exception& e) {
    return Error::invalid_input(std::string("building the HTTP client: ") + e.what());
  }
}

void Client::wait_for_token() {
  auto wait = bucket_.reserve();
  rate_limiter_wait_->observe(std::chrono::duration<double>(wait).count());
  if (wait > Clock::duration::zero()) std::this_thread::sleep_for(wait);
}

Result<Response> Client::request(const std::string& method, const std::string& path_and_query,
                                 const std::string& body, const std::string& content_type) {
  auto& latency = metrics_->latency.with({method});
  std::chrono::milliseconds transport_backoff(100);
  for (int attempt = 0;; ++attempt) {
    wait_for_token();
    KILN_TRY(auto req, detail::make_request(config_, method, path_and_query, body, content_type));
    auto start = clock_.now();
    Response response;
    try {
      auto http_response = impl_->http->request(req).get();
      response.code = http_response.status_code();
      response.body = http_response.extract_utf8string(true).get();
      if (http_response.headers().has("Retry-After")) {
        response.retry_after = http_response.headers()["Retry-After"];
      }
    } catch (const std::exception& e) {
      latency.observe(seconds_since(clock_, start));
      metrics_->requests.with({method, "<error>"}).inc();
      auto failure = detail::transport_failure(config_, e);
      bool transient = failure.error.category() == ErrorCategory::kRetryable;
      // A request that never left (a refused connect, a pooled connection the server closed on
      // restart) is safe to send again for any verb. Other failures are retried for GETs only.
      if ((method == "GET" || failure.unsent) && transient && attempt < max_retries) {
        metrics_->retries.inc();
        std::this_thread::sleep_for(transport_backoff);
        transport_backoff *= 2;
        continue;
      }
      return std::move(failure.error);
    }
    latency.observe(seconds_since(clock_, start));
    metrics_->requests.with({method, std::to_string(response.code)}).inc();
    auto retry_after = parse_retry_after(response.retry_after);
    bool retryable_code = response.code == 429 || response.code >= 500;
    if (retryable_code && retry_after && attempt < max_retries) {
      metrics_->retries.inc();
      std::this_thread::sleep_for(*retry_after);
      continue;
    }
    return response;
  }
}

Result<json> Client::request_json(const std::string& method, const std::string& path_and_query,
                                  const std::string& body, const std::string& content_type) {
  KILN_TRY(Response response, request(method, path_and_query, body, content_type));
  auto context = method + " " + path_and_query;
  if (response.code < 200 || response.code > 299) {
    return ApiStatus::from_response(response.code, response.body).to_error().with_context(context);
  }
  auto parsed = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Error::retryable(context + ": response is not JSON");
  return parsed;
}

Result<json> Client::get(const ResourceRef& r, const std::string& ns, const std::string& name) {
  return request_json("GET", r.path(ns, name));
}

Result<json> Client::list(const ResourceRef& r, const std::string& ns, const ListOptions& o) {
  auto query = query_string({{"labelSelector", o.label_selector},
                             {"fieldSelector", o.field_selector},
                             {"limit", o.limit > 0 ? std::to_string(o.limit) : ""},
                             {"continue", o.continue_token},
                             {"resourceVersion", o.resource_version}});
  return request_json("GET", r.path(ns) + query);
}

Result<json> Client::list_all(const ResourceRef& r, const std::string& ns, ListOptions options) {
  if (options.limit <= 0) options.limit = 500;
  KILN_TRY(json result, list(r, ns, options));
  std::string next = result["metadata"].value("continue", "");
  options.resource_version.clear();  // The continue token pins the snapshot.
  while (!next.empty()) {
    options.continue_token = next;
    KILN_TRY(json page, list(r, ns, options));
    auto& items = result["items"];
    for (auto& item : page["items"]) items.push_back(std::move(item));
    next = page["metadata"].value("continue", "");
  }
  result["metadata"].erase("continue");
  return result;
}

Result<json> Client::create(const ResourceRef& r, const std::string& ns, const json& object) {
  return request_json("POST", r.path(ns), object.dump(), kJson);
}

Result<json> Client::update(const ResourceRef& r, const std::string& ns, const json& object) {
  return request_json("PUT", r.path(ns, name_of(object)), object.dump(), kJson);
}

Result<json> Client::update_status(const ResourceRef& r, const std::string& ns,
                                   const json& object) {
  return request_json("PUT", r.path(ns, name_of(object), "status"), object.dump(), kJson);
}

Result<json> Client::remove(const ResourceRef& r, const std::string& ns, const std::string& name,
                            const DeleteOptions& options) {
  json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!options.propagation_policy.empty()) body["propagationPolicy"] = options.propagation_policy;
  if (!options.precondition_uid.empty()) body["preconditions"]["uid"] = options.precondition_uid;
  if (!options.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = options.precondition_resource_version;
  }
  return request_json("DELETE", r.path(ns, name), body.dump(), kJson);
}

Result<json> Client::merge_patch(const ResourceRef& r, const std::string& ns,
                                 const std::string& name, const json& patch,
                                 const std::string& subresource) {
  return request_json("PATCH", r.path(ns, name, subresource), patch.dump(), kMergePatch);
}

Result<json> Client::apply(const ResourceRef& r, const std::string& ns, const json& object,
                           const ApplyOptions& options, const std::string& subresource) {
  if (options.field_manager.empty()) {
    return Error::invalid_input("server-side apply needs a field manager");
  }
  auto query = query_string(
      {{"fieldManager", options.field_manager}, {"force", options.force ? "true" : ""}});
  return request_json("PATCH", r.path(ns, name_of(object), subresource) + query, object.dump(),
                      kApplyPatch);
}

Result<std::unique_ptr<WatchStream>> Client::watch(const ResourceRef& r, const std::string& ns,
                                                   const WatchOptions& o) {
  wait_for_token();
  auto query = query_string({{"watch", "true"},
                             {"resourceVersion", o.resource_version},
                             {"labelSelector", o.label_selector},
                             {"fieldSelector", o.field_selector},
                             {"timeoutSeconds", std::to_string(o.timeout_seconds)},
                             {"allowWatchBookmarks", o.allow_bookmarks ? "true" : ""}});
  metrics_->requests.with({"WATCH", "opened"}).inc();
  return WatchStream::open(config_, r.path(ns) + query,
                           std::chrono::seconds(o.timeout_seconds + 30));
}

std::string query_string(std::initializer_list<std::pair<std::string, std::string>> params) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    out += out.empty() ? "?" : "&";
    out += key + "=" + web::uri::encode_data_string(value);
  }
  return out;
}

}  // namespace kiln::kube
