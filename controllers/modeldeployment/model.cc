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

bool known_scheme(std::string_view uri) {
  return (uri.starts_with("pvc://") && uri.size() > 6) ||
         (uri.starts_with("file://") && uri.size() > 7);
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
  } else if (spec_model.uri) {
    model.uri = *spec_model.uri;
  }
  if (spec_model.profile_uri) model.profile_uri = *spec_model.profile_uri;
  if (!known_scheme(model.uri)) {
    return ModelError{ModelProblem::kInvalid,
                      "model uri '" + model.uri + "' is not pvc:// or file://"};
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
    return Error::invalid_input("kiln.dev/canary-model: uri must be pvc:// or file://");
  }
  model.format = value_or<std::string>(j, "format", "xgboost");
  model.version = value_or<std::string>(j, "version", "");
  model.profile_uri = value_or<std::string>(j, "profileUri", "");
  if (model.version.empty()) model.version = default_version(model.uri, "");
  return model;
}

std::string canary_annotation_value(const ModelSource& model) {
  json j = {{"uri", model.uri}, {"format", model.format}};
  if (!model.version.empty()) j["version"] = model.version;
  if (!model.profile_uri.empty()) j["profileUri"] = model.profile_uri;
  return j.dump();
}

Result<FileInPod> file_in_pod(std::string_view uri) {
  auto parsed = parse_storage_uri(uri);
  if (!parsed.ok()) return parsed.error();
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
