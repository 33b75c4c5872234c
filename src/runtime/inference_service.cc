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
    bool ready = !draining_.load();
    for (const auto& [_, model] : models_) ready = ready && model->backend != nullptr;
    return json_response(ready ? 200 : 503, {{"ready", ready}});
  }
  if (get && (path == "/v2" || path == "/v2/")) {
    return json_response(200, {{"name", "kiln-runtime"},
                               {"version", kVersion},
                               {"extensions", json::array({"model_profile"})}});
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
  if (method == "POST" && rest == "infer") return infer(model, request.body);
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

HttpResponse InferenceService::infer(Model& model, std::string_view body) {
  const auto start = Clock::now();
  in_flight_gauge_.inc();
  ++in_flight_;
  HttpResponse response = [&]() -> HttpResponse {
    if (!model.backend) return error_response(503, "model is not ready: " + model.not_ready_reason);
    AdmissionControl::Ticket ticket;
    switch (admission_.admit(ticket)) {
      case AdmissionControl::Outcome::kQueueFull:
        return error_response(429, "too many requests: the queue is full");
      case AdmissionControl::Outcome::kTimedOut:
        return error_response(503, "no capacity: timed out waiting in the queue");
      case AdmissionControl::Outcome::kAdmitted:
        break;
    }
    auto request = decode_infer_request(body);
    if (!request.ok()) return error_response(400, request.error().message());
    auto outputs = model.backend->predict(request->inputs);
    if (!outputs.ok()) {
      const bool bad_input = outputs.error().category() == ErrorCategory::kInvalidInput;
      return error_response(bad_input ? 422 : 500, outputs.error().message());
    }
    if (model.observer) model.observer->observe(request->inputs, *outputs);
    const auto& first = request->inputs[0];
    model.batch_size->observe(first.shape.size() >= 2 ? static_cast<double>(first.shape[0]) : 1);
    auto selected = select_outputs(std::move(outputs).value(), request->outputs);
    if (!selected.ok()) return error_response(422, selected.error().message());
    InferenceResponse out{model.name, model.version, std::move(request->id),
                          std::move(request->parameters), std::move(selected).value()};
    return {200, encode_infer_response(out), "application/json"};
  }();
  --in_flight_;
  in_flight_gauge_.dec();
  const auto code = std::to_string(response.status);
  requests_.with({model.name, code}).inc();
  if (response.status >= 400) errors_.with({model.name, code}).inc();
  model.latency->observe(std::chrono::duration<double>(Clock::now() - start).count());
  return response;
}

}  // namespace kiln::runtime
