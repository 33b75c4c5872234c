#pragma once

// The router's OIP v2 gRPC side (`kiln-runtime route --grpc-port`): inference.GRPCInferenceService
// and grpc.health.v1.Health on one gRPC server (gRPC C++'s callback API) in front of the
// variants' gRPC ports (RouterConfig's grpcUrl), deciding as the REST router does because it asks
// the same Router (router.h): the same split, sticky buckets, bounds, outlier ejection and
// metric families. Nothing here blocks a thread: every upstream call is an asynchronous call
// of gRPC's callback stub, and the reactor of the caller's call finishes in its completion.
//
//   ModelInfer      Router::pick() chooses stable or canary: sticky by the value of the request
//                   metadata key equal to the sticky header's name lowercased (gRPC metadata keys
//                   are lower case; "x-request-key"), else a seeded draw. A variant without a
//                   grpcUrl takes no gRPC traffic (its share goes to stable). The request is
//                   forwarded unchanged (metadata too, but gRPC's reserved keys) on one
//                   grpc::Channel per upstream address; the upstream's status, message and answer
//                   come back unchanged, so DEADLINE_EXCEEDED and UNAVAILABLE (unreachable) pass
//                   through. Its deadline is the caller's, at most Router::Options
//                   ::upstream_timeout; a cancelled caller cancels the upstream call. An ejected
//                   stable, or a stable without a grpcUrl, is UNAVAILABLE at once.
//   Shadow          a stable-routed infer is mirrored to shadow with probability mirrorPercent, as
//                   a background call once stable has answered (the caller never waits for it),
//                   and compared with stable's answer.
//   Comparison      a canary-routed infer is answered by canary, then stable is called in the
//                   background and the answers are compared. Both answers' first outputs are
//                   decoded by grpc_codec (raw or typed) to a Tensor and compared by
//                   router_compare.h, counted in the REST router's kiln_router_comparisons_total
//                   and kiln_router_output_rows_total (the rollout analysis reads those). An
//                   answer that cannot be decoded is a mismatch, a failed background call an
//                   error; never fatal. Background calls share Router::Options::mirror_queue.
//   ServerLive      {live: true}, answered by the router.
//   ServerReady     {ready}: not draining and stable not ejected.
//   ModelReady, ServerMetadata, ModelMetadata: forwarded to stable.
//   Health          gRPC's default health service: SERVING for "" and every service until
//                   set_serving(false) (the drain), then NOT_SERVING.
//
// Limits: the caller's message at most max_message_bytes (RESOURCE_EXHAUSTED from gRPC); an
// upstream's answer at most Router::Options::max_response_bytes; forwarded calls take one of
// Router::Options::max_in_flight slots (RESOURCE_EXHAUSTED past it, counted in
// kiln_router_rejected_total).
//
// Metrics: a forwarded call is counted in kiln_router_requests_total{variant,code} (and its
// duration in kiln_router_request_duration_seconds) with code = the HTTP code the REST table
// gives its gRPC status (http_status_of_grpc() below), so the rollout analysis's error rate
// (code >= 500) covers both transports; and in
//   kiln_router_grpc_requests_total{variant,code}  counter: by gRPC status name ("OK",
//                                                  "UNAVAILABLE", ...)
// A failure for outlier ejection is a status whose HTTP code is >= 500 (UNAVAILABLE,
// DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, ...), counted in the variant's one ejection state.
//
// Thread-safety: every member may be called from any thread; stop() from one controlling thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/support/status.h>

#include "common/metrics.h"
#include "common/result.h"
#include "grpc_predict_v2.pb.h"
#include "runtime/router.h"
#include "runtime/router_compare.h"

namespace kiln::runtime {

struct GrpcRouterOptions {
  std::string host = "0.0.0.0";  // IPv4 or IPv6 address ("::" for every address).
  int port = 8081;               // 0: a free port, reported by port().
  // Largest message accepted from a caller (bytes, >= 1); route's --max-body-bytes.
  std::size_t max_message_bytes = 4u << 20;
};

// The HTTP code of the REST table for a gRPC status: OK 200, INVALID_ARGUMENT /
// FAILED_PRECONDITION / OUT_OF_RANGE 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
// NOT_FOUND 404, ALREADY_EXISTS / ABORTED 409, RESOURCE_EXHAUSTED 429, CANCELLED 499 (the
// caller went away), UNIMPLEMENTED 501, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, else 500.
int http_status_of_grpc(grpc::StatusCode code) noexcept;

// The first output of `response` as rows (router_compare.h): decoded by grpc_codec's decoder,
// raw (raw_output_contents[0]) or typed, with its checks (datatype, element counts). invalid-input
// when there is no output or it cannot be decoded.
Result<OutputRows> grpc_first_output_rows(const inference::ModelInferResponse& response);

class GrpcRouter {
 public:
  // Binds host:port and serves through `router` (its configuration's grpcUrls, one channel each),
  // which must outlive the GrpcRouter; the gRPC metric family goes to `registry`, which must too.
  // Errors (terminal): the address cannot be bound (in use, bad host); invalid-input: a port
  // outside 0..65535.
  static Result<std::unique_ptr<GrpcRouter>> start(const GrpcRouterOptions& options,
                                                   Router& router, metrics::Registry& registry);
  // Stops (stop(0)) if still running, then waits for its background calls.
  ~GrpcRouter();
  GrpcRouter(const GrpcRouter&) = delete;
  GrpcRouter& operator=(const GrpcRouter&) = delete;

  // The bound port.
  std::uint16_t port() const noexcept;
  // Re-reads router.config() (call after Router::reload()): one channel per upstream address,
  // the unchanged ones kept, swapped atomically; calls in flight finish on the channels they
  // started with.
  void reload();
  // Sets the health status of "" and every service: SERVING (true) or NOT_SERVING (false), and
  // ServerReady's answer.
  void set_serving(bool serving);
  // Stops accepting calls, waits up to `grace` for calls in flight (each bounded by its
  // deadline), cancels the rest. Idempotent.
  void stop(std::chrono::milliseconds grace);

 private:
  struct Impl;
  explicit GrpcRouter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::runtime
