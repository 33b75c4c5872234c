// The OIP v2 gRPC endpoint end to end: a real XGBoost model behind InferenceService and
// GrpcServer on a port-0 socket, spoken to with the stubs generated from the same .proto, and
// the health service with a grpc.health.v1 client. The codec's decisions (raw or typed, BYTES,
// refusals naming the input) are checked on the messages themselves.

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <grpcpp/generic/generic_stub.h>

#include <cmath>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/version.h"
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
namespace pb = inference;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr std::size_t kMaxMessageBytes = 64 * 1024;

// The binary-classifier fixture's rows as one [rows, 20] FP32 input.
pb::ModelInferRequest typed_request(const std::vector<std::vector<float>>& rows) {
  pb::ModelInferRequest request;
  request.set_model_name("cancer");
  request.set_id("req-7");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  input->add_shape(static_cast<std::int64_t>(rows.size()));
  input->add_shape(static_cast<std::int64_t>(rows[0].size()));
  for (const auto& row : rows) {
    for (float v : row) input->mutable_contents()->add_fp32_contents(v);
  }
  return request;
}

// The same request with the data in raw_input_contents, as tritonclient sends it.
pb::ModelInferRequest raw_request(const std::vector<std::vector<float>>& rows) {
  pb::ModelInferRequest request = typed_request(rows);
  const auto& values = request.inputs(0).contents().fp32_contents();
  std::string raw(static_cast<std::size_t>(values.size()) * 4, '\0');
  std::memcpy(raw.data(), values.data(), raw.size());  // x86-64: already little-endian.
  request.mutable_inputs(0)->clear_contents();
  request.add_raw_input_contents(std::move(raw));
  return request;
}

std::vector<float> floats_of_raw(const std::string& raw) {
  std::vector<float> out(raw.size() / 4);
  std::memcpy(out.data(), raw.data(), out.size() * 4);
  return out;
}

class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServiceOptions options;
    options.max_body_bytes = kMaxMessageBytes;
    service_ = std::make_unique<InferenceService>(options, registry_);
    auto cancer = load_xgboost(model_fixtures().path("binary.json"));
    ASSERT_TRUE(cancer.ok());
    service_->add_model("cancer", "1", std::move(cancer), 0.25);
    if (with_broken_model_) {
      service_->add_model("broken", "1", load_xgboost("/nonexistent/broken.json"), 0.01);
    }
    GrpcServerOptions grpc_options;
    grpc_options.host = "127.0.0.1";
    grpc_options.port = 0;
    grpc_options.max_receive_message_bytes = kMaxMessageBytes;
    auto server = GrpcServer::start(grpc_options, *service_);
    ASSERT_TRUE(server.ok()) << server.error().to_string();
    server_ = std::move(server).value();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = pb::GRPCInferenceService::NewStub(channel_);
  }

  grpc::Status infer(const pb::ModelInferRequest& request, pb::ModelInferResponse& response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->ModelInfer(&context, request, &response);
  }

  HealthCheckResponse::ServingStatus health(const std::string& service = "") {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    EXPECT_TRUE(stub->Check(&context, request, &response).ok());
    return response.status();
  }

  bool with_broken_model_ = false;
  metrics::Registry registry_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::GRPCInferenceService::Stub> stub_;
};

TEST_F(GrpcServiceTest, AnswersLiveReadyAndModelReady) {
  EXPECT_NE(server_->port(), 0);
  {
    grpc::ClientContext context;
    pb::ServerLiveResponse live;
    ASSERT_TRUE(stub_->ServerLive(&context, {}, &live).ok());
    EXPECT_TRUE(live.live());
  }
  {
    grpc::ClientContext context;
    pb::ServerReadyResponse ready;
    ASSERT_TRUE(stub_->ServerReady(&context, {}, &ready).ok());
    EXPECT_TRUE(ready.ready());
  }
  {
    grpc::ClientContext context;
    pb::ModelReadyRequest request;
    request.set_name("cancer");
    request.set_version("1");
    pb::ModelReadyResponse ready;
    ASSERT_TRUE(stub_->ModelReady(&context, request, &ready).ok());
    EXPECT_TRUE(ready.ready());
  }
  {
    grpc::ClientContext context;
    pb::ModelReadyRequest request;
    request.set_name("cancer");
    request.set_version("2");
    pb::ModelReadyResponse ready;
    const auto status = stub_->ModelReady(&context, request, &ready);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(status.error_message(), HasSubstr("'2'"));
  }
}

TEST_F(GrpcServiceTest, AnswersServerAndModelMetadata) {
  {
    grpc::ClientContext context;
    pb::ServerMetadataResponse server;
    ASSERT_TRUE(stub_->ServerMetadata(&context, {}, &server).ok());
    EXPECT_EQ(server.name(), "kiln-runtime");
    EXPECT_EQ(server.version(), kVersion);
    EXPECT_THAT(server.extensions(), ::testing::Contains("model_profile"));
  }
  grpc::ClientContext context;
  pb::ModelMetadataRequest request;
  request.set_name("cancer");
  pb::ModelMetadataResponse model;
  ASSERT_TRUE(stub_->ModelMetadata(&context, request, &model).ok());
  EXPECT_EQ(model.name(), "cancer");
  EXPECT_THAT(model.versions(), ::testing::ElementsAre("1"));
  EXPECT_EQ(model.platform(), "xgboost");
  ASSERT_EQ(model.inputs_size(), 1);
  EXPECT_EQ(model.inputs(0).datatype(), "FP32");
  EXPECT_THAT(model.inputs(0).shape(), ::testing::ElementsAre(-1, 20));
  ASSERT_EQ(model.outputs_size(), 1);
  EXPECT_EQ(model.outputs(0).name(), "predict");
}

TEST_F(GrpcServiceTest, TypedInferMatchesXgboostPythonInTypedContents) {
  const auto& f = model_fixtures();
  const auto expected = f.predictions("binary");
  pb::ModelInferResponse response;
  const auto status = infer(typed_request(f.rows("binary")), response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model_name(), "cancer");
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.id(), "req-7");
  EXPECT_EQ(response.raw_output_contents_size(), 0);
  ASSERT_EQ(response.outputs_size(), 1);
  const auto& out = response.outputs(0);
  EXPECT_EQ(out.name(), "predict");
  EXPECT_EQ(out.datatype(), "FP32");
  EXPECT_THAT(out.shape(), ::testing::ElementsAre(static_cast<std::int64_t>(expected.size())));
  ASSERT_EQ(out.contents().fp32_contents_size(), static_cast<int>(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(out.contents().fp32_contents(static_cast<int>(i)), expected[i], 1e-5) << i;
  }
}

TEST_F(GrpcServiceTest, RawInferAnswersInRawOutputContents) {
  const auto& f = model_fixtures();
  const auto expected = f.predictions("binary");
  pb::ModelInferResponse response;
  const auto status = infer(raw_request(f.rows("binary")), response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_FALSE(response.outputs(0).has_contents());
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  const auto got = floats_of_raw(response.raw_output_contents(0));
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-5) << i;
}

TEST_F(GrpcServiceTest, HonoursRequestedOutputsAndRefusesUnknownOnes) {
  const auto& f = model_fixtures();
  auto request = typed_request(f.rows("binary"));
  request.add_outputs()->set_name("predict");
  pb::ModelInferResponse response;
  ASSERT_TRUE(infer(request, response).ok());
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "predict");

  request.mutable_outputs(0)->set_name("probabilities");
  pb::ModelInferResponse refused;
  const auto status = infer(request, refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("probabilities"));
}

TEST_F(GrpcServiceTest, UnknownModelOrVersionIsNotFound) {
  auto request = typed_request(model_fixtures().rows("binary"));
  request.set_model_name("nope");
  pb::ModelInferResponse response;
  auto status = infer(request, response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("nope"));
  request.set_model_name("cancer");
  request.set_model_version("9");
  status = infer(request, response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

// Each case breaks one thing of a good request; the status names the input.
TEST_F(GrpcServiceTest, BadInputsAreInvalidArgumentNamingTheInput) {
  const auto rows = model_fixtures().rows("binary");
  struct Case {
    const char* what;
    std::function<void(pb::ModelInferRequest&)> spoil;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"typed count off the shape",
       [](auto& r) { r.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->RemoveLast(); },
       "inputs[0] 'input': expected 800 fp32_contents for shape [40,20], got 799"},
      {"typed data in another type's field",
       [](auto& r) { r.mutable_inputs(0)->set_datatype("FP64"); },
       "inputs[0] 'input': has fp32_contents for datatype FP64, whose contents go in "
       "fp64_contents"},
      {"typed data in its own field and another's",
       [](auto& r) { r.mutable_inputs(0)->mutable_contents()->add_int_contents(1); },
       "inputs[0] 'input': has int_contents for datatype FP32, whose contents go in "
       "fp32_contents"},
      {"unknown datatype", [](auto& r) { r.mutable_inputs(0)->set_datatype("FP8"); },
       "inputs[0] 'input': unknown datatype 'FP8'"},
      {"negative dimension", [](auto& r) { r.mutable_inputs(0)->set_shape(0, -40); },
       "inputs[0] 'input': shape[0] is -40"},
      {"a shape no message can fill",
       [](auto& r) {
         r.mutable_inputs(0)->set_shape(0, std::int64_t{1} << 40);
         r.mutable_inputs(0)->set_shape(1, std::int64_t{1} << 20);
       },
       "inputs[0] 'input': shape [1099511627776,1048576] describes too many elements"},
      {"INT8 out of range",
       [](auto& r) {
         auto* in = r.mutable_inputs(0);
         in->set_datatype("INT8");
         in->clear_shape();
         in->add_shape(2);
         in->clear_contents();
         in->mutable_contents()->add_int_contents(1);
         in->mutable_contents()->add_int_contents(300);
       },
       "inputs[0] 'input': contents.int_contents: element 1 is 300, out of range [-128, 127]"},
      {"FP16 typed", [](auto& r) { r.mutable_inputs(0)->set_datatype("FP16"); },
       "inputs[0] 'input': FP16 has no typed contents"},
      {"duplicate requested output",
       [](auto& r) {
         r.add_outputs()->set_name("predict");
         r.add_outputs()->set_name("predict");
       },
       "outputs[1] 'predict': requested more than once"},
  };
  for (const auto& c : cases) {
    auto request = typed_request(rows);
    c.spoil(request);
    pb::ModelInferResponse response;
    const auto status = infer(request, response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.what;
  }
}

TEST_F(GrpcServiceTest, BadRawInputsAreInvalidArgumentNamingTheInput) {
  const auto rows = model_fixtures().rows("binary");
  {
    auto request = raw_request(rows);
    request.mutable_raw_input_contents(0)->pop_back();
    pb::ModelInferResponse response;
    const auto status = infer(request, response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("inputs[0] 'input': raw_input_contents[0]"));
    EXPECT_THAT(status.error_message(), HasSubstr("3199 bytes"));
  }
  {
    auto request = raw_request(rows);
    request.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
    pb::ModelInferResponse response;
    const auto status = infer(request, response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr("inputs[0] 'input': has contents while raw_input_contents is used"));
  }
  {
    auto request = raw_request(rows);
    request.add_raw_input_contents("extra");
    pb::ModelInferResponse response;
    const auto status = infer(request, response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("raw_input_contents has 2 entries for 1 inputs"));
  }
}

TEST_F(GrpcServiceTest, AFeatureCountTheModelDoesNotTakeIsInvalidArgument) {
  auto rows = model_fixtures().rows("binary");
  for (auto& row : rows) row.resize(7);
  pb::ModelInferResponse response;
  const auto status = infer(typed_request(rows), response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // The REST 422.
  EXPECT_FALSE(status.error_message().empty());
}

TEST_F(GrpcServiceTest, AMessageOverTheLimitIsResourceExhausted) {
  std::vector<std::vector<float>> rows(1000, std::vector<float>(20, 1.0f));  // 80 KB raw.
  pb::ModelInferResponse response;
  const auto status = infer(raw_request(rows), response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // The server goes on serving.
  ASSERT_TRUE(infer(raw_request(model_fixtures().rows("binary")), response).ok());
}

TEST_F(GrpcServiceTest, HealthIsServingUntilTheDrainThenNotServing) {
  constexpr const char* kService = "inference.GRPCInferenceService";
  EXPECT_EQ(health(), HealthCheckResponse::SERVING);
  EXPECT_EQ(health(kService), HealthCheckResponse::SERVING);
  service_->start_draining();
  server_->set_serving(false);
  EXPECT_EQ(health(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(health(kService), HealthCheckResponse::NOT_SERVING);
  grpc::ClientContext context;
  pb::ServerReadyResponse ready;
  ASSERT_TRUE(stub_->ServerReady(&context, {}, &ready).ok());
  EXPECT_FALSE(ready.ready());
  {  // Only the server is going away: the model stays ready, as REST's model ready says.
    grpc::ClientContext model_context;
    pb::ModelReadyRequest request;
    request.set_name("cancer");
    pb::ModelReadyResponse model_ready;
    ASSERT_TRUE(stub_->ModelReady(&model_context, request, &model_ready).ok());
    EXPECT_TRUE(model_ready.ready());
    const auto rest = service_->handle({"GET", "/v2/models/cancer/ready", ""});
    EXPECT_EQ(rest.status, 200);
  }
  // A call that raced the readiness change is still served.
  pb::ModelInferResponse response;
  EXPECT_TRUE(infer(typed_request(model_fixtures().rows("binary")), response).ok());
  server_->stop(std::chrono::seconds(5));
  grpc::ClientContext after;
  after.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  pb::ServerLiveResponse live;
  EXPECT_FALSE(stub_->ServerLive(&after, {}, &live).ok());
}

TEST(GrpcServerStart, ATakenPortIsAnError) {
  metrics::Registry registry;
  InferenceService service({}, registry);
  auto first = GrpcServer::start({"127.0.0.1", 0}, service);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  auto second = GrpcServer::start({"127.0.0.1", (*first)->port()}, service);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.error().message(), HasSubstr(std::to_string((*first)->port())));
}

class GrpcServiceWithBrokenModelTest : public GrpcServiceTest {
 protected:
  void SetUp() override {
    with_broken_model_ = true;
    GrpcServiceTest::SetUp();
  }
};

TEST_F(GrpcServiceWithBrokenModelTest, AModelThatFailedToLoadIsNotReadyAndUnavailable) {
  {
    grpc::ClientContext context;
    pb::ServerReadyResponse ready;
    ASSERT_TRUE(stub_->ServerReady(&context, {}, &ready).ok());
    EXPECT_FALSE(ready.ready());
  }
  {
    grpc::ClientContext context;
    pb::ModelReadyRequest request;
    request.set_name("broken");
    pb::ModelReadyResponse ready;
    ASSERT_TRUE(stub_->ModelReady(&context, request, &ready).ok());
    EXPECT_FALSE(ready.ready());
  }
  {
    grpc::ClientContext context;
    pb::ModelMetadataRequest request;
    request.set_name("broken");
    pb::ModelMetadataResponse model;
    ASSERT_TRUE(stub_->ModelMetadata(&context, request, &model).ok());
    EXPECT_EQ(model.properties().at("state"), "UNAVAILABLE");
    EXPECT_THAT(model.properties().at("reason"), HasSubstr("broken.json"));
  }
  auto request = typed_request(model_fixtures().rows("binary"));
  request.set_model_name("broken");
  pb::ModelInferResponse response;
  const auto status = infer(request, response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("not ready"));
}

// The bounds on ModelInfer: a real model whose traffic observer (the served-profile hook) blocks
// until the test opens it, so calls pile up behind one that holds the only admission slot.

// Blocks observe() until opened; counts the batches the model answered.
class GateObserver final : public TrafficObserver {
 public:
  void observe(std::span<const Tensor>, std::span<const Tensor>) override {
    std::unique_lock lock(mutex_);
    ++observed_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
  }
  Result<nlohmann::json> profile_json(std::chrono::seconds) const override { return nullptr; }
  void wait_for_one_blocked() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return observed_ > 0; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  int observed() {
    std::lock_guard lock(mutex_);
    return observed_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int observed_ = 0;
  bool open_ = false;
};

// VmHWM of this process in KiB; -1 when /proc has none.
long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

class GrpcServiceBoundsTest : public ::testing::Test {
 protected:
  // One model slot, `infer_threads` workers.
  void start(std::chrono::milliseconds queue_timeout, std::size_t infer_threads,
             std::size_t max_pending_bytes = 0) {
    ServiceOptions options;
    options.max_concurrency = 1;
    options.max_queue = 32;
    options.queue_timeout = queue_timeout;
    service_ = std::make_unique<InferenceService>(options, registry_);
    auto cancer = load_xgboost(model_fixtures().path("binary.json"));
    ASSERT_TRUE(cancer.ok());
    service_->add_model("cancer", "1", std::move(cancer), 0.25, gate_);
    GrpcServerOptions grpc_options;
    grpc_options.host = "127.0.0.1";
    grpc_options.port = 0;
    grpc_options.infer_threads = infer_threads;
    grpc_options.max_pending_bytes = max_pending_bytes;
    auto server = GrpcServer::start(grpc_options, *service_);
    ASSERT_TRUE(server.ok()) << server.error().to_string();
    server_ = std::move(server).value();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = pb::GRPCInferenceService::NewStub(channel_);
  }

  void TearDown() override {
    gate_->open();
    for (auto& t : threads_) t.join();
  }

  grpc::Status infer(const pb::ModelInferRequest& request, std::chrono::milliseconds deadline) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    pb::ModelInferResponse response;
    return stub_->ModelInfer(&context, request, &response);
  }

  // Starts a call that takes the model's only slot and holds it until the gate opens.
  void hold_the_model() {
    threads_.emplace_back([this] {
      EXPECT_TRUE(infer(typed_request(model_fixtures().rows("binary")), std::chrono::seconds(60)).ok());
    });
    gate_->wait_for_one_blocked();
  }

  std::shared_ptr<GateObserver> gate_ = std::make_shared<GateObserver>();
  metrics::Registry registry_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::GRPCInferenceService::Stub> stub_;
  std::vector<std::thread> threads_;
};

TEST_F(GrpcServiceBoundsTest, ACallWhoseDeadlinePassedInTheQueueIsNotRun) {
  start(std::chrono::seconds(60), 1);
  hold_the_model();
  EXPECT_EQ(server_->in_flight(), 1u);
  std::thread late([this] {
    const auto status = infer(typed_request(model_fixtures().rows("binary")),
                              std::chrono::milliseconds(300));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  });
  late.join();  // Its client gave up while it waited for the only worker.
  EXPECT_EQ(server_->in_flight(), 2u);
  gate_->open();
  server_->stop(std::chrono::seconds(30));  // Joins the workers: the late call has been handled.
  EXPECT_EQ(gate_->observed(), 1);          // The model answered the first call only.
  EXPECT_EQ(server_->in_flight(), 0u);
}

// Two workers, one model slot: the second call waits its queue_timeout for the slot while the
// third waits for a worker; the third then has no queue time left, and is not made to wait a
// second queue_timeout for the slot.
TEST_F(GrpcServiceBoundsTest, ACallWaitsOneQueueTimeoutInAll) {
  constexpr auto kQueueTimeout = std::chrono::seconds(2);
  start(kQueueTimeout, 2);
  hold_the_model();
  const auto request = typed_request(model_fixtures().rows("binary"));
  std::thread second([&] {
    EXPECT_EQ(infer(request, std::chrono::seconds(60)).error_code(), grpc::StatusCode::UNAVAILABLE);
  });
  while (server_->in_flight() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto sent = std::chrono::steady_clock::now();
  const auto third = infer(request, std::chrono::seconds(60));
  const auto waited = std::chrono::steady_clock::now() - sent;
  second.join();
  EXPECT_EQ(third.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(third.error_message(), HasSubstr("timed out waiting in the queue"));
  // One queue_timeout is 2 s, two are 4 s; the margin is for a loaded machine.
  EXPECT_LT(waited, kQueueTimeout + std::chrono::milliseconds(1500));
}

// 1 MB of empty bytes_contents parses to ~30 MB of std::string: 24 such calls kept parsed while
// they wait would be ~720 MB. Held as received and parsed by the one worker, they stay far under
// that. Sent serialized through a generic stub, so the client holds only the 1 MB.
TEST_F(GrpcServiceBoundsTest, ManyCallsOfManyEmptyStringsStayWithinThePendingBytes) {
  constexpr std::size_t kPendingBytes = 8u << 20;  // Eight of the 1 MB calls.
  start(std::chrono::seconds(60), 1, kPendingBytes);
  pb::ModelInferRequest amplified;
  amplified.set_model_name("cancer");
  auto* input = amplified.add_inputs();
  input->set_name("input");
  input->set_datatype("BYTES");
  constexpr int kStrings = 500'000;
  input->add_shape(kStrings);
  for (int i = 0; i < kStrings; ++i) input->mutable_contents()->add_bytes_contents("");
  const std::string wire = amplified.SerializeAsString();
  ASSERT_LT(wire.size(), 4u << 20);
  amplified.Clear();

  hold_the_model();
  const long before = peak_rss_kib();
  ASSERT_GE(before, 0);
  constexpr int kCalls = 24;  // ~720 MB parsed if every call were kept.
  grpc::GenericStub generic(channel_);
  std::mutex mutex;
  std::condition_variable done;
  int answered = 0;
  std::vector<grpc::Status> statuses(kCalls);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<grpc::ByteBuffer> responses(kCalls);
  grpc::Slice slice(wire);
  grpc::ByteBuffer request_buffer(&slice, 1);
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    generic.UnaryCall(contexts.back().get(), "/inference.GRPCInferenceService/ModelInfer", {},
                      &request_buffer, &responses[i], [&, i](grpc::Status status) {
                        std::lock_guard lock(mutex);
                        statuses[i] = std::move(status);
                        ++answered;
                        done.notify_all();
                      });
  }
  // The calls over the bound are refused while the model is held; then the held ones finish.
  for (int i = 0; i < 6000; ++i) {
    {
      std::lock_guard lock(mutex);
      if (answered + static_cast<int>(server_->in_flight()) - 1 == kCalls) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  gate_->open();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(done.wait_for(lock, std::chrono::seconds(120), [&] { return answered == kCalls; }));
  }
  const long growth = peak_rss_kib() - before;
  std::printf("peak RSS growth: %ld KiB\n", growth);
  int refused = 0;
  for (const auto& status : statuses) {
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_THAT(status.error_message(), HasSubstr("too many requests"));
    } else {
      // Decoded and given to the model, which takes no BYTES input.
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_LT(growth, 256 * 1024);  // The 8 MiB held, one parse at a time and its decoding.
  // The server goes on serving.
  EXPECT_TRUE(infer(typed_request(model_fixtures().rows("binary")), std::chrono::seconds(30)).ok());
}

// The codec on its own: BYTES, other datatypes, and the choice between raw and typed answers.

TEST(GrpcCodec, DecodesRawBytesWithLengthPrefixes) {
  pb::ModelInferRequest request;
  auto* input = request.add_inputs();
  input->set_name("text");
  input->set_datatype("BYTES");
  input->add_shape(2);
  std::string raw;
  for (std::string s : {"ab", ""}) {
    const auto n = static_cast<std::uint32_t>(s.size());
    raw.append({static_cast<char>(n), 0, 0, 0});
    raw += s;
  }
  request.add_raw_input_contents(raw);
  auto decoded = decode_grpc_infer_request(request);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_TRUE(decoded->raw);
  EXPECT_EQ(std::get<std::vector<std::string>>(decoded->request.inputs[0].data),
            (std::vector<std::string>{"ab", ""}));

  request.mutable_raw_input_contents(0)->append("\x09\0\0\0", 4);  // A 9-byte third element.
  decoded = decode_grpc_infer_request(request);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.error().message(), HasSubstr("inputs[0] 'text'"));
}

TEST(GrpcCodec, DecodesTypedBytesAndIntegers) {
  pb::ModelInferRequest request;
  request.set_id("x");
  (*request.mutable_parameters())["priority"].set_int64_param(3);
  auto* text = request.add_inputs();
  text->set_name("text");
  text->set_datatype("BYTES");
  text->add_shape(1);
  text->mutable_contents()->add_bytes_contents("hello");
  auto* count = request.add_inputs();
  count->set_name("count");
  count->set_datatype("UINT16");
  count->add_shape(1);
  count->add_shape(2);
  count->mutable_contents()->add_uint_contents(7);
  count->mutable_contents()->add_uint_contents(65535);
  auto decoded = decode_grpc_infer_request(request);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_FALSE(decoded->raw);
  EXPECT_EQ(decoded->request.id, "x");
  EXPECT_EQ(decoded->request.parameters["priority"], 3);
  EXPECT_EQ(std::get<std::vector<std::string>>(decoded->request.inputs[0].data)[0], "hello");
  EXPECT_EQ(decoded->request.inputs[1].datatype, DataType::kUint16);
  EXPECT_EQ(std::get<std::vector<std::int64_t>>(decoded->request.inputs[1].data),
            (std::vector<std::int64_t>{7, 65535}));
}

TEST(GrpcCodec, EncodesTypedOrRawAndFp16AlwaysRaw) {
  InferenceResponse response{"m", "1", "id", nullptr,
                             {Tensor{"label", DataType::kBytes, {2}, std::vector<std::string>{"a", "bc"}},
                              Tensor{"score", DataType::kInt32, {2}, std::vector<std::int64_t>{-1, 5}}}};
  pb::ModelInferResponse typed;
  encode_grpc_infer_response(response, false, typed);
  EXPECT_EQ(typed.raw_output_contents_size(), 0);
  EXPECT_THAT(typed.outputs(0).contents().bytes_contents(), ::testing::ElementsAre("a", "bc"));
  EXPECT_THAT(typed.outputs(1).contents().int_contents(), ::testing::ElementsAre(-1, 5));

  pb::ModelInferResponse raw;
  encode_grpc_infer_response(response, true, raw);
  ASSERT_EQ(raw.raw_output_contents_size(), 2);
  EXPECT_EQ(raw.raw_output_contents(0), std::string("\x01\0\0\0a\x02\0\0\0bc", 11));
  EXPECT_EQ(raw.raw_output_contents(1), std::string("\xff\xff\xff\xff\x05\0\0\0", 8));
  EXPECT_FALSE(raw.outputs(0).has_contents());

  InferenceResponse half{"m", "1", "", nullptr,
                         {Tensor{"h", DataType::kFp16, {1}, std::vector<float>{1.0f}}}};
  pb::ModelInferResponse fp16;
  encode_grpc_infer_response(half, false, fp16);
  ASSERT_EQ(fp16.raw_output_contents_size(), 1);
  EXPECT_EQ(fp16.raw_output_contents(0), std::string("\x00\x3c", 2));  // 1.0 in binary16.
}

}  // namespace
}  // namespace kiln::runtime
