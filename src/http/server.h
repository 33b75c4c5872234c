#pragma once

// The project's HTTP/1.1 server, on Boost.Beast: asynchronous, one event loop per thread
// (io_pool.h), keep-alive and pipelining-safe (a connection's requests are answered in order, one
// at a time), IPv4 and IPv6, optional TLS through Beast's OpenSSL stream. One implementation under
// every listener: `serve`, `route`, the admission webhook and the manager's probes and metrics.
//
// Limits (each a ServerOptions field with its default; a refusal is counted in
// kiln_http_refusals_total{server,reason} when a registry is given):
//   max_header_bytes  16 KiB  request line + headers; more -> 431, connection closed
//                             (reason="header_too_large")
//   max_body_bytes    4 MiB   enforced while reading, chunked bodies included: a Content-Length
//                             over it, or a chunked body that grows past it -> 413 without
//                             buffering the rest, connection closed (reason="body_too_large");
//                             a chunk header (extensions included) or a trailer over
//                             max(max_header_bytes, 64 KiB) + 16 KiB -> 413 as well
//   header_timeout    10 s    from the first byte of a request (or the connection's accept) to
//                             the end of its headers; then the connection is closed
//                             (reason="header_timeout")
//   body_timeout      30 s    to read a body once its headers are in -> closed
//                             (reason="body_timeout"); also bounds writing an answer (a client
//                             that stops reading is closed, not counted)
//   idle_timeout      60 s    a kept-alive connection with no request -> closed (not a refusal)
//   request_timeout   30 s    from the request's last byte to the handler's response: past it
//                             the server answers 503 {"error": "... deadline ..."} itself and a
//                             late response is dropped (reason="request_timeout")
//   max_connections   4096    concurrent connections; an accept past it is closed at once
//                             (reason="connection_limit")
// Malformed requests get 400 and the connection is closed (reason="malformed").
//
// Draining, in two steps. begin_drain(): the server goes on accepting and serving (load balancers
// take a while to notice failing readiness), but every answer carries Connection: close and its
// connection closes after it, so clients move to other endpoints as they go. stop(grace): stops
// accepting, closes idle connections, waits up to `grace` for the requests in flight (counted
// from their first byte: one still being uploaded finishes too), then closes every connection.
// Readiness during a drain is the handler's business (serve answers 503 on /v2/health/ready).
//
// Metrics (registered on ServerOptions::registry when set; `server` is ServerOptions::name):
//   kiln_http_refusals_total{server,reason}  counter: requests or connections refused by a limit
//   kiln_http_connections{server}            gauge: connections open now
//
// Thread-safety: start() and stop() from one controlling thread; the handler is called on the
// pool's threads, concurrently for different connections.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/metrics.h"
#include "common/result.h"
#include "http/io_pool.h"

namespace kiln::http {

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // As sent: path and query.
  std::string_view path() const noexcept;   // target before '?'
  std::string_view query() const noexcept;  // after '?', without it; "" when absent
  std::vector<Header> headers;
  // The value of the first header named `name` (ASCII case-insensitive); "" when absent.
  std::string_view header(std::string_view name) const noexcept;
  std::string body;
  std::string remote_address;  // The peer's IP address, for logs.
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra headers (Content-Type and Content-Length are set). A name that is not a token, a value
  // or content_type with CR, LF or NUL is not written (content_type becomes
  // application/octet-stream). 1xx, 204 and 304 answers are sent without body or Content-Length.
  std::vector<Header> headers = {};
};

// Answers one request: call it exactly once, from any thread; later calls are ignored. Copyable.
// A Responder dropped without being called answers 500 (a handler bug must not hang a client).
class Responder {
 public:
  struct State;
  explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void operator()(Response response) const;

 private:
  std::shared_ptr<State> state_;
};

// An asynchronous handler: called on a loop thread; it must not block (for CPU-bound or blocking
// work, post it elsewhere and respond from there). Must not throw (an exception answers 500).
using Handler = std::function<void(Request request, Responder respond)>;
// A synchronous handler, run on the loop thread that read the request (the connection's other
// work waits, other connections on that loop too): for handlers that answer in microseconds.
using SyncHandler = std::function<Response(const Request& request)>;
// Wraps a SyncHandler as a Handler; exceptions become 500.
Handler inline_handler(SyncHandler handler);

struct TlsOptions {
  std::string cert_pem;  // The serving certificate chain, PEM.
  std::string key_pem;   // Its private key, PEM.
};

struct ServerOptions {
  std::string name = "http";   // The `server` label of the metrics, and in logs.
  std::string host = "0.0.0.0";  // IPv4 or IPv6 literal ("::" listens on both where the OS does).
  std::uint16_t port = 0;        // 0: any free port, reported by Server::port().
  std::size_t max_header_bytes = 16u << 10;
  std::size_t max_body_bytes = 4u << 20;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds request_timeout{30000};
  std::size_t max_connections = 4096;
  std::optional<TlsOptions> tls;          // Set: HTTPS only.
  metrics::Registry* registry = nullptr;  // Where the metrics above go; null: none.
};

class Server {
 public:
  // Binds and starts accepting on `pool`'s loops (which must outlive the server). Errors:
  // invalid-input for an address that is not an IP literal or a certificate/key that does not
  // load; retryable when the address cannot be bound.
  static Result<std::unique_ptr<Server>> start(ServerOptions options, IoPool& pool,
                                               Handler handler);
  ~Server();  // stop(0)
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const noexcept;
  // Connections open now.
  std::size_t connections() const noexcept;
  // From now on every answer carries Connection: close and its connection closes after it (a
  // kept-alive connection with no request in progress closes after its next answer); accepting
  // and serving go on until stop(). Idempotent; any thread, a loop thread and a handler included;
  // does not block.
  void begin_drain() noexcept;
  // Stops accepting; closes the connections with no request in progress; waits up to `grace` for
  // the requests in flight (from their first byte, so those still being read too) to be answered;
  // closes every connection left. Idempotent; blocks the caller (not a loop thread).
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

 private:
  struct Impl;
  explicit Server(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace kiln::http
