// kiln-runtime route: the front door of a ModelDeployment. Splits requests between stable and
// canary, mirrors a share to shadow, compares their outputs with stable's, exports per-variant
// metrics at /metrics (runtime/router.h). The listener and the upstream calls share one pool of
// event loops (--http-threads), so a slow upstream holds a socket and a deadline, not a thread.
// SIGHUP re-reads --config (weights, upstreams) without closing connections; SIGTERM/SIGINT drain
// it: requests keep being routed for --drain-delay-seconds (while the terminating pod leaves the
// Service's endpoints and kube-proxy's rules), then the listener closes once the requests in
// flight are answered, so a rolling update of the router loses no request.
//
// When a variant has a "grpcUrl", the OIP v2 gRPC router (runtime/grpc_router.h) also listens on
// --grpc-port (default 8081, as serve; 0: a free port, logged as "serving grpc"; -1: off), with
// the same split, sticky key (from the request metadata), mirrors, comparisons and metrics; the
// drain sets its grpc.health.v1 status NOT_SERVING at once and stops it once its calls in flight
// are answered.
//
//   kiln-runtime route --config router.json --port 8080 --grpc-port 8081
//   router.json: {"stable": {"url": "http://stable:8080", "grpcUrl": "stable:8081"},
//                 "canary": {"url": "http://canary:8080", "grpcUrl": "canary:8081", "weight": 10},
//                 "shadow": {"url": "http://shadow:8080", "mirrorPercent": 20},
//                 "stickyHeader": "x-request-key"}

#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include "cmd/runtime_command.h"
#include "common/log.h"
#include "http/io_pool.h"
#include "http/server.h"
#include "runtime/grpc_router.h"
#include "runtime/router.h"

namespace kiln::cmd {
namespace {

struct RouteFlags {
  std::string config;
  std::string host = "0.0.0.0";
  int port = 8080;
  std::string grpc_host;  // Empty: --host.
  int grpc_port = 8081;   // 0: any free port; -1: no gRPC router.
  std::size_t http_threads = 0;  // 0: one per core.
  std::size_t mirror_queue = 256;
  std::size_t max_in_flight = 1024;
  double upstream_timeout_seconds = 30;
  std::size_t eject_after = 5;
  double eject_seconds = 30;
  double drain_delay_seconds = 5;
  // The listener's limits, as serve's (http/server.h has their defaults).
  std::size_t max_header_bytes = 16u << 10;
  std::size_t max_body_bytes = 4u << 20;
  double header_timeout_seconds = 10;
  double idle_timeout_seconds = 60;
  double request_timeout_seconds = 0;  // 0: --upstream-timeout-seconds + 5.
  std::size_t max_connections = 4096;
};

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

Result<runtime::RouterConfig> read_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::invalid_input("cannot read router configuration " + path);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) return Error::invalid_input(path + " is not valid JSON");
  return runtime::RouterConfig::from_json(j);
}

http::ServerOptions server_options(const RouteFlags& flags, metrics::Registry& registry) {
  http::ServerOptions options;
  options.name = "route";
  options.host = flags.host;
  options.port = static_cast<std::uint16_t>(flags.port);
  options.max_header_bytes = flags.max_header_bytes;
  options.max_body_bytes = flags.max_body_bytes;
  options.header_timeout = millis(flags.header_timeout_seconds);
  options.idle_timeout = millis(flags.idle_timeout_seconds);
  // Past the upstream deadline, so that a slow upstream is answered 504 by the router.
  options.request_timeout = millis(flags.request_timeout_seconds > 0
                                       ? flags.request_timeout_seconds
                                       : flags.upstream_timeout_seconds + 5);
  options.max_connections = flags.max_connections;
  options.registry = &registry;
  return options;
}

bool has_grpc_upstream(const runtime::RouterConfig& config) {
  return !config.stable_grpc_url.empty() || !config.canary_grpc_url.empty() ||
         !config.shadow_grpc_url.empty();
}

runtime::Router::Options router_options(const RouteFlags& flags) {
  runtime::Router::Options options;
  options.mirror_queue = flags.mirror_queue;
  options.max_in_flight = flags.max_in_flight;
  options.upstream_timeout = millis(flags.upstream_timeout_seconds);
  options.max_response_bytes = std::max<std::size_t>(flags.max_body_bytes, 64u << 20);
  options.eject_after = flags.eject_after;
  options.eject_time = millis(flags.eject_seconds);
  return options;
}

int run_route(const RouteFlags& flags) {
  auto log_options = log_options_from_env();
  if (log_options.ok()) (void)init_logging(*log_options);
  auto config = read_config(flags.config);
  if (!config.ok()) {
    log::error("bad router configuration", {{"reason", config.error().message()}});
    return 2;
  }
  // Blocked before the pool's threads start, which inherit the mask: only sigwait() sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  metrics::Registry registry;
  http::IoPool pool(flags.http_threads);
  runtime::Router router(std::move(config).value(), pool, registry, router_options(flags));
  auto server = http::Server::start(
      server_options(flags, registry), pool,
      [&](http::Request request, http::Responder respond) {
        if (request.method == "GET" && request.path() == "/metrics") {
          router.refresh_metrics();
          http::Response response;
          response.content_type = metrics::kExpositionContentType;
          response.body = registry.expose();
          return respond(std::move(response));
        }
        router.handle(std::move(request), std::move(respond));
      });
  if (!server.ok()) {
    log::error("cannot start the router", {{"reason", server.error().message()}});
    return 1;
  }
  log::info("routing", {{"port", (*server)->port()}, {"httpThreads", pool.size()}});
  std::unique_ptr<runtime::GrpcRouter> grpc;
  if (flags.grpc_port >= 0 && has_grpc_upstream(*router.config())) {
    auto started = runtime::GrpcRouter::start(
        {flags.grpc_host.empty() ? flags.host : flags.grpc_host, flags.grpc_port,
         flags.max_body_bytes},
        router, registry);
    if (!started.ok()) {
      log::error("cannot start the gRPC router", {{"reason", started.error().message()}});
      (*server)->stop(std::chrono::milliseconds(0));
      return 1;
    }
    grpc = std::move(started).value();
    log::info("serving grpc", {{"port", grpc->port()}});
  }
  while (true) {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal != SIGHUP) break;
    auto reloaded = read_config(flags.config);
    if (reloaded.ok()) {
      router.reload(std::move(reloaded).value());
      if (grpc) grpc->reload();
      if (!grpc && flags.grpc_port >= 0 && has_grpc_upstream(*router.config())) {
        log::warn("grpcUrl added on reload: the gRPC router starts with the next restart");
      }
      log::info("configuration reloaded", {{"path", flags.config}});
    } else {
      log::error("keeping the old configuration", {{"reason", reloaded.error().message()}});
    }
  }
  log::info("draining", {{"delaySeconds", flags.drain_delay_seconds}});
  (*server)->begin_drain();  // Answers close their connections: clients move to other pods meanwhile.
  if (grpc) grpc->set_serving(false);
  std::this_thread::sleep_for(std::chrono::duration<double>(flags.drain_delay_seconds));
  // Requests in flight are answered (an upstream's deadline bounds them), then connections close.
  const auto deadline =
      std::chrono::steady_clock::now() + millis(flags.upstream_timeout_seconds + 1);
  (*server)->stop(millis(flags.upstream_timeout_seconds + 1));
  if (grpc) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    grpc->stop(std::max(left, std::chrono::milliseconds(0)));  // Calls in flight finish first.
  }
  router.flush();
  grpc.reset();
  return 0;
}

const bool kRegistered = register_runtime_command(
    "route", "Split, mirror and compare traffic between model variants", [](CLI::App& sub) {
      auto flags = std::make_shared<RouteFlags>();
      sub.add_option("--config", flags->config, "Router configuration JSON")->required();
      sub.add_option("--host", flags->host, "IPv4 or IPv6 address to listen on");
      sub.add_option("--port", flags->port, "Port (0: any free port, logged)");
      sub.add_option("--grpc-host", flags->grpc_host,
                     "Address of the gRPC router (default: --host)");
      sub.add_option("--grpc-port", flags->grpc_port,
                     "OIP v2 gRPC port, used when a variant has a grpcUrl (0: any free port, "
                     "logged; -1: off)");
      sub.add_option("--http-threads", flags->http_threads,
                     "Event loops for the listener and the upstream calls (0: one per core)");
      sub.add_option("--mirror-queue", flags->mirror_queue,
                     "Mirrors and comparisons in flight before dropping");
      sub.add_option("--max-in-flight", flags->max_in_flight,
                     "Requests routed at once; more are answered 429");
      sub.add_option("--upstream-timeout-seconds", flags->upstream_timeout_seconds,
                     "Deadline of one upstream call, connecting included: then 504");
      sub.add_option("--eject-after", flags->eject_after,
                     "Consecutive failures (5xx, timeout, unreachable) that eject an upstream "
                     "(0: never)");
      sub.add_option("--eject-seconds", flags->eject_seconds,
                     "Base ejection time, times the upstream's ejection count (at most 300 s)");
      sub.add_option("--drain-delay-seconds", flags->drain_delay_seconds,
                     "After SIGTERM, keep routing this long before closing");
      sub.add_option("--max-header-bytes", flags->max_header_bytes,
                     "Request line and headers; more: 431");
      sub.add_option("--max-body-bytes", flags->max_body_bytes,
                     "Request body, enforced while reading; more: 413");
      sub.add_option("--header-timeout-seconds", flags->header_timeout_seconds,
                     "To read a request's headers; then the connection closes");
      sub.add_option("--idle-timeout-seconds", flags->idle_timeout_seconds,
                     "A kept-alive connection with no request; then it closes");
      sub.add_option("--request-timeout-seconds", flags->request_timeout_seconds,
                     "To answer a request once read; then 503 (0: the upstream timeout + 5 s)");
      sub.add_option("--max-connections", flags->max_connections,
                     "Connections open at once; more are closed at accept");
      return [flags] { return run_route(*flags); };
    });

}  // namespace
}  // namespace kiln::cmd
