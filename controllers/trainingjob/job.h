#pragma once

// The desired children of a TrainingJob: an Indexed Job (completions = parallelism = replicas)
// running the workers, and a headless Service giving them hostnames `<job>-<index>.<service>`.
// Pure builders returning complete objects for server-side apply. Thread-safe.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/result.h"
#include "controllers/api/v1alpha1.h"

namespace kiln::controllers::trainingjob {

namespace api = kiln::api::v1alpha1;

struct BuildOptions {
  std::string runtime_image = "kiln/runtime:dev";  // kiln-manager's --runtime-image.
  std::string image_pull_policy = "IfNotPresent";
};

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
// Errors (invalid-input): a data or model URI that is neither pvc:// nor file://.
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
// {"container": ..., "volumes": [...]}.
// Errors (invalid-input): x.data or output.modelUri neither pvc:// nor file://.
Result<nlohmann::json> builtin_trainer(const api::XGBoostTrainer& x,
                                       const api::TrainingOutput& output,
                                       const BuildOptions& options);

// The headless Service (clusterIP None, publishNotReadyAddresses so rendezvous works before
// readiness) selecting the pods of Job `job`.
nlohmann::json desired_service(const nlohmann::json& tj, const std::string& job);

}  // namespace kiln::controllers::trainingjob
