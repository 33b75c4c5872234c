#include <gtest/gtest.h>

#include <ostream>

#include "controllers/admission/validators.h"

namespace kiln::controllers {
namespace {

using nlohmann::json;

struct Case {
  std::string name;
  json object;
  std::string expected;  // to_message() of the errors; "" = allowed
  ValidationOptions options = {};
};

// Test names, not bytes, in gtest's messages.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

constexpr ValidationOptions kHttpAllowed{.uri_policy = {.allow_http = true}};

json deployment(json model, json extra = json::object()) {
  json spec = {{"model", model}};
  spec.update(extra);
  return {{"apiVersion", "kiln.dev/v1alpha1"}, {"kind", "ModelDeployment"}, {"spec", spec}};
}

json training(json data, std::string output, json extra = json::object()) {
  json spec = {{"framework", "xgboost"},
               {"builtin", {{"xgboost", {{"data", data}, {"label", "y"}}}}},
               {"output", {{"modelUri", output}}}};
  spec.update(extra);
  return {{"apiVersion", "kiln.dev/v1alpha1"}, {"kind", "TrainingJob"}, {"spec", spec}};
}

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
  EXPECT_EQ(to_message(validate_object(GetParam().object, GetParam().options)),
            GetParam().expected);
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
        Case{"ArtifactsPassedThroughARepository",
             pipeline({{{"name", "a"},
                        {"image", "x"},
                        {"outputs", {{"artifacts", {{{"name", "t"}, {"path", "out/t.csv"}}}}}}},
                       {{"name", "b"},
                        {"image", "x"},
                        {"dependsOn", {"a"}},
                        {"inputs",
                         {{"artifacts",
                           {{{"name", "t"},
                             {"path", "in/t.csv"},
                             {"from", "{{steps.a.outputs.artifacts.t}}"}},
                            {{"name", "ref"},
                             {"path", "ref.csv"},
                             {"uri", "s3://kiln/ref/ref.csv"}}}}}}}},
                      {{"artifactRepository", {{"uri", "s3://kiln/pipelines"}}}}),
             ""},
        Case{"ArtifactFromANonDependencyAnUndeclaredArtifactAndATraversal",
             pipeline({{{"name", "a"},
                        {"image", "x"},
                        {"outputs", {{"artifacts", {{{"name", "t"}, {"path", "../t.csv"}}}}}}},
                       {{"name", "b"},
                        {"image", "x"},
                        {"inputs",
                         {{"artifacts",
                           {{{"name", "t"},
                             {"path", "t.csv"},
                             {"from", "{{steps.a.outputs.artifacts.t}}"}}}}}}},
                       {{"name", "c"},
                        {"image", "x"},
                        {"dependsOn", {"a"}},
                        {"inputs",
                         {{"artifacts",
                           {{{"name", "u"},
                             {"path", "u.csv"},
                             {"from", "{{steps.a.outputs.artifacts.u}}"}}}}}}}}),
             "spec.steps[0].outputs.artifacts[0].path: ../t.csv: a path has no \".\", \"..\" "
             "or empty segment; spec.steps[1].inputs.artifacts[0].from: step \"a\" is not a dependency, "
             "so its artifacts may not exist yet: add it to dependsOn; "
             "spec.steps[2].inputs.artifacts[0].from: step \"a\" declares no output artifact "
             "\"u\""},
        Case{"ArtifactPathsAndNamesThatCannotBeMountedOrStored",
             pipeline({{{"name", "a"},
                        {"image", "x"},
                        {"inputs",
                         {{"artifacts",
                           {{{"name", "t"}, {"path", "in"}, {"uri", "s3://kiln/t/"}},
                            {{"name", "t"}, {"path", "/workspace/in/u.csv"},
                             {"uri", "s3://kiln/u.csv"}},
                            {{"name", "w"}, {"path", "/workspace/"}, {"uri", "s3://kiln/w"}},
                            {{"name", "e"}, {"path", "/etc/passwd"}, {"uri", "s3://kiln/e"}},
                            {{"name", "h"}, {"path", "h"}, {"uri", "https://example.com/d/"}}}}}},
                        {"outputs",
                         {{"artifacts",
                           {{{"name", "out/x"}, {"path", "in/o.csv"}}}}}}}}),
             "spec.steps[0].inputs.artifacts[1].name: duplicate artifact name \"t\"; "
             "spec.steps[0].inputs.artifacts[1].path: in/u.csv overlaps inputs.artifacts[0].path "
             "in: each download is mounted at its own path; "
             "spec.steps[0].inputs.artifacts[2].path: \"/workspace/\": a path names a file or "
             "directory in the workspace, not the workspace itself; "
             "spec.steps[0].inputs.artifacts[3].path: /etc/passwd: an absolute path is under the "
             "workspace's mountPath /workspace; "
             "spec.steps[0].inputs.artifacts[4].uri: https://example.com/d/: a directory (a uri "
             "ending in '/') is read from s3:// or gs:// only; "
             "spec.steps[0].outputs.artifacts[0].name: \"out/x\": an artifact name is 1-128 "
             "letters, digits, '.', '_' or '-' (not \".\" or \"..\"); "
             "spec.steps[0].outputs.artifacts[0].path: in/o.csv is under inputs.artifacts[0].path "
             "in, a download, not the workspace"},
        Case{"ArtifactRepositoryAndInputUrisAreRemote",
             pipeline({{{"name", "a"},
                        {"image", "x"},
                        {"inputs",
                         {{"artifacts",
                           {{{"name", "t"}, {"path", "t.csv"}, {"uri", "pvc://data/t.csv"}}}}}}}},
                      {{"artifactRepository", {{"uri", "https://example.com/artifacts"}}}}),
             "spec.steps[0].inputs.artifacts[0].uri: pvc://data/t.csv: an input artifact is "
             "downloaded from s3://, gs:// or https://; spec.artifactRepository.uri: "
             "https://example.com/artifacts: an artifact repository is an s3:// or gs:// prefix"},
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
        Case{"OtherKindsPass", kind("ConfigMap", {{"anything", 1}}), ""},
        // Storage URIs: every field goes through parse_storage_uri and is named.
        Case{"RemoteModelsAreAccepted",
             deployment({{"uri", "s3://kiln-models/flights/v3/model.json"},
                         {"profileUri", "gs://kiln-models/flights/v3/profile.json"},
                         {"storage", {{"endpoint", "http://10.0.0.5:7070"}}}},
                        {{"canary", {{"model", {{"uri", "https://models.example.com/v4.json"}}}}},
                         {"shadow", {{"model", {{"uri", "pvc://models/v5/model.json"}}}}}}),
             ""},
        Case{"ModelUriTraversal", deployment({{"uri", "s3://b/../k"}}),
             "spec.model.uri: s3://b/../k: a \"..\" segment is not allowed"},
        Case{"ModelUriPercentEncodedTraversal",
             deployment({{"uri", "pvc://models/%2e%2e/etc/m.json"}}),
             "spec.model.uri: pvc://models/%2e%2e/etc/m.json: a \"..\" segment is not allowed "
             "(percent-encoded as \"%2e%2e\")"},
        Case{"ProfileUriEmptyBucket",
             deployment({{"uri", "s3://kiln-models/m.json"}, {"profileUri", "s3:///profile.json"}}),
             "spec.model.profileUri: s3:///profile.json: no bucket: expected s3://<bucket>/<key>"},
        Case{"ModelUriNamesNoFile", deployment({{"uri", "s3://kiln-models/flights/"}}),
             "spec.model.uri: s3://kiln-models/flights/: names no file (a path or key ending in "
             "the file's name is needed)"},
        Case{"ModelOnAClaimRoot", deployment({{"uri", "pvc://models"}}),
             "spec.model.uri: pvc://models: names no file (a path or key ending in the file's "
             "name is needed)"},
        Case{"CanaryClaimNotADnsLabel",
             deployment({{"uri", "pvc://models/a.json"}},
                        {{"canary", {{"model", {{"uri", "pvc://Models_V2/b.json"}}}}}}),
             "spec.canary.model.uri: pvc://Models_V2/b.json: claim \"Models_V2\" is not a DNS "
             "label (RFC 1123: at most 63 of a-z, 0-9 and '-', starting and ending with a letter "
             "or digit)"},
        Case{"CanaryProfileUserInfo",
             deployment({{"uri", "pvc://models/a.json"}},
                        {{"canary",
                          {{"model",
                            {{"uri", "pvc://models/b.json"},
                             {"profileUri", "s3://AKIA:secret@kiln-models/p.json"}}}}}}),
             "spec.canary.model.profileUri: s3://AKIA:secret@kiln-models/p.json: user info "
             "(\"...@\") is not allowed: credentials come from a Secret (storage.secretRef) or "
             "the pod's identity"},
        Case{"ShadowHttpWithoutPolicy",
             deployment({{"uri", "pvc://models/a.json"}},
                        {{"shadow", {{"model", {{"uri", "http://models.svc/m.json"}}}}}}),
             "spec.shadow.model.uri: http://models.svc/m.json: http:// is not allowed (use "
             "https://, or allow http with the chart value storage.allowHttp)"},
        Case{"ShadowHttpWithPolicy",
             deployment({{"uri", "pvc://models/a.json"}},
                        {{"shadow", {{"model", {{"uri", "http://models.svc/m.json"}}}}}}),
             "", kHttpAllowed},
        Case{"ShadowEndpointNotAUrl",
             deployment({{"uri", "pvc://models/a.json"}},
                        {{"shadow",
                          {{"model",
                            {{"uri", "s3://kiln-models/m.json"},
                             {"storage", {{"endpoint", "minio.svc:9000"}}}}}}}}),
             "spec.shadow.model.storage.endpoint: minio.svc:9000: an endpoint is an http:// or "
             "https:// URL"},
        Case{"EndpointWithUserInfo",
             deployment({{"uri", "s3://kiln-models/m.json"},
                         {"storage", {{"endpoint", "https://k:s@s3.example.com"}}}}),
             "spec.model.storage.endpoint: https://k:s@s3.example.com: user info (\"...@\") is "
             "not allowed: credentials come from a Secret (storage.secretRef) or the pod's "
             "identity"},
        Case{"EndpointWithQuery",
             deployment({{"uri", "s3://kiln-models/m.json"},
                         {"storage", {{"endpoint", "https://s3.example.com/?x=1"}}}}),
             "spec.model.storage.endpoint: https://s3.example.com/?x=1: an endpoint takes no "
             "query"},
        Case{"EveryBadModelFieldIsNamed",
             deployment({{"uri", "ftp://host/m"}, {"profileUri", ""}},
                        {{"canary", {{"model", {{"uri", "s3://kiln-models/a/./m.json"}}}}}}),
             "spec.model.uri: ftp://host/m: scheme \"ftp\" is not supported: expected s3://, "
             "gs://, https://, pvc:// or file://; spec.model.profileUri: empty URI: expected "
             "s3://, gs://, https://, pvc:// or file://; spec.canary.model.uri: "
             "s3://kiln-models/a/./m.json: a \".\" segment is not allowed"},
        Case{"RemoteTrainingIsAccepted",
             training("s3://kiln-data/flights/train.csv", "s3://kiln-models/flights/",
                      {{"storage", {{"endpoint", "https://s3.example.com"}}}}),
             ""},
        Case{"TrainingOutputOnAClaimRoot", training("pvc://data/t.csv", "pvc://models"), ""},
        Case{"TrainingDataTraversal", training("gs://kiln-data/%2E%2E/t.csv", "pvc://models/o"),
             "spec.builtin.xgboost.data: gs://kiln-data/%2E%2E/t.csv: a \"..\" segment is not "
             "allowed (percent-encoded as \"%2E%2E\")"},
        Case{"TrainingDataBadBucket", training("s3://Kiln_Data/t.csv", "pvc://models/o"),
             "spec.builtin.xgboost.data: s3://Kiln_Data/t.csv: bucket \"Kiln_Data\" may hold "
             "only a-z, 0-9, '-' and '.'"},
        Case{"TrainingOutputOverHttps",
             training("pvc://data/t.csv", "https://models.example.com/out/"),
             "spec.output.modelUri: https://models.example.com/out/: outputs go to a directory "
             "on pvc://, file://, s3:// or gs://, not to http(s)://"},
        Case{"TrainingOutputOverHttpEvenWithPolicy",
             training("pvc://data/t.csv", "http://models.svc/out"),
             "spec.output.modelUri: http://models.svc/out: outputs go to a directory on pvc://, "
             "file://, s3:// or gs://, not to http(s)://",
             kHttpAllowed},
        Case{"TrainingOutputTraversal", training("pvc://data/t.csv", "pvc://models/../../etc"),
             "spec.output.modelUri: pvc://models/../../etc: a \"..\" segment is not allowed"},
        Case{"TrainingEndpointScheme",
             training("s3://kiln-data/t.csv", "s3://kiln-models/o",
                      {{"storage", {{"endpoint", "s3://kiln-models"}}}}),
             "spec.storage.endpoint: s3://kiln-models: an endpoint is an http:// or https:// URL"},
        Case{"TrainingEndpointBadPort",
             training("s3://kiln-data/t.csv", "s3://kiln-models/o",
                      {{"storage", {{"endpoint", "http://10.0.0.5:99999"}}}}),
             "spec.storage.endpoint: http://10.0.0.5:99999: port \"99999\" is not in 1-65535"},
        Case{"BaselineUriTraversal",
             kind("DriftMonitor", {{"baseline", {{"uri", "s3://kiln-models/a/../../p.json"}}}}),
             "spec.baseline.uri: s3://kiln-models/a/../../p.json: a \"..\" segment is not "
             "allowed"},
        Case{"BaselineFileNeedsThreeSlashes",
             kind("DriftMonitor", {{"baseline", {{"uri", "file://profiles/p.json"}}}}),
             "spec.baseline.uri: file://profiles/p.json: file:// takes no host: expected "
             "file:///<absolute path>"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kiln::controllers
