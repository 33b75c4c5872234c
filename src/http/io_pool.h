#pragma once

// A fixed set of threads, each running its own Boost.Asio io_context: one event loop per thread,
// as Beast's scalable examples do, so the handlers of one connection never run concurrently and
// need no locks. The HTTP server (server.h) and the upstream client (client.h) share one pool,
// so a router's listener and its upstream calls run on the same loops and never pin a thread.
//
// A handler that throws does not end its loop: the exception is logged and the loop runs on.
//
// Thread-safety: next() and size() may be called from any thread; stop() from any thread but one
// of the pool's own.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace kiln::http {

class IoPool {
 public:
  // Starts `threads` loops (0: one per core, at least 1). Threads inherit the caller's signal
  // mask, so block signals before making a pool in a program that sigwait()s.
  explicit IoPool(std::size_t threads = 0);
  ~IoPool();  // stop()
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // The loops in turn (round robin): where a new connection or call lives.
  boost::asio::io_context& next() noexcept;
  std::size_t size() const noexcept { return contexts_.size(); }

  // Stops every loop (pending handlers are abandoned) and joins the threads. Idempotent.
  void stop();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace kiln::http
