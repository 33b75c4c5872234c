#pragma once

// Puts a synchronous HTTP handler (the OIP service's, the router's) on the project's Beast server
// (http/server.h): HTTP/1.1 with keep-alive and pipelining, IPv4 or IPv6, and the server's limits
// (header bytes, body bytes enforced while reading, header/body/idle/request deadlines, a
// connection cap), each refusal counted in kiln_http_refusals_total when a registry is given.
//
// Threads: each server owns its event loops (`http_threads`). The handler runs on the loop thread
// that read the request (`handler_threads` 0: no thread hop, for handlers that answer in
// microseconds) or on a pool of `handler_threads` threads (for handlers that block: batching,
// synchronous upstream calls), answered back on the loop.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/result.h"
#include "runtime/inference_service.h"

namespace kiln::runtime {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";  // IPv4 or IPv6 literal to listen on ("::": both where allowed).
  std::uint16_t port = 0;        // 0: any free port.
  std::size_t max_body_bytes = 4u << 20;
  std::string key_header;  // Copied into HttpRequest::key when set (e.g. "x-request-key").
  // Threads that run the handler: 0 runs it inline on the event loop.
  std::size_t handler_threads = 0;
  // Event loops; 0: set_http_threads()'s value, or one per core when that is 0.
  std::size_t http_threads = 0;
  // The limits of http::ServerOptions, with its defaults.
  std::size_t max_header_bytes = 16u << 10;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds request_timeout{30000};
  std::size_t max_connections = 4096;
  // Where kiln_http_refusals_total and kiln_http_connections go (null: nowhere), labelled
  // server=`name`. Must outlive the server.
  metrics::Registry* registry = nullptr;
  std::string name = "http";
};

class HttpServer {
 public:
  // Starts listening. `handler` must be thread-safe and must not throw (an exception answers
  // 500); it is called until stop() returns. Errors: invalid-input for a host that is not an IP
  // literal, retryable when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& options,
                                                   HttpHandler handler);
  ~HttpServer();  // Calls stop().
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port being listened on.
  std::uint16_t port() const noexcept { return port_; }
  // The first step of a drain (http::Server::begin_drain): from now on every answer carries
  // Connection: close and its connection closes after it, while the server goes on accepting and
  // serving until stop(). Idempotent; any thread; does not block.
  void begin_drain() noexcept;
  // Stops accepting, lets the requests being handled finish (at most request_timeout, after which
  // the server has answered them 503 itself), closes every connection and stops the threads.
  // Idempotent; not from the handler.
  void stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl, std::uint16_t port);
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_;
};

// Sets the number of event-loop threads of the servers started afterwards without an
// http_threads of their own (0: one per core). Thread-safe. Returns true (kept for callers that
// checked whether a process-wide pool had been sized already).
bool set_http_threads(std::size_t threads);

}  // namespace kiln::runtime
