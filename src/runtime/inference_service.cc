#include "runtime/inference_service.h"

#include <charconv>
#include <exception>
#include <utility>

#include "common/log.h"
#include "common/version.h"
#include "runtime/oip_codec.h"

namespace kiln::runtime {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

HttpResponse json_response(int status, const json& body) {
  return {status, body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json"};
}

HttpResponse error_response(int status, std::string_view message) {
  return {status, encode_error(message), "application/json"};
}

bool consume(std::string_view& path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return false;
  path.remove_prefix(prefix.size());
  return true;
}

// The next path segment (up to '/'), removed from `path` with its trailing '/'.
// The windowSeconds parameter of a profile query ("windowSeconds=300"): zero when absent;
// invalid-input unless a positive whole number of seconds.
Result<std::chrono::seconds> window_seconds(std::string_view query) {
  constexpr std::string_view kKey = "windowSeconds=";
  while (!query.empty()) {
    const auto end = query.find('&');
    const std::string_view pair = query.substr(0, end);
    if (pair.starts_with(kKey)) {
      const std::string_view text = pair.substr(kKey.size());
      long long seconds = 0;
      const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
      if (ec != std::errc() || ptr != text.data() + text.size() || seconds <= 0) {
        return Error::invalid_input(
            "windowSeconds must be a positive whole number of seconds, "
            "not '" +
            std::string(text) + "'");
      }
      return std::chrono::seconds(seconds);
    }
    query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
  }
  return std::chrono::seconds(0);
}

std::string_view next_segment(std::string_view& path) {
  const auto slash = path.find('/');
  std::string_view segment = path.substr(0, slash);
  path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  return segment;
}

// Latency buckets for a sub-millisecond server: 50 µs to ~3.3 s.
std::vector<double> latency_buckets() { return metrics::exponential_buckets(50e-6, 2, 17); }

}  // namespace

struct InferenceService::Model {
  std::string name;
  std::string version;
  std::unique_ptr<ModelBackend> backend;  // Null when loading failed.
  std::string not_ready_reason;
  std::shared_ptr<TrafficObserver> observer;
  metrics::Histogram* latency = nullptr;
  metrics::Histogram* batch_size = nullptr;
};

InferenceService::InferenceService(ServiceOptions options, metrics::Registry& registry)
    : options_(options),
      registry_(registry),
      admission_(options.max_concurrency, options.max_queue, options.queue_timeout),
      requests_(registry.counter("kiln_runtime_requests_total",
                                 "Inference requests by model and HTTP status code.",
                                 {"model", "code"})),
      errors_(registry.counter("kiln_runtime_request_errors_total",
                               "Inference requests answered with an error status.",
                               {"model", "code"})),
      latency_(registry.histogram("kiln_runtime_request_duration_seconds",
                                  "Time to answer an inference request inside the server.",
                                  {"model"}, latency_buckets())),
      batch_size_(registry.histogram("kiln_runtime_batch_size", "Rows per inference request.",
                                     {"model"}, metrics::exponential_buckets(1, 2, 11))),
      in_flight_gauge_(
          registry.gauge("kiln_runtime_in_flight_requests", "Inference requests being handled.")
              .with({})),
      load_seconds_(registry.gauge("kiln_runtime_model_load_seconds",
                                   "Seconds the model took to load.", {"model"})),
      ready_(registry.gauge("kiln_runtime_model_ready", "1 when the model is ready to serve.",
                            {"model"})) {}

InferenceService::~InferenceService() = default;

void InferenceService::add_model(std::string name, std::string version,
                                 Result<std::unique_ptr<ModelBackend>> loaded, double load_seconds,
                                 std::shared_ptr<TrafficObserver> observer) {
  auto model = std::make_unique<Model>();
  model->name = name;
  model->version = std::move(version);
  if (loaded.ok()) {
    model->backend = std::move(loaded).value();
  } else {
    model->not_ready_reason = loaded.error().message();
    log::error("model not ready", {{"model", name}, {"reason", model->not_ready_reason}});
  }
  model->observer = std::move(observer);
  model->latency = &latency_.with({name});
  model->batch_size = &batch_size_.with({name});
  load_seconds_.with({name}).set(load_seconds);
  ready_.with({name}).set(model->backend ? 1 : 0);
  models_[name] = std::move(model);
}

void InferenceService::start_draining() noexcept {
  if (!draining_.exchange(true)) log::info("draining: readiness now fails");
}

HttpResponse InferenceService::handle(const HttpRequest& request) noexcept {
  try {
    if (request.body.size() > options_.max_body_bytes) {
      return error_response(413, "the request body has " + std::to_string(request.body.size()) +
                                     " bytes; the limit is " +
                                     std::to_string(options_.max_body_bytes));
    }
    return route(request);
  } catch (const std::exception& e) {
    return error_response(500, std::string("internal error: ") + e.what());
  } catch (...) {
    return error_response(500, "internal error");
  }
}

HttpResponse InferenceService::route(const HttpRequest& request) {
  std::string_view path = request.path;
  const bool get = request.method == "GET";
  if (get && path == "/metrics") return {200, registry_.expose(), metrics::kExpositionContentType};
  if (get && path == "/v2/health/live") return json_response(200, {{"live", true}});
  if (get && path == "/v2/health/ready") {
    const bool is_ready = ready();
    return json_response(is_ready ? 200 : 503, {{"ready", is_ready}});
  }
  if (get && (path == "/v2" || path == "/v2/")) {
    return json_response(200, {{"name", "kiln-runtime"},
                               {"version", kVersion},
                               {"extensions", json::array({"binary_tensor_data", "model_profile"})}});
  }
  if (consume(path, "/v2/models/")) return model_route(request, path);
  return error_response(
      404, "no route for " + std::string(request.method) + " " + std::string(request.path));
}

HttpResponse InferenceService::model_route(const HttpRequest& request, std::string_view rest) {
  const std::string_view method = request.method;
  const std::string name(next_segment(rest));
  auto it = models_.find(name);
  if (it == models_.end()) return error_response(404, "unknown model '" + name + "'");
  Model& model = *it->second;
  if (consume(rest, "versions/")) {
    const std::string version(next_segment(rest));
    if (version != model.version) {
      return error_response(404, "model '" + name + "' has no version '" + version + "'");
    }
  }
  if (method == "POST" && rest == "infer") return infer_rest(model, request);
  if (method != "GET") return error_response(404, "no route for " + std::string(method));
  if (rest.empty()) {
    return json_response(200,
                         model_metadata_json(model.name, model.version,
                                             model.backend ? &model.backend->metadata() : nullptr,
                                             model.not_ready_reason));
  }
  if (rest == "ready") {
    json out = {{"name", model.name}, {"ready", model.backend != nullptr}};
    if (!model.backend) out["error"] = "model is not ready: " + model.not_ready_reason;
    return json_response(model.backend ? 200 : 503, out);
  }
  if (rest == "profile") {
    if (!model.observer) return error_response(404, "model '" + name + "' keeps no profile");
    auto window = window_seconds(request.query);
    if (!window.ok()) return error_response(400, window.error().message());
    // Building a profile takes the observer's lock and CPU as an infer does: it waits its turn.
    AdmissionControl::Ticket ticket;
    if (auto refused = admit(ticket)) return error_response(refused->status, refused->error);
    auto profile = model.observer->profile_json(*window);
    if (!profile.ok()) return error_response(503, profile.error().message());
    return json_response(200, *profile);
  }
  if (rest == "profile/baseline") {
    auto baseline = model.observer ? model.observer->baseline_json() : std::nullopt;
    if (!baseline) return error_response(404, "model '" + name + "' was given no baseline profile");
    return json_response(200, *baseline);
  }
  return error_response(404, "no route for GET /v2/models/" + name + "/" + std::string(rest));
}

bool InferenceService::ready() const noexcept {
  bool is_ready = !draining_.load();
  for (const auto& [_, model] : models_) is_ready = is_ready && model->backend != nullptr;
  return is_ready;
}

std::optional<ModelStatus> InferenceService::model_status(std::string_view name,
                                                          std::string_view version) const {
  auto it = models_.find(std::string(name));
  if (it == models_.end()) return std::nullopt;
  const Model& model = *it->second;
  if (!version.empty() && version != model.version) return std::nullopt;
  return ModelStatus{model.name, model.version, model.backend != nullptr, model.not_ready_reason,
                     model.backend ? &model.backend->metadata() : nullptr};
}

InferOutcome InferenceService::infer(std::string_view name, std::string_view version,
                                     InferenceRequest request,
                                     std::optional<std::chrono::milliseconds> queue_wait) noexcept {
  try {
    auto it = models_.find(std::string(name));
    if (it == models_.end()) return {404, "unknown model '" + std::string(name) + "'", {}};
    Model& model = *it->second;
    if (!version.empty() && version != model.version) {
      return {404,
              "model '" + std::string(name) + "' has no version '" + std::string(version) + "'",
              {}};
    }
    return run_infer(model, std::move(request), queue_wait);
  } catch (const std::exception& e) {
    return {500, std::string("internal error: ") + e.what(), {}};
  } catch (...) {
    return {500, "internal error", {}};
  }
}

std::optional<InferOutcome> InferenceService::admit(
    AdmissionControl::Ticket& ticket, std::optional<std::chrono::milliseconds> queue_wait) {
  const auto outcome = queue_wait ? admission_.admit(ticket, *queue_wait) : admission_.admit(ticket);
  switch (outcome) {
    case AdmissionControl::Outcome::kQueueFull:
      return InferOutcome{429, "too many requests: the queue is full", {}};
    case AdmissionControl::Outcome::kTimedOut:
      return InferOutcome{503, "no capacity: timed out waiting in the queue", {}};
    case AdmissionControl::Outcome::kAdmitted:
      break;
  }
  return std::nullopt;
}

HttpResponse InferenceService::infer_rest(Model& model, const HttpRequest& http) {
  const auto start = Clock::now();
  in_flight_gauge_.inc();
  ++in_flight_;
  // Which outputs go as binary data, decided from the request before it is moved into the model.
  std::vector<RequestedOutput> requested;
  bool binary_data_output = false;
  InferOutcome outcome = [&]() -> InferOutcome {
    if (!model.backend) return {503, "model is not ready: " + model.not_ready_reason, {}};
    // The body decodes inside the admission slot, so the memory of decoding (O(body), see
    // oip_codec.h) is bounded by max_concurrency, not by the transport's connections.
    AdmissionControl::Ticket ticket;
    if (auto refused = admit(ticket)) return std::move(*refused);
    auto json_bytes =
        parse_inference_header_length(http.inference_header_content_length, http.body.size());
    if (!json_bytes.ok()) return {400, json_bytes.error().message(), {}};
    auto request = decode_infer_request(http.body, *json_bytes);
    if (!request.ok()) return {400, request.error().message(), {}};
    requested.reserve(request->outputs.size());
    for (const auto& o : request->outputs) requested.push_back({{}, {}, o.binary_data});
    binary_data_output = request->binary_data_output;
    return predict(model, std::move(request).value());
  }();
  finish(model, outcome.status, start);
  if (outcome.status != 200) return error_response(outcome.status, outcome.error);
  const auto binary =
      binary_outputs(requested, binary_data_output, outcome.response.outputs.size());
  auto encoded = encode_infer_response(outcome.response, binary);
  if (encoded.json_bytes == encoded.body.size()) {
    return {200, std::move(encoded.body), "application/json"};
  }
  return {200,
          std::move(encoded.body),
          "application/octet-stream",
          {{"Inference-Header-Content-Length", std::to_string(encoded.json_bytes)}}};
}

InferOutcome InferenceService::run_infer(Model& model, InferenceRequest request,
                                         std::optional<std::chrono::milliseconds> queue_wait) {
  const auto start = Clock::now();
  in_flight_gauge_.inc();
  ++in_flight_;
  InferOutcome outcome = [&]() -> InferOutcome {
    if (!model.backend) return {503, "model is not ready: " + model.not_ready_reason, {}};
    AdmissionControl::Ticket ticket;
    if (auto refused = admit(ticket, queue_wait)) return std::move(*refused);
    return predict(model, std::move(request));
  }();
  finish(model, outcome.status, start);
  return outcome;
}

InferOutcome InferenceService::predict(Model& model, InferenceRequest request) {
  if (request.inputs.empty()) return {400, "inputs must be a non-empty array", {}};
  auto outputs = model.backend->predict(request.inputs);
  if (!outputs.ok()) {
    const bool bad_input = outputs.error().category() == ErrorCategory::kInvalidInput;
    return {bad_input ? 422 : 500, outputs.error().message(), {}};
  }
  if (model.observer) model.observer->observe(request.inputs, *outputs);
  const auto& first = request.inputs[0];
  model.batch_size->observe(first.shape.size() >= 2 ? static_cast<double>(first.shape[0]) : 1);
  auto selected = select_outputs(std::move(outputs).value(), request.outputs);
  if (!selected.ok()) return {422, selected.error().message(), {}};
  return {200,
          {},
          InferenceResponse{model.name, model.version, std::move(request.id),
                            std::move(request.parameters), std::move(selected).value()}};
}

void InferenceService::finish(Model& model, int status, std::chrono::steady_clock::time_point start) {
  --in_flight_;
  in_flight_gauge_.dec();
  const auto code = std::to_string(status);
  requests_.with({model.name, code}).inc();
  if (status >= 400) errors_.with({model.name, code}).inc();
  model.latency->observe(std::chrono::duration<double>(Clock::now() - start).count());
}

}  // namespace kiln::runtime
