#pragma once

// Puts an HTTP handler on a socket with cpprestsdk's http_listener (Boost.Asio underneath):
// HTTP/1.1 with keep-alive, one handler call per request on cpprestsdk's thread pool.
//
// Port 0 picks a free port, reported by port(). cpprestsdk cannot report the port it bound, so
// the server first binds a socket of its own to port 0 with SO_REUSEADDR (reserving the port
// against other binds), starts the listener on that port (which also sets SO_REUSEADDR) and only
// then closes its socket: no other process can take the port in between.
//
// Bodies: a Content-Length over `max_body_bytes` is answered 413 before the body is read; a body
// without Content-Length (chunked) is read and then checked.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "runtime/inference_service.h"

namespace kiln::runtime {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";  // Address to listen on.
  std::uint16_t port = 0;        // 0: any free port.
  std::size_t max_body_bytes = 4u << 20;
  std::string key_header;  // Copied into HttpRequest::key when set (e.g. "x-request-key").
};

class HttpServer {
 public:
  // Starts listening. `handler` must be thread-safe and must not throw; it is called until stop()
  // returns. Errors: retryable when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& options,
                                                   HttpHandler handler);
  ~HttpServer();  // Calls stop().
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port being listened on.
  std::uint16_t port() const noexcept { return port_; }
  // Stops accepting and closes connections; requests being handled finish first. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl, std::uint16_t port);
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_;
};

// Sets the size of cpprestsdk's process-wide thread pool, which runs HTTP handlers. Call once,
// before any server or client starts; later calls are ignored. Returns false when ignored.
bool set_http_threads(std::size_t threads);

}  // namespace kiln::runtime
