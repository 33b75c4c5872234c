// The OIP server end to end: a real XGBoost model behind InferenceService and HttpServer on a
// port-0 socket, spoken to with real HTTP.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "model_fixtures.h"
#include "runtime/http_server.h"
#include "runtime/inference_service.h"
#include "runtime/served_profile.h"
#include "runtime/xgboost_backend.h"

namespace kiln::runtime {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using testing::http;
using testing::model_fixtures;

json row_request(const std::vector<float>& row) {
  json data = json::array();
  for (float v : row) data.push_back(std::isnan(v) ? json() : json(v));
  return {
      {"inputs",
       {{{"name", "input"}, {"shape", {1, row.size()}}, {"datatype", "FP32"}, {"data", data}}}}};
}

class InferenceServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServiceOptions options;
    options.max_body_bytes = 64 * 1024;
    service_ = std::make_unique<InferenceService>(options, registry_);
    auto cancer = load_xgboost(model_fixtures().path("binary.json"));
    ASSERT_TRUE(cancer.ok());
    auto profile = std::make_shared<ServedProfile>(
        ServedProfile::default_inputs((*cancer)->metadata()),
        ServedProfile::default_outputs((*cancer)->metadata()), std::chrono::seconds(600), 10,
        [] { return std::chrono::steady_clock::time_point{}; });
    profile->set_baseline(profile->profile_json(std::chrono::seconds(0))->at("inputs"));
    service_->add_model("cancer", "1", std::move(cancer), 0.25, profile);
    service_->add_model("broken", "1", load_xgboost("/nonexistent/broken.json"), 0.01);
    auto server = HttpServer::start({"127.0.0.1", 0, options.max_body_bytes, ""},
                                    [this](const HttpRequest& r) { return service_->handle(r); });
    ASSERT_TRUE(server.ok()) << server.error().to_string();
    server_ = std::move(server).value();
    port_ = server_->port();
  }

  metrics::Registry registry_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
};

TEST_F(InferenceServerTest, BindsAFreePortAndAnswersHealthAndMetadata) {
  EXPECT_NE(port_, 0);
  auto live = http(port_, "GET", "/v2/health/live");
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(json::parse(live.body)["live"], true);
  auto server = http(port_, "GET", "/v2");
  EXPECT_EQ(json::parse(server.body)["name"], "kiln-runtime");
  auto model = http(port_, "GET", "/v2/models/cancer/versions/1");
  ASSERT_EQ(model.status, 200);
  auto doc = json::parse(model.body);
  EXPECT_EQ(doc["platform"], "xgboost");
  EXPECT_EQ(doc["inputs"][0]["shape"], json::parse("[-1, 20]"));
  EXPECT_EQ(http(port_, "GET", "/v2/models/cancer/ready").status, 200);
}

TEST_F(InferenceServerTest, InferMatchesXgboostPythonAndEchoesIdAndParameters) {
  const auto& f = model_fixtures();
  const auto rows = f.rows("binary");
  const auto want = f.predictions("binary");
  testing::HttpConnection connection(port_);  // Every request on one kept-alive connection.
  for (std::size_t r = 0; r < rows.size(); ++r) {
    json request = row_request(rows[r]);
    request["id"] = "req-" + std::to_string(r);
    request["parameters"] = {{"trace", true}};
    auto response = connection.request("POST", "/v2/models/cancer/infer", request.dump());
    ASSERT_EQ(response.status, 200) << response.body;
    auto doc = json::parse(response.body);
    EXPECT_EQ(doc["id"], "req-" + std::to_string(r));
    EXPECT_EQ(doc["model_name"], "cancer");
    EXPECT_EQ(doc["parameters"]["trace"], true);
    EXPECT_EQ(doc["outputs"][0]["name"], "predict");
    EXPECT_EQ(doc["outputs"][0]["shape"], json::array({1}));
    EXPECT_NEAR(doc["outputs"][0]["data"][0].get<double>(), want[r], 1e-6) << "row " << r;
  }
}

TEST_F(InferenceServerTest, BatchOfRowsGetsOnePredictionPerRow) {
  const auto rows = model_fixtures().rows("binary");
  json data = json::array();
  for (int r = 0; r < 5; ++r) {
    for (float v : rows[r]) data.push_back(std::isnan(v) ? json() : json(v));
  }
  json request = {
      {"inputs", {{{"name", "input"}, {"shape", {5, 20}}, {"datatype", "FP32"}, {"data", data}}}},
      {"outputs", {{{"name", "predict"}}}}};
  auto response = http(port_, "POST", "/v2/models/cancer/infer", request.dump());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(json::parse(response.body)["outputs"][0]["data"].size(), 5u);
}

struct BadInput {
  const char* what;
  std::string path;
  std::string body;
  int status;
  const char* message;
};

class InferenceServerBadInputTest : public InferenceServerTest,
                                    public ::testing::WithParamInterface<BadInput> {};

TEST_P(InferenceServerBadInputTest, AnswersWithAnErrorAndKeepsServing) {
  const auto& c = GetParam();
  auto response = http(port_, "POST", c.path, c.body);
  EXPECT_EQ(response.status, c.status) << c.what << ": " << response.body;
  auto doc = json::parse(response.body, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << response.body;
  EXPECT_THAT(doc["error"].get<std::string>(), HasSubstr(c.message)) << c.what;
  auto good = http(port_, "POST", "/v2/models/cancer/infer",
                   row_request(model_fixtures().rows("binary")[0]).dump());
  EXPECT_EQ(good.status, 200) << "after " << c.what;
}

const std::string kInfer = "/v2/models/cancer/infer";

INSTANTIATE_TEST_SUITE_P(
    Cases, InferenceServerBadInputTest,
    ::testing::Values(
        BadInput{"malformed JSON", kInfer, R"({"inputs": [)", 400, "not valid JSON"},
        // NaN, Infinity and -Infinity are read as Python's json writes them (oip_codec.h); other
        // spellings are not JSON.
        BadInput{"nan token", kInfer,
                 R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[nan]}]})", 400,
                 "not valid JSON"},
        BadInput{"wrong datatype", kInfer,
                 R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":["a","b"]}]})",
                 400, "expected a number for FP32"},
        BadInput{"shape and data disagree", kInfer,
                 R"({"inputs":[{"name":"x","shape":[1,20],"datatype":"FP32","data":[1,2]}]})", 400,
                 "holds 20 elements but data has 2"},
        BadInput{"wrong feature count", kInfer,
                 R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]})", 422,
                 "takes 20 features"},
        BadInput{"BYTES for a tree model", kInfer,
                 R"({"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["a"]}]})", 422,
                 "BYTES"},
        BadInput{"oversized body", kInfer, std::string(70 * 1024, ' '), 413, "the limit is 65536"},
        BadInput{"unknown model", "/v2/models/nope/infer", "{}", 404, "unknown model 'nope'"},
        BadInput{"unknown version", "/v2/models/cancer/versions/9/infer", "{}", 404,
                 "no version '9'"},
        BadInput{"model that failed to load", "/v2/models/broken/infer", "{}", 503,
                 "/nonexistent/broken.json"}),
    [](const auto& info) {
      std::string name = info.param.what;
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST_F(InferenceServerTest, UnknownRequestedOutputIsUnprocessable) {
  json request = row_request(model_fixtures().rows("binary")[0]);
  request["outputs"] = {{{"name", "proba"}}};
  auto response = http(port_, "POST", kInfer, request.dump());
  EXPECT_EQ(response.status, 422);
  EXPECT_THAT(response.body, HasSubstr("no output named"));
}

TEST_F(InferenceServerTest, NullFeatureIsAMissingValueLikeXgboostsNaN) {
  const auto& f = model_fixtures();
  // Reference row 3 has a missing feature; make_models.py predicted it with NaN there.
  auto response = http(port_, "POST", kInfer, row_request(f.rows("binary")[3]).dump());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_NEAR(json::parse(response.body)["outputs"][0]["data"][0].get<double>(),
              f.predictions("binary")[3], 1e-6);
}

TEST_F(InferenceServerTest, ModelThatFailedToLoadIsNotReadyAndShowsTheReason) {
  auto ready = http(port_, "GET", "/v2/models/broken/ready");
  EXPECT_EQ(ready.status, 503);
  auto metadata = json::parse(http(port_, "GET", "/v2/models/broken").body);
  EXPECT_EQ(metadata["state"], "UNAVAILABLE");
  EXPECT_THAT(metadata["reason"].get<std::string>(), HasSubstr("/nonexistent/broken.json"));
  EXPECT_EQ(http(port_, "GET", "/v2/health/ready").status, 503);  // One model is not ready.
}

TEST_F(InferenceServerTest, DrainingFailsReadinessButServesRequestsStillArriving) {
  service_->start_draining();
  EXPECT_EQ(http(port_, "GET", "/v2/health/ready").status, 503);
  EXPECT_EQ(http(port_, "GET", "/v2/health/live").status, 200);
  auto response =
      http(port_, "POST", kInfer, row_request(model_fixtures().rows("binary")[0]).dump());
  EXPECT_EQ(response.status, 200);
}

TEST_F(InferenceServerTest, MetricsCountRequestsErrorsAndPassPromtool) {
  const auto row = row_request(model_fixtures().rows("binary")[0]).dump();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(http(port_, "POST", kInfer, row).status, 200);
  ASSERT_EQ(http(port_, "POST", kInfer, "{").status, 400);
  auto metrics = http(port_, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.headers["content-type"], HasSubstr("text/plain"));
  EXPECT_THAT(metrics.body,
              HasSubstr(R"(kiln_runtime_requests_total{model="cancer",code="200"} 3)"));
  EXPECT_THAT(metrics.body,
              HasSubstr(R"(kiln_runtime_request_errors_total{model="cancer",code="400"} 1)"));
  EXPECT_THAT(metrics.body,
              HasSubstr(R"(kiln_runtime_request_duration_seconds_count{model="cancer"} 4)"));
  EXPECT_THAT(metrics.body, HasSubstr(R"(kiln_runtime_batch_size_count{model="cancer"} 3)"));
  EXPECT_THAT(metrics.body, HasSubstr(R"(kiln_runtime_model_load_seconds{model="cancer"} 0.25)"));
  EXPECT_THAT(metrics.body, HasSubstr(R"(kiln_runtime_model_ready{model="broken"} 0)"));
  EXPECT_THAT(metrics.body, HasSubstr("kiln_runtime_in_flight_requests 0"));
  const std::string path = ::testing::TempDir() + "/runtime_metrics.txt";
  std::ofstream(path) << metrics.body;
  EXPECT_EQ(std::system((std::string(KILN_PROMTOOL) + " check metrics < " + path).c_str()), 0);
}

TEST_F(InferenceServerTest, ProfileCountsServedRowsPerFeatureAsADriftProfile) {
  const auto rows = model_fixtures().rows("binary");
  for (int r = 0; r < 4; ++r) {
    ASSERT_EQ(http(port_, "POST", kInfer, row_request(rows[r]).dump()).status, 200);
  }
  ASSERT_EQ(http(port_, "POST", kInfer, "{").status, 400);  // Not counted.
  auto response = http(port_, "GET", "/v2/models/cancer/profile");
  ASSERT_EQ(response.status, 200) << response.body;
  auto doc = json::parse(response.body);
  auto inputs = drift::Profile::from_json(doc["inputs"]);
  ASSERT_TRUE(inputs.ok()) << inputs.error().to_string();
  EXPECT_EQ(inputs->rows(), 4u);
  EXPECT_EQ(inputs->size(), 20u);
  EXPECT_EQ(inputs->feature(5).missing(), 1u);  // Row 3 has a missing feature 5.
  auto outputs = drift::Profile::from_json(doc["outputs"]);
  ASSERT_TRUE(outputs.ok());
  EXPECT_EQ(outputs->feature(0).count(), 4u);
  EXPECT_EQ(http(port_, "GET", "/v2/models/broken/profile").status, 404);
}

TEST_F(InferenceServerTest, ProfileWindowIsChosenByQueryAndAMalformedOneIs400) {
  auto response = http(port_, "GET", "/v2/models/cancer/profile?windowSeconds=5");
  ASSERT_EQ(response.status, 200) << response.body;
  // Rounded up to whole slots: this server keeps 600 s in 10 slots of 60 s.
  EXPECT_EQ(json::parse(response.body)["windowSeconds"], 60);
  EXPECT_EQ(json::parse(response.body)["maxWindowSeconds"], 600);
  for (const char* bad :
       {"windowSeconds=0", "windowSeconds=-3", "windowSeconds=1h", "windowSeconds="}) {
    auto r = http(port_, "GET", std::string("/v2/models/cancer/profile?") + bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_NE(json::parse(r.body).value("error", "").find("windowSeconds"), std::string::npos)
        << bad;
  }
}

TEST_F(InferenceServerTest, BaselineProfileIsServedWhenThePodWasGivenOne) {
  auto response = http(port_, "GET", "/v2/models/cancer/profile/baseline");
  ASSERT_EQ(response.status, 200) << response.body;
  auto baseline = drift::Profile::from_json(json::parse(response.body));
  ASSERT_TRUE(baseline.ok()) << baseline.error().to_string();
  EXPECT_EQ(baseline->size(), 20u);
  EXPECT_EQ(baseline->rows(), 0u);
  auto none = http(port_, "GET", "/v2/models/broken/profile/baseline");
  EXPECT_EQ(none.status, 404);
  EXPECT_NE(json::parse(none.body).value("error", "").find("no baseline"), std::string::npos);
}

TEST_F(InferenceServerTest, UnknownRouteIsNotFound) {
  auto response = http(port_, "GET", "/v1/models/cancer");
  EXPECT_EQ(response.status, 404);
  EXPECT_THAT(json::parse(response.body)["error"].get<std::string>(), HasSubstr("no route"));
}

}  // namespace
}  // namespace kiln::runtime
