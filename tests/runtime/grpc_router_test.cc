// The router's gRPC side against real upstreams: serve's GrpcServer on port-0 sockets with real
// XGBoost models as stable, canary and shadow, a GrpcRouter in front of them, and callers using
// the stubs generated from the same .proto (and a grpc.health.v1 client).

#include "runtime/grpc_router.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "grpc_predict_v2.grpc.pb.h"
#include "health.grpc.pb.h"
#include "model_fixtures.h"
#include "runtime/grpc_codec.h"
#include "runtime/grpc_service.h"
#include "runtime/xgboost_backend.h"

namespace kiln::runtime {
namespace {

using ::testing::HasSubstr;
using testing::model_fixtures;
using json = nlohmann::json;
namespace pb = inference;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using namespace std::chrono_literals;

// serve's gRPC endpoint of the XGBoost model at `file` as "cancer".
struct Upstream {
  metrics::Registry registry;
  std::unique_ptr<InferenceService> service;
  std::unique_ptr<GrpcServer> server;
  std::string address;
};

std::unique_ptr<Upstream> start_upstream(const std::string& file) {
  auto u = std::make_unique<Upstream>();
  u->service = std::make_unique<InferenceService>(ServiceOptions{}, u->registry);
  u->service->add_model("cancer", "1", load_xgboost(model_fixtures().path(file)), 0);
  GrpcServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  auto server = GrpcServer::start(options, *u->service);
  if (!server.ok()) return nullptr;
  u->server = std::move(server).value();
  u->address = "127.0.0.1:" + std::to_string(u->server->port());
  return u;
}

// A port nothing listens on: bound by a gRPC server that is then stopped.
std::string closed_address() {
  metrics::Registry registry;
  InferenceService service(ServiceOptions{}, registry);
  GrpcServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  auto server = GrpcServer::start(options, service);
  const int port = server.ok() ? (*server)->port() : 1;
  return "127.0.0.1:" + std::to_string(port);
}

// One row of the binary fixture as a [1, 20] FP32 input, typed or raw.
pb::ModelInferRequest infer_request(int row, bool raw = false) {
  const auto rows = model_fixtures().rows("binary");
  const auto& values = rows[static_cast<std::size_t>(row) % rows.size()];
  pb::ModelInferRequest request;
  request.set_model_name("cancer");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  input->add_shape(1);
  input->add_shape(static_cast<std::int64_t>(values.size()));
  if (raw) {
    std::string bytes(values.size() * 4, '\0');
    std::memcpy(bytes.data(), values.data(), bytes.size());  // x86-64: little-endian.
    request.add_raw_input_contents(std::move(bytes));
  } else {
    for (float v : values) input->mutable_contents()->add_fp32_contents(v);
  }
  return request;
}

double metric(const metrics::Registry& registry, const std::string& series) {
  const std::string text = registry.expose();
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

double requests(const metrics::Registry& registry, const std::string& variant,
                const std::string& code = "200") {
  return metric(registry, "kiln_router_requests_total{variant=\"" + variant + "\",code=\"" +
                              code + "\"}");
}

// A Router (its REST side unused) and a GrpcRouter in front of the upstreams, with a caller's stub.
class RoutedGrpc {
 public:
  RoutedGrpc(RouterConfig config, Router::Options options = {})
      : router_(std::move(config), pool_, registry, std::move(options)) {
    GrpcRouterOptions grpc_options;
    grpc_options.host = "127.0.0.1";
    grpc_options.port = 0;
    auto started = GrpcRouter::start(grpc_options, router_, registry);
    if (!started.ok()) return;
    grpc_ = std::move(started).value();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = pb::GRPCInferenceService::NewStub(channel_);
  }
  ~RoutedGrpc() {
    if (grpc_) grpc_->stop(5s);
  }
  bool ok() const { return grpc_ != nullptr; }
  Router& router() { return router_; }
  GrpcRouter& grpc() { return *grpc_; }
  pb::GRPCInferenceService::Stub& stub() { return *stub_; }

  grpc::Status infer(const pb::ModelInferRequest& request, pb::ModelInferResponse& response,
                     const std::string& key = "", const std::string& key_name = "x-request-key") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 30s);
    if (!key.empty()) context.AddMetadata(key_name, key);
    return stub_->ModelInfer(&context, request, &response);
  }
  grpc::Status infer(int row, const std::string& key = "") {
    pb::ModelInferResponse response;
    return infer(infer_request(row), response, key);
  }

  HealthCheckResponse::ServingStatus health() {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext context;
    HealthCheckResponse response;
    EXPECT_TRUE(stub->Check(&context, HealthCheckRequest(), &response).ok());
    return response.status();
  }

  metrics::Registry registry;

 private:
  http::IoPool pool_{1};
  Router router_;
  std::unique_ptr<GrpcRouter> grpc_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::GRPCInferenceService::Stub> stub_;
};

class GrpcRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stable_ = start_upstream("binary.json");
    canary_ = start_upstream("binary.ubj");  // The same trees in the other format.
    shadow_ = start_upstream("binary.json");
    ASSERT_TRUE(stable_ && canary_ && shadow_);
  }

  // REST urls point nowhere: only the gRPC side is exercised.
  RouterConfig config(double canary_weight, double mirror_percent) {
    RouterConfig c;
    c.stable_url = "http://127.0.0.1:9";
    c.canary_url = "http://127.0.0.1:9";
    c.shadow_url = "http://127.0.0.1:9";
    c.stable_grpc_url = stable_->address;
    c.canary_grpc_url = canary_->address;
    c.shadow_grpc_url = shadow_->address;
    c.canary_weight = canary_weight;
    c.mirror_percent = mirror_percent;
    return c;
  }

  std::unique_ptr<Upstream> stable_, canary_, shadow_;
};

TEST_F(GrpcRouterTest, WeightZeroSendsEveryInferToStableWithItsAnswer) {
  RoutedGrpc routed(config(0, 0));
  ASSERT_TRUE(routed.ok());
  const auto expected = model_fixtures().predictions("binary");
  for (int i = 0; i < 10; ++i) {
    pb::ModelInferResponse response;
    const auto status = routed.infer(infer_request(i), response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.outputs_size(), 1);
    ASSERT_EQ(response.outputs(0).contents().fp32_contents_size(), 1);
    EXPECT_NEAR(response.outputs(0).contents().fp32_contents(0), expected[i], 1e-5);
  }
  EXPECT_EQ(requests(routed.registry, "stable"), 10);
  EXPECT_EQ(requests(routed.registry, "canary"), -1);
  EXPECT_EQ(metric(routed.registry,
                   R"(kiln_router_grpc_requests_total{variant="stable",code="OK"})"),
            10);
}

TEST_F(GrpcRouterTest, CanaryAnswersAreComparedWithStableInTheBackground) {
  RoutedGrpc routed(config(100, 0));
  ASSERT_TRUE(routed.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(routed.infer(i).ok());
  // Raw requests are answered raw and compared from raw_output_contents.
  for (int i = 0; i < 5; ++i) {
    pb::ModelInferResponse response;
    ASSERT_TRUE(routed.infer(infer_request(i, true), response).ok());
    EXPECT_EQ(response.raw_output_contents_size(), 1);
  }
  routed.router().flush();
  const auto& r = routed.registry;
  EXPECT_EQ(requests(r, "canary"), 15);
  EXPECT_EQ(requests(r, "stable"), -1);  // Background calls are not caller requests.
  EXPECT_EQ(metric(r, R"(kiln_router_comparisons_total{variant="canary",result="agree"})"), 15);
  EXPECT_EQ(metric(r, R"(kiln_router_comparisons_total{variant="canary",result="mismatch"})"),
            -1);
  EXPECT_EQ(metric(r, R"(kiln_router_agreement_ratio{variant="canary"})"), 1);
  // Stable saw the comparisons' calls.
  EXPECT_EQ(metric(stable_->registry,
                   R"(kiln_runtime_requests_total{model="cancer",code="200"})"),
            15);
}

TEST_F(GrpcRouterTest, StickyKeyFromMetadataAlwaysReachesTheSameVariant) {
  RouterConfig c = config(50, 0);
  c.sticky_header = "X-Request-Key";  // Metadata keys are lower case: the header's name lowered.
  RoutedGrpc routed(c);
  ASSERT_TRUE(routed.ok());
  int to_canary = 0;
  for (int k = 0; k < 8; ++k) {
    const std::string key = "user-" + std::to_string(k);
    if (sticky_bucket(key) < 50) ++to_canary;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(routed.infer(i, key).ok());
  }
  ASSERT_GT(to_canary, 0);
  ASSERT_LT(to_canary, 8);
  EXPECT_EQ(requests(routed.registry, "canary"), 3 * to_canary);
  EXPECT_EQ(requests(routed.registry, "stable"), 3 * (8 - to_canary));
}

TEST_F(GrpcRouterTest, ShadowMirrorIsComparedAndAgrees) {
  RoutedGrpc routed(config(0, 100));
  ASSERT_TRUE(routed.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(routed.infer(i).ok());
  routed.router().flush();
  const auto& r = routed.registry;
  EXPECT_EQ(requests(r, "stable"), 10);
  EXPECT_EQ(metric(r, R"(kiln_router_comparisons_total{variant="shadow",result="agree"})"), 10);
  EXPECT_EQ(metric(shadow_->registry,
                   R"(kiln_runtime_requests_total{model="cancer",code="200"})"),
            10);
  // Output rows: the same buckets a REST comparison would use (threshold deciles).
  const std::string text = r.expose();
  EXPECT_THAT(text, HasSubstr(R"(kiln_router_output_rows_total{variant="shadow",source="shadow",bucket="p:)"));
}

TEST_F(GrpcRouterTest, UnreachableCanaryIsEjectedAndTrafficGoesToStable) {
  RouterConfig c = config(100, 0);
  c.canary_grpc_url = closed_address();
  Router::Options options;
  options.eject_after = 3;
  options.eject_time = 600s;
  RoutedGrpc routed(c, options);
  ASSERT_TRUE(routed.ok());
  for (int i = 0; i < 3; ++i) {
    const auto status = routed.infer(i);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(routed.infer(i).ok());
  const auto& r = routed.registry;
  EXPECT_EQ(requests(r, "canary", "503"), 3);
  EXPECT_EQ(requests(r, "stable"), 5);
  EXPECT_EQ(metric(r, R"(kiln_router_ejections_total{variant="canary"})"), 1);
  routed.router().refresh_metrics();
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_upstream_ejected{variant="canary"})"), 1);
}

TEST_F(GrpcRouterTest, EjectedStableIsUnavailableAtOnceAndNotReady) {
  RouterConfig c = config(0, 0);
  c.stable_grpc_url = closed_address();
  Router::Options options;
  options.eject_after = 2;
  options.eject_time = 600s;
  RoutedGrpc routed(c, options);
  ASSERT_TRUE(routed.ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(routed.infer(i).error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  const auto status = routed.infer(0);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("ejected"));
  grpc::ClientContext context;
  pb::ServerReadyResponse ready;
  ASSERT_TRUE(routed.stub().ServerReady(&context, {}, &ready).ok());
  EXPECT_FALSE(ready.ready());
}

TEST_F(GrpcRouterTest, MetadataCallsGoToStableAndLiveIsTheRoutersOwn) {
  RoutedGrpc routed(config(100, 0));
  ASSERT_TRUE(routed.ok());
  {
    grpc::ClientContext context;
    pb::ServerLiveResponse live;
    ASSERT_TRUE(routed.stub().ServerLive(&context, {}, &live).ok());
    EXPECT_TRUE(live.live());
  }
  {
    grpc::ClientContext context;
    pb::ServerReadyResponse ready;
    ASSERT_TRUE(routed.stub().ServerReady(&context, {}, &ready).ok());
    EXPECT_TRUE(ready.ready());
  }
  {
    grpc::ClientContext context;
    pb::ModelMetadataRequest request;
    request.set_name("cancer");
    pb::ModelMetadataResponse model;
    ASSERT_TRUE(routed.stub().ModelMetadata(&context, request, &model).ok());
    EXPECT_EQ(model.platform(), "xgboost");
  }
  {
    grpc::ClientContext context;
    pb::ModelReadyRequest request;
    request.set_name("nope");
    pb::ModelReadyResponse ready;
    EXPECT_EQ(routed.stub().ModelReady(&context, request, &ready).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    pb::ServerMetadataResponse server;
    ASSERT_TRUE(routed.stub().ServerMetadata(&context, {}, &server).ok());
    EXPECT_EQ(server.name(), "kiln-runtime");
  }
  EXPECT_EQ(requests(routed.registry, "stable"), 2);
  EXPECT_EQ(requests(routed.registry, "stable", "404"), 1);
}

TEST_F(GrpcRouterTest, HealthIsNotServingAndNotReadyAfterTheDrainStarts) {
  RoutedGrpc routed(config(0, 0));
  ASSERT_TRUE(routed.ok());
  EXPECT_EQ(routed.health(), HealthCheckResponse::SERVING);
  routed.grpc().set_serving(false);
  EXPECT_EQ(routed.health(), HealthCheckResponse::NOT_SERVING);
  grpc::ClientContext context;
  pb::ServerReadyResponse ready;
  ASSERT_TRUE(routed.stub().ServerReady(&context, {}, &ready).ok());
  EXPECT_FALSE(ready.ready());
  // Calls in flight and new ones are still routed until stop().
  EXPECT_TRUE(routed.infer(0).ok());
}

TEST_F(GrpcRouterTest, ReloadMovesTrafficToTheNewChannels) {
  RoutedGrpc routed(config(0, 0));
  ASSERT_TRUE(routed.ok());
  ASSERT_TRUE(routed.infer(0).ok());
  routed.router().reload(config(100, 0));
  routed.grpc().reload();
  ASSERT_TRUE(routed.infer(0).ok());
  EXPECT_EQ(requests(routed.registry, "stable"), 1);
  EXPECT_EQ(requests(routed.registry, "canary"), 1);
}

TEST_F(GrpcRouterTest, InvalidInferPassesThroughAsInvalidArgument) {
  RoutedGrpc routed(config(0, 0));
  ASSERT_TRUE(routed.ok());
  pb::ModelInferRequest request = infer_request(0);
  request.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);  // 21 values for [1, 20].
  pb::ModelInferResponse response;
  const auto status = routed.infer(request, response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("fp32_contents"));
  EXPECT_EQ(requests(routed.registry, "stable", "400"), 1);
}

// An upstream that answers every infer OK with an output that cannot be read (shape [1], no data).
class GarbageService final : public pb::GRPCInferenceService::CallbackService {
 public:
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const pb::ModelInferRequest*,
                                       pb::ModelInferResponse* response) override {
    auto* out = response->add_outputs();
    out->set_name("predict");
    out->set_datatype("FP32");
    out->add_shape(1);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

TEST_F(GrpcRouterTest, GarbageFromCanaryIsCountedAsAMismatchAndTheRouterStaysUp) {
  GarbageService garbage;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&garbage);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server && port != 0);
  RouterConfig c = config(100, 0);
  c.canary_grpc_url = "127.0.0.1:" + std::to_string(port);
  {
    RoutedGrpc routed(c);
    ASSERT_TRUE(routed.ok());
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(routed.infer(i).ok());  // Passed through as sent.
    routed.router().flush();
    EXPECT_EQ(metric(routed.registry,
                     R"(kiln_router_comparisons_total{variant="canary",result="mismatch"})"),
              4);
    EXPECT_EQ(metric(routed.registry,
                     R"(kiln_router_comparisons_total{variant="canary",result="agree"})"),
              -1);
    // Still routing: back to stable.
    routed.router().reload(config(0, 0));
    routed.grpc().reload();
    EXPECT_TRUE(routed.infer(0).ok());
  }
  server->Shutdown();
}

TEST(GrpcRouterCodes, MapToTheRestTable) {
  EXPECT_EQ(http_status_of_grpc(grpc::StatusCode::OK), 200);
  EXPECT_EQ(http_status_of_grpc(grpc::StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(http_status_of_grpc(grpc::StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(http_status_of_grpc(grpc::StatusCode::RESOURCE_EXHAUSTED), 429);
  EXPECT_EQ(http_status_of_grpc(grpc::StatusCode::CANCELLED), 499);
  EXPECT_EQ(http_status_of_grpc(grpc::StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(http_status_of_grpc(grpc::StatusCode::DEADLINE_EXCEEDED), 504);
  EXPECT_EQ(http_status_of_grpc(grpc::StatusCode::INTERNAL), 500);
  EXPECT_EQ(http_status_of_grpc(grpc::StatusCode::UNKNOWN), 500);
}

TEST(GrpcFirstOutputRows, ReadsTypedAndRawAsTheJsonReaderReadsThem) {
  InferenceResponse typed;
  typed.outputs.push_back({"predict", DataType::kFp32, {2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6}});
  pb::ModelInferResponse as_typed, as_raw;
  encode_grpc_infer_response(typed, false, as_typed);
  encode_grpc_infer_response(typed, true, as_raw);
  const auto from_json = first_output_rows(
      R"({"outputs":[{"name":"predict","datatype":"FP32","shape":[2,3],"data":[1,2,3,4,5,6]}]})");
  ASSERT_TRUE(from_json.ok());
  for (const auto* message : {&as_typed, &as_raw}) {
    const auto rows = grpc_first_output_rows(*message);
    ASSERT_TRUE(rows.ok()) << rows.error().to_string();
    EXPECT_EQ(rows->rows, 2u);
    EXPECT_EQ(rows->width, 3u);
    EXPECT_EQ(rows->values, from_json->values);
    EXPECT_TRUE(rows->floating);
  }
}

TEST(GrpcFirstOutputRows, LabelsAreWrittenAsJsonWritesThem) {
  const Tensor labels{"label", DataType::kInt64, {3}, std::vector<std::int64_t>{0, 1, -7}};
  const Tensor flags{"flag", DataType::kBool, {2}, std::vector<std::uint8_t>{1, 0}};
  const auto a = first_output_rows(labels);
  const auto b = first_output_rows(flags);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->floating);
  EXPECT_THAT(a->labels, ::testing::ElementsAre("0", "1", "-7"));
  EXPECT_THAT(b->labels, ::testing::ElementsAre("true", "false"));
  const auto json_labels = first_output_rows(
      R"({"outputs":[{"name":"label","datatype":"INT64","shape":[3],"data":[0,1,-7]}]})");
  ASSERT_TRUE(json_labels.ok());
  EXPECT_EQ(a->labels, json_labels->labels);
  EXPECT_EQ(a->rows, 3u);
}

TEST(GrpcFirstOutputRows, RefusesAnswersThatCannotBeRead) {
  pb::ModelInferResponse empty;
  EXPECT_FALSE(grpc_first_output_rows(empty).ok());
  pb::ModelInferResponse short_data;
  auto* out = short_data.add_outputs();
  out->set_name("predict");
  out->set_datatype("FP32");
  out->add_shape(4);
  out->mutable_contents()->add_fp32_contents(1);  // 1 value for [4].
  const auto rows = grpc_first_output_rows(short_data);
  ASSERT_FALSE(rows.ok());
  EXPECT_THAT(rows.error().message(), HasSubstr("outputs[0]"));
  pb::ModelInferResponse bad_type = short_data;
  bad_type.mutable_outputs(0)->set_datatype("FP99");
  EXPECT_FALSE(grpc_first_output_rows(bad_type).ok());
  pb::ModelInferResponse bad_raw;
  bad_raw.add_outputs()->set_datatype("FP32");
  bad_raw.mutable_outputs(0)->add_shape(2);
  bad_raw.add_raw_output_contents("abc");  // 3 bytes for 2 FP32.
  EXPECT_FALSE(grpc_first_output_rows(bad_raw).ok());
}

TEST(RouterConfigGrpcUrl, IsParsedPerVariantAndRefusedNamingTheField) {
  const auto c = RouterConfig::from_json(json::parse(R"({
    "stable": {"url": "http://s:80", "grpcUrl": "s.ns.svc:8081"},
    "canary": {"url": "http://c:80", "grpcUrl": "[::1]:8081", "weight": 10},
    "shadow": {"url": "http://h:80", "mirrorPercent": 5}})"));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->stable_grpc_url, "s.ns.svc:8081");
  EXPECT_EQ(c->canary_grpc_url, "[::1]:8081");
  EXPECT_EQ(c->shadow_grpc_url, "");
  for (const char* bad : {R"("http://s:8081")", R"("s")", R"("s:0")", R"("s:99999")", "8081",
                          R"("s:80x")", R"(":8081")", R"("a:b:8081")"}) {
    const auto r = RouterConfig::from_json(
        json::parse(std::string(R"({"stable": {"url": "http://s", "grpcUrl": )") + bad + "}}"));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.error().message(), HasSubstr("stable.grpcUrl")) << bad;
  }
}

}  // namespace
}  // namespace kiln::runtime
