// The TorchScript backend against PyTorch itself: make_torch_models.py scripts and traces models
// with Debian's PyTorch (the same version as the libtorch the module links) and records torch's
// outputs; we load the files through load_backend, which opens the backend module
// libkiln-torch.so built by this tree (KILN_TORCH_MODULE_DIR), and must agree. This executable
// does not link libtorch.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "http_client.h"
#include "model_fixtures.h"
#include "runtime/backend.h"
#include "runtime/http_server.h"
#include "runtime/inference_service.h"
#include "runtime/oip_codec.h"

namespace kiln::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

// The module built by this tree, unless the environment already names a directory.
[[maybe_unused]] const bool kModuleDirSet =
    ::setenv("KILN_BACKEND_DIR", KILN_TORCH_MODULE_DIR, /*overwrite=*/0) == 0;

struct TorchFixtures {
  std::string dir;
  json reference;
  std::string path(const std::string& file) const { return dir + "/" + file; }
};

// make_torch_models.py's models, made once per build (testing::generated_fixtures). Fails the
// test when Python or torch is missing.
const TorchFixtures& torch_fixtures() {
  static const TorchFixtures fixtures = [] {
    const auto made = testing::generated_fixtures(KILN_TORCH_PYTHON, KILN_MAKE_TORCH_MODELS,
                                                  KILN_TORCH_FIXTURE_DIR,
                                                  "python3-torch: scripts/setup.sh torch");
    return TorchFixtures{made.dir, made.reference};
  }();
  return fixtures;
}

// An FP32 tensor of `rows` (a JSON array of equal-length rows).
Tensor fp32_rows(const std::string& name, const json& rows) {
  std::vector<float> values;
  for (const auto& row : rows) {
    for (const auto& v : row) values.push_back(v.get<float>());
  }
  const auto n = static_cast<std::int64_t>(rows.size());
  const auto cols = static_cast<std::int64_t>(rows[0].size());
  return {name, DataType::kFp32, {n, cols}, std::move(values)};
}

std::vector<double> flat(const json& nested) {
  std::vector<double> out;
  if (!nested.is_array()) return {nested.get<double>()};
  for (const auto& v : nested) {
    for (double x : flat(v)) out.push_back(x);
  }
  return out;
}

template <class T>
void expect_near_all(const std::vector<T>& got, const json& expected) {
  const auto want = flat(expected);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(static_cast<double>(got[i]), want[i], 1e-5) << "at " << i;
  }
}

std::unique_ptr<ModelBackend> load(const std::string& file) {
  auto backend = load_backend(ModelFormat::kTorchscript, torch_fixtures().path(file));
  EXPECT_TRUE(backend.ok()) << backend.error().to_string();
  return backend.ok() ? std::move(backend).value() : nullptr;
}

TEST(TorchscriptBackendTest, ScriptedMlpMatchesTorch) {
  const auto& ref = torch_fixtures().reference["mlp"];
  auto mlp = load("mlp.pt");
  ASSERT_NE(mlp, nullptr);
  EXPECT_EQ(mlp->metadata().platform, "pytorch_torchscript");
  ASSERT_EQ(mlp->metadata().inputs.size(), 1u);
  EXPECT_EQ(mlp->metadata().inputs[0].name, "x");
  ASSERT_EQ(mlp->metadata().outputs.size(), 1u);
  std::vector<Tensor> inputs = {fp32_rows("x", ref["x"])};
  auto out = mlp->predict(inputs);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].name, "output__0");
  EXPECT_EQ((*out)[0].datatype, DataType::kFp32);
  EXPECT_THAT((*out)[0].shape, ElementsAre(16, 3));
  expect_near_all(std::get<std::vector<float>>((*out)[0].data), ref["outputs"][0]);
}

TEST(TorchscriptBackendTest, TracedTupleModelGivesOneOutputPerElementInArgumentOrder) {
  const auto& ref = torch_fixtures().reference["two_heads"];
  auto model = load("two_heads.pt");
  ASSERT_NE(model, nullptr);
  ASSERT_EQ(model->metadata().inputs.size(), 2u);
  EXPECT_EQ(model->metadata().outputs.size(), 2u);
  std::vector<Tensor> inputs = {fp32_rows("a", ref["a"]), fp32_rows("b", ref["b"])};
  auto out = model->predict(inputs);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].name, "output__0");
  EXPECT_THAT((*out)[0].shape, ElementsAre(5, 4));
  expect_near_all(std::get<std::vector<float>>((*out)[0].data), ref["outputs"][0]);
  EXPECT_EQ((*out)[1].name, "output__1");
  EXPECT_EQ((*out)[1].datatype, DataType::kInt64);
  EXPECT_THAT((*out)[1].shape, ElementsAre(5));
  expect_near_all(std::get<std::vector<std::int64_t>>((*out)[1].data), ref["outputs"][1]);
}

TEST(TorchscriptBackendTest, MissingOrCorruptFileIsInvalidInputNamingTheFile) {
  const std::string corrupt = torch_fixtures().dir + "/corrupt.pt";
  std::ofstream(corrupt) << "not a zip archive of a TorchScript model";
  const std::string json_file = torch_fixtures().path("reference.json");
  for (const std::string& path : {std::string("/nonexistent/model.pt"), corrupt, json_file}) {
    auto backend = load_backend(ModelFormat::kTorchscript, path);
    ASSERT_FALSE(backend.ok()) << path;
    EXPECT_EQ(backend.error().category(), ErrorCategory::kInvalidInput);
    EXPECT_THAT(backend.error().message(), HasSubstr(path));
  }
}

struct BadInput {
  const char* what;
  std::vector<Tensor> inputs;
  const char* message;
};

class TorchscriptBadInputTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(TorchscriptBadInputTest, IsInvalidInputNotACrash) {
  auto mlp = load("mlp.pt");
  ASSERT_NE(mlp, nullptr);
  auto out = mlp->predict(GetParam().inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(out.error().message(), HasSubstr(GetParam().message));
  // Neither libtorch's C++ backtrace nor the model's source traceback reaches the client.
  EXPECT_THAT(out.error().message(), ::testing::Not(HasSubstr("Exception raised from")));
  EXPECT_THAT(out.error().message(), ::testing::Not(HasSubstr("Traceback")));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TorchscriptBadInputTest,
    ::testing::Values(
        BadInput{"wrong feature count",
                 {{"x", DataType::kFp32, {2, 5}, std::vector<float>(10, 1.0f)}},
                 "the model rejected the inputs: RuntimeError: mat1 and mat2 shapes cannot be "
                 "multiplied (2x5 and 4x8)"},
        BadInput{"FP64 into float32 weights",
                 {{"x", DataType::kFp64, {1, 4}, std::vector<double>(4, 1.0)}},
                 "the model rejected the inputs: RuntimeError: mat1 and mat2 must have the same "
                 "dtype"},
        BadInput{"two inputs for one argument",
                 {{"x", DataType::kFp32, {1, 4}, std::vector<float>(4, 1.0f)},
                  {"y", DataType::kFp32, {1, 4}, std::vector<float>(4, 1.0f)}},
                 "takes 1 input tensors; the request has 2"},
        BadInput{"BYTES", {{"x", DataType::kBytes, {1}, std::vector<std::string>{"a"}}}, "BYTES"}),
    [](const auto& info) {
      std::string name = info.param.what;
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST(TorchscriptBackendTest, ConcurrentPredictsAgreeWithASerialOne) {
  const auto& ref = torch_fixtures().reference["mlp"];
  auto mlp = load("mlp.pt");
  ASSERT_NE(mlp, nullptr);
  const std::vector<Tensor> inputs = {fp32_rows("x", ref["x"])};
  auto serial = mlp->predict(inputs);
  ASSERT_TRUE(serial.ok()) << serial.error().to_string();
  const auto want = std::get<std::vector<float>>((*serial)[0].data);
  std::atomic<int> disagreements{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto out = mlp->predict(inputs);
        if (!out.ok() || std::get<std::vector<float>>((*out)[0].data) != want) ++disagreements;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(disagreements.load(), 0);
}

TEST(TorchscriptServerTest, OipServerServesTheModelAndRefusesAWrongShapeWith422) {
  const auto& ref = torch_fixtures().reference["mlp"];
  metrics::Registry registry;
  ServiceOptions options;
  InferenceService service(options, registry);
  service.add_model("mlp", "1",
                    load_backend(ModelFormat::kTorchscript, torch_fixtures().path("mlp.pt")), 0.1);
  auto server = HttpServer::start({"127.0.0.1", 0, options.max_body_bytes, ""},
                                  [&service](const HttpRequest& r) { return service.handle(r); });
  ASSERT_TRUE(server.ok()) << server.error().to_string();
  const auto port = (*server)->port();

  auto metadata = testing::http(port, "GET", "/v2/models/mlp");
  ASSERT_EQ(metadata.status, 200);
  EXPECT_EQ(json::parse(metadata.body)["platform"], "pytorch_torchscript");

  const json request = {
      {"inputs", {{{"name", "x"}, {"shape", {16, 4}}, {"datatype", "FP32"}, {"data", ref["x"]}}}}};
  auto response = testing::http(port, "POST", "/v2/models/mlp/infer", request.dump());
  ASSERT_EQ(response.status, 200) << response.body;
  const auto doc = json::parse(response.body);
  EXPECT_EQ(doc["outputs"][0]["name"], "output__0");
  EXPECT_EQ(doc["outputs"][0]["shape"], json::parse("[16, 3]"));
  expect_near_all(doc["outputs"][0]["data"].get<std::vector<float>>(), ref["outputs"][0]);

  const json wrong = {
      {"inputs", {{{"name", "x"}, {"shape", {1, 2}}, {"datatype", "FP32"}, {"data", {1, 2}}}}}};
  auto refused = testing::http(port, "POST", "/v2/models/mlp/infer", wrong.dump());
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_THAT(json::parse(refused.body)["error"].get<std::string>(),
              HasSubstr("the model rejected the inputs"));
}

}  // namespace
}  // namespace kiln::runtime
