// kiln-runtime route: the front door of a ModelDeployment. Splits requests between stable and
// canary, mirrors a share to shadow, compares their outputs with stable's, exports per-variant
// metrics at /metrics. SIGHUP re-reads --config (weights, upstreams) without closing connections;
// SIGTERM/SIGINT drain it: requests keep being routed for --drain-delay-seconds (while the
// terminating pod leaves the Service's endpoints and kube-proxy's rules), then the listener
// closes, so a rolling update of the router loses no request.
//
//   kiln-runtime route --config router.json --port 8080
//   router.json: {"stable": {"url": "http://stable:8080"},
//                 "canary": {"url": "http://canary:8080", "weight": 10},
//                 "shadow": {"url": "http://shadow:8080", "mirrorPercent": 20},
//                 "stickyHeader": "x-request-key"}

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "cmd/runtime_command.h"
#include "common/log.h"
#include "runtime/http_server.h"
#include "runtime/router.h"
#include "runtime/upstream_pool.h"

namespace kiln::cmd {
namespace {

struct RouteFlags {
  std::string config;
  std::string host = "0.0.0.0";
  int port = 8080;
  std::size_t mirror_queue = 256;
  double drain_delay_seconds = 5;
  std::string upstream_client = "pooled";  // pooled (runtime/upstream_pool.h) | cpprest.
  double upstream_timeout_seconds = 30;
};

Result<runtime::RouterConfig> read_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::invalid_input("cannot read router configuration " + path);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) return Error::invalid_input(path + " is not valid JSON");
  return runtime::RouterConfig::from_json(j);
}

int run_route(const RouteFlags& flags) {
  auto log_options = log_options_from_env();
  if (log_options.ok()) (void)init_logging(*log_options);
  auto config = read_config(flags.config);
  if (!config.ok()) {
    log::error("bad router configuration", {{"reason", config.error().message()}});
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  metrics::Registry registry;
  const std::string sticky = config->sticky_header;
  runtime::UpstreamCall call =
      flags.upstream_client == "cpprest"
          ? runtime::http_upstream_call()
          : runtime::pooled_upstream_call({.timeout = std::chrono::milliseconds(static_cast<long>(
                                               flags.upstream_timeout_seconds * 1000))});
  runtime::Router router(std::move(config).value(), std::move(call), registry,
                         {flags.mirror_queue, 1});
  auto server = runtime::HttpServer::start(
      {flags.host, static_cast<std::uint16_t>(flags.port), 4u << 20, sticky},
      [&](const runtime::HttpRequest& r) -> runtime::HttpResponse {
        if (r.method == "GET" && r.path == "/metrics") {
          return {200, registry.expose(), metrics::kExpositionContentType};
        }
        return router.handle(r);
      });
  if (!server.ok()) {
    log::error("cannot start the router", {{"reason", server.error().message()}});
    return 1;
  }
  log::info("routing", {{"port", (*server)->port()}});
  while (true) {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal != SIGHUP) break;
    auto reloaded = read_config(flags.config);
    if (reloaded.ok()) {
      router.reload(std::move(reloaded).value());
      log::info("configuration reloaded", {{"path", flags.config}});
    } else {
      log::error("keeping the old configuration", {{"reason", reloaded.error().message()}});
    }
  }
  log::info("draining", {{"delaySeconds", flags.drain_delay_seconds}});
  std::this_thread::sleep_for(std::chrono::duration<double>(flags.drain_delay_seconds));
  (*server)->stop();
  return 0;
}

const bool kRegistered = register_runtime_command(
    "route", "Split, mirror and compare traffic between model variants", [](CLI::App& sub) {
      auto flags = std::make_shared<RouteFlags>();
      sub.add_option("--config", flags->config, "Router configuration JSON")->required();
      sub.add_option("--host", flags->host, "IPv4 address to listen on");
      sub.add_option("--port", flags->port, "Port (0: any free port, logged)");
      sub.add_option("--mirror-queue", flags->mirror_queue, "Pending mirrors before dropping");
      sub.add_option("--drain-delay-seconds", flags->drain_delay_seconds,
                     "After SIGTERM, keep routing this long before closing");
      sub.add_option("--upstream-client", flags->upstream_client,
                     "pooled (Beast, kept-alive connections) or cpprest")
          ->check(CLI::IsMember({"pooled", "cpprest"}));
      sub.add_option("--upstream-timeout-seconds", flags->upstream_timeout_seconds,
                     "Longest wait for an upstream's answer (pooled client): then 504");
      return [flags] { return run_route(*flags); };
    });

}  // namespace
}  // namespace kiln::cmd
