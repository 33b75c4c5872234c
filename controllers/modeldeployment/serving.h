#pragma once

// Pure builders of a serving variant's children: a Deployment running `kiln-runtime serve` and a
// ClusterIP Service in front of it. Each returns the COMPLETE object for server-side apply
// (apiVersion, kind, metadata with name, namespace, labels, ownerReferences, spec).
//
// The serving pod (flags exactly as src/cmd/runtime_serve_command.cc defines them):
//
//   kiln-runtime serve --model-name <md> --model-uri <file in pod> --format <format>
//       --model-version <version> --port 8080 --grpc-port 8081 [--baseline-profile <file in pod>]
//
// The model name is the ModelDeployment's name for every variant, so the router forwards
// /v2/models/<md>/infer unchanged. Models (and the baseline profile) on pvc:// are mounted
// read-only (model.h). Remote models (s3://, gs://, https://) and profiles are downloaded by the
// init container "storage-initializer" (storage.h) into the emptyDir kiln-model at /mnt/models,
// which the server mounts read-only; the model's digest, when known, is verified there, and a
// failure keeps the pod from starting (the plan reports it as ModelFetchFailed). Readiness: GET /v2/health/ready; liveness: GET /v2/health/live; port 8080
// named "http", and 8081 named "grpc" (OIP v2 gRPC and grpc.health.v1). terminationGracePeriodSeconds covers serve's drain (5 s delay + 30 s timeout).
// The pod runs restricted (non-root, read-only root filesystem, no capabilities, RuntimeDefault
// seccomp). Deployment annotations kiln.dev/model-uri and kiln.dev/model-format record the served
// model; on the stable Deployment, kiln.dev/spec-model-uri records spec.model's uri (plan.h).

#include <nlohmann/json.hpp>

#include "controllers/api/v1alpha1.h"
#include <optional>
#include <string>

#include "common/result.h"
#include "controllers/common/storage.h"
#include "controllers/modeldeployment/model.h"
#include "controllers/modeldeployment/names.h"

namespace kiln::controllers::modeldeployment {

namespace api = kiln::api::v1alpha1;

// Manager-wide settings of the builders.
struct BuildOptions {
  std::string runtime_image = "kiln/runtime:dev";  // --runtime-image of kiln-manager.
  std::string image_pull_policy = "IfNotPresent";
  StorageDefaults storage;  // The storage init container's image and defaults.
};

// The serving pods' init container that downloads remote model files (storage.h).
inline constexpr const char* kStorageInitializer = "storage-initializer";

// What one serving variant runs.
struct VariantSpec {
  Variant variant = Variant::kStable;
  ModelSource model;
  // Deployment spec.replicas; nullopt leaves the field out (an HPA owns it).
  std::optional<int> replicas = 1;
  // For the stable variant: spec.model's resolved uri (kiln.dev/spec-model-uri); "" otherwise.
  std::string spec_model_uri;
};

// The variant's Deployment <md>-<variant>. `md` is the ModelDeployment (its metadata, and
// spec.resources / spec.runtime{image, imagePullPolicy}). invalid-input when a uri cannot be
// mounted (model.h file_in_pod).
Result<json> desired_variant_deployment(const json& md, const api::ModelDeploymentSpec& spec,
                                        const VariantSpec& variant, const BuildOptions& options);

// The variant's ClusterIP Service <md>-<variant>: port 80 "http" -> the pods' "http" port, and
// port 8081 "grpc" (appProtocol grpc) -> the pods' "grpc" port.
json desired_variant_service(const json& md, Variant variant);

// Helpers shared with the router builder.
json object_meta(const json& md, const std::string& name, Variant variant);
json restricted_pod_security_context();
json restricted_container_security_context();
// spec.runtime.image / imagePullPolicy, else the manager's options.
std::string runtime_image(const api::ModelDeploymentSpec& spec, const BuildOptions& options);
std::string image_pull_policy(const api::ModelDeploymentSpec& spec, const BuildOptions& options);

}  // namespace kiln::controllers::modeldeployment
