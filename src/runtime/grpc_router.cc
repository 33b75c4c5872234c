#include "runtime/grpc_router.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <mutex>

#include "common/log.h"
#include "grpc_predict_v2.grpc.pb.h"
#include "runtime/grpc_codec.h"

namespace kiln::runtime {

int http_status_of_grpc(grpc::StatusCode code) noexcept {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

Result<OutputRows> grpc_first_output_rows(const inference::ModelInferResponse& response) {
  if (response.outputs_size() == 0) return Error::invalid_input("the answer has no outputs");
  // The output as the one input of a request, so that the request decoder (its datatype, count
  // and range checks, raw or typed) reads it: one decoder for both directions.
  inference::ModelInferRequest as_request;
  const auto& output = response.outputs(0);
  auto* input = as_request.add_inputs();
  input->set_name(output.name());
  input->set_datatype(output.datatype());
  *input->mutable_shape() = output.shape();
  if (response.raw_output_contents_size() > 0) {
    as_request.add_raw_input_contents(response.raw_output_contents(0));
  } else if (output.has_contents()) {
    *input->mutable_contents() = output.contents();
  }
  auto decoded = decode_grpc_infer_request(as_request);
  if (!decoded.ok()) return decoded.error().with_context("the answer's outputs[0]");
  return first_output_rows(decoded->request.inputs.front());
}

namespace {

namespace pb = inference;
using Clock = std::chrono::steady_clock;
using Stub = pb::GRPCInferenceService::Stub;

constexpr std::array<Router::Upstream, 3> kVariants = {Router::kStable, Router::kCanary,
                                                       Router::kShadow};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const char* status_name(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {
      "OK",           "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",     "ALREADY_EXISTS", "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",          "UNAVAILABLE",    "DATA_LOSS",
      "UNAUTHENTICATED"};
  const auto i = static_cast<std::size_t>(code);
  return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

// Metadata keys gRPC sets itself (and the HTTP/2 pseudo-headers): never copied upstream.
bool reserved_metadata(std::string_view key) {
  return key.empty() || key.front() == ':' || key.starts_with("grpc-") || key == "content-type" ||
         key == "te" || key == "user-agent" || key == "host";
}

// One configuration's upstreams: the routing view of the config (each url the variant's grpcUrl,
// so that Router::pick() sends nothing to a variant without one) and one stub (and channel) per
// address. Immutable once built; swapped whole by reload().
struct Upstreams {
  RouterConfig view;
  std::string sticky_key;  // The metadata key: the sticky header's name, lower case.
  std::array<std::shared_ptr<Stub>, Router::kUpstreams> stubs;
  std::array<std::string, Router::kUpstreams> addresses;
};

std::shared_ptr<Stub> new_stub(const std::string& address, const Router::Options& options) {
  grpc::ChannelArguments args;
  const auto max_bytes = std::min<std::size_t>(options.max_response_bytes, INT32_MAX);
  args.SetMaxReceiveMessageSize(static_cast<int>(std::max<std::size_t>(max_bytes, 1)));
  args.SetMaxSendMessageSize(-1);
  // An upstream back from an ejection is tried again within a second, not after gRPC's default
  // reconnect backoff (up to 120 s), which would fail the first calls fast and eject it again.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Distinct channels to one address (stable and canary in tests) keep their own connections.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  return std::shared_ptr<Stub>(pb::GRPCInferenceService::NewStub(channel).release());
}

std::shared_ptr<const Upstreams> build_upstreams(const RouterConfig& config,
                                                 const Router::Options& options,
                                                 const Upstreams* previous) {
  auto out = std::make_shared<Upstreams>();
  out->view = config;
  out->view.stable_url = config.stable_grpc_url;
  out->view.canary_url = config.canary_grpc_url;
  out->view.shadow_url = config.shadow_grpc_url;
  out->sticky_key = lower(config.sticky_header);
  for (const auto u : kVariants) {
    const std::string& address = u == Router::kStable   ? config.stable_grpc_url
                                 : u == Router::kCanary ? config.canary_grpc_url
                                                        : config.shadow_grpc_url;
    out->addresses[u] = address;
    if (address.empty()) continue;
    if (previous != nullptr && previous->addresses[u] == address && previous->stubs[u]) {
      out->stubs[u] = previous->stubs[u];  // Keeps its connections.
    } else {
      out->stubs[u] = new_stub(address, options);
    }
  }
  return out;
}

std::chrono::system_clock::time_point deadline_after(std::chrono::milliseconds timeout) {
  return std::chrono::system_clock::now() + timeout;
}

// The service; every method finishes its reactor exactly once.
// Shared with the completions of its calls (which hold a reference), so that a completion ending
// after the server stopped still finds it.
class RouterCalls final : public pb::GRPCInferenceService::CallbackService,
                          public std::enable_shared_from_this<RouterCalls> {
 public:
  RouterCalls(Router& router, metrics::Registry& registry)
      : router_(router),
        grpc_requests_(registry.counter("kiln_router_grpc_requests_total",
                                        "gRPC calls routed, by variant and gRPC status.",
                                        {"variant", "code"})),
        upstreams_(build_upstreams(*router.config(), router.options(), nullptr)) {}

  void reload() {
    std::lock_guard lock(reload_mutex_);  // One builder at a time, so kept stubs stay kept.
    const auto previous = upstreams_.load();
    upstreams_.store(build_upstreams(*router_.config(), router_.options(), previous.get()));
  }

  void set_serving(bool serving) { serving_.store(serving); }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const pb::ServerLiveRequest*,
                                       pb::ServerLiveResponse* response) override {
    response->set_live(true);
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const pb::ServerReadyRequest*,
                                        pb::ServerReadyResponse* response) override {
    const auto upstreams = upstreams_.load();
    response->set_ready(serving_.load() && upstreams->stubs[Router::kStable] != nullptr &&
                        !router_.is_ejected(Router::kStable));
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const pb::ModelReadyRequest* request,
                                       pb::ModelReadyResponse* response) override {
    return to_stable(context, request, response, [](auto* stub, auto... args) {
      stub->ModelReady(std::move(args)...);
    });
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const pb::ServerMetadataRequest* request,
                                           pb::ServerMetadataResponse* response) override {
    return to_stable(context, request, response, [](auto* stub, auto... args) {
      stub->ServerMetadata(std::move(args)...);
    });
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const pb::ModelMetadataRequest* request,
                                          pb::ModelMetadataResponse* response) override {
    return to_stable(context, request, response, [](auto* stub, auto... args) {
      stub->ModelMetadata(std::move(args)...);
    });
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const pb::ModelInferRequest* request,
                                       pb::ModelInferResponse* response) override;

 private:
  // One forwarded call in flight: owned by its completion.
  struct Call {
    grpc::ServerUnaryReactor* reactor = nullptr;
    std::unique_ptr<grpc::ClientContext> context;
    std::shared_ptr<const Upstreams> upstreams;
    Router::Upstream upstream = Router::kStable;
    std::uint64_t generation = 0;
    Clock::time_point start;
    // ModelInfer: what a comparison needs once the caller is answered.
    const pb::ModelInferRequest* request = nullptr;
    pb::ModelInferResponse* response = nullptr;
    bool mirror = false;  // A stable-routed infer drawn for the shadow.
  };
  // A background call whose answer is compared with the one the caller got (router.h's Job).
  struct Background {
    Router::Upstream variant = Router::kCanary;
    Router::Upstream callee = Router::kStable;
    std::uint64_t generation = 0;
    bool answered_by_variant = false;
    std::shared_ptr<const Upstreams> upstreams;
    grpc::ClientContext context;
    pb::ModelInferRequest request;
    pb::ModelInferResponse answered;  // The caller's answer (its first output).
    pb::ModelInferResponse other;
  };

  static grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context,
                                          const grpc::Status& status) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  // The upstream call's context: the caller's deadline and cancellation propagate, the deadline
  // is at most the upstream timeout, and the caller's metadata goes along.
  std::unique_ptr<grpc::ClientContext> upstream_context(grpc::CallbackServerContext& caller) {
    auto context = grpc::ClientContext::FromCallbackServerContext(caller);
    context->set_deadline(deadline_after(router_.options().upstream_timeout));
    for (const auto& [key, value] : caller.client_metadata()) {
      const std::string_view k(key.data(), key.size());
      if (!reserved_metadata(k)) {
        context->AddMetadata(std::string(k), std::string(value.data(), value.size()));
      }
    }
    return context;
  }

  void count(Router::Upstream u, const grpc::Status& status, Clock::time_point start) {
    router_.count_request(u, http_status_of_grpc(status.error_code()),
                          std::chrono::duration<double>(Clock::now() - start).count());
    grpc_requests_.with({Router::name_of(u), status_name(status.error_code())}).inc();
  }

  grpc::Status unavailable_stable(const Upstreams& upstreams) {
    if (upstreams.stubs[Router::kStable] == nullptr) {
      return {grpc::StatusCode::UNAVAILABLE, "the router has no grpcUrl for stable"};
    }
    return {grpc::StatusCode::UNAVAILABLE,
            "upstream stable " + upstreams.addresses[Router::kStable] + " is ejected after " +
                std::to_string(router_.options().eject_after) +
                " consecutive failures; retry later"};
  }

  // Forwards a metadata call to stable through `method` of the callback stub.
  template <typename Request, typename Response, typename Method>
  grpc::ServerUnaryReactor* to_stable(grpc::CallbackServerContext* context, const Request* request,
                                      Response* response, Method method);
  // The answer of the upstream of `call` (in its completion): counts, records, answers the
  // caller, then starts the comparison when one follows.
  void infer_answered(std::unique_ptr<Call> call, const grpc::Status& status) noexcept;
  void start_background(std::unique_ptr<Background> job) noexcept;
  void background_answered(Background& job, const grpc::Status& status) noexcept;

  Router& router_;
  metrics::Family<metrics::Counter>& grpc_requests_;
  std::mutex reload_mutex_;
  std::atomic<std::shared_ptr<const Upstreams>> upstreams_;
  std::atomic<bool> serving_{true};
};

template <typename Request, typename Response, typename Method>
grpc::ServerUnaryReactor* RouterCalls::to_stable(grpc::CallbackServerContext* context,
                                                 const Request* request, Response* response,
                                                 Method method) {
  auto* reactor = context->DefaultReactor();
  try {
    if (!router_.try_start_request()) {
      reactor->Finish({grpc::StatusCode::RESOURCE_EXHAUSTED,
                       "the router has " + std::to_string(router_.options().max_in_flight) +
                           " requests in flight (its --max-in-flight); retry later"});
      return reactor;
    }
    auto upstreams = upstreams_.load();
    if (upstreams->stubs[Router::kStable] == nullptr || router_.is_ejected(Router::kStable)) {
      const grpc::Status status = unavailable_stable(*upstreams);
      count(Router::kStable, status, Clock::now());
      reactor->Finish(status);
      router_.request_done();
      return reactor;
    }
    auto call = std::make_unique<Call>();
    call->reactor = reactor;
    call->context = upstream_context(*context);
    call->upstreams = upstreams;
    call->generation = router_.generation(Router::kStable);
    call->start = Clock::now();
    Call* raw = call.get();
    auto* async = upstreams->stubs[Router::kStable]->async();
    method(async, raw->context.get(), request, response,
                     [self = shared_from_this(), raw](grpc::Status status) {
                       std::unique_ptr<Call> call(raw);
                       try {
                         self->count(Router::kStable, status, call->start);
                         self->router_.record(Router::kStable, call->generation,
                                              http_status_of_grpc(status.error_code()) >= 500);
                       } catch (...) {
                         // Counting failed (out of memory): the answer still goes back.
                       }
                       call->reactor->Finish(status);
                       call.reset();
                       self->router_.request_done();  // The router may be gone from here on.
                     });
    call.release();  // Owned by the completion from here on.
  } catch (...) {
    reactor->Finish({grpc::StatusCode::INTERNAL, "the router failed"});
    router_.request_done();
  }
  return reactor;
}

grpc::ServerUnaryReactor* RouterCalls::ModelInfer(grpc::CallbackServerContext* context,
                                                  const pb::ModelInferRequest* request,
                                                  pb::ModelInferResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (!router_.try_start_request()) {
    reactor->Finish({grpc::StatusCode::RESOURCE_EXHAUSTED,
                     "the router has " + std::to_string(router_.options().max_in_flight) +
                         " requests in flight (its --max-in-flight); retry later"});
    return reactor;
  }
  try {
    auto upstreams = upstreams_.load();
    std::string_view key;
    const auto& metadata = context->client_metadata();
    if (const auto it = metadata.find(upstreams->sticky_key); it != metadata.end()) {
      key = std::string_view(it->second.data(), it->second.size());
    }
    const Router::Route route = router_.pick(upstreams->view, key);
    if (!route.available || upstreams->stubs[route.upstream] == nullptr) {
      const grpc::Status status = unavailable_stable(*upstreams);
      count(Router::kStable, status, Clock::now());
      reactor->Finish(status);
      router_.request_done();
      return reactor;
    }
    auto call = std::make_unique<Call>();
    call->reactor = reactor;
    call->context = upstream_context(*context);
    call->upstreams = upstreams;
    call->upstream = route.upstream;
    call->generation = route.generation;
    call->start = Clock::now();
    call->request = request;
    call->response = response;
    call->mirror = route.upstream == Router::kStable &&
                   upstreams->stubs[Router::kShadow] != nullptr &&
                   router_.draw_mirror(upstreams->view);
    Call* raw = call.get();
    upstreams->stubs[route.upstream]->async()->ModelInfer(
        raw->context.get(), request, response, [self = shared_from_this(), raw](grpc::Status status) {
          self->infer_answered(std::unique_ptr<Call>(raw), status);
        });
    call.release();  // Owned by the completion from here on.
  } catch (...) {
    reactor->Finish({grpc::StatusCode::INTERNAL, "the router failed"});
    router_.request_done();
  }
  return reactor;
}

void RouterCalls::infer_answered(std::unique_ptr<Call> call, const grpc::Status& status) noexcept {
  std::unique_ptr<Background> job;
  try {
    count(call->upstream, status, call->start);
    router_.record(call->upstream, call->generation,
                   http_status_of_grpc(status.error_code()) >= 500);
    if (status.ok() && (call->upstream == Router::kCanary || call->mirror)) {
      // Reserved before the caller is answered, so that a flush() after the answer sees it.
      if (router_.try_start_background()) {
        job = std::make_unique<Background>();
        if (call->upstream == Router::kCanary) {
          job->variant = Router::kCanary;
          job->callee = Router::kStable;
          job->answered_by_variant = true;
        } else {
          job->variant = Router::kShadow;
          job->callee = Router::kShadow;
        }
        job->upstreams = call->upstreams;
        job->generation = router_.generation(job->callee);
        // The request and answer are the caller's until Finish: copied for the comparison.
        job->request = *call->request;
        const pb::ModelInferResponse& answer = *call->response;
        if (answer.outputs_size() > 0) {
          *job->answered.add_outputs() = answer.outputs(0);
          if (answer.raw_output_contents_size() > 0) {
            job->answered.add_raw_output_contents(answer.raw_output_contents(0));
          }
        }
      }
    }
  } catch (...) {
    if (job) {
      job.reset();
      router_.background_done();
    }
  }
  call->reactor->Finish(status);
  call.reset();
  if (job) start_background(std::move(job));
  router_.request_done();  // The router may be gone from here on.
}

void RouterCalls::start_background(std::unique_ptr<Background> job) noexcept {
  try {
    const auto stub = job->upstreams->stubs[job->callee];
    if (stub == nullptr || router_.is_ejected(job->callee)) {
      router_.count_failed_comparison(job->variant, grpc_first_output_rows(job->answered),
                                      "error");
      job.reset();
      router_.background_done();
      return;
    }
    job->context.set_deadline(deadline_after(router_.options().upstream_timeout));
    Background* raw = job.get();
    stub->async()->ModelInfer(&raw->context, &raw->request, &raw->other,
                              [self = shared_from_this(), raw](grpc::Status status) {
                                std::unique_ptr<Background> job(raw);
                                self->background_answered(*job, status);
                                job.reset();
                                self->router_.background_done();  // The last touch of the router.
                              });
    job.release();  // Owned by the completion from here on.
  } catch (...) {
    job.reset();
    router_.background_done();
  }
}

void RouterCalls::background_answered(Background& job, const grpc::Status& status) noexcept {
  try {
    router_.record(job.callee, job.generation, http_status_of_grpc(status.error_code()) >= 500);
    const auto answered = grpc_first_output_rows(job.answered);
    if (!status.ok()) return router_.count_failed_comparison(job.variant, answered, "error");
    router_.count_comparison(job.variant, answered, grpc_first_output_rows(job.other),
                             job.answered_by_variant);
  } catch (...) {
    // Counting failed (out of memory): the comparison is lost, the router goes on.
  }
}

}  // namespace

struct GrpcRouter::Impl {
  Router* router = nullptr;
  std::shared_ptr<RouterCalls> calls;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::mutex stop_mutex;
  bool stopped = false;
};

GrpcRouter::GrpcRouter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcRouter::~GrpcRouter() {
  stop(std::chrono::milliseconds(0));
  impl_->router->flush();  // Background calls end by their deadline.
}

Result<std::unique_ptr<GrpcRouter>> GrpcRouter::start(const GrpcRouterOptions& options,
                                                       Router& router,
                                                       metrics::Registry& registry) {
  if (options.port < 0 || options.port > 65535) {
    return Error::invalid_input("grpc port " + std::to_string(options.port) +
                                " is outside 0..65535");
  }
  auto impl = std::make_unique<Impl>();
  impl->router = &router;
  impl->calls = std::make_shared<RouterCalls>(router, registry);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const bool ipv6 = options.host.find(':') != std::string::npos;
  const std::string address =
      (ipv6 ? "[" + options.host + "]" : options.host) + ":" + std::to_string(options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  const auto max_bytes = std::min<std::size_t>(options.max_message_bytes, INT32_MAX);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::max<std::size_t>(1, max_bytes)));
  builder.RegisterService(impl->calls.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    if (impl->server) impl->server->Shutdown();
    return Error::terminal("cannot listen for gRPC on " + address);
  }
  return std::unique_ptr<GrpcRouter>(new GrpcRouter(std::move(impl)));
}

std::uint16_t GrpcRouter::port() const noexcept { return static_cast<std::uint16_t>(impl_->port); }

void GrpcRouter::reload() { impl_->calls->reload(); }

void GrpcRouter::set_serving(bool serving) {
  impl_->calls->set_serving(serving);
  if (auto* health = impl_->server->GetHealthCheckService()) health->SetServingStatus(serving);
}

void GrpcRouter::stop(std::chrono::milliseconds grace) {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
}

}  // namespace kiln::runtime
