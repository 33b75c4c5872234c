#include "runtime/served_profile.h"

#include <gtest/gtest.h>

#include <limits>

namespace kiln::runtime {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

ModelMetadata two_feature_model() {
  return {"xgboost",
          {{"input", DataType::kFp32, {-1, 2}}},
          {{"predict", DataType::kFp32, {-1}}},
          {"age", "income"}};
}

Tensor rows(std::vector<float> values) {
  return {"input",
          DataType::kFp32,
          {static_cast<std::int64_t>(values.size() / 2), 2},
          std::move(values)};
}

Tensor predictions(std::vector<float> values) {
  return {
      "predict", DataType::kFp32, {static_cast<std::int64_t>(values.size())}, std::move(values)};
}

class ServedProfileTest : public ::testing::Test {
 protected:
  TimePoint now_{};
  ServedProfile profile_{ServedProfile::default_inputs(two_feature_model()),
                         ServedProfile::default_outputs(two_feature_model()), 60s, 6,
                         [this] { return now_; }};

  void observe(std::vector<float> in, std::vector<float> out) {
    Tensor i = rows(std::move(in));
    Tensor o = predictions(std::move(out));
    profile_.observe(std::span(&i, 1), std::span(&o, 1));
  }
};

TEST_F(ServedProfileTest, CountsEveryRowPerFeatureAndPerOutput) {
  observe({30, 1000, 40, 2000}, {0.1f, 0.9f});
  observe({50, NAN}, {0.5f});
  auto json = profile_.profile_json(std::chrono::seconds(0));
  ASSERT_TRUE(json.ok()) << json.error().to_string();
  auto inputs = drift::Profile::from_json((*json)["inputs"]);
  ASSERT_TRUE(inputs.ok()) << inputs.error().to_string();
  EXPECT_EQ(inputs->rows(), 3u);
  EXPECT_EQ(inputs->feature(0).schema().name, "age");
  EXPECT_EQ(inputs->feature(0).count(), 3u);
  EXPECT_EQ(inputs->feature(1).count(), 2u);
  EXPECT_EQ(inputs->feature(1).missing(), 1u);
  EXPECT_EQ(inputs->feature(0).numerical()->max, 50);
  auto outputs = drift::Profile::from_json((*json)["outputs"]);
  ASSERT_TRUE(outputs.ok());
  EXPECT_EQ(outputs->feature(0).schema().name, "predict");
  EXPECT_EQ(outputs->feature(0).count(), 3u);
}

TEST_F(ServedProfileTest, ForgetsBatchesOlderThanTheWindow) {
  observe({30, 1000}, {0.1f});
  now_ += 30s;
  observe({40, 2000}, {0.2f});
  now_ += 35s;  // The first batch is now 65 s old, the second 35 s.
  auto json = profile_.profile_json(std::chrono::seconds(0));
  ASSERT_TRUE(json.ok());
  auto inputs = drift::Profile::from_json((*json)["inputs"]);
  ASSERT_TRUE(inputs.ok());
  EXPECT_EQ(inputs->feature(0).count(), 1u);
  EXPECT_EQ(inputs->feature(0).numerical()->min, 40);
}

TEST_F(ServedProfileTest, ProfilesOfTwoReplicasMergeIntoOne) {
  observe({30, 1000}, {0.1f});
  ServedProfile other(ServedProfile::default_inputs(two_feature_model()),
                      ServedProfile::default_outputs(two_feature_model()), 60s, 6,
                      [this] { return now_; });
  Tensor i = rows({60, 3000, 70, 4000});
  Tensor o = predictions({0.3f, 0.4f});
  other.observe(std::span(&i, 1), std::span(&o, 1));
  auto a = drift::Profile::from_json((*profile_.profile_json(std::chrono::seconds(0)))["inputs"]);
  auto b = drift::Profile::from_json((*other.profile_json(std::chrono::seconds(0)))["inputs"]);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->merge(*b).ok());
  EXPECT_EQ(a->feature(0).count(), 3u);
  EXPECT_EQ(a->feature(1).numerical()->max, 4000);
}

TEST_F(ServedProfileTest, ShorterWindowCoversOnlyRecentSlotsAndLongerOneIsClipped) {
  observe({30, 1000}, {0.1f});
  now_ += 30s;
  observe({40, 2000}, {0.2f});
  now_ += 5s;  // Batches 35 s and 5 s old; slots are 10 s.
  struct Case {
    std::chrono::seconds window;
    std::uint64_t rows;
    double covered;
  };
  // 5 s rounds up to the one 10-s slot; a window beyond any duration is clipped, not overflowed.
  for (const Case c :
       {Case{20s, 1, 20}, Case{5s, 1, 10}, Case{0s, 2, 60}, Case{3600s, 2, 60},
        Case{std::chrono::seconds(std::numeric_limits<std::int64_t>::max() / 2), 2, 60}}) {
    auto json = profile_.profile_json(c.window);
    ASSERT_TRUE(json.ok());
    auto inputs = drift::Profile::from_json((*json)["inputs"]);
    ASSERT_TRUE(inputs.ok());
    EXPECT_EQ(inputs->rows(), c.rows) << c.window.count() << " s";
    EXPECT_EQ((*json)["windowSeconds"], c.covered) << c.window.count() << " s";
    EXPECT_EQ((*json)["maxWindowSeconds"], 60);
  }
}

TEST_F(ServedProfileTest, BatchWithAnotherFeatureCountIsSkippedAndCounted) {
  Tensor wrong{"input", DataType::kFp32, {1, 3}, std::vector<float>{1, 2, 3}};
  profile_.observe(std::span(&wrong, 1), {});
  auto json = profile_.profile_json(std::chrono::seconds(0));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ((*json)["skippedBatches"], 1);
}

}  // namespace
}  // namespace kiln::runtime
