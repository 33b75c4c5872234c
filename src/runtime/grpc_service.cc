#include "runtime/grpc_service.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <mutex>

#include "common/version.h"
#include "grpc_predict_v2.grpc.pb.h"
#include "runtime/grpc_codec.h"

namespace kiln::runtime {

grpc::Status grpc_status_for(int http_status, const std::string& message) {
  switch (http_status) {
    case 200:
      return grpc::Status::OK;
    case 400:
    case 422:
      return {grpc::StatusCode::INVALID_ARGUMENT, message};
    case 404:
      return {grpc::StatusCode::NOT_FOUND, message};
    case 413:
    case 429:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, message};
    case 503:
      return {grpc::StatusCode::UNAVAILABLE, message};
    default:
      return {grpc::StatusCode::INTERNAL, message};
  }
}

namespace {

using Clock = std::chrono::steady_clock;
namespace pb = inference;

void set_tensor_metadata(const TensorSpec& spec, pb::ModelMetadataResponse::TensorMetadata& out) {
  out.set_name(spec.name);
  out.set_datatype(std::string(to_string(spec.datatype)));
  for (const auto d : spec.shape) out.add_shape(d);
}

std::string model_not_found(const std::string& name, const std::string& version) {
  return version.empty() ? "unknown model '" + name + "'"
                         : "unknown model '" + name + "' at version '" + version + "'";
}

// The service's answers; every method finishes its reactor exactly once.
class InferenceCalls final : public pb::GRPCInferenceService::CallbackService {
 public:
  InferenceCalls(InferenceService& service, const GrpcServerOptions& options)
      : service_(service),
        queue_timeout_(service.options().queue_timeout),
        max_pending_(options.max_pending_infers > 0
                         ? options.max_pending_infers
                         : service.options().max_concurrency + service.options().max_queue),
        pool_(options.infer_threads > 0 ? options.infer_threads
                                        : std::max<std::size_t>(1, service.options().max_concurrency)) {}

  // Waits for the infer calls handed to the workers.
  void join() { pool_.join(); }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const pb::ServerLiveRequest*,
                                       pb::ServerLiveResponse* response) override {
    response->set_live(true);
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const pb::ServerReadyRequest*,
                                        pb::ServerReadyResponse* response) override {
    response->set_ready(service_.ready());
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const pb::ModelReadyRequest* request,
                                       pb::ModelReadyResponse* response) override {
    auto status = service_.model_status(request->name(), request->version());
    if (!status) {
      return finish(context, {grpc::StatusCode::NOT_FOUND,
                              model_not_found(request->name(), request->version())});
    }
    response->set_ready(status->ready && !service_.draining());
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const pb::ServerMetadataRequest*,
                                           pb::ServerMetadataResponse* response) override {
    response->set_name("kiln-runtime");
    response->set_version(kVersion);
    response->add_extensions("model_profile");  // As GET /v2: the profile is served on REST.
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const pb::ModelMetadataRequest* request,
                                          pb::ModelMetadataResponse* response) override {
    auto status = service_.model_status(request->name(), request->version());
    if (!status) {
      return finish(context, {grpc::StatusCode::NOT_FOUND,
                              model_not_found(request->name(), request->version())});
    }
    response->set_name(status->name);
    if (!status->version.empty()) response->add_versions(status->version);
    if (status->metadata == nullptr) {
      (*response->mutable_properties())["state"] = "UNAVAILABLE";
      (*response->mutable_properties())["reason"] = status->not_ready_reason;
      return finish(context, grpc::Status::OK);
    }
    const auto& metadata = *status->metadata;
    response->set_platform(metadata.platform);
    for (const auto& spec : metadata.inputs) set_tensor_metadata(spec, *response->add_inputs());
    for (const auto& spec : metadata.outputs) set_tensor_metadata(spec, *response->add_outputs());
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const pb::ModelInferRequest* request,
                                       pb::ModelInferResponse* response) override {
    auto* reactor = context->DefaultReactor();
    if (pending_.fetch_add(1) >= max_pending_) {
      --pending_;
      reactor->Finish({grpc::StatusCode::RESOURCE_EXHAUSTED,
                       "too many requests: " + std::to_string(max_pending_) +
                           " infer calls are waiting or running"});
      return reactor;
    }
    const auto queued = Clock::now();
    boost::asio::post(pool_, [this, reactor, request, response, queued] {
      reactor->Finish(infer(*request, *response, queued));
      --pending_;
    });
    return reactor;
  }

 private:
  static grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context,
                                          const grpc::Status& status) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  // Runs one infer call on a worker; never throws.
  grpc::Status infer(const pb::ModelInferRequest& request, pb::ModelInferResponse& response,
                     Clock::time_point queued) noexcept {
    try {
      if (Clock::now() - queued > queue_timeout_) {
        return {grpc::StatusCode::UNAVAILABLE, "no capacity: timed out waiting in the queue"};
      }
      if (!service_.model_status(request.model_name(), request.model_version())) {
        return {grpc::StatusCode::NOT_FOUND,
                model_not_found(request.model_name(), request.model_version())};
      }
      auto decoded = decode_grpc_infer_request(request);
      if (!decoded.ok()) return {grpc::StatusCode::INVALID_ARGUMENT, decoded.error().message()};
      InferOutcome outcome = service_.infer(request.model_name(), request.model_version(),
                                            std::move(decoded->request));
      if (outcome.status != 200) return grpc_status_for(outcome.status, outcome.error);
      encode_grpc_infer_response(std::move(outcome.response), decoded->raw, response);
      return grpc::Status::OK;
    } catch (const std::exception& e) {
      return {grpc::StatusCode::INTERNAL, std::string("internal error: ") + e.what()};
    } catch (...) {
      return {grpc::StatusCode::INTERNAL, "internal error"};
    }
  }

  InferenceService& service_;
  const std::chrono::milliseconds queue_timeout_;
  const std::size_t max_pending_;
  std::atomic<std::size_t> pending_{0};
  boost::asio::thread_pool pool_;
};

}  // namespace

struct GrpcServer::Impl {
  std::unique_ptr<InferenceCalls> calls;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::mutex stop_mutex;
  bool stopped = false;
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { stop(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<GrpcServer>> GrpcServer::start(const GrpcServerOptions& options,
                                                       InferenceService& service) {
  if (options.port < 0 || options.port > 65535) {
    return Error::invalid_input("grpc port " + std::to_string(options.port) +
                                " is outside 0..65535");
  }
  auto impl = std::make_unique<Impl>();
  impl->calls = std::make_unique<InferenceCalls>(service, options);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const bool ipv6 = options.host.find(':') != std::string::npos;
  const std::string address = (ipv6 ? "[" + options.host + "]" : options.host) + ":" +
                              std::to_string(options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  const auto max_bytes = std::min<std::size_t>(options.max_receive_message_bytes, INT32_MAX);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::max<std::size_t>(1, max_bytes)));
  builder.RegisterService(impl->calls.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    if (impl->server) impl->server->Shutdown();
    impl->calls->join();
    return Error::terminal("cannot listen for gRPC on " + address);
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

std::uint16_t GrpcServer::port() const noexcept { return static_cast<std::uint16_t>(impl_->port); }

void GrpcServer::set_serving(bool serving) {
  if (auto* health = impl_->server->GetHealthCheckService()) health->SetServingStatus(serving);
}

void GrpcServer::stop(std::chrono::milliseconds grace) {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->calls->join();
  impl_->server->Wait();
}

}  // namespace kiln::runtime
