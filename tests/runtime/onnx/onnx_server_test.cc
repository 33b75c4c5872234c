// The OIP server end to end with an ONNX model: load_backend(ModelFormat::kOnnx, ...) behind
// InferenceService and HttpServer on a port-0 socket, spoken to with real HTTP.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "onnx_fixtures.h"
#include "runtime/backend.h"
#include "runtime/http_server.h"
#include "runtime/inference_service.h"

namespace kiln::runtime {
namespace {

using json = nlohmann::json;
using testing::http;
using testing::onnx_fixtures;

class OnnxServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_ = std::make_unique<InferenceService>(ServiceOptions{}, registry_);
    service_->add_model("cancer", "1",
                        load_backend(ModelFormat::kOnnx, onnx_fixtures().path("mlp_cancer.onnx")),
                        0.01);
    auto server = HttpServer::start({"127.0.0.1", 0, ServiceOptions{}.max_body_bytes, ""},
                                    [this](const HttpRequest& r) { return service_->handle(r); });
    ASSERT_TRUE(server.ok()) << server.error().to_string();
    server_ = std::move(server).value();
  }

  metrics::Registry registry_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(OnnxServerTest, ServesAnOnnxModelThroughLoadBackend) {
  const auto& ref = onnx_fixtures().reference["mlp_cancer"];
  auto metadata = http(server_->port(), "GET", "/v2/models/cancer");
  ASSERT_EQ(metadata.status, 200) << metadata.body;
  EXPECT_EQ(json::parse(metadata.body)["platform"], "onnx");

  const auto rows = ref["rows"];
  json data = json::array();
  for (int r = 0; r < 5; ++r) {
    for (const auto& v : rows[r]) data.push_back(v);
  }
  json request = {
      {"inputs", {{{"name", "X"}, {"shape", {5, 30}}, {"datatype", "FP32"}, {"data", data}}}}};
  auto response = http(server_->port(), "POST", "/v2/models/cancer/infer", request.dump());
  ASSERT_EQ(response.status, 200) << response.body;
  const auto doc = json::parse(response.body);
  ASSERT_EQ(doc["outputs"].size(), 2u);
  EXPECT_EQ(doc["outputs"][0]["name"], "output_label");
  EXPECT_EQ(doc["outputs"][0]["datatype"], "INT64");
  EXPECT_EQ(doc["outputs"][1]["name"], "output_probability");
  EXPECT_EQ(doc["outputs"][1]["shape"], json::array({5, 2}));
  const auto& labels = ref["outputs"]["output_label"]["data"];
  const auto& probs = ref["outputs"]["output_probability"]["data"];
  for (int r = 0; r < 5; ++r) {
    EXPECT_EQ(doc["outputs"][0]["data"][r], labels[r]) << r;
    for (int c = 0; c < 2; ++c) {
      EXPECT_NEAR(doc["outputs"][1]["data"][2 * r + c].get<double>(),
                  probs[2 * r + c].get<double>(), 1e-5);
    }
  }
}

TEST_F(OnnxServerTest, AWrongFeatureCountIsA422) {
  json request = {
      {"inputs", {{{"name", "X"}, {"shape", {1, 2}}, {"datatype", "FP32"}, {"data", {1, 2}}}}}};
  auto response = http(server_->port(), "POST", "/v2/models/cancer/infer", request.dump());
  EXPECT_EQ(response.status, 422) << response.body;
  EXPECT_THAT(json::parse(response.body)["error"].get<std::string>(),
              ::testing::HasSubstr("takes 30 features"));
}

}  // namespace
}  // namespace kiln::runtime
