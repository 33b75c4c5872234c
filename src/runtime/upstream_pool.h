#pragma once

// The router's upstream client: HTTP/1.1 over Boost.Beast (Debian libboost-dev) with a pool of
// kept-alive connections per upstream, called synchronously on the handler's thread.
//
// Why not cpprestsdk's http_client (http_upstream_call, router.h): each of its requests hops
// through PPLX tasks and the shared thread pool, which measured 0.74 ms added at p50 per routed
// request (docs/runtime.md). Here a call takes an idle connection (or opens one), writes the
// request, reads the response on the same thread and returns the connection to the pool when
// both sides keep it alive.
//
// Behaviour:
//   - base URLs are "http://host[:port]" (no TLS: upstreams are in-cluster Services); the host is
//     resolved when a connection is opened, so a Service's ClusterIP change is picked up by new
//     connections;
//   - a request whose pooled connection turns out closed (end of stream, reset or broken pipe
//     before any byte of a response) is retried once on a new connection; never after a timeout
//     or a partial response, where the upstream may have acted on it. Other failures answer 502
//     with {"error": "upstream <url>: <reason>"}, a timeout 504;
//   - the query string and body pass through; response bodies have no size limit;
//   - a call has one deadline (`timeout`, default 30 s) for writing the request and reading the
//     response, across a retry: sockets are non-blocking and each wait is a poll() bounded by it
//     (Asio's own synchronous calls would wait without limit). Resolving and connecting are not
//     bounded by it: a host that drops SYNs holds the call for the kernel's connect timeout;
//   - at most `max_idle_per_upstream` idle connections are kept per upstream; more are closed.
//
// Thread-safety: the returned UpstreamCall may be called from any number of threads.

#include <chrono>
#include <cstddef>

#include "runtime/router.h"

namespace kiln::runtime {

struct UpstreamPoolOptions {
  std::chrono::milliseconds timeout{30000};
  std::size_t max_idle_per_upstream = 64;
};

UpstreamCall pooled_upstream_call(UpstreamPoolOptions options = {});

}  // namespace kiln::runtime
