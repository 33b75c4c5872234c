#include "controllers/modeldeployment/model.h"

#include "controllers/common/uri.h"
#include "controllers/modeldeployment/support.h"

namespace kiln::controllers::modeldeployment {
namespace {

using support::value_or;

std::string default_version(const std::string& uri, const std::string& digest) {
  if (!digest.empty()) {
    const auto colon = digest.find(':');
    return digest.substr(colon == std::string::npos ? 0 : colon + 1, 12);
  }
  return "h-" + support::short_hash(uri);
}

// The uri parses for a serving pod. (Admission refused http:// unless the chart allows it; the
// controller takes what admission let through.)
bool known_scheme(std::string_view uri) {
  return parse_storage_uri(uri, UriPolicy{.allow_http = true}).ok();
}

}  // namespace

std::variant<ModelSource, ModelError> resolve_model(const api::ModelSource& spec_model,
                                                    const TrainingModels& training_models) {
  ModelSource model;
  model.format = std::string(api::to_string(spec_model.format));
  if (spec_model.version) model.version = *spec_model.version;
  std::string digest;
  if (spec_model.from_training_job) {
    const std::string& job = *spec_model.from_training_job;
    auto it = training_models.find(job);
    if (it == training_models.end() || value_or<std::string>(it->second, "uri", "").empty()) {
      return ModelError{ModelProblem::kNotReady,
                        "waiting for TrainingJob " + job + " to report its model"};
    }
    model.uri = it->second["uri"].get<std::string>();
    model.profile_uri = value_or<std::string>(it->second, "profileUri", "");
    digest = value_or<std::string>(it->second, "digest", "");
    if (it->second.contains("storage")) {
      api::StorageConfig storage;
      if (api::decode(it->second["storage"], "storage", storage).ok()) model.storage = storage;
    }
  } else if (spec_model.uri) {
    model.uri = *spec_model.uri;
  }
  if (spec_model.profile_uri) model.profile_uri = *spec_model.profile_uri;
  if (spec_model.digest) digest = *spec_model.digest;
  if (spec_model.storage) model.storage = spec_model.storage;
  model.digest = digest;
  if (!known_scheme(model.uri)) {
    return ModelError{ModelProblem::kInvalid, "model uri '" + model.uri +
                                                  "' is not s3://, gs://, https://, pvc:// or "
                                                  "file://"};
  }
  if (model.version.empty()) model.version = default_version(model.uri, digest);
  return model;
}

Result<ModelSource> parse_canary_annotation(std::string_view value) {
  const json j = json::parse(value, nullptr, false);
  if (!j.is_object()) return Error::invalid_input("kiln.dev/canary-model is not a JSON object");
  ModelSource model;
  model.uri = value_or<std::string>(j, "uri", "");
  if (!known_scheme(model.uri)) {
    return Error::invalid_input(
        "kiln.dev/canary-model: uri must be s3://, gs://, https://, pvc:// or file://");
  }
  model.format = value_or<std::string>(j, "format", "xgboost");
  model.version = value_or<std::string>(j, "version", "");
  model.profile_uri = value_or<std::string>(j, "profileUri", "");
  model.digest = value_or<std::string>(j, "digest", "");
  if (j.contains("storage")) {
    api::StorageConfig storage;
    auto decoded = api::decode(j["storage"], "kiln.dev/canary-model.storage", storage);
    if (!decoded.ok()) return decoded.error();
    model.storage = storage;
  }
  if (model.version.empty()) model.version = default_version(model.uri, "");
  return model;
}

std::string canary_annotation_value(const ModelSource& model) {
  json j = {{"uri", model.uri}, {"format", model.format}};
  if (!model.version.empty()) j["version"] = model.version;
  if (!model.profile_uri.empty()) j["profileUri"] = model.profile_uri;
  if (!model.digest.empty()) j["digest"] = model.digest;
  if (model.storage) api::to_json(j["storage"], *model.storage);
  return j.dump();
}

Result<FileInPod> file_in_pod(std::string_view uri, std::string_view subdir) {
  auto parsed = parse_storage_uri(uri, UriPolicy{.allow_http = true});
  if (!parsed.ok()) return parsed.error();
  if (parsed->remote()) {
    std::string name = parsed->basename();
    if ((parsed->scheme == UriScheme::kS3 || parsed->scheme == UriScheme::kGs) &&
        parsed->path.empty()) {
      return Error::invalid_input("uri " + std::string(uri) + ": an object key is needed");
    }
    if (name.empty()) name = "file";
    return FileInPod{std::string(kModelDir) + "/" + std::string(subdir) + "/" + name,
                     std::nullopt, true};
  }
  if (parsed->on_claim() && parsed->path.empty()) {
    return Error::invalid_input("uri " + std::string(uri) + ": a file on the claim is needed");
  }
  FileInPod out{parsed->local_path, std::nullopt};
  if (parsed->on_claim()) {
    out.mount = PvcMount{parsed->claim, support::child_name(parsed->claim, ""),
                         std::string(kMountRoot) + "/" + parsed->claim};
  }
  return out;
}

}  // namespace kiln::controllers::modeldeployment
