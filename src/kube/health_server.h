#pragma once

// The manager's probes and metrics endpoint (/healthz, /readyz, /metrics) on the project's HTTP
// server (http/server.h): GET only, answered from one event loop that never waits on a client, so
// a slow or stuck client (a byte a second, a half-sent header) cannot hold up the kubelet's
// probes; the server's limits apply (16 KiB of headers, a 10 s header deadline, keep-alive).
// Binds to port 0 for tests (port() tells the chosen one). Not for application traffic.
//
// Thread-safety: start() and stop() from one thread; the handler is called on the server's own
// thread, one request at a time.

#include <functional>
#include <memory>
#include <string>

#include "common/result.h"

namespace kiln::http {
class IoPool;
class Server;
}  // namespace kiln::http

namespace kiln::kube {

struct HttpReply {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HealthServer {
 public:
  // Answers the request path (without the query string). May throw: the client gets 500.
  using Handler = std::function<HttpReply(const std::string& path)>;
  HealthServer();
  ~HealthServer();  // stop()
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  // Binds `address:port` (an IPv4 or IPv6 literal; port 0: any free port) and serves `handler`.
  // Errors: invalid-input for a bad address or when the port cannot be bound.
  Result<void> start(const std::string& address, int port, Handler handler);
  // Stops serving and closes every connection. Idempotent.
  void stop();
  int port() const { return port_; }

 private:
  Handler handler_;
  std::unique_ptr<http::IoPool> pool_;
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
};

}  // namespace kiln::kube
