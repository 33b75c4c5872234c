// The REST infer path of InferenceService with the binary tensor extension (Triton's
// extension_binary_data.md), the request-path limits of issue 16 (duplicate outputs, the
// amplification body) and admission of profile requests, on a real XGBoost model. The service is
// called through handle(), as a transport does, so the bytes checked are the ones it would send.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "model_fixtures.h"
#include "runtime/inference_service.h"
#include "runtime/xgboost_backend.h"

namespace kiln::runtime {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using testing::model_fixtures;

std::string raw_of(const Tensor& t) {
  std::string out;
  append_raw(t, out);
  return out;
}

// The first `n` reference rows of the cancer model as one [n, 20] FP32 tensor.
Tensor rows_tensor(std::size_t n) {
  const auto rows = model_fixtures().rows("binary");
  std::vector<float> values;
  for (std::size_t r = 0; r < n; ++r) values.insert(values.end(), rows[r].begin(), rows[r].end());
  return {"input", DataType::kFp32, {static_cast<std::int64_t>(n), 20}, std::move(values)};
}

// Blocks observe() until released: holds an admission slot for as long as the test wants.
class GateObserver final : public TrafficObserver {
 public:
  void observe(std::span<const Tensor>, std::span<const Tensor>) override {
    std::unique_lock lock(mutex_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
  }
  Result<json> profile_json(std::chrono::seconds) const override { return json{{"rows", 0}}; }
  void wait_for_one_blocked() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return waiting_ > 0; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int waiting_ = 0;
  bool open_ = false;
};

class BinaryExtensionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServiceOptions options;
    options.max_concurrency = 1;
    options.max_queue = 0;
    service_ = std::make_unique<InferenceService>(options, registry_);
    auto cancer = load_xgboost(model_fixtures().path("binary.json"));
    ASSERT_TRUE(cancer.ok()) << cancer.error().to_string();
    service_->add_model("cancer", "1", std::move(cancer), 0.1, gate_);
  }

  HttpResponse infer(const std::string& body, std::string_view header_length = {}) {
    HttpRequest request{"POST", "/v2/models/cancer/infer", body};
    request.inference_header_content_length = header_length;
    return service_->handle(request);
  }

  metrics::Registry registry_;
  std::shared_ptr<GateObserver> gate_ = std::make_shared<GateObserver>();
  std::unique_ptr<InferenceService> service_;
};

// The server answers with the gate open (no test here holds the slot) unless it says otherwise.
class OpenBinaryExtensionServiceTest : public BinaryExtensionServiceTest {
 protected:
  void SetUp() override {
    BinaryExtensionServiceTest::SetUp();
    gate_->open();
  }
};

TEST_F(OpenBinaryExtensionServiceTest, BinaryInputsAndBinaryOutputsMatchXgboostPython) {
  const auto want = model_fixtures().predictions("binary");
  const Tensor rows = rows_tensor(5);
  const std::string raw = raw_of(rows);
  const std::string header = json{{"id", "b-1"},
                                  {"inputs",
                                   {{{"name", "input"},
                                     {"shape", rows.shape},
                                     {"datatype", "FP32"},
                                     {"parameters", {{"binary_data_size", raw.size()}}}}}},
                                  {"outputs", {{{"name", "predict"},
                                                {"parameters", {{"binary_data", true}}}}}}}
                                 .dump();
  auto response = infer(header + raw, std::to_string(header.size()));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, "application/octet-stream");
  ASSERT_EQ(response.headers.size(), 1u);
  EXPECT_EQ(response.headers[0].first, "Inference-Header-Content-Length");
  const std::size_t json_bytes = std::stoul(response.headers[0].second);
  ASSERT_LE(json_bytes, response.body.size());
  auto doc = json::parse(response.body.substr(0, json_bytes));
  EXPECT_EQ(doc["id"], "b-1");
  const json& out = doc["outputs"][0];
  EXPECT_EQ(out["name"], "predict");
  EXPECT_EQ(out["shape"], json::array({5}));
  EXPECT_FALSE(out.contains("data"));
  ASSERT_EQ(out["parameters"]["binary_data_size"], 20);
  auto values = decode_raw(DataType::kFp32, 5, std::string_view(response.body).substr(json_bytes),
                           "predict");
  ASSERT_TRUE(values.ok()) << values.error().to_string();
  for (std::size_t r = 0; r < 5; ++r) {
    EXPECT_NEAR(std::get<std::vector<float>>(*values)[r], want[r], 1e-6) << "row " << r;
  }
}

TEST_F(OpenBinaryExtensionServiceTest, BinaryDataOutputSendsEveryOutputAsBinary) {
  const Tensor rows = rows_tensor(2);
  json request = {{"parameters", {{"binary_data_output", true}}},
                  {"inputs", {{{"name", "input"}, {"shape", rows.shape}, {"datatype", "FP32"},
                               {"data", std::get<std::vector<float>>(rows.data)}}}}};
  auto response = infer(request.dump());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, "application/octet-stream");
  ASSERT_EQ(response.headers.size(), 1u);
  EXPECT_EQ(response.body.size() - std::stoul(response.headers[0].second), 2 * 4u);
}

TEST_F(OpenBinaryExtensionServiceTest, JsonOnlyRequestsGetJsonWithoutTheHeader) {
  const Tensor rows = rows_tensor(1);
  json request = {{"inputs", {{{"name", "input"}, {"shape", rows.shape}, {"datatype", "FP32"},
                               {"data", std::get<std::vector<float>>(rows.data)}}}},
                  {"outputs", {{{"name", "predict"}, {"parameters", {{"binary_data", false}}}}}}};
  auto response = infer(request.dump());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_TRUE(response.headers.empty());
  EXPECT_EQ(json::parse(response.body)["outputs"][0]["data"].size(), 1u);
}

TEST_F(OpenBinaryExtensionServiceTest, ServerMetadataListsTheExtension) {
  auto response = service_->handle({"GET", "/v2", ""});
  ASSERT_EQ(response.status, 200);
  EXPECT_THAT(json::parse(response.body)["extensions"].dump(), HasSubstr("binary_tensor_data"));
}

struct BadBinaryRequest {
  const char* what;
  std::string body;
  std::string header_length;
  const char* message;
};

class BinaryExtensionRefusalTest : public OpenBinaryExtensionServiceTest,
                                   public ::testing::WithParamInterface<BadBinaryRequest> {};

TEST_P(BinaryExtensionRefusalTest, AnswersFourHundredNamingTheField) {
  const auto& c = GetParam();
  auto response = infer(c.body, c.header_length);
  EXPECT_EQ(response.status, 400) << c.what << ": " << response.body;
  EXPECT_THAT(json::parse(response.body)["error"].get<std::string>(), HasSubstr(c.message))
      << c.what;
  // And the server keeps serving.
  EXPECT_EQ(service_->handle({"GET", "/v2/health/live", ""}).status, 200);
}

const std::string kRowHeader =
    R"({"inputs":[{"name":"input","shape":[1,20],"datatype":"FP32",)"
    R"("parameters":{"binary_data_size":80}}]})";

INSTANTIATE_TEST_SUITE_P(
    Cases, BinaryExtensionRefusalTest,
    ::testing::Values(
        BadBinaryRequest{"header past the body", kRowHeader, "100000",
                         "Inference-Header-Content-Length is 100000 bytes"},
        BadBinaryRequest{"header not a number", kRowHeader, "12a",
                         "Inference-Header-Content-Length must be a whole number"},
        BadBinaryRequest{"binary part short", kRowHeader + std::string(79, '\0'),
                         std::to_string(kRowHeader.size()),
                         "inputs[0].parameters.binary_data_size is 80 bytes, but only 79"},
        BadBinaryRequest{"binary part long", kRowHeader + std::string(81, '\0'),
                         std::to_string(kRowHeader.size()), "add up to 80"},
        BadBinaryRequest{"no header", kRowHeader + std::string(80, '\0'), "",
                         "the request body is not valid JSON"},
        BadBinaryRequest{
            "output requested twice",
            R"({"inputs":[{"name":"input","shape":[1,1],"datatype":"FP32","data":[1]}],)"
            R"("outputs":[{"name":"predict"},{"name":"predict"}]})",
            "", "outputs[1]: output \"predict\" is requested twice"}));

// Issue 16: one 100,000-element input and 4,000 empty ones. Refused (the columns differ in
// length) without building the 1.6 GB matrix; the RSS side is amplification_rss_test.
TEST_F(OpenBinaryExtensionServiceTest, AmplificationBodyIsRefusedAsRaggedColumns) {
  std::string body = R"({"inputs":[{"name":"long","shape":[100000],"datatype":"FP32","data":[)";
  for (int i = 0; i < 100'000; ++i) body += i == 0 ? "0" : ",0";
  body += "]}";
  for (int i = 0; i < 4000; ++i) body += R"(,{"name":"e","shape":[0],"datatype":"FP32","data":[]})";
  body += "]}";
  auto response = infer(body);
  EXPECT_EQ(response.status, 422) << response.body;
  EXPECT_THAT(response.body, HasSubstr("input 'e' has 0 rows; input 'long' has 100000"));
}

// GET /v2/models/{m}/profile takes an admission slot as an infer does: with the only slot held by
// an infer (blocked in the observer) and no queue, it gets 429; once freed, 200.
TEST_F(BinaryExtensionServiceTest, ProfileRequestsGoThroughAdmissionControl) {
  const Tensor rows = rows_tensor(1);
  const std::string body =
      json{{"inputs", {{{"name", "input"}, {"shape", rows.shape}, {"datatype", "FP32"},
                        {"data", std::get<std::vector<float>>(rows.data)}}}}}
          .dump();
  HttpResponse held;
  std::thread holder([&] { held = infer(body); });
  gate_->wait_for_one_blocked();
  auto busy = service_->handle({"GET", "/v2/models/cancer/profile", ""});
  EXPECT_EQ(busy.status, 429) << busy.body;
  EXPECT_THAT(busy.body, HasSubstr("too many requests"));
  gate_->open();
  holder.join();
  EXPECT_EQ(held.status, 200) << held.body;
  auto free = service_->handle({"GET", "/v2/models/cancer/profile", ""});
  EXPECT_EQ(free.status, 200) << free.body;
}

}  // namespace
}  // namespace kiln::runtime
