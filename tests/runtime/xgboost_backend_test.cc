#include "runtime/xgboost_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <thread>

#include "model_fixtures.h"

namespace kiln::runtime {
namespace {

using ::testing::HasSubstr;
using testing::model_fixtures;

Tensor matrix(const std::vector<std::vector<float>>& rows) {
  Tensor t{"input",
           DataType::kFp32,
           {static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(rows[0].size())},
           {}};
  std::vector<float> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  t.data = std::move(flat);
  return t;
}

struct ModelCase {
  const char* model;
  const char* file;
};

class XgboostMatchesPythonTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(XgboostMatchesPythonTest, PredictionsEqualXgboostPythonOnTheSameRows) {
  const auto& f = model_fixtures();
  auto backend = load_xgboost(f.path(GetParam().file));
  ASSERT_TRUE(backend.ok()) << backend.error().to_string();
  auto input = matrix(f.rows(GetParam().model));
  auto out = (*backend)->predict(std::span(&input, 1));
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  ASSERT_EQ(out->size(), 1u);
  const auto& got = std::get<std::vector<float>>((*out)[0].data);
  const auto want = f.predictions(GetParam().model);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
  EXPECT_EQ((*out)[0].shape[0], input.shape[0]);
}

INSTANTIATE_TEST_SUITE_P(Models, XgboostMatchesPythonTest,
                         ::testing::Values(ModelCase{"binary", "binary.json"},
                                           ModelCase{"binary", "binary.ubj"},
                                           ModelCase{"multiclass", "multiclass.json"},
                                           ModelCase{"regression", "regression.json"}));

TEST(XgboostBackendTest, MetadataReportsFeaturesAndClasses) {
  const auto& f = model_fixtures();
  auto binary = load_xgboost(f.path("binary.json"));
  ASSERT_TRUE(binary.ok());
  EXPECT_EQ((*binary)->metadata().platform, "xgboost");
  EXPECT_EQ((*binary)->metadata().inputs[0].shape, (std::vector<std::int64_t>{-1, 20}));
  EXPECT_EQ((*binary)->metadata().outputs[0].shape, (std::vector<std::int64_t>{-1}));
  auto multi = load_xgboost(f.path("multiclass.json"));
  ASSERT_TRUE(multi.ok());
  EXPECT_EQ((*multi)->metadata().outputs[0].shape, (std::vector<std::int64_t>{-1, 3}));
}

TEST(XgboostBackendTest, RefusesAWrongFeatureCount) {
  auto backend = load_xgboost(model_fixtures().path("binary.json"));
  ASSERT_TRUE(backend.ok());
  Tensor t{"input", DataType::kFp32, {1, 3}, std::vector<float>{1, 2, 3}};
  auto out = (*backend)->predict(std::span(&t, 1));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(out.error().message(), HasSubstr("takes 20 features"));
}

TEST(XgboostBackendTest, MissingFileIsAnInvalidInputNamingThePath) {
  auto backend = load_xgboost("/nonexistent/model.json");
  ASSERT_FALSE(backend.ok());
  EXPECT_THAT(backend.error().message(), HasSubstr("/nonexistent/model.json"));
}

TEST(XgboostBackendTest, CorruptFileIsRefusedWithXgboostsReason) {
  const std::string path = ::testing::TempDir() + "/corrupt.json";
  std::ofstream(path) << R"({"learner": {"not": "a model")";
  auto backend = load_xgboost(path);
  ASSERT_FALSE(backend.ok());
  EXPECT_THAT(backend.error().message(), HasSubstr("cannot load XGBoost model"));
}

TEST(XgboostBackendTest, ConcurrentCallsGetTheirOwnRowsPredictions) {
  const auto& f = model_fixtures();
  auto backend = load_xgboost(f.path("binary.json"));
  ASSERT_TRUE(backend.ok());
  const auto rows = f.rows("binary");
  const auto want = f.predictions("binary");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::size_t r = static_cast<std::size_t>(t * 7 + i) % rows.size();
        auto input = matrix({rows[r]});
        auto out = (*backend)->predict(std::span(&input, 1));
        if (!out.ok() ||
            std::abs(std::get<std::vector<float>>((*out)[0].data)[0] - want[r]) > 1e-6) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace kiln::runtime
