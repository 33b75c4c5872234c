#pragma once

// Which model a variant serves, and how its files reach the pod.
//
// A ModelSource is resolved from one of:
//   - a spec model {uri, format, version} (spec.model, spec.canary.model, spec.shadow.model);
//   - a spec model {fromTrainingJob: <name>}: the TrainingJob's status.model {uri, digest, format,
//     profileUri}, which the reconciler reads from its cache and passes in (TrainingModels);
//     absent until the job succeeded, so the variant waits (reason ModelNotReady);
//   - the annotation kiln.dev/canary-model: JSON {"uri", "format"?, "version"?, "profileUri"?}
//     written by a DriftMonitor after a retraining (used when spec.canary is absent).
//
// version: the spec's, else the TrainingJob's digest ("sha256:..." shortened to 12 hex), else
// "h-" + 8 hex of a hash of the uri (stable across reconciles).
//
// Files: pvc://<claim>/<path> mounts the PersistentVolumeClaim <claim> read-only at
// /mnt/kiln/<claim> and the file is /mnt/kiln/<claim>/<path>; file://<path> is <path> inside the
// image (no volume).

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "controllers/api/v1alpha1.h"

namespace kiln::controllers::modeldeployment {

namespace api = kiln::api::v1alpha1;

using json = nlohmann::json;

struct ModelSource {
  std::string uri;     // s3:// gs:// https:// pvc:// or file:// (uri.h).
  std::string format;  // xgboost | onnx | torchscript
  std::string version;
  std::string profile_uri;  // Baseline profile (same schemes), "" when unknown.
  // "sha256:<hex>" the fetched model file must have (the spec's, else the TrainingJob's), "".
  std::string digest;
  // How remote files are reached: the spec model's storage, else (fromTrainingJob) the
  // TrainingJob's spec.storage; nullopt = the manager's defaults.
  std::optional<api::StorageConfig> storage;
  friend bool operator==(const ModelSource&, const ModelSource&) = default;
};

// TrainingJob name -> its status.model object ({uri, digest, format, profileUri, metrics}), for the
// TrainingJobs the ModelDeployment names that have one; the reconciler adds the job's
// spec.storage under "storage" when it has one.
using TrainingModels = std::map<std::string, json, std::less<>>;

// Why a model could not be resolved.
enum class ModelProblem {
  kNotReady,  // fromTrainingJob names a job without status.model yet.
  kInvalid,   // Neither uri nor fromTrainingJob, or a malformed annotation.
};
struct ModelError {
  ModelProblem problem;
  std::string message;
};

// Resolves a spec model (spec.model, spec.canary.model, spec.shadow.model). Pure.
std::variant<ModelSource, ModelError> resolve_model(const api::ModelSource& spec_model,
                                                    const TrainingModels& training_models);
// Parses the kiln.dev/canary-model annotation value (keys uri, format, version, profileUri,
// digest, storage). invalid-input when it is not a JSON object with a "uri" of a known scheme.
Result<ModelSource> parse_canary_annotation(std::string_view value);
// The annotation value for `model` (compact JSON, keys uri, format, version, profileUri when set).
std::string canary_annotation_value(const ModelSource& model);

// A volume and its mount for one pvc:// URI.
struct PvcMount {
  std::string claim;
  std::string volume_name;  // The claim name, as a DNS label.
  std::string mount_path;   // /mnt/kiln/<claim>
};

// Where remote model files are downloaded: an emptyDir volume mounted at /mnt/models (the path
// KServe's storage initializer uses); the model goes under model/, the profile under profile/.
inline constexpr const char* kModelVolume = "kiln-model";
inline constexpr const char* kModelDir = "/mnt/models";

// The path of the file inside the pod, and the PVC mount it needs (none for file:// and remote).
// For a remote uri, `fetch` is set: the storage init container downloads it to `path`.
struct FileInPod {
  std::string path;
  std::optional<PvcMount> mount;
  bool fetch = false;
};
// `subdir` names the file's directory under /mnt/models for a remote uri ("model", "profile").
// invalid-input when the uri does not parse (uri.h), or names no file (pvc:// without a path,
// a remote uri without a key).
Result<FileInPod> file_in_pod(std::string_view uri, std::string_view subdir = "model");

}  // namespace kiln::controllers::modeldeployment
