#include "runtime/trainer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "drift/profile.h"
#include "model_fixtures.h"
#include "runtime/xgboost_backend.h"

namespace kiln::runtime {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;
using testing::model_fixtures;

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::string output_dir(const char* name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  return dir.string();
}

TEST(TrainerTest, BinaryModelHasHeldOutAucLoglossAndServesLikeXgboostPython) {
  const auto& f = model_fixtures();
  TrainOptions options{
      f.path("breast_cancer.csv"), "label", "binary:logistic", 30, 0.25, 3, {{"max_depth", "3"}},
      output_dir("train_binary"), {}};
  auto result = train_xgboost(options);
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  auto metrics = read_json(options.output_dir + "/metrics.json");
  EXPECT_EQ(metrics["train_rows"].get<int>() + metrics["test_rows"].get<int>(), 569);
  EXPECT_EQ(metrics["test_rows"], 142);
  EXPECT_GT(metrics["auc"].get<double>(), 0.9);
  EXPECT_LE(metrics["auc"].get<double>(), 1.0);
  EXPECT_GT(metrics["logloss"].get<double>(), 0.0);
  EXPECT_EQ(metrics["features"], 20);

  // XGBoost's Python package reads the model we wrote and predicts what our backend predicts.
  auto backend = load_xgboost(result->model_path);
  ASSERT_TRUE(backend.ok()) << backend.error().to_string();
  const auto rows = f.rows("binary");
  Tensor input{
      "input", DataType::kFp32, {1, 20}, std::vector<float>(rows[0].begin(), rows[0].end())};
  auto ours = (*backend)->predict(std::span(&input, 1));
  ASSERT_TRUE(ours.ok());
  const std::string out = options.output_dir + "/python.txt";
  std::string row;
  for (float v : rows[0]) row += (row.empty() ? "" : ",") + std::to_string(v);
  const std::string command = std::string("'") + KILN_PYTHON +
                              "' -c 'import sys, xgboost as xgb, numpy as np; b = xgb.Booster(); "
                              "b.load_model(sys.argv[1]); "
                              "print(b.inplace_predict(np.array([[" +
                              row + "]], dtype=np.float32))[0])' '" + result->model_path + "' > '" +
                              out + "'";
  ASSERT_EQ(std::system(command.c_str()), 0);
  double python = 0;
  std::ifstream(out) >> python;
  EXPECT_NEAR(std::get<std::vector<float>>((*ours)[0].data)[0], python, 1e-6);
}

TEST(TrainerTest, WritesTheBaselineProfileOfTheTrainingRows) {
  const auto& f = model_fixtures();
  TrainOptions options{f.path("diabetes.csv"),        "target", "reg:squarederror", 10, 0.2, 1, {},
                       output_dir("train_regression"), {}};
  auto result = train_xgboost(options);
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  EXPECT_GT(result->metrics["rmse"].get<double>(), 0.0);
  auto profile = drift::Profile::from_json(read_json(options.output_dir + "/profile.json"));
  ASSERT_TRUE(profile.ok()) << profile.error().to_string();
  EXPECT_EQ(profile->size(), 10u);
  EXPECT_EQ(profile->rows(), result->metrics["train_rows"].get<std::uint64_t>());
  EXPECT_FALSE(profile->index_of("target").has_value());
}

TEST(TrainerTest, ListedFeaturesAreTheOnlyColumnsUsedInTheirOrder) {
  const auto& f = model_fixtures();
  TrainOptions options{f.path("diabetes.csv"),        "target", "reg:squarederror", 5, 0.2, 1, {},
                       output_dir("train_features"), {}};
  options.features = {"f3", "f0"};
  auto result = train_xgboost(options);
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  EXPECT_EQ(result->metrics["features"], 2);
  const json model = read_json(options.output_dir + "/model.json");
  EXPECT_EQ(model["learner"]["learner_model_param"]["num_feature"], "2");
  auto profile = drift::Profile::from_json(read_json(options.output_dir + "/profile.json"));
  ASSERT_TRUE(profile.ok()) << profile.error().to_string();
  EXPECT_EQ(profile->size(), 2u);
  EXPECT_TRUE(profile->index_of("f3").has_value());
  EXPECT_FALSE(profile->index_of("f1").has_value());
}

TEST(TrainerTest, RefusesListedFeaturesThatAreNotUsableColumns) {
  const auto& f = model_fixtures();
  struct Case {
    std::vector<std::string> features;
    const char* message;
  };
  const Case cases[] = {{{"f0", "nope"}, "no feature column 'nope'"},
                        {{"target"}, "feature column 'target' is the label"},
                        {{"f1", "f1"}, "feature column 'f1' is listed twice"}};
  for (const Case& c : cases) {
    TrainOptions options{f.path("diabetes.csv"), "target", "reg:squarederror", 5, 0.2, 1, {},
                         output_dir("train_bad_features"), {}};
    options.features = c.features;
    auto result = train_xgboost(options);
    ASSERT_FALSE(result.ok()) << c.message;
    EXPECT_EQ(result.error().message(), c.message);
  }
}

TEST(TrainerTest, SummaryIsOneLineUnderFourKilobytesWithTheModelDigest) {
  const auto& f = model_fixtures();
  auto result = train_xgboost({f.path("diabetes.csv"),
                               "target",
                               "reg:squarederror",
                               5,
                               0.2,
                               1,
                               {},
                               output_dir("train_summary"), {}});
  ASSERT_TRUE(result.ok());
  const std::string line = result->summary();
  EXPECT_LT(line.size(), 4096u);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto doc = json::parse(line);
  EXPECT_THAT(doc["model"]["digest"].get<std::string>(), StartsWith("sha256:"));
  EXPECT_EQ(doc["model"]["digest"].get<std::string>().size(), 7u + 64u);
  EXPECT_EQ(doc["metrics"]["rmse"], result->metrics["rmse"]);
}

TEST(TrainerTest, RefusesAMissingLabelAndBadParameters) {
  const auto& f = model_fixtures();
  auto no_label = train_xgboost({f.path("diabetes.csv"),
                                 "nope",
                                 "reg:squarederror",
                                 5,
                                 0.2,
                                 1,
                                 {},
                                 output_dir("train_bad1"), {}});
  ASSERT_FALSE(no_label.ok());
  EXPECT_THAT(no_label.error().message(), HasSubstr("no label column 'nope'"));
  auto bad_objective = train_xgboost({f.path("diabetes.csv"), "target", "reg:nonsense", 5, 0.2, 1,
                                      {}, output_dir("train_bad2"), {}});
  ASSERT_FALSE(bad_objective.ok());
  EXPECT_THAT(bad_objective.error().message(), HasSubstr("reg:nonsense"));
}

}  // namespace
}  // namespace kiln::runtime
