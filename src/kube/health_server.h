#pragma once

// A minimal HTTP/1.1 server for the manager's probes and metrics (/healthz, /readyz, /metrics):
// GET only, one short response per connection, served from one thread. Binds to port 0 for tests
// (port() tells the chosen one). Not for application traffic.

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "common/result.h"

namespace kiln::kube {

struct HttpReply {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HealthServer {
 public:
  using Handler = std::function<HttpReply(const std::string& path)>;
  HealthServer() = default;
  ~HealthServer();  // stop()

  // Binds `address:port` and serves `handler` on a thread. Errors: bind/listen failures.
  Result<void> start(const std::string& address, int port, Handler handler);
  void stop();
  int port() const { return port_; }

 private:
  void serve();
  void answer(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kiln::kube
