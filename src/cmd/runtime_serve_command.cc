// kiln-runtime serve: serves one model over the Open Inference Protocol (v2) REST API and its
// gRPC API (inference.GRPCInferenceService and grpc.health.v1.Health, --grpc-port 8081).
//
//   kiln-runtime serve --model-name iris --model-uri /models/model.json --format xgboost --port
//   8080
//
// SIGTERM or SIGINT starts a graceful drain: readiness fails at once and every answer closes its
// connection, requests keep being served for --drain-delay-seconds (while load balancers
// notice), then the listener closes once in-flight requests finish (at most
// --drain-timeout-seconds).

#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "cmd/runtime_command.h"
#include "common/log.h"
#include "runtime/backend.h"
#include "runtime/batching_backend.h"
#include "runtime/grpc_service.h"
#include "runtime/http_server.h"
#include "runtime/inference_service.h"
#include "runtime/served_profile.h"

namespace kiln::cmd {
namespace {

struct ServeOptions {
  std::string model_name;
  std::string model_uri;
  std::string format = "xgboost";
  std::string model_version = "1";
  std::string host = "0.0.0.0";
  int port = 8080;
  std::string grpc_host;  // Empty: --host.
  int grpc_port = 8081;   // 0: any free port; -1: no gRPC endpoint.
  std::size_t max_concurrency = 0;  // 0: the number of cores.
  std::size_t max_queue = 128;
  int queue_timeout_ms = 1000;
  std::size_t max_body_bytes = 4u << 20;
  std::size_t http_threads = 0;  // 0: one per core.
  std::size_t max_header_bytes = 16u << 10;
  double header_timeout_seconds = 10;
  double idle_timeout_seconds = 60;
  double request_timeout_seconds = 30;
  std::size_t max_connections = 4096;
  double drain_delay_seconds = 5;
  double drain_timeout_seconds = 30;
  std::string baseline_profile;  // Empty: a schema from the model's metadata.
  // An hour, as a DriftMonitor's default spec.window.duration; 5-minute slots.
  int profile_window_seconds = 3600;
  int profile_slots = 12;
  // Adaptive batching (runtime/batching_backend.h): off while max_batch_rows is 1.
  std::size_t max_batch_rows = 1;
  int batch_delay_us = 0;
  std::size_t batch_dispatchers = 0;  // 0: max_concurrency.
};

// The REST listener: the server's limits from the flags. An infer call blocks while the model
// runs (and, batching, while its batch fills), so with batching on the handler runs on a pool
// big enough for every admitted request (running or queued); without, inline on the event loops.
runtime::HttpServerOptions http_options(const ServeOptions& opts,
                                        const runtime::ServiceOptions& service,
                                        metrics::Registry& registry) {
  const auto millis = [](double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  };
  runtime::HttpServerOptions options;
  options.host = opts.host;
  options.port = static_cast<std::uint16_t>(opts.port);
  options.max_body_bytes = opts.max_body_bytes;
  options.handler_threads =
      opts.max_batch_rows > 1 ? service.max_concurrency + service.max_queue : 0;
  options.http_threads = opts.http_threads;
  options.max_header_bytes = opts.max_header_bytes;
  options.header_timeout = millis(opts.header_timeout_seconds);
  options.idle_timeout = millis(opts.idle_timeout_seconds);
  options.request_timeout = millis(opts.request_timeout_seconds);
  options.max_connections = opts.max_connections;
  options.registry = &registry;
  options.name = "serve";
  return options;
}

// The served-traffic profile: the baseline's input schema when a baseline is given.
std::shared_ptr<runtime::TrafficObserver> make_profile(const ServeOptions& opts,
                                                       const runtime::ModelBackend& backend) {
  const auto& metadata = backend.metadata();
  drift::Profile inputs = runtime::ServedProfile::default_inputs(metadata);
  std::optional<nlohmann::json> baseline_json;
  if (!opts.baseline_profile.empty()) {
    std::ifstream in(opts.baseline_profile);
    auto text = nlohmann::json::parse(in, nullptr, false);
    auto baseline = drift::Profile::from_json(text);
    if (baseline.ok()) {
      inputs = std::move(baseline).value();
      baseline_json = std::move(text);
    } else {
      log::warn("ignoring the baseline profile",
                {{"path", opts.baseline_profile}, {"reason", baseline.error().message()}});
    }
  }
  auto profile = std::make_shared<runtime::ServedProfile>(
      inputs, runtime::ServedProfile::default_outputs(metadata),
      std::chrono::seconds(opts.profile_window_seconds), opts.profile_slots,
      [] { return std::chrono::steady_clock::now(); });
  if (baseline_json) profile->set_baseline(std::move(*baseline_json));
  return profile;
}

int run_serve(const ServeOptions& opts) {
  auto log_options = log_options_from_env();
  if (!log_options.ok()) {
    std::fprintf(stderr, "%s\n", log_options.error().to_string().c_str());
    return 2;
  }
  (void)init_logging(*log_options);
  auto format = runtime::parse_model_format(opts.format);
  if (!format.ok()) {
    log::error(format.error().message());
    return 2;
  }
  // Signals are taken by sigwait() below; every thread started from here inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  metrics::Registry registry;
  runtime::ServiceOptions service_options;
  service_options.max_concurrency = opts.max_concurrency > 0
                                        ? opts.max_concurrency
                                        : std::max(1u, std::thread::hardware_concurrency());
  service_options.max_queue = opts.max_queue;
  service_options.queue_timeout = std::chrono::milliseconds(opts.queue_timeout_ms);
  service_options.max_body_bytes = opts.max_body_bytes;
  runtime::InferenceService service(service_options, registry);

  const auto start = std::chrono::steady_clock::now();
  auto backend = runtime::load_backend(*format, opts.model_uri);
  if (backend.ok() && opts.max_batch_rows > 1) {
    runtime::BatchingOptions batching;
    batching.max_batch_rows = opts.max_batch_rows;
    batching.max_delay = std::chrono::microseconds(std::max(0, opts.batch_delay_us));
    batching.dispatchers =
        opts.batch_dispatchers > 0 ? opts.batch_dispatchers : service_options.max_concurrency;
    backend = std::unique_ptr<runtime::ModelBackend>(
        std::make_unique<runtime::BatchingBackend>(std::move(backend).value(), batching));
  }
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::shared_ptr<runtime::TrafficObserver> profile;
  if (backend.ok()) {
    log::info("model loaded", {{"model", opts.model_name}, {"seconds", load_seconds}});
    profile = make_profile(opts, **backend);
  }
  service.add_model(opts.model_name, opts.model_version, std::move(backend), load_seconds,
                    std::move(profile));

  auto server = runtime::HttpServer::start(
      http_options(opts, service_options, registry),
      [&service](const runtime::HttpRequest& r) { return service.handle(r); });
  if (!server.ok()) {
    log::error("cannot start the server", {{"reason", server.error().message()}});
    return 1;
  }
  log::info("serving", {{"model", opts.model_name}, {"port", (*server)->port()}});
  std::unique_ptr<runtime::GrpcServer> grpc;
  if (opts.grpc_port >= 0) {
    auto started = runtime::GrpcServer::start(
        {opts.grpc_host.empty() ? opts.host : opts.grpc_host, opts.grpc_port, opts.max_body_bytes},
        service);
    if (!started.ok()) {
      log::error("cannot start the gRPC server", {{"reason", started.error().message()}});
      return 1;
    }
    grpc = std::move(started).value();
    log::info("serving grpc", {{"model", opts.model_name}, {"port", grpc->port()}});
  }

  int signal = 0;
  sigwait(&signals, &signal);
  service.start_draining();
  (*server)->begin_drain();  // Answers close their connections: clients move on meanwhile.
  if (grpc) grpc->set_serving(false);
  std::this_thread::sleep_for(std::chrono::duration<double>(opts.drain_delay_seconds));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(opts.drain_timeout_seconds);
  while (service.in_flight() + (grpc ? grpc->in_flight() : 0) > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (grpc) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    grpc->stop(std::max(left, std::chrono::milliseconds(0)));  // Calls in flight finish first.
  }
  (*server)->stop();
  log::info("stopped", {{"signal", signal}, {"in_flight", service.in_flight()}});
  return 0;
}

const bool kRegistered = register_runtime_command(
    "serve", "Serve a model over the Open Inference Protocol (v2) REST API", [](CLI::App& sub) {
      auto opts = std::make_shared<ServeOptions>();
      sub.add_option("--model-name", opts->model_name, "Name the model is served under")
          ->required();
      sub.add_option("--model-uri", opts->model_uri, "Path of the model file")->required();
      sub.add_option("--format", opts->format, "xgboost, onnx or torchscript")
          ->check(CLI::IsMember({"xgboost", "onnx", "torchscript"}));
      sub.add_option("--model-version", opts->model_version, "Version reported in responses");
      sub.add_option("--host", opts->host, "IPv4 or IPv6 address to listen on");
      sub.add_option("--port", opts->port, "Port (0: any free port, logged)");
      sub.add_option("--grpc-host", opts->grpc_host,
                     "Address of the gRPC endpoint (default: --host)");
      sub.add_option("--grpc-port", opts->grpc_port,
                     "OIP v2 gRPC port (0: any free port, logged; -1: off)");
      sub.add_option("--max-concurrency", opts->max_concurrency,
                     "Infer requests running at once (0: the number of cores)");
      sub.add_option("--max-queue", opts->max_queue, "Infer requests waiting before 429");
      sub.add_option("--queue-timeout-ms", opts->queue_timeout_ms, "Longest queue wait before 503");
      sub.add_option("--max-body-bytes", opts->max_body_bytes,
                     "Request body, enforced while reading; more: 413");
      sub.add_option("--http-threads", opts->http_threads,
                     "Event loops of the REST listener, which run the handler unless batching "
                     "(0: one per core)");
      sub.add_option("--max-header-bytes", opts->max_header_bytes,
                     "Request line and headers; more: 431");
      sub.add_option("--header-timeout-seconds", opts->header_timeout_seconds,
                     "To read a request's headers; then the connection closes");
      sub.add_option("--idle-timeout-seconds", opts->idle_timeout_seconds,
                     "A kept-alive connection with no request; then it closes");
      sub.add_option("--request-timeout-seconds", opts->request_timeout_seconds,
                     "To answer a request once read; then 503");
      sub.add_option("--max-connections", opts->max_connections,
                     "Connections open at once; more are closed at accept");
      sub.add_option("--drain-delay-seconds", opts->drain_delay_seconds,
                     "After SIGTERM, keep serving this long with readiness failing");
      sub.add_option("--drain-timeout-seconds", opts->drain_timeout_seconds,
                     "Longest wait for in-flight requests after the delay");
      sub.add_option("--baseline-profile", opts->baseline_profile,
                     "Baseline profile JSON whose schema the served profile uses");
      sub.add_option("--profile-window-seconds", opts->profile_window_seconds,
                     "Sliding window of the served profile");
      sub.add_option("--profile-slots", opts->profile_slots, "Time slots of the window");
      sub.add_option("--max-batch-rows", opts->max_batch_rows,
                     "Adaptive batching: rows in one model call (1: off)");
      sub.add_option("--batch-delay-us", opts->batch_delay_us,
                     "Adaptive batching: longest wait for a short batch to fill");
      sub.add_option("--batch-dispatchers", opts->batch_dispatchers,
                     "Adaptive batching: threads calling the model (0: --max-concurrency)");
      return [opts] { return run_serve(*opts); };
    });

}  // namespace
}  // namespace kiln::cmd
