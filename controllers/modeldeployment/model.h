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
  std::string uri;     // pvc://... or file://...
  std::string format;  // xgboost | onnx | torchscript
  std::string version;
  std::string profile_uri;  // Baseline profile (pvc:// or file://), "" when unknown.
  friend bool operator==(const ModelSource&, const ModelSource&) = default;
};

// TrainingJob name -> its status.model object ({uri, digest, format, profileUri, metrics}), for the
// TrainingJobs the ModelDeployment names that have one.
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
// Parses the kiln.dev/canary-model annotation value. invalid-input when it is not a JSON object
// with a pvc:// or file:// "uri".
Result<ModelSource> parse_canary_annotation(std::string_view value);
// The annotation value for `model` (compact JSON, keys uri, format, version, profileUri when set).
std::string canary_annotation_value(const ModelSource& model);

// A volume and its mount for one pvc:// URI.
struct PvcMount {
  std::string claim;
  std::string volume_name;  // The claim name, as a DNS label.
  std::string mount_path;   // /mnt/kiln/<claim>
};

// The path of the file inside the pod, and the PVC mount it needs (none for file://).
struct FileInPod {
  std::string path;
  std::optional<PvcMount> mount;
};
// invalid-input when the uri is neither pvc://<claim>/<path> (with a path: a file) nor
// file://<path>.
Result<FileInPod> file_in_pod(std::string_view uri);

}  // namespace kiln::controllers::modeldeployment
