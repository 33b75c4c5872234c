#pragma once

// The Open Inference Protocol (v2) REST service, independent of the HTTP library: it maps a
// request (method, path, body) to a response (status, JSON body). http_server.h puts it on a
// socket; tests and embedders may call handle() directly.
//
// Routes (https://github.com/kserve/open-inference-protocol, REST):
//   GET  /v2/health/live                      200 {"live": true}
//   GET  /v2/health/ready                     200 {"ready": true}; 503 while draining or while a
//                                             model is not ready
//   GET  /v2                                  server metadata {"name", "version", "extensions"}
//   GET  /v2/models/{m}[/versions/{v}]        model metadata; a model that failed to load shows
//                                             "state": "UNAVAILABLE" and the "reason"
//   GET  /v2/models/{m}[/versions/{v}]/ready  200 {"name", "ready": true}; 503 when not ready
//                                             (a loaded model stays ready while draining: only
//                                             the server's readiness fails, as in KServe)
//   POST /v2/models/{m}[/versions/{v}]/infer  inference; JSON, or with the binary tensor extension
//                                             (oip_codec.h): binary inputs after the JSON, and
//                                             binary outputs answered as application/octet-stream
//                                             with Inference-Header-Content-Length
//   GET  /v2/models/{m}/profile               the served-traffic profile (when an observer is set);
//                                             admitted as an infer is (429 / 503 when busy)
//   GET  /v2/models/{m}/profile/baseline      the baseline profile the pod was given (404: none)
//   GET  /metrics                             Prometheus text exposition
//
// Status codes: 400 malformed request (JSON, schema, datatype, shape/data mismatch, binary sizes,
// an output requested twice); 404 unknown model, version or route; 413 body over the limit
// (checked by the transport and again here); 422 a well-formed request that does not fit the
// model (feature count, unknown output); 429 queue full; 503 draining, model not ready, or queue
// wait timed out; 500 the model library failed. Every error body is {"error": "<message>"}. Every request gets exactly one response:
// handle() never throws.
//
// Metrics (registered on the registry given to the constructor):
//   kiln_runtime_requests_total{model,code}            infer requests by status code
//   kiln_runtime_request_errors_total{model,code}      infer requests answered with 4xx/5xx
//   kiln_runtime_request_duration_seconds{model}       infer latency inside the service
//   kiln_runtime_batch_size{model}                     rows per infer request
//   kiln_runtime_in_flight_requests                    infer requests being handled
//   kiln_runtime_model_load_seconds{model}             time the model took to load
//   kiln_runtime_model_ready{model}                    1 when ready

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/metrics.h"
#include "runtime/admission.h"
#include "runtime/backend.h"
#include "runtime/oip_codec.h"

namespace kiln::runtime {

// Watches successful batches (for the served-traffic profile). Thread-safe: observe() is called
// concurrently from request threads and must not block for long.
class TrafficObserver {
 public:
  virtual ~TrafficObserver() = default;
  virtual void observe(std::span<const Tensor> inputs, std::span<const Tensor> outputs) = 0;
  // The profile of the traffic of the last `window` as JSON (zero: the observer's whole window;
  // longer than the observer keeps: clipped to it, and the JSON says which window it covers); an
  // error when none can be produced.
  virtual Result<nlohmann::json> profile_json(std::chrono::seconds window) const = 0;
  // The baseline profile the served traffic is compared with (drift::Profile JSON), served at
  // GET /v2/models/{m}/profile/baseline so a DriftMonitor needs no access to the model's volume;
  // nullopt when the pod was started without one.
  virtual std::optional<nlohmann::json> baseline_json() const { return std::nullopt; }
};

struct ServiceOptions {
  std::size_t max_concurrency = 4;                // Infer requests running at once (>= 1).
  std::size_t max_queue = 128;                    // Infer requests waiting for a slot before 429.
  std::chrono::milliseconds queue_timeout{1000};  // Longest wait in the queue before 503.
  std::size_t max_body_bytes = 4u << 20;          // Larger bodies get 413.
};

struct HttpRequest {
  std::string_view method;  // "GET", "POST", ...
  std::string_view path;    // Without the query string.
  std::string_view body;
  // The value of the transport's key header (HttpServerOptions::key_header), "" when absent or
  // not configured. The router's sticky key.
  std::string_view key = {};
  // The query string without '?', e.g. "windowSeconds=300"; "" when absent.
  std::string_view query = {};
  // The Inference-Header-Content-Length header's value (the binary tensor extension: the JSON
  // part's length, binary tensor data after it); "" when absent.
  std::string_view inference_header_content_length = {};
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // Extra response headers (e.g. Inference-Header-Content-Length), name and value.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// The answer of one typed infer call, shared by the REST and gRPC transports: `status` is the
// REST code of the table above (200, or 400/404/413/422/429/503/500, which gRPC maps to its own
// codes), `error` the message when status != 200, `response` the answer when status == 200.
struct InferOutcome {
  int status = 200;
  std::string error;
  InferenceResponse response;
};

// What a transport needs to answer the readiness and metadata calls of one model.
struct ModelStatus {
  std::string name;
  std::string version;
  bool ready = false;
  std::string not_ready_reason;             // Why it is not ready; "" when ready.
  const ModelMetadata* metadata = nullptr;  // Null when not ready. Valid while the service lives.
};

class InferenceService {
 public:
  // `registry` must outlive the service.
  InferenceService(ServiceOptions options, metrics::Registry& registry);
  ~InferenceService();
  InferenceService(const InferenceService&) = delete;
  InferenceService& operator=(const InferenceService&) = delete;

  // Adds a model under `name` (and `version`, which may be empty). `loaded` is load_backend()'s
  // result: on error the model is listed but not ready, and the error's message is the reason
  // shown in its metadata. `observer` (may be null) sees its successful batches. Call before
  // serving starts: not thread-safe with handle().
  void add_model(std::string name, std::string version,
                 Result<std::unique_ptr<ModelBackend>> loaded, double load_seconds,
                 std::shared_ptr<TrafficObserver> observer = nullptr);

  // Answers one request. Thread-safe; never throws.
  HttpResponse handle(const HttpRequest& request) noexcept;

  // Runs one decoded infer request on model `name` at `version` ("": the model's version), with
  // the same admission control, metrics and traffic observer as a REST request. `queue_wait` is
  // the longest wait for an admission slot (nullopt: options().queue_timeout); a transport that
  // queued the call itself passes what is left of queue_timeout, so a call waits one
  // queue_timeout in all. Thread-safe; never throws.
  InferOutcome infer(std::string_view name, std::string_view version, InferenceRequest request,
                     std::optional<std::chrono::milliseconds> queue_wait = std::nullopt) noexcept;

  // The model `name` at `version` ("": any); nullopt when there is no such model or version.
  // Thread-safe.
  std::optional<ModelStatus> model_status(std::string_view name,
                                          std::string_view version = {}) const;
  // True when every model is ready and the service is not draining. Thread-safe.
  bool ready() const noexcept;

  // Starts a graceful drain: readiness answers 503 from now on, so load balancers stop sending;
  // requests already admitted finish. New infer requests still get served (a client that raced
  // the readiness change is not failed). Thread-safe.
  void start_draining() noexcept;
  bool draining() const noexcept { return draining_.load(); }
  // Infer requests being handled now. Thread-safe.
  std::size_t in_flight() const noexcept { return in_flight_.load(); }

  const ServiceOptions& options() const noexcept { return options_; }

 private:
  struct Model;
  HttpResponse route(const HttpRequest& request);
  HttpResponse infer_rest(Model& model, const HttpRequest& request);
  InferOutcome run_infer(Model& model, InferenceRequest request,
                         std::optional<std::chrono::milliseconds> queue_wait);
  // Takes an admission slot into `ticket`, waiting at most `queue_wait` (nullopt: the
  // queue_timeout); the 429 / 503 outcome when none is free.
  std::optional<InferOutcome> admit(AdmissionControl::Ticket& ticket,
                                    std::optional<std::chrono::milliseconds> queue_wait = {});
  // Runs an admitted request on a ready model.
  InferOutcome predict(Model& model, InferenceRequest request);
  // Ends a request begun (in flight) at `start`: the gauges, counters and latency.
  void finish(Model& model, int status, std::chrono::steady_clock::time_point start);
  HttpResponse model_route(const HttpRequest& request, std::string_view rest);

  ServiceOptions options_;
  metrics::Registry& registry_;
  AdmissionControl admission_;
  std::atomic<bool> draining_{false};
  std::atomic<std::size_t> in_flight_{0};
  std::unordered_map<std::string, std::unique_ptr<Model>> models_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Counter>& errors_;
  metrics::Family<metrics::Histogram>& latency_;
  metrics::Family<metrics::Histogram>& batch_size_;
  metrics::Gauge& in_flight_gauge_;
  metrics::Family<metrics::Gauge>& load_seconds_;
  metrics::Family<metrics::Gauge>& ready_;
};

}  // namespace kiln::runtime
