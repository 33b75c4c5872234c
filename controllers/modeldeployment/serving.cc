#include "controllers/modeldeployment/serving.h"

#include <set>

#include "controllers/modeldeployment/support.h"

namespace kiln::controllers::modeldeployment {
namespace {


json http_probe(std::string_view path, int period, int failures) {
  return {{"httpGet", {{"path", path}, {"port", "http"}}},
          {"periodSeconds", period},
          {"failureThreshold", failures}};
}

}  // namespace

json object_meta(const json& md, const std::string& name, Variant variant) {
  const std::string md_name = support::name_of(md);
  return {{"name", name},
          {"namespace", support::namespace_of(md)},
          {"labels", child_labels(md_name, variant)},
          {"ownerReferences", json::array({owner_reference(md)})}};
}

json restricted_pod_security_context() {
  return {{"runAsNonRoot", true}, {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

json restricted_container_security_context() {
  return {{"allowPrivilegeEscalation", false},
          {"readOnlyRootFilesystem", true},
          {"capabilities", {{"drop", {"ALL"}}}}};
}

std::string runtime_image(const api::ModelDeploymentSpec& spec, const BuildOptions& options) {
  return spec.runtime && spec.runtime->image ? *spec.runtime->image : options.runtime_image;
}

std::string image_pull_policy(const api::ModelDeploymentSpec& spec, const BuildOptions& options) {
  if (spec.runtime && spec.runtime->image_pull_policy) {
    return std::string(api::to_string(*spec.runtime->image_pull_policy));
  }
  return options.image_pull_policy;
}

namespace {

// The serving pods' annotations: the model version, and the baseline profile they load (what a
// DriftMonitor's reconciler matches before it reads /profile/baseline from a pod).
json template_annotations(const ModelSource& model) {
  json out = {{"kiln.dev/model-version", model.version}};
  if (!model.profile_uri.empty()) out[std::string(kBaselineProfileAnnotation)] = model.profile_uri;
  return out;
}

}  // namespace

Result<json> desired_variant_deployment(const json& md, const api::ModelDeploymentSpec& spec,
                                        const VariantSpec& variant, const BuildOptions& options) {
  const std::string md_name = support::name_of(md);
  auto model_file = file_in_pod(variant.model.uri);
  if (!model_file.ok()) return model_file.error().with_context("model");
  json args = {"serve",
               "--model-name",
               md_name,
               "--model-uri",
               model_file->path,
               "--format",
               variant.model.format,
               "--model-version",
               variant.model.version,
               "--port",
               std::to_string(kContainerPort),
               "--grpc-port",
               std::to_string(kGrpcPort)};
  std::vector<PvcMount> mounts;
  std::vector<StorageFile> fetches;
  if (model_file->mount) mounts.push_back(*model_file->mount);
  if (model_file->fetch) {
    fetches.push_back({variant.model.uri, model_file->path, variant.model.digest});
  }
  if (!variant.model.profile_uri.empty()) {
    auto profile_file = file_in_pod(variant.model.profile_uri, "profile");
    if (!profile_file.ok()) return profile_file.error().with_context("baseline profile");
    args.push_back("--baseline-profile");
    args.push_back(profile_file->path);
    if (profile_file->mount) mounts.push_back(*profile_file->mount);
    if (profile_file->fetch) fetches.push_back({variant.model.profile_uri, profile_file->path, ""});
  }
  json volumes = json::array(), volume_mounts = json::array();
  std::set<std::string> seen;
  for (const auto& m : mounts) {
    if (!seen.insert(m.claim).second) continue;
    volumes.push_back({{"name", m.volume_name},
                       {"persistentVolumeClaim", {{"claimName", m.claim}, {"readOnly", true}}}});
    volume_mounts.push_back(
        {{"name", m.volume_name}, {"mountPath", m.mount_path}, {"readOnly", true}});
  }
  json container = {{"name", "server"},
                    {"image", runtime_image(spec, options)},
                    {"imagePullPolicy", image_pull_policy(spec, options)},
                    {"command", {"kiln-runtime"}},
                    {"args", args},
                    {"ports",
                     {{{"name", "http"}, {"containerPort", kContainerPort}},
                      {{"name", "grpc"}, {"containerPort", kGrpcPort}}}},
                    {"readinessProbe", http_probe("/v2/health/ready", 5, 3)},
                    {"livenessProbe", http_probe("/v2/health/live", 10, 3)},
                    {"securityContext", restricted_container_security_context()},
                    {"volumeMounts", volume_mounts}};
  if (!spec.resources.is_null()) container["resources"] = spec.resources;
  json init_containers = json::array();
  if (!fetches.empty()) {
    const api::StorageConfig* storage = variant.model.storage ? &*variant.model.storage : nullptr;
    volumes.push_back(empty_dir_volume(kModelVolume));
    for (auto& v : storage_volumes(storage, options.storage)) volumes.push_back(std::move(v));
    container["volumeMounts"].push_back(volume_mount(kModelVolume, kModelDir, true));
    init_containers.push_back(fetch_container(kStorageInitializer, fetches, storage,
                                              options.storage,
                                              json::array({volume_mount(kModelVolume, kModelDir, false)})));
  }

  const std::string name = variant_name(md_name, variant.variant);
  json meta = object_meta(md, name, variant.variant);
  meta["annotations"] = {{std::string(kModelUriAnnotation), variant.model.uri},
                         {std::string(kModelFormatAnnotation), variant.model.format}};
  if (variant.variant == Variant::kStable) {
    meta["annotations"][std::string(kSpecModelAnnotation)] = variant.spec_model_uri;
  }
  json deployment_spec = {{"selector", {{"matchLabels", selector_labels(md_name, variant.variant)}}},
               {"template",
                {{"metadata",
                  {{"labels", child_labels(md_name, variant.variant)},
                   {"annotations", template_annotations(variant.model)}}},
                 {"spec",
                  {{"containers", {container}},
                   {"volumes", volumes},
                   {"securityContext", restricted_pod_security_context()},
                   {"terminationGracePeriodSeconds", 40}}}}}};
  if (!init_containers.empty()) {
    deployment_spec["template"]["spec"]["initContainers"] = init_containers;
  }
  if (variant.replicas) deployment_spec["replicas"] = *variant.replicas;
  return json{
      {"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"metadata", meta}, {"spec", deployment_spec}};
}

json desired_variant_service(const json& md, Variant variant) {
  const std::string md_name = support::name_of(md);
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", object_meta(md, variant_name(md_name, variant), variant)},
          {"spec",
           {{"type", "ClusterIP"},
            {"selector", selector_labels(md_name, variant)},
            {"ports",
             {{{"name", "http"},
               {"port", kServicePort},
               {"targetPort", "http"},
               {"protocol", "TCP"}},
              {{"name", "grpc"},
               {"port", kGrpcPort},
               {"targetPort", "grpc"},
               {"protocol", "TCP"},
               {"appProtocol", "grpc"}}}}}}};
}

}  // namespace kiln::controllers::modeldeployment
