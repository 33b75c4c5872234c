#include <gtest/gtest.h>

#include "controllers/admission/validators.h"

namespace kiln::controllers {
namespace {

using nlohmann::json;

struct Case {
  std::string name;
  json object;
  std::string expected;  // to_message() of the errors; "" = allowed
};

json pipeline(json steps, json extra = json::object()) {
  json spec = {{"steps", steps}};
  spec.update(extra);
  return {{"apiVersion", "kiln.dev/v1alpha1"}, {"kind", "DataPipeline"}, {"spec", spec}};
}

json kind(const std::string& k, json spec) {
  return {{"apiVersion", "kiln.dev/v1alpha1"}, {"kind", k}, {"spec", spec}};
}

class Validators : public ::testing::TestWithParam<Case> {};

TEST_P(Validators, NameTheFieldAndTheProblem) {
  EXPECT_EQ(to_message(validate_object(GetParam().object)), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, Validators,
    ::testing::Values(
        Case{"ValidDiamond",
             pipeline({{{"name", "a"},
                        {"image", "x"},
                        {"outputs", {{"parameters", {{{"name", "rows"}}}}}}},
                       {{"name", "b"}, {"image", "x"}, {"dependsOn", {"a"}}},
                       {{"name", "c"}, {"image", "x"}, {"dependsOn", {"a"}}},
                       {{"name", "d"},
                        {"image", "x"},
                        {"dependsOn", {"b", "c"}},
                        {"when", "{{steps.a.outputs.rows}} > 0"}}}),
             ""},
        Case{"Cycle",
             pipeline({{{"name", "a"}, {"image", "x"}, {"dependsOn", {"b"}}},
                       {{"name", "b"}, {"image", "x"}, {"dependsOn", {"a"}}}}),
             "spec.steps[1].dependsOn: dependency cycle: a -> b -> a"},
        Case{"ReferenceToANonDependency",
             pipeline(
                 {{{"name", "a"}, {"image", "x"}, {"outputs", {{"parameters", {{{"name", "n"}}}}}}},
                  {{"name", "b"}, {"image", "x"}, {"args", {"{{steps.a.outputs.n}}"}}}}),
             "spec.steps[1].args[0]: step \"a\" is not a dependency, so its outputs may not exist "
             "yet: add it to dependsOn"},
        Case{"UndeclaredOutput",
             pipeline({{{"name", "a"}, {"image", "x"}},
                       {{"name", "b"},
                        {"image", "x"},
                        {"dependsOn", {"a"}},
                        {"when", "{{steps.a.outputs.rows}} > 1"}}}),
             "spec.steps[1].when: step \"a\" declares no output \"rows\""},
        Case{"WhenMayReadADependencysPhase",
             pipeline({{{"name", "a"}, {"image", "x"}},
                       {{"name", "b"},
                        {"image", "x"},
                        {"dependsOn", {"a"}},
                        {"when", "{{steps.a.phase}} == Failed"}}}),
             ""},
        Case{"PhaseOfANonDependency",
             pipeline({{{"name", "a"}, {"image", "x"}},
                       {{"name", "b"}, {"image", "x"}, {"when", "{{steps.a.phase}} == Failed"}}}),
             "spec.steps[1].when: step \"a\" is not a dependency, so its phase may not be final "
             "yet: add it to dependsOn"},
        Case{"WhenThatDoesNotParse",
             pipeline({{{"name", "a"}, {"image", "x"}, {"when", "(1 == 1"}}}),
             "spec.steps[0].when: when \"(1 == 1\": expected ')', got end of expression at "
             "position 7"},
        Case{"UnknownParameter",
             pipeline({{{"name", "a"}, {"image", "x"}, {"args", {"{{parameters.month}}"}}}}),
             "spec.steps[0].args[0]: unknown pipeline parameter \"month\""},
        Case{"OnExitMayReadRunPhase",
             pipeline({{{"name", "a"}, {"image", "x"}}},
                      {{"onExit",
                        {{"name", "notify"}, {"image", "x"}, {"args", {"{{run.phase}}"}}}}}),
             ""},
        Case{"OnExitNameClash",
             pipeline({{{"name", "a"}, {"image", "x"}}},
                      {{"onExit", {{"name", "a"}, {"image", "x"}}}}),
             "spec.onExit.name: must differ from every step's name"},
        Case{"RolloutWeightsMustGrow",
             kind("ModelDeployment",
                  {{"model", {{"uri", "pvc://m/a"}}},
                   {"canary", {{"model", {{"uri", "pvc://m/b"}}}}},
                   {"rollout", {{"steps", {{{"setWeight", 50}}, {{"setWeight", 20}}}}}}}),
             "spec.rollout.steps[1].setWeight: 20 is below the previous step's 50: weights only "
             "grow during a rollout"},
        // The canary of a rollout may come later, from a DriftMonitor's annotation.
        Case{"RolloutWithoutCanaryIsAccepted",
             kind("ModelDeployment", {{"model", {{"uri", "pvc://m/a"}}},
                                      {"rollout", {{"steps", {{{"setWeight", 10}}}}}}}),
             ""},
        Case{"KsOnACategory",
             kind("DriftMonitor",
                  {{"features", {{{"name", "carrier"}, {"type", "categorical"}, {"test", "ks"}}}}}),
             "spec.features[0].test: ks compares numbers; a categorical feature needs chisquare, "
             "ztest, psi or jensenshannon"},
        Case{"BaselineUriIsAccepted",
             kind("DriftMonitor", {{"baseline", {{"uri", "pvc://models/profile.json"}}}}), ""},
        Case{"DuplicateFeature",
             kind("DriftMonitor", {{"features", {{{"name", "t"}}, {{"name", "t"}}}}}),
             "spec.features[1].name: duplicate feature \"t\""},
        Case{"BuiltinTrainerIsSingleWorker",
             kind("TrainingJob", {{"framework", "xgboost"},
                                  {"replicas", 4},
                                  {"builtin", {{"xgboost", {{"data", "pvc://d/t.csv"}}}}}}),
             "spec.replicas: the built-in XGBoost trainer runs one worker; use a template for "
             "distributed training"},
        Case{"TemplateWithoutContainers",
             kind("TrainingJob",
                  {{"framework", "pytorch"}, {"template", {{"spec", json::object()}}}}),
             "spec.template.spec.containers: at least one container is required"},
        Case{"OtherKindsPass", kind("ConfigMap", {{"anything", 1}}), ""}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kiln::controllers
