#pragma once

// The Open Inference Protocol (v2) gRPC endpoint: inference.GRPCInferenceService
// (proto/grpc_predict_v2.proto) over an InferenceService, plus gRPC's standard health service
// grpc.health.v1.Health, on one gRPC server (gRPC C++'s callback API).
//
//   ServerLive      {live: true}
//   ServerReady     {ready: InferenceService::ready()} (false while draining)
//   ModelReady      {ready}: the model loaded (also while draining); NOT_FOUND for an unknown
//                   model or version
//   ServerMetadata  {name: "kiln-runtime", version, extensions} as REST's GET /v2
//   ModelMetadata   name, versions, platform, inputs, outputs; a model that failed to load has
//                   properties {state: "UNAVAILABLE", reason} — `properties` (field 6) is
//                   Kiln's addition to the published message (clients built from the spec's
//                   .proto ignore it as an unknown field); NOT_FOUND when unknown
//   ModelInfer      grpc_codec.h decodes the request, InferenceService::infer() runs it (the same
//                   admission control, metrics and traffic profile as REST); outputs come back
//                   raw when the inputs came raw (as Triton answers), else typed
//
// Errors are the call's status with a message naming the field: the service's REST codes map
// through grpc_status_for() (400/422 INVALID_ARGUMENT, 404 NOT_FOUND, 413/429
// RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 500 INTERNAL). A message larger than
// max_receive_message_bytes is refused by gRPC itself with RESOURCE_EXHAUSTED before it is
// parsed.
//
// Threads: the cheap calls are answered on gRPC's callback threads. A ModelInfer is handed to
// a pool of `infer_threads` workers, so no gRPC thread blocks on a model.
//
// Bounds on ModelInfer. A message of many small elements parses to far more than its size on
// the wire (4 MB of empty bytes_contents is ~110 MiB of std::string with malloc), so ModelInfer
// is registered raw: gRPC hands over the message's bytes, and a worker parses them when it takes
// the call, on a protobuf Arena of mapped pages given back when the call ends. So:
//   - at most `max_pending_infers` calls waiting or running, holding at most
//     `max_pending_bytes` of messages on the wire together; a call over either gets
//     RESOURCE_EXHAUSTED at once ("too many requests");
//   - at most `infer_threads` messages parsed at once, each about 25 bytes per element at
//     worst (an empty string), so parsed memory is bounded by the workers, not by clients;
//   - gRPC's own buffers bounded by a grpc::ResourceQuota of `memory_quota_bytes`, and each
//     connection to `max_concurrent_streams` HTTP/2 streams at once;
//   - a call the client cancelled, or whose deadline passed, while it waited for a worker is
//     neither parsed nor run (CANCELLED / DEADLINE_EXCEEDED);
//   - a call waits one queue_timeout in all, for a worker and then for the service's
//     admission slot together (its client's deadline, when earlier, ends the wait); past it:
//     UNAVAILABLE, as a REST request timing out in the admission queue gets 503.
//
// Health: gRPC's default health service answers for "" and, registered here, for
// "inference.GRPCInferenceService": SERVING until set_serving(false) (a drain), then
// NOT_SERVING; any other service name is NOT_FOUND.
//
// Readiness during a drain: ServerReady (and health) fail; ModelReady stays true for a loaded
// model, as REST's GET /v2/models/{m}/ready and KServe do — only the server is going away.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/support/status.h>

#include "common/result.h"
#include "runtime/inference_service.h"

namespace kiln::runtime {

struct GrpcServerOptions {
  std::string host = "0.0.0.0";  // IPv4 or IPv6 address ("::" for every address).
  int port = 8081;               // 0: a free port, reported by port().
  // Largest request message accepted (bytes, >= 1); serve's --max-body-bytes.
  std::size_t max_receive_message_bytes = 4u << 20;
  // ModelInfer workers (0: the service's max_concurrency).
  std::size_t infer_threads = 0;
  // ModelInfer calls waiting or running at once (0: the service's max_concurrency + max_queue).
  std::size_t max_pending_infers = 0;
  // Bytes of ModelInfer messages (as received) held at once by the calls waiting or running
  // (0: max_pending_infers x max_receive_message_bytes).
  std::size_t max_pending_bytes = 0;
  // gRPC's memory quota for its transport buffers, all connections together (bytes; 0:
  // 2 x max_pending_bytes, at least 64 MiB). Under pressure gRPC resets streams, so keep it
  // well above max_pending_bytes.
  std::size_t memory_quota_bytes = 0;
  // HTTP/2 streams one connection may have open at once (0: max_pending_infers).
  std::size_t max_concurrent_streams = 0;
};

// The gRPC status of an InferOutcome's REST `status` (see the table at the top of this file;
// 200 is OK, any other unknown code INTERNAL) with `message`.
grpc::Status grpc_status_for(int http_status, const std::string& message);

class GrpcServer {
 public:
  // Binds host:port and starts serving `service`, which must outlive the server. Errors
  // (terminal): the address cannot be bound (in use, bad host). The port is not shared
  // (SO_REUSEPORT off), so a second server on a taken port fails here.
  static Result<std::unique_ptr<GrpcServer>> start(const GrpcServerOptions& options,
                                                   InferenceService& service);
  // Stops (stop(0)) if still running.
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The bound port. Thread-safe.
  std::uint16_t port() const noexcept;
  // Sets the health status of "" and "inference.GRPCInferenceService": SERVING (true) or
  // NOT_SERVING (false). Thread-safe.
  void set_serving(bool serving);
  // ModelInfer calls accepted and not yet answered (waiting for a worker or running), for a
  // drain to wait on. Thread-safe.
  std::size_t in_flight() const noexcept;
  // Stops accepting calls, waits up to `grace` for calls in flight, cancels the rest and joins
  // the workers. Idempotent. Call from one controlling thread.
  void stop(std::chrono::milliseconds grace);

 private:
  struct Impl;
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::runtime
