#include "runtime/grpc_service.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/mman.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <mutex>
#include <new>
#include <utility>

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

// A ModelInfer's messages live on a protobuf Arena whose blocks are pages mapped for it alone, so
// a parsed message's memory goes back to the system when its call ends: with malloc, the millions
// of small strings a message of many short elements parses to stay cached in the allocator's
// per-thread arenas, and the process keeps the peak of every thread that ever parsed one.
void* map_block(std::size_t bytes) {
  void* block = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) throw std::bad_alloc();
  return block;
}

void unmap_block(void* block, std::size_t bytes) { munmap(block, bytes); }

google::protobuf::ArenaOptions infer_arena_options() {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 64 * 1024;
  options.max_block_size = 4 << 20;
  options.block_alloc = map_block;
  options.block_dealloc = unmap_block;
  return options;
}

// A ModelInferRequest parsed from `wire` on `arena`; invalid-input when it is not one.
Result<pb::ModelInferRequest*> parse_infer_request(const grpc::ByteBuffer& wire,
                                                   google::protobuf::Arena& arena) {
  auto* request = google::protobuf::Arena::CreateMessage<pb::ModelInferRequest>(&arena);
  grpc::ByteBuffer copy(wire);  // Shares the slices; Deserialize consumes its buffer.
  if (!grpc::SerializationTraits<pb::ModelInferRequest>::Deserialize(&copy, request).ok()) {
    return Error::invalid_input("the message is not an inference.ModelInferRequest");
  }
  return request;
}

// The calls accepted and not yet answered, by count and by the bytes of their parsed messages.
// Thread-safe.
class PendingBudget {
 public:
  // Gives its share back when destroyed (RAII: also when handing the call to a worker throws).
  class Slot {
   public:
    Slot(PendingBudget* owner, std::size_t bytes) : owner_(owner), bytes_(bytes) {}
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), bytes_(other.bytes_) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (owner_ != nullptr) owner_->give_back(bytes_);
    }

   private:
    PendingBudget* owner_;
    std::size_t bytes_;
  };

  PendingBudget(std::size_t max_calls, std::size_t max_bytes)
      : max_calls_(max_calls), max_bytes_(max_bytes) {}

  // A slot for a call holding `bytes`; the refusal's message when it does not fit.
  Result<Slot> take(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    if (calls_ >= max_calls_) {
      return Error::retryable("too many requests: " + std::to_string(max_calls_) +
                              " infer calls are waiting or running");
    }
    if (bytes > max_bytes_ - std::min(bytes_, max_bytes_)) {
      return Error::retryable("too many requests: the message has " + std::to_string(bytes) +
                              " bytes and the infer calls waiting or running already hold " +
                              std::to_string(bytes_) + " of " + std::to_string(max_bytes_));
    }
    ++calls_;
    bytes_ += bytes;
    return Slot(this, bytes);
  }

  std::size_t calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  void give_back(std::size_t bytes) noexcept {
    std::lock_guard lock(mutex_);
    --calls_;
    bytes_ -= bytes;
  }

  const std::size_t max_calls_;
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::size_t calls_ = 0;  // Guarded by mutex_.
  std::size_t bytes_ = 0;  // Guarded by mutex_.
};

constexpr std::size_t kMinMemoryQuotaBytes = 64u << 20;

std::size_t max_pending_infers(const GrpcServerOptions& options, const ServiceOptions& service) {
  return options.max_pending_infers > 0 ? options.max_pending_infers
                                        : service.max_concurrency + service.max_queue;
}

std::size_t max_pending_bytes(const GrpcServerOptions& options, const ServiceOptions& service) {
  return options.max_pending_bytes > 0
             ? options.max_pending_bytes
             : max_pending_infers(options, service) * options.max_receive_message_bytes;
}

// The service's answers; every method finishes its reactor exactly once.
// ModelInfer is a raw method: gRPC hands over the message's bytes, and a worker parses them, so
// what a message parses to is never held by more calls than there are workers.
class InferenceCalls final : public pb::GRPCInferenceService::WithRawCallbackMethod_ModelInfer<
                                 pb::GRPCInferenceService::CallbackService> {
 public:
  InferenceCalls(InferenceService& service, const GrpcServerOptions& options)
      : service_(service),
        queue_timeout_(service.options().queue_timeout),
        pending_(max_pending_infers(options, service.options()),
                 max_pending_bytes(options, service.options())),
        pool_(options.infer_threads > 0 ? options.infer_threads
                                        : std::max<std::size_t>(1, service.options().max_concurrency)) {
  }

  // Waits for the infer calls handed to the workers.
  void join() { pool_.join(); }

  // ModelInfer calls accepted and not yet answered.
  std::size_t in_flight() const { return pending_.calls(); }

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
    response->set_ready(status->ready);  // Also while draining: only the server is going away.
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
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override {
    auto* reactor = context->DefaultReactor();
    auto slot = pending_.take(request->Length());
    if (!slot.ok()) {
      reactor->Finish({grpc::StatusCode::RESOURCE_EXHAUSTED, slot.error().message()});
      return reactor;
    }
    const auto queued = Clock::now();
    try {
      boost::asio::post(pool_, [this, context, reactor, request, response, queued,
                                slot = std::move(slot).value()] {
        reactor->Finish(infer(*context, *request, *response, queued));
      });
    } catch (const std::exception& e) {  // The handler, and with it the slot, is gone.
      reactor->Finish({grpc::StatusCode::UNAVAILABLE, std::string("cannot queue: ") + e.what()});
    }
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
  grpc::Status infer(grpc::CallbackServerContext& context, const grpc::ByteBuffer& wire,
                     grpc::ByteBuffer& answer, Clock::time_point queued) noexcept {
    try {
      // A call nobody waits for any more is neither decoded nor run.
      if (context.IsCancelled()) return {grpc::StatusCode::CANCELLED, "the client cancelled the call"};
      const auto now = std::chrono::system_clock::now();
      if (context.deadline() <= now) {
        return {grpc::StatusCode::DEADLINE_EXCEEDED,
                "the call's deadline passed while it waited in the queue"};
      }
      // One queue_timeout in all: what the pool's queue took is not waited again for admission.
      using std::chrono::duration_cast;
      using std::chrono::milliseconds;
      auto wait = queue_timeout_ - duration_cast<milliseconds>(Clock::now() - queued);
      if (wait < milliseconds(0)) {
        return {grpc::StatusCode::UNAVAILABLE, "no capacity: timed out waiting in the queue"};
      }
      wait = std::min(wait, duration_cast<milliseconds>(context.deadline() - now));
      google::protobuf::Arena arena(infer_arena_options());
      auto parsed = parse_infer_request(wire, arena);
      if (!parsed.ok()) return {grpc::StatusCode::INVALID_ARGUMENT, parsed.error().message()};
      const pb::ModelInferRequest& request = **parsed;
      auto& response = *google::protobuf::Arena::CreateMessage<pb::ModelInferResponse>(&arena);
      if (!service_.model_status(request.model_name(), request.model_version())) {
        return {grpc::StatusCode::NOT_FOUND,
                model_not_found(request.model_name(), request.model_version())};
      }
      auto decoded = decode_grpc_infer_request(request);
      if (!decoded.ok()) return {grpc::StatusCode::INVALID_ARGUMENT, decoded.error().message()};
      InferOutcome outcome = service_.infer(request.model_name(), request.model_version(),
                                            std::move(decoded->request), wait);
      if (outcome.status != 200) return grpc_status_for(outcome.status, outcome.error);
      encode_grpc_infer_response(std::move(outcome.response), decoded->raw, response);
      bool own_buffer = false;
      return grpc::SerializationTraits<pb::ModelInferResponse>::Serialize(response, &answer,
                                                                          &own_buffer);
    } catch (const std::exception& e) {
      return {grpc::StatusCode::INTERNAL, std::string("internal error: ") + e.what()};
    } catch (...) {
      return {grpc::StatusCode::INTERNAL, "internal error"};
    }
  }

  InferenceService& service_;
  const std::chrono::milliseconds queue_timeout_;
  PendingBudget pending_;
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
  const auto& service_options = service.options();
  const std::size_t streams = options.max_concurrent_streams > 0
                                  ? options.max_concurrent_streams
                                  : max_pending_infers(options, service_options);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(std::clamp<std::size_t>(streams, 1, INT32_MAX)));
  grpc::ResourceQuota quota("kiln-runtime-grpc");
  // Above the pending bound: under memory pressure gRPC resets streams (RST_STREAM
  // ENHANCE_YOUR_CALM), the calls already admitted among them.
  quota.Resize(options.memory_quota_bytes > 0
                   ? options.memory_quota_bytes
                   : std::max<std::size_t>(2 * max_pending_bytes(options, service_options),
                                           kMinMemoryQuotaBytes));
  builder.SetResourceQuota(quota);
  builder.RegisterService(impl->calls.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    if (impl->server) impl->server->Shutdown();
    impl->calls->join();
    return Error::terminal("cannot listen for gRPC on " + address);
  }
  if (auto* health = impl->server->GetHealthCheckService()) {
    health->SetServingStatus(pb::GRPCInferenceService::service_full_name(), true);
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

std::uint16_t GrpcServer::port() const noexcept { return static_cast<std::uint16_t>(impl_->port); }

void GrpcServer::set_serving(bool serving) {
  if (auto* health = impl_->server->GetHealthCheckService()) health->SetServingStatus(serving);
}

std::size_t GrpcServer::in_flight() const noexcept { return impl_->calls->in_flight(); }

void GrpcServer::stop(std::chrono::milliseconds grace) {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->calls->join();
  impl_->server->Wait();
}

}  // namespace kiln::runtime
