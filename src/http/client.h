#pragma once

// The router's upstream client: asynchronous HTTP/1.1 over Boost.Beast on the same loops as the
// server (io_pool.h), with a pool of kept-alive connections per upstream and one deadline per
// call that covers resolving, connecting, writing and reading.
//
// Behaviour:
//   - base URLs are "http://host[:port]" (upstreams are in-cluster Services, no TLS); the host is
//     resolved when a connection is opened, so a new ClusterIP is picked up by new connections;
//   - a request whose pooled connection turns out closed before any byte of a response (end of
//     stream, reset, broken pipe) is retried once on a new connection, within the same deadline;
//     never after a timeout or a partial response, where the upstream may have acted on it;
//   - hop-by-hop headers (Connection and the headers it names, Keep-Alive, TE, Upgrade, Expect,
//     ...) are not passed on in either direction; interim answers (1xx but 101) are skipped;
//   - a response body over `max_response_bytes`, or a chunk header or trailer over 80 KiB,
//     fails the call (the connection is closed);
//   - at most `max_idle_per_upstream` idle connections are kept per upstream; more are closed.
//
// Errors passed to the callback (Error::retryable, code() 0): reason() "Timeout" when the
// deadline passed, "Unavailable" when the upstream could not be resolved, connected or read
// (the message names the upstream and the cause), "ResponseTooLarge". An HTTP answer of any
// status is a success.
//
// Thread-safety: call() may be called from any thread; the callback runs once on a pool thread.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "http/io_pool.h"
#include "http/server.h"

namespace kiln::http {

struct ClientOptions {
  std::chrono::milliseconds timeout{30000};  // Default deadline of a call.
  std::size_t max_idle_per_upstream = 64;
  std::size_t max_response_bytes = 64u << 20;
};

struct ClientRequest {
  std::string method = "POST";
  std::string target;  // Path and query, e.g. "/v2/models/m/infer".
  std::string body;
  std::string content_type = "application/json";
  std::vector<Header> headers;  // Extra headers, passed through.
};

struct ClientResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  std::vector<Header> headers;
  // The value of the first header named `name` (ASCII case-insensitive); "" when absent.
  std::string_view header(std::string_view name) const noexcept;
};

using ClientCallback = std::function<void(Result<ClientResponse>)>;

class Client {
 public:
  // `pool` must outlive the client. The client may be destroyed with calls in flight: they finish
  // (or time out) and call back as usual.
  explicit Client(IoPool& pool, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `request` to `base_url`; `done` is called exactly once, never from inside call(), unless
  // call() throws (std::bad_alloc only): then it is never called. `timeout` zero: the options'.
  void call(std::string_view base_url, ClientRequest request, ClientCallback done,
            std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kiln::http
