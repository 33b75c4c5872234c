#pragma once

// The Open Inference Protocol (v2) gRPC endpoint: inference.GRPCInferenceService
// (proto/grpc_predict_v2.proto) over an InferenceService, plus gRPC's standard health service
// grpc.health.v1.Health, on one gRPC server (gRPC C++'s callback API).
//
//   ServerLive      {live: true}
//   ServerReady     {ready: InferenceService::ready()} (false while draining)
//   ModelReady      {ready}; NOT_FOUND for an unknown model or version
//   ServerMetadata  {name: "kiln-runtime", version, extensions} as REST's GET /v2
//   ModelMetadata   name, versions, platform, inputs, outputs; a model that failed to load has
//                   properties {state: "UNAVAILABLE", reason}; NOT_FOUND when unknown
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
// a pool of `infer_threads` workers, so no gRPC thread blocks on a model; at most
// `max_pending_infers` calls may be waiting or running (more: RESOURCE_EXHAUSTED, "too many
// requests"), and one that waited in the pool longer than the service's queue_timeout gets
// UNAVAILABLE, as a REST request timing out in the admission queue gets 503.
//
// Health: the default health service answers SERVING for "" and every service until
// set_serving(false) (a drain), then NOT_SERVING.

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
  // Sets the health status of "" and every service: SERVING (true) or NOT_SERVING (false).
  // Thread-safe.
  void set_serving(bool serving);
  // Stops accepting calls, waits up to `grace` for calls in flight, cancels the rest and joins
  // the workers. Idempotent. Call from one controlling thread.
  void stop(std::chrono::milliseconds grace);

 private:
  struct Impl;
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::runtime
