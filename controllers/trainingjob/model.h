#pragma once

// status.model of a TrainingJob, from worker 0's termination message: the one-line summary of
// `kiln-runtime train` (src/runtime/trainer.h TrainResult::summary):
//   {"model": {"uri": "<path>", "format": "xgboost", "digest": "sha256:<hex>"}, "metrics": {...}}
// A user trainer may print the same shape to /dev/termination-log.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace kiln::controllers::trainingjob {

// status.model {uri, digest, format, metrics (numbers only), profileUri} from `message`, or
// std::nullopt when it is not such a summary. A uri that is a path under /mnt/kiln/<claim> is
// written back as pvc://<claim>/...; profileUri is `<output.modelUri>/profile.json`, where the
// trainer writes the baseline profile.
std::optional<nlohmann::json> model_from_summary(const std::string& message,
                                                 const std::string& output_uri);

// The termination message of the first terminated container of `pod` (status.containerStatuses[]
// .state.terminated.message), or "".
std::string termination_message(const nlohmann::json& pod);

// status.model of worker 0's pod: the trainer's summary (the first terminated container, init
// containers first, whose message is a summary), and with a remote output the storage-uploader's
// message {"uploaded": {"<file>": {"uri", "digest"}}}: uri and digest become the uploaded
// model's, profileUri the uploaded profile.json's (absent when the trainer wrote none). A remote
// output counts only once the upload succeeded (nullopt before). nullopt without a summary.
std::optional<nlohmann::json> model_from_pod(const nlohmann::json& pod,
                                             const std::string& output_uri);

}  // namespace kiln::controllers::trainingjob
