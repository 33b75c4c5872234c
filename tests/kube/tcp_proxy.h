#pragma once

// A TCP relay on 127.0.0.1 (port chosen by the kernel) to 127.0.0.1:<target>, for tests that cut
// live connections: TLS passes through it untouched, so the client still talks to the real API
// server and verifies its real certificate.

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::kube::testing {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  // Shuts down every relayed connection, both sides (peers see a reset/EOF). New connections are
  // still accepted.
  void drop_connections();
  int accepted() const { return accepted_.load(); }
  // While refusing, new connections are closed as soon as they are accepted.
  void set_refusing(bool refusing) { refusing_ = refusing; }

 private:
  void accept_loop();
  void relay(int client, int upstream);

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<bool> refusing_{false};
  std::mutex mutex_;
  std::vector<int> open_fds_;         // Guarded by mutex_.
  std::vector<std::thread> threads_;  // Guarded by mutex_.
  std::thread acceptor_;
};

}  // namespace kiln::kube::testing
