// The generated API types (controllers/api/v1alpha1.h): defaults from the schema, errors naming
// the field path, enums, bounds and the JSON round trip.
#include "controllers/api/v1alpha1.h"

#include <gtest/gtest.h>

namespace kiln::api::v1alpha1 {
namespace {

using nlohmann::json;

json deployment(json spec) { return {{"apiVersion", "kiln.dev/v1alpha1"}, {"spec", std::move(spec)}}; }

TEST(ApiTypes, DefaultsComeFromTheSchema) {
  auto spec = parse_model_deployment_spec(deployment(
      {{"model", {{"uri", "pvc://m/a.json"}}},
       {"canary", {{"model", {{"uri", "pvc://m/b.json"}}}}},
       {"rollout", {{"steps", json::array({json{{"setWeight", 20}}})}, {"analysis", json::object()}}}}));
  ASSERT_TRUE(spec.ok()) << spec.error().to_string();
  EXPECT_EQ(spec->replicas, 1);
  EXPECT_EQ(spec->model.format, ModelFormat::kXgboost);
  ASSERT_TRUE(spec->canary.has_value());
  EXPECT_EQ(spec->canary->traffic_percent, 10);
  EXPECT_FALSE(spec->shadow.has_value());
  ASSERT_TRUE(spec->rollout.has_value());
  EXPECT_TRUE(spec->rollout->auto_promote);
  EXPECT_TRUE(spec->rollout->auto_rollback);
  ASSERT_EQ(spec->rollout->steps.size(), 1u);
  EXPECT_EQ(spec->rollout->steps[0].set_weight, 20);
  EXPECT_TRUE(spec->rollout->steps[0].analysis);
  ASSERT_TRUE(spec->rollout->analysis.has_value());
  EXPECT_EQ(spec->rollout->analysis->interval, "30s");
  EXPECT_EQ(spec->rollout->analysis->failure_limit, 1);
  EXPECT_EQ(spec->rollout->analysis->min_requests, 50);
}

struct BadSpec {
  const char* name;
  json spec;
  const char* message;
};

class ApiTypesRejects : public testing::TestWithParam<BadSpec> {};

TEST_P(ApiTypesRejects, NamingTheField) {
  auto spec = parse_model_deployment_spec(deployment(GetParam().spec));
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_EQ(spec.error().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ApiTypesRejects,
    testing::Values(
        BadSpec{"Misspelled", {{"model", {{"uri", "pvc://m/a"}}}, {"canary", {{"model", {{"uri", "pvc://m/b"}}}, {"trafficPercnt", 5}}}},
                "spec.canary.trafficPercnt: unknown field"},
        BadSpec{"WrongType", {{"model", {{"uri", "pvc://m/a"}}}, {"replicas", "two"}},
                "spec.replicas: expected an integer, got string"},
        BadSpec{"Fraction", {{"model", {{"uri", "pvc://m/a"}}}, {"replicas", 1.5}},
                "spec.replicas: expected an integer, got a fraction"},
        BadSpec{"Enum", {{"model", {{"uri", "pvc://m/a"}, {"format", "pickle"}}}},
                "spec.model.format: unsupported value \"pickle\": supported values: xgboost, onnx, torchscript"},
        BadSpec{"Bound", {{"model", {{"uri", "pvc://m/a"}}}, {"canary", {{"model", {{"uri", "pvc://m/b"}}}, {"trafficPercent", 101}}}},
                "spec.canary.trafficPercent: must be at most 100, got 101"},
        BadSpec{"Required", {{"canary", {{"model", {{"uri", "pvc://m/b"}}}}}}, "spec.model: is required"},
        BadSpec{"ArrayItem",
                {{"model", {{"uri", "pvc://m/a"}}},
                 {"rollout", {{"analysis", {{"metrics", json::array({json{{"name", "errorRate"}, {"threshold", 0.1}}, json{{"name", "p50"}, {"threshold", 1}}})}}}}}},
                "spec.rollout.analysis.metrics[1].name: unsupported value \"p50\": supported values: errorRate, latencyP99, agreement, outputDrift"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ApiTypes, MissingSpecIsAnError) {
  auto spec = parse_drift_monitor_spec(json{{"metadata", {{"name", "x"}}}});
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().message(), "spec: is required");
}

TEST(ApiTypes, NullMeansAbsent) {
  auto spec = parse_model_deployment_spec(deployment({{"model", {{"uri", "pvc://m/a"}}}, {"canary", nullptr}}));
  ASSERT_TRUE(spec.ok()) << spec.error().to_string();
  EXPECT_FALSE(spec->canary.has_value());
}

TEST(ApiTypes, ToJsonRoundTrips) {
  const json in = {{"model", {{"fromTrainingJob", "tj"}, {"format", "onnx"}}},
                   {"replicas", 3},
                   {"shadow", {{"model", {{"uri", "pvc://m/s"}}}, {"mirrorPercent", 40}}}};
  auto spec = parse_model_deployment_spec(deployment(in));
  ASSERT_TRUE(spec.ok()) << spec.error().to_string();
  const json out = *spec;
  EXPECT_EQ(out["model"], (json{{"fromTrainingJob", "tj"}, {"format", "onnx"}}));
  EXPECT_EQ(out["replicas"], 3);
  EXPECT_EQ(out["shadow"]["mirrorPercent"], 40);
  EXPECT_EQ(out["shadow"]["model"]["format"], "xgboost");  // The default, written back.
  EXPECT_FALSE(out.contains("canary"));
  auto again = parse_model_deployment_spec(deployment(out));
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(*again, *spec);
}

TEST(ApiTypes, EnumsSpellAsInTheSchema) {
  EXPECT_EQ(to_string(XGBoostObjective::kBinaryLogistic), "binary:logistic");
  EXPECT_EQ(parse_XGBoostObjective("multi:softprob"), XGBoostObjective::kMultiSoftprob);
  EXPECT_EQ(parse_RolloutPhase("RolledBack"), RolloutPhase::kRolledBack);
  EXPECT_FALSE(parse_RolloutPhase("rolledback").has_value());
}

TEST(ApiTypes, StatusDecodesTheConditionsAndIsEmptyWhenAbsent) {
  auto none = parse_model_deployment_status(deployment({{"model", {{"uri", "pvc://m/a"}}}}));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->conditions.empty());
  json object = deployment({{"model", {{"uri", "pvc://m/a"}}}});
  object["status"] = {{"observedGeneration", 4},
                      {"conditions", json::array({json{{"type", "Ready"}, {"status", "True"},
                                                       {"lastTransitionTime", "2026-01-01T00:00:00Z"},
                                                       {"reason", "Available"}, {"message", ""}}})}};
  auto status = parse_model_deployment_status(object);
  ASSERT_TRUE(status.ok()) << status.error().to_string();
  EXPECT_EQ(status->observed_generation, 4);
  ASSERT_EQ(status->conditions.size(), 1u);
  EXPECT_EQ(status->conditions[0].status, ConditionStatus::kTrue);
}

TEST(ApiTypes, MaxLengthCountsCharactersAsTheApiServerDoes) {
  // 128 characters (the limit of spec.model.version), 256 bytes.
  std::string version;
  for (int i = 0; i < 128; ++i) version += "\u00e9";
  auto spec = parse_model_deployment_spec(deployment({{"model", {{"uri", "pvc://m/a"}, {"version", version}}}}));
  ASSERT_TRUE(spec.ok()) << spec.error().to_string();
  version += "e";
  auto longer = parse_model_deployment_spec(deployment({{"model", {{"uri", "pvc://m/a"}, {"version", version}}}}));
  ASSERT_FALSE(longer.ok());
  EXPECT_EQ(longer.error().message(), "spec.model.version: longer than 128 characters");
}

TEST(ApiTypes, IntegersOutOfRangeAreRefusedEvenAsFloats) {
  json object = deployment({{"model", {{"uri", "pvc://m/a"}}}});
  object["status"] = {{"observedGeneration", 9223372036854775808.0}};  // 2^63
  auto status = parse_model_deployment_status(object);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message(), "status.observedGeneration: integer out of range");
  object["status"] = {{"observedGeneration", 4.0}};
  ASSERT_TRUE(parse_model_deployment_status(object).ok());
  EXPECT_EQ(parse_model_deployment_status(object)->observed_generation, 4);
}

}  // namespace
}  // namespace kiln::api::v1alpha1
