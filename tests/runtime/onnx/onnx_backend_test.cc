// The ONNX backend against onnxruntime: scikit-learn models converted by skl2onnx at test time
// (make_onnx_models.py), every output compared with onnxruntime's on the same rows.

#include "runtime/onnx/onnx_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <thread>

#include "onnx_fixtures.h"

namespace kiln::runtime {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using testing::onnx_fixtures;

// Floats agree to 1e-5, relative above magnitude 1 (a regressor's ~150 has a float ulp of 1.5e-5).
void expect_close(const std::vector<float>& got, const json& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const double w = want[k].get<double>();
    EXPECT_NEAR(got[k], w, 1e-5 * std::max(1.0, std::abs(w))) << what << " element " << k;
  }
}

void expect_matches_onnxruntime(const Tensor& got, const json& want) {
  const std::string type = want.at("type");
  EXPECT_EQ(got.shape, want.at("shape").get<std::vector<std::int64_t>>()) << got.name;
  if (type == "int64") {
    ASSERT_EQ(got.datatype, DataType::kInt64) << got.name;
    EXPECT_EQ(std::get<std::vector<std::int64_t>>(got.data),
              want.at("data").get<std::vector<std::int64_t>>())
        << got.name;
  } else if (type == "string") {
    ASSERT_EQ(got.datatype, DataType::kBytes) << got.name;
    EXPECT_EQ(std::get<std::vector<std::string>>(got.data),
              want.at("data").get<std::vector<std::string>>());
  } else {  // "float", or "zipmap" written as [rows, classes] in the map's key order.
    ASSERT_EQ(got.datatype, DataType::kFp32) << got.name;
    expect_close(std::get<std::vector<float>>(got.data), want.at("data"), got.name);
  }
}

// The reference is onnxruntime's output, except for the REFERENCE_GRAPHS of the script (the ONNX
// reference evaluator's).
class OnnxMatchesReferenceTest : public ::testing::TestWithParam<const char*> {};

TEST_P(OnnxMatchesReferenceTest, EveryOutputEqualsTheReferenceOnTheSameRows) {
  const auto& f = onnx_fixtures();
  const json& ref = f.reference.at(GetParam());
  auto backend = load_onnx(f.path(ref.at("file")));
  ASSERT_TRUE(backend.ok()) << backend.error().to_string();
  auto out = (*backend)->predict(f.inputs(GetParam()));
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  ASSERT_EQ(out->size(), ref.at("outputs").size());
  for (const auto& t : *out) {
    ASSERT_TRUE(ref.at("outputs").contains(t.name)) << t.name;
    expect_matches_onnxruntime(t, ref.at("outputs").at(t.name));
  }
}

INSTANTIATE_TEST_SUITE_P(Sklearn, OnnxMatchesReferenceTest,
                         ::testing::Values("logreg_cancer", "logreg_cancer_nozipmap", "logreg_iris",
                                           "forest_cancer", "forest_iris_nozipmap", "gboost_cancer",
                                           "gboost_iris_nozipmap", "mlp_cancer",
                                           "mlp_iris_nozipmap", "logreg_iris_labels",
                                           "forest_iris_labels_nozipmap", "linear_diabetes",
                                           "forest_diabetes", "gboost_diabetes"),
                         [](const auto& info) { return std::string(info.param); });

// Hand-built graphs (operator_graphs.py) for attributes skl2onnx leaves at their defaults.
INSTANTIATE_TEST_SUITE_P(
    Operators, OnnxMatchesReferenceTest,
    ::testing::Values("gemm_softmax_opset11", "softmax_rank3_opset11", "elementwise_opset13",
                      "trees_sum", "trees_average", "trees_min", "trees_max_softmax",
                      "tree_classifier_three_labels", "linear_and_normalizers", "two_inputs_onehot",
                      // Expected outputs from the ONNX reference evaluator (see the script).
                      "linear_classifier_one_row"),
    [](const auto& info) { return std::string(info.param); });

TEST(OnnxBackendTest, EveryConvertedModelHasAReferenceCase) {
  // The lists above and the script's MODELS and GRAPHS stay in step.
  EXPECT_EQ(onnx_fixtures().reference.size(), 14u + 10u + 1u);
}

TEST(OnnxBackendTest, MetadataReportsInputsAndOutputsWithABatchDimension) {
  const auto& f = onnx_fixtures();
  auto backend = load_onnx(f.path("forest_cancer.onnx"));
  ASSERT_TRUE(backend.ok()) << backend.error().to_string();
  const auto& m = (*backend)->metadata();
  EXPECT_EQ(m.platform, "onnx");
  ASSERT_EQ(m.inputs.size(), 1u);
  EXPECT_EQ(m.inputs[0].name, "X");
  EXPECT_EQ(m.inputs[0].datatype, DataType::kFp32);
  EXPECT_EQ(m.inputs[0].shape, (std::vector<std::int64_t>{-1, 30}));
  ASSERT_EQ(m.outputs.size(), 2u);
  EXPECT_EQ(m.outputs[0].name, "output_label");
  EXPECT_EQ(m.outputs[0].datatype, DataType::kInt64);
  EXPECT_EQ(m.outputs[0].shape, (std::vector<std::int64_t>{-1}));
  EXPECT_EQ(m.outputs[1].name, "output_probability");  // ZipMap: FP32 [rows, classes].
  EXPECT_EQ(m.outputs[1].datatype, DataType::kFp32);
  EXPECT_EQ(m.outputs[1].shape, (std::vector<std::int64_t>{-1, 2}));
}

// Requests shaped as tabular clients send them bind to the single graph input.
TEST(OnnxBackendTest, UnnamedRowsAndFeatureColumnsBindToTheSingleInput) {
  const auto& f = onnx_fixtures();
  auto backend = load_onnx(f.path("logreg_cancer_nozipmap.onnx"));
  ASSERT_TRUE(backend.ok());
  const Tensor all = f.rows("logreg_cancer_nozipmap", "input");  // Not the graph's name "X".
  const auto& want = f.reference["logreg_cancer_nozipmap"]["outputs"]["probabilities"]["data"];
  // One row as [features].
  Tensor row{"input", DataType::kFp64, {30}, std::vector<double>()};
  const auto& values = std::get<std::vector<float>>(all.data);
  for (int c = 0; c < 30; ++c) std::get<std::vector<double>>(row.data).push_back(values[c]);
  auto one = (*backend)->predict(std::span(&row, 1));
  ASSERT_TRUE(one.ok()) << one.error().to_string();
  EXPECT_EQ((*one)[1].shape, (std::vector<std::int64_t>{1, 2}));
  expect_close(std::get<std::vector<float>>((*one)[1].data), json::array({want[0], want[1]}),
               "row 0");
  // The same row as 30 columns of shape [1].
  std::vector<Tensor> columns;
  for (int c = 0; c < 30; ++c) {
    columns.push_back(
        {"f" + std::to_string(c), DataType::kFp32, {1}, std::vector<float>{values[c]}});
  }
  auto by_column = (*backend)->predict(columns);
  ASSERT_TRUE(by_column.ok()) << by_column.error().to_string();
  EXPECT_EQ(std::get<std::vector<float>>((*by_column)[1].data),
            std::get<std::vector<float>>((*one)[1].data));
}

TEST(OnnxBackendTest, AGraphWithTwoInputsNamesTheOneTheRequestLacks) {
  const auto& f = onnx_fixtures();
  auto backend = load_onnx(f.path("two_inputs_onehot.onnx"));
  ASSERT_TRUE(backend.ok()) << backend.error().to_string();
  const auto& m = (*backend)->metadata();
  ASSERT_EQ(m.inputs.size(), 2u);
  EXPECT_EQ(m.inputs[1].name, "Codes");
  EXPECT_EQ(m.inputs[1].datatype, DataType::kInt64);
  auto inputs = f.inputs("two_inputs_onehot");
  std::erase_if(inputs, [](const Tensor& t) { return t.name == "Codes"; });
  auto out = (*backend)->predict(inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(out.error().message(), HasSubstr("no input named 'Codes'"));
}

TEST(OnnxBackendTest, UnsupportedOperatorIsRefusedAtLoadNamingIt) {
  auto backend = load_onnx(onnx_fixtures().path("unsupported.onnx"));
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(backend.error().message(), HasSubstr("'Conv'"));
  EXPECT_THAT(backend.error().message(), HasSubstr("conv_1"));
  EXPECT_THAT(backend.error().message(), HasSubstr("unsupported.onnx"));
}

struct MalformedCase {
  const char* file;     // malformed_<file>.onnx from operator_graphs.malformed().
  const char* message;  // What the load error must say.
  friend void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.file; }
};

class OnnxRefusesMalformedModelsTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(OnnxRefusesMalformedModelsTest, LoadFailsAsInvalidInputSayingWhy) {
  const std::string path =
      onnx_fixtures().path(std::string("malformed_") + GetParam().file + ".onnx");
  auto backend = load_onnx(path);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(backend.error().message(), HasSubstr(GetParam().message));
  EXPECT_THAT(backend.error().message(), HasSubstr(path));
}

INSTANTIATE_TEST_SUITE_P(
    Graphs, OnnxRefusesMalformedModelsTest,
    ::testing::Values(MalformedCase{"undefined_value", "reads 'nowhere', which no node"},
                      MalformedCase{"cycle", "cycle"},
                      MalformedCase{"tree_missing_child", "missing child"},
                      MalformedCase{"tree_vote_on_branch", "which is not a leaf"},
                      MalformedCase{"double_input", "DOUBLE"},
                      MalformedCase{"unknown_domain", "'FusedGemm' (domain com.microsoft"},
                      MalformedCase{"two_unsupported",
                                    "'Conv' (domain ai.onnx, node 'conv' (Conv)), 'LSTM'"},
                      MalformedCase{"cast_to_string", "casting to STRING"},
                      MalformedCase{"empty_middle_input", "leaves input 0 empty"},
                      MalformedCase{"external_data", "external"}),
    [](const auto& info) { return std::string(info.param.file); });

TEST(OnnxBackendTest, ShapesAnOperatorCannotTakeAreAnInvalidInputNotACrash) {
  auto backend = load_onnx(onnx_fixtures().path("malformed_matmul_unknown_width.onnx"));
  ASSERT_TRUE(backend.ok()) << backend.error().to_string();
  Tensor t{"X", DataType::kFp32, {1, 3}, std::vector<float>{1, 2, 3}};
  auto out = (*backend)->predict(std::span(&t, 1));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(out.error().message(), HasSubstr("do not multiply"));
  // A tensor whose data does not fill its shape (an embedder's bug) is refused, not read past.
  Tensor short_data{"X", DataType::kFp32, {2, 4}, std::vector<float>{1, 2, 3}};
  auto refused = (*backend)->predict(std::span(&short_data, 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category(), ErrorCategory::kInvalidInput);
}

TEST(OnnxBackendTest, MissingFileIsAnInvalidInputNamingThePath) {
  auto backend = load_onnx("/nonexistent/model.onnx");
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(backend.error().message(), HasSubstr("/nonexistent/model.onnx"));
}

TEST(OnnxBackendTest, CorruptFilesAreInvalidInputsNamingThePath) {
  const auto& f = onnx_fixtures();
  std::ifstream in(f.path("forest_cancer.onnx"), std::ios::binary);
  const std::string model((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(model.size(), 1000u);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"text.onnx", "this is not a protobuf message at all"},
      {"truncated.onnx", model.substr(0, model.size() / 2)},
      {"empty.onnx", ""},
  };
  for (const auto& [name, bytes] : cases) {
    const std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    auto backend = load_onnx(path);
    ASSERT_FALSE(backend.ok()) << name;
    EXPECT_EQ(backend.error().category(), ErrorCategory::kInvalidInput) << name;
    EXPECT_THAT(backend.error().message(), HasSubstr(path));
  }
}

TEST(OnnxBackendTest, RefusesAWrongFeatureCount) {
  auto backend = load_onnx(onnx_fixtures().path("mlp_cancer.onnx"));
  ASSERT_TRUE(backend.ok());
  Tensor t{"X", DataType::kFp32, {1, 3}, std::vector<float>{1, 2, 3}};
  auto out = (*backend)->predict(std::span(&t, 1));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(out.error().message(), HasSubstr("takes 30 features"));
}

TEST(OnnxBackendTest, RefusesBytesForANumericInput) {
  auto backend = load_onnx(onnx_fixtures().path("gboost_diabetes.onnx"));
  ASSERT_TRUE(backend.ok());
  Tensor t{"X", DataType::kBytes, {1, 1}, std::vector<std::string>{"ten"}};
  auto out = (*backend)->predict(std::span(&t, 1));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(out.error().message(), HasSubstr("BYTES"));
}

TEST(OnnxBackendTest, ConcurrentCallsGetTheirOwnRowsPredictions) {
  const auto& f = onnx_fixtures();
  for (const char* model : {"mlp_cancer", "gboost_cancer"}) {
    auto backend = load_onnx(f.path(std::string(model) + ".onnx"));
    ASSERT_TRUE(backend.ok());
    const Tensor all = f.rows(model);
    const auto& labels = f.reference[model]["outputs"]["output_label"]["data"];
    const auto& probs = f.reference[model]["outputs"]["output_probability"]["data"];
    const auto rows = all.shape[0];
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          const std::int64_t r = (t * 7 + i) % rows;
          const auto& values = std::get<std::vector<float>>(all.data);
          Tensor row{"X",
                     DataType::kFp32,
                     {1, 30},
                     std::vector<float>(values.begin() + r * 30, values.begin() + (r + 1) * 30)};
          auto out = (*backend)->predict(std::span(&row, 1));
          if (!out.ok() ||
              std::get<std::vector<std::int64_t>>((*out)[0].data)[0] != labels[r].get<int>() ||
              std::abs(std::get<std::vector<float>>((*out)[1].data)[1] -
                       probs[2 * r + 1].get<float>()) > 1e-5) {
            ++mismatches;
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(mismatches.load(), 0) << model;
  }
}

}  // namespace
}  // namespace kiln::runtime
