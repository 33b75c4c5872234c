#pragma once

// The desired children of a TrainingJob: an Indexed Job (completions = parallelism = replicas)
// running the workers, and a headless Service giving them hostnames `<job>-<index>.<service>`.
// Pure builders returning complete objects for server-side apply. Thread-safe.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/result.h"
#include "controllers/api/v1alpha1.h"
#include "controllers/common/storage.h"

namespace kiln::controllers::trainingjob {

namespace api = kiln::api::v1alpha1;

struct BuildOptions {
  std::string runtime_image = "kiln/runtime:dev";  // kiln-manager's --runtime-image.
  std::string image_pull_policy = "IfNotPresent";
  StorageDefaults storage;  // The storage containers' image and defaults (storage.h).
};

// Remote outputs and data (s3://, gs://). With output.modelUri remote, every trainer writes to
// the emptyDir kiln-output at /mnt/kiln-output ($KILN_OUTPUT_DIR in every container; the
// built-in trainer's --output), the pod's containers run as init containers in their order, and
// the one container is "storage-uploader": on worker 0 it uploads every file of the directory
// under output.modelUri (kiln-storage upload), and its termination message lists their URIs and
// digests (status.model reads it with the trainer's summary). A remote spec.builtin.xgboost.data
// is fetched first by the init container "storage-initializer" into /mnt/kiln-data/<file>.
inline constexpr const char* kOutputDir = "/mnt/kiln-output";
inline constexpr const char* kDataDir = "/mnt/kiln-data";
inline constexpr const char* kUploader = "storage-uploader";

// spec.runPolicy, or the schema's defaults (backoffLimit 3, gangRestart, cleanPodPolicy Running,
// restartPolicy OnFailure, no deadline, no TTL) when it is absent. The reference lives as long as
// `spec`.
const api::RunPolicy& run_policy_of(const api::TrainingJobSpec& spec);

// The Indexed Job of gang attempt `restarts` for the TrainingJob `tj` (its metadata names and
// owns the Job) with `spec` (tj.spec, decoded: api::parse_training_job_spec). The pod template
// is spec.template's, or for spec.builtin.xgboost a `kiln-runtime train` container (see
// builtin_trainer). Every container gets the framework environment (env.h); the pods get
// subdomain = the headless Service and restartPolicy Never (retries are the Job's or the gang's).
// runPolicy mapping: backoffLimit -> the Job's backoffLimit (0 with gangRestart: the controller
// recreates the whole gang instead), activeDeadlineSeconds -> the Job's (or `deadline_seconds`
// when given: what is left of the TrainingJob's deadline for this attempt),
// ttlSecondsAfterFinished -> the Job's, restartPolicy ExitCode -> podFailurePolicy {Ignore on
// DisruptionTarget; FailJob on exit codes 1-127; other codes (signals, > 128) count against the
// backoff limit}.
// Errors (invalid-input): a data or model URI that does not parse (uri.h), or an http(s) output.
Result<nlohmann::json> desired_job(const nlohmann::json& tj, const api::TrainingJobSpec& spec,
                                   long long restarts, const BuildOptions& options,
                                   std::optional<long long> deadline_seconds = std::nullopt);

// The built-in XGBoost trainer container for `x` writing to `output`: `kiln-runtime train` with
// the flags of src/cmd/runtime_train_command.cc (--data, --label, --objective, --rounds,
// --test-fraction, --param k=v in key order, --feature NAME for each of x.features in order,
// --output) and --termination-log /dev/termination-log, so its one-line JSON summary becomes the
// termination message without a shell in the image; terminationMessagePolicy
// FallbackToLogsOnError shows the log tail when the trainer dies without writing it. The image
// is x.image, else options.runtime_image. Also returns the pod volumes it needs in "volumes"
// (data claim read-only, output claim read-write; one volume when they share a claim):
// {"container": ..., "volumes": [...]}, and "initContainers" with the storage-initializer when
// x.data is remote (with `storage`, the TrainingJob's spec.storage). A remote output makes
// --output /mnt/kiln-output (desired_job adds the uploader).
// Errors (invalid-input): x.data or output.modelUri that does not parse (uri.h).
Result<nlohmann::json> builtin_trainer(
    const api::XGBoostTrainer& x, const api::TrainingOutput& output, const BuildOptions& options,
    const kiln::api::v1alpha1::StorageConfig* storage = nullptr);

// The headless Service (clusterIP None, publishNotReadyAddresses so rendezvous works before
// readiness) selecting the pods of Job `job`.
nlohmann::json desired_service(const nlohmann::json& tj, const std::string& job);

}  // namespace kiln::controllers::trainingjob
