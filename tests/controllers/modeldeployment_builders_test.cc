// Unit tests of the ModelDeployment child builders: serving Deployment and Service, router
// ConfigMap, Deployment and Service, stable HPA, names and model resolution.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "controllers/modeldeployment/model.h"
#include "controllers/modeldeployment/names.h"
#include "controllers/modeldeployment/router_config.h"
#include "controllers/modeldeployment/serving.h"
#include "controllers/modeldeployment/support.h"

namespace kiln::controllers::modeldeployment {
namespace {

json sample_md() {
  return json::parse(R"({
    "apiVersion": "kiln.dev/v1alpha1", "kind": "ModelDeployment",
    "metadata": {"name": "flights", "namespace": "ml", "uid": "u-1", "generation": 3},
    "spec": {"model": {"uri": "pvc://models/flights/v1/model.json", "format": "xgboost",
                       "version": "v1"},
             "replicas": 3,
             "resources": {"requests": {"cpu": "500m"}}}
  })");
}

// md.spec decoded, as the plan does once.
api::ModelDeploymentSpec spec_of(const json& md) {
  auto spec = api::parse_model_deployment_spec(md);
  EXPECT_TRUE(spec.ok()) << spec.error().to_string();
  return spec.ok() ? *spec : api::ModelDeploymentSpec{};
}

ModelSource model_v1() {
  return {"pvc://models/flights/v1/model.json", "xgboost", "v1",
          "pvc://models/flights/v1/profile.json"};
}

std::vector<std::string> args_of(const json& deployment) {
  return deployment["spec"]["template"]["spec"]["containers"][0]["args"]
      .get<std::vector<std::string>>();
}

TEST(ModelDeploymentBuilders, ServingDeploymentRunsKilnRuntimeServeWithItsFlags) {
  VariantSpec v{Variant::kStable, model_v1(), 3, "pvc://models/flights/v1/model.json"};
  auto d = desired_variant_deployment(sample_md(), spec_of(sample_md()), v, BuildOptions{});
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  const std::vector<std::string> expected = {"serve",
                                             "--model-name",
                                             "flights",
                                             "--model-uri",
                                             "/mnt/kiln/models/flights/v1/model.json",
                                             "--format",
                                             "xgboost",
                                             "--model-version",
                                             "v1",
                                             "--port",
                                             "8080",
                                             "--grpc-port",
                                             "8081",
                                             "--baseline-profile",
                                             "/mnt/kiln/models/flights/v1/profile.json"};
  EXPECT_EQ(args_of(*d), expected);
  const json& c = (*d)["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["command"], json({"kiln-runtime"}));
  EXPECT_EQ(c["image"], "kiln/runtime:dev");
  EXPECT_EQ(c["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(c["ports"],
            json::parse(R"([{"name": "http", "containerPort": 8080},
                            {"name": "grpc", "containerPort": 8081}])"));
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/v2/health/ready");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"], "/v2/health/live");
  EXPECT_EQ(c["resources"]["requests"]["cpu"], "500m");
  EXPECT_EQ((*d)["spec"]["replicas"], 3);
}

TEST(ModelDeploymentBuilders, ServingDeploymentMountsTheModelClaimReadOnlyOnce) {
  VariantSpec v{Variant::kCanary, model_v1(), 1, ""};
  auto d = desired_variant_deployment(sample_md(), spec_of(sample_md()), v, BuildOptions{});
  ASSERT_TRUE(d.ok());
  const json& pod = (*d)["spec"]["template"]["spec"];
  ASSERT_EQ(pod["volumes"].size(), 1u);  // model and profile share the claim.
  EXPECT_EQ(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], "models");
  EXPECT_EQ(pod["volumes"][0]["persistentVolumeClaim"]["readOnly"], true);
  const json& mount = pod["containers"][0]["volumeMounts"][0];
  EXPECT_EQ(mount["mountPath"], "/mnt/kiln/models");
  EXPECT_EQ(mount["readOnly"], true);
  EXPECT_EQ(pod["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"], true);
}

TEST(ModelDeploymentBuilders, ServingDeploymentCarriesMetadataLabelsAndOwner) {
  VariantSpec v{Variant::kCanary, model_v1(), 1, ""};
  auto d = desired_variant_deployment(sample_md(), spec_of(sample_md()), v, BuildOptions{});
  ASSERT_TRUE(d.ok());
  const json& meta = (*d)["metadata"];
  EXPECT_EQ((*d)["apiVersion"], "apps/v1");
  EXPECT_EQ((*d)["kind"], "Deployment");
  EXPECT_EQ(meta["name"], "flights-canary");
  EXPECT_EQ(meta["namespace"], "ml");
  EXPECT_EQ(meta["labels"]["kiln.dev/modeldeployment"], "flights");
  EXPECT_EQ(meta["labels"]["kiln.dev/variant"], "canary");
  EXPECT_EQ(meta["labels"]["app.kubernetes.io/managed-by"], "kiln");
  EXPECT_EQ(meta["labels"]["app.kubernetes.io/part-of"], "kiln");
  const json& owner = meta["ownerReferences"][0];
  EXPECT_EQ(owner["kind"], "ModelDeployment");
  EXPECT_EQ(owner["uid"], "u-1");
  EXPECT_EQ(owner["controller"], true);
  EXPECT_EQ(owner["blockOwnerDeletion"], true);
  EXPECT_EQ((*d)["spec"]["selector"]["matchLabels"],
            json({{"kiln.dev/modeldeployment", "flights"}, {"kiln.dev/variant", "canary"}}));
}

TEST(ModelDeploymentBuilders, AutoscaledStableLeavesReplicasToTheHpa) {
  json md = sample_md();
  md["spec"]["autoscaling"] = {{"minReplicas", 2}, {"maxReplicas", 6}};
  VariantSpec v{Variant::kStable, model_v1(), std::nullopt, ""};
  auto d = desired_variant_deployment(md, spec_of(md), v, BuildOptions{});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE((*d)["spec"].contains("replicas"));
  auto hpa = desired_stable_hpa(md, spec_of(md));
  ASSERT_TRUE(hpa.has_value());
  EXPECT_EQ((*hpa)["apiVersion"], "autoscaling/v2");
  EXPECT_EQ((*hpa)["spec"]["scaleTargetRef"]["name"], "flights-stable");
  EXPECT_EQ((*hpa)["spec"]["minReplicas"], 2);
  EXPECT_EQ((*hpa)["spec"]["maxReplicas"], 6);
  EXPECT_EQ((*hpa)["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80);
  EXPECT_FALSE(desired_stable_hpa(sample_md(), spec_of(sample_md())).has_value());
}

TEST(ModelDeploymentBuilders, FileUriNeedsNoVolumeAndSpecRuntimeImageWins) {
  json md = sample_md();
  md["spec"]["runtime"] = {{"image", "registry.example/kiln-runtime:1.2"},
                           {"imagePullPolicy", "Always"}};
  VariantSpec v{Variant::kShadow, {"file:///models/m.onnx", "onnx", "v9", ""}, 1, ""};
  auto d = desired_variant_deployment(md, spec_of(md), v, BuildOptions{});
  ASSERT_TRUE(d.ok());
  const json& pod = (*d)["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["volumes"].empty());
  EXPECT_EQ(pod["containers"][0]["image"], "registry.example/kiln-runtime:1.2");
  EXPECT_EQ(pod["containers"][0]["imagePullPolicy"], "Always");
  const auto args = args_of(*d);
  EXPECT_EQ(args[4], "/models/m.onnx");
  EXPECT_EQ(std::count(args.begin(), args.end(), "--baseline-profile"), 0);
}

TEST(ModelDeploymentBuilders, PvcUriWithoutPathIsRejected) {
  VariantSpec v{Variant::kStable, {"pvc://models", "xgboost", "v1", ""}, 1, ""};
  EXPECT_FALSE(desired_variant_deployment(sample_md(), spec_of(sample_md()), v, BuildOptions{}).ok());
}

TEST(ModelDeploymentBuilders, RemoteModelIsFetchedByTheStorageInitializerIntoAnEmptyDir) {
  ModelSource model{"s3://models/flights/v1/model.ubj", "xgboost", "v1",
                    "gs://profiles/flights/v1/profile.json",
                    "sha256:" + std::string(64, 'a'), std::nullopt};
  api::StorageConfig storage;
  storage.secret_ref = api::LocalObjectReference{"team-s3"};
  storage.endpoint = "https://s3.example.internal:9000";
  storage.ca_bundle_config_map_ref = api::LocalObjectReference{"team-ca"};
  model.storage = storage;
  VariantSpec v{Variant::kStable, model, 2, model.uri};
  BuildOptions options;
  options.storage.image = "registry.example/kiln/storage:1";
  options.storage.s3_region = "eu-west-1";
  auto d = desired_variant_deployment(sample_md(), spec_of(sample_md()), v, options);
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  const json& pod = (*d)["spec"]["template"]["spec"];
  const auto args = args_of(*d);
  EXPECT_EQ(args[4], "/mnt/models/model/model.ubj");
  EXPECT_EQ(args.back(), "/mnt/models/profile/profile.json");
  ASSERT_EQ(pod["initContainers"].size(), 1u);
  const json& init = pod["initContainers"][0];
  EXPECT_EQ(init["name"], "storage-initializer");
  EXPECT_EQ(init["image"], "registry.example/kiln/storage:1");
  EXPECT_EQ(init["command"],
            json({"kiln-storage", "fetch", "s3://models/flights/v1/model.ubj",
                  "/mnt/models/model/model.ubj", "sha256:" + std::string(64, 'a'),
                  "gs://profiles/flights/v1/profile.json", "/mnt/models/profile/profile.json",
                  "-"}));
  std::map<std::string, std::string> env;
  for (const auto& e : init["env"]) env[e["name"]] = e["value"];
  EXPECT_EQ(env["RCLONE_S3_ENDPOINT"], "https://s3.example.internal:9000");  // The spec's wins.
  EXPECT_EQ(env["RCLONE_S3_REGION"], "eu-west-1");                          // The default fills.
  EXPECT_EQ(env["RCLONE_S3_PROVIDER"], "Other");
  EXPECT_EQ(env["RCLONE_S3_ENV_AUTH"], "true");
  EXPECT_EQ(env["RCLONE_CA_CERT"], "/etc/kiln/storage-ca/ca.crt");
  EXPECT_EQ(init["envFrom"], json::parse(R"([{"secretRef": {"name": "team-s3"}}])"));
  EXPECT_EQ(init["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(init["securityContext"]["allowPrivilegeEscalation"], false);
  // The server reads the downloaded files read-only; the initializer writes them.
  const json& server = pod["containers"][0];
  EXPECT_NE(std::find(server["volumeMounts"].begin(), server["volumeMounts"].end(),
                      json::parse(R"({"name": "kiln-model", "mountPath": "/mnt/models",
                                      "readOnly": true})")),
            server["volumeMounts"].end());
  EXPECT_NE(std::find(init["volumeMounts"].begin(), init["volumeMounts"].end(),
                      json::parse(R"({"name": "kiln-model", "mountPath": "/mnt/models",
                                      "readOnly": false})")),
            init["volumeMounts"].end());
  std::vector<std::string> volumes;
  for (const auto& vol : pod["volumes"]) volumes.push_back(vol["name"]);
  EXPECT_EQ(volumes, (std::vector<std::string>{"kiln-model", "kiln-storage-tmp", "kiln-storage-ca"}));
  EXPECT_EQ(pod["volumes"][2]["configMap"]["name"], "team-ca");
}

TEST(ModelDeploymentBuilders, ClaimModelsNeedNoStorageInitializerAndBucketsNeedAKey) {
  VariantSpec v{Variant::kStable, model_v1(), 1, ""};
  auto d = desired_variant_deployment(sample_md(), spec_of(sample_md()), v, BuildOptions{});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE((*d)["spec"]["template"]["spec"].contains("initContainers"));
  v.model.uri = "s3://models";
  EXPECT_FALSE(desired_variant_deployment(sample_md(), spec_of(sample_md()), v, BuildOptions{}).ok());
}

TEST(ModelDeploymentBuilders, VariantServiceIsClusterIpOnPort80AndGrpcOn8081) {
  const json s = desired_variant_service(sample_md(), Variant::kStable);
  EXPECT_EQ(s["kind"], "Service");
  EXPECT_EQ(s["metadata"]["name"], "flights-stable");
  EXPECT_EQ(s["spec"]["type"], "ClusterIP");
  EXPECT_EQ(s["spec"]["ports"], json::parse(R"([
    {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
    {"name": "grpc", "port": 8081, "targetPort": "grpc", "protocol": "TCP",
     "appProtocol": "grpc"}])"));
  EXPECT_EQ(s["spec"]["selector"]["kiln.dev/variant"], "stable");
}

TEST(ModelDeploymentBuilders, RouterConfigIsTheFormatOfKilnRuntimeRoute) {
  RouterSplit split{90, 10, 100, "x-request-key"};
  const json config = router_config(sample_md(), split);
  EXPECT_EQ(config, json::parse(R"({
    "stable": {"url": "http://flights-stable.ml.svc:80", "grpcUrl": "flights-stable.ml.svc:8081"},
    "canary": {"url": "http://flights-canary.ml.svc:80", "grpcUrl": "flights-canary.ml.svc:8081",
               "weight": 10},
    "shadow": {"url": "http://flights-shadow.ml.svc:80", "grpcUrl": "flights-shadow.ml.svc:8081",
               "mirrorPercent": 100},
    "stickyHeader": "x-request-key"})"));
  const json stable_only = router_config(sample_md(), RouterSplit{});
  EXPECT_FALSE(stable_only.contains("canary"));
  EXPECT_FALSE(stable_only.contains("shadow"));
}

TEST(ModelDeploymentBuilders, RouterDeploymentMountsItsConfigAndIsNamedAfterTheParent) {
  const json cm = desired_router_config_map(sample_md(), RouterSplit{});
  EXPECT_EQ(cm["metadata"]["name"], "flights-router");
  EXPECT_EQ(json::parse(cm["data"]["config.json"].get<std::string>()),
            router_config(sample_md(), RouterSplit{}));
  const json d = desired_router_deployment(sample_md(), spec_of(sample_md()), "abc123", BuildOptions{});
  EXPECT_EQ(d["metadata"]["name"], "flights");
  EXPECT_EQ(d["metadata"]["labels"]["kiln.dev/variant"], "router");
  EXPECT_EQ(d["spec"]["replicas"], 2);  // The stable variant runs 3.
  const json& pod = d["spec"]["template"];
  EXPECT_EQ(pod["metadata"]["annotations"]["kiln.dev/router-config-hash"], "abc123");
  EXPECT_EQ(pod["spec"]["containers"][0]["args"],
            json({"route", "--config", "/etc/kiln/router/config.json", "--port", "8080",
                  "--grpc-port", "8081"}));
  EXPECT_EQ(pod["spec"]["containers"][0]["ports"], json::parse(R"([
    {"name": "http", "containerPort": 8080}, {"name": "grpc", "containerPort": 8081}])"));
  EXPECT_TRUE(pod["spec"]["containers"][0]["readinessProbe"].contains("tcpSocket"));
  EXPECT_EQ(pod["spec"]["volumes"][0]["configMap"]["name"], "flights-router");
  const json s = desired_endpoint_service(sample_md(), Variant::kRouter);
  EXPECT_EQ(s["metadata"]["name"], "flights");
  EXPECT_EQ(s["spec"]["selector"]["kiln.dev/variant"], "router");
  // The endpoint exposes the router's gRPC port too.
  EXPECT_EQ(s["spec"]["ports"][1], json::parse(R"(
    {"name": "grpc", "port": 8081, "targetPort": "grpc", "protocol": "TCP",
     "appProtocol": "grpc"})"));
  // Without a split the same endpoint selects the stable pods.
  const json direct = desired_endpoint_service(sample_md(), Variant::kStable);
  EXPECT_EQ(direct["metadata"]["name"], "flights");
  EXPECT_EQ(direct["spec"]["selector"]["kiln.dev/variant"], "stable");
  EXPECT_EQ(direct["spec"]["selector"]["kiln.dev/modeldeployment"], "flights");
}

TEST(ModelDeploymentBuilders, LongNamesStayDnsLabelsAndDistinct) {
  const std::string long_a(70, 'a');
  const std::string long_b = std::string(69, 'a') + "b";
  const std::string a = variant_name(long_a, Variant::kCanary);
  const std::string b = variant_name(long_b, Variant::kCanary);
  EXPECT_LE(a.size(), 63u);
  EXPECT_TRUE(a.ends_with("-canary"));
  EXPECT_NE(a, b);
  EXPECT_EQ(variant_name("short", Variant::kRouter), "short");
  EXPECT_LE(variant_name(long_a, Variant::kRouter).size(), 63u);
}

TEST(ModelDeploymentBuilders, ModelFromTrainingJobWaitsThenTakesItsStatusModel) {
  api::ModelSource spec_model;
  spec_model.from_training_job = "train-1";
  auto waiting = resolve_model(spec_model, {});
  ASSERT_TRUE(std::holds_alternative<ModelError>(waiting));
  EXPECT_EQ(std::get<ModelError>(waiting).problem, ModelProblem::kNotReady);
  TrainingModels models = {{"train-1",
                            {{"uri", "pvc://models/t1/model.json"},
                             {"format", "xgboost"},
                             {"digest", "sha256:0123456789abcdef0123"},
                             {"profileUri", "pvc://models/t1/profile.json"}}}};
  auto ready = resolve_model(spec_model, models);
  ASSERT_TRUE(std::holds_alternative<ModelSource>(ready));
  const auto& m = std::get<ModelSource>(ready);
  EXPECT_EQ(m.uri, "pvc://models/t1/model.json");
  EXPECT_EQ(m.version, "0123456789ab");
  EXPECT_EQ(m.profile_uri, "pvc://models/t1/profile.json");
}

TEST(ModelDeploymentBuilders, CanaryAnnotationRoundTripsAndRejectsGarbage) {
  const ModelSource m{"pvc://models/r1/model.json", "xgboost", "r1", ""};
  auto parsed = parse_canary_annotation(canary_annotation_value(m));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, m);
  EXPECT_FALSE(parse_canary_annotation("not json").ok());
  EXPECT_FALSE(parse_canary_annotation(R"({"uri": "ftp://bucket/model"})").ok());
  // A retrained model in object storage keeps its digest and storage block.
  ModelSource remote{"s3://models/r2/model.json", "xgboost", "r2", "s3://models/r2/profile.json",
                     "sha256:" + std::string(64, 'b'), std::nullopt};
  remote.storage = api::StorageConfig{};
  remote.storage->secret_ref = api::LocalObjectReference{"team-s3"};
  auto remote_parsed = parse_canary_annotation(canary_annotation_value(remote));
  ASSERT_TRUE(remote_parsed.ok()) << remote_parsed.error().to_string();
  EXPECT_EQ(*remote_parsed, remote);
}

}  // namespace
}  // namespace kiln::controllers::modeldeployment
