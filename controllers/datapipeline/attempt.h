#pragma once

// One attempt of a step: what its Job and pod say, the retry decision and the backoff delay.
// Pure; thread-safe.

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controllers/api/v1alpha1.h"

namespace kiln::controllers::datapipeline {

namespace api = kiln::api::v1alpha1;

struct AttemptOutcome {
  enum class Kind {
    kRunning,    // Still going (or not observed yet).
    kSucceeded,  // The Job completed.
    kFailed,     // The container ran and exited non-zero (retryPolicy OnFailure).
    kError,      // The pod could not run: deadline, image or config errors, eviction (OnError).
  } kind = Kind::kRunning;
  std::string message;
  bool stuck = false;  // An Error seen on a pod while the Job still runs: delete the Job.
  std::map<std::string, std::string> outputs;  // From the termination message, on success.
};

// Reads the attempt from its Job (may be null: not in the cache yet) and the pods of that Job.
// A pod stuck on ErrImagePull, ImagePullBackOff, InvalidImageName, CreateContainerConfigError or
// CreateContainerError is an Error even though the Job still runs (the plan deletes the Job).
// Outputs: the first terminated container's message parsed as a JSON object; non-string values
// are written as JSON text; a message that is not an object gives no outputs.
AttemptOutcome read_attempt(const nlohmann::json* job, const std::vector<nlohmann::json>& pods);

// The termination message of the first terminated container of `pods`, or "".
std::string termination_message(const std::vector<nlohmann::json>& pods);

// Whether a failure of `kind` is retried under `strategy` (retryPolicy OnFailure: kFailed,
// OnError: kError, Always: both) after `attempts` attempts, strategy.limit retries being allowed.
bool should_retry(AttemptOutcome::Kind kind, const api::PipelineStepRetryStrategy& strategy,
                  int attempts);

// The delay before attempt `attempts + 1`: duration * factor^(attempts - 1), capped at
// maxDuration (retryStrategy.backoff, whose defaults are the schema's), whole seconds rounded up.
// A duration that does not parse (the API server checks the schema's pattern, which is
// parse_duration's grammar) counts as the schema's default.
std::chrono::seconds backoff_delay(const api::PipelineStepRetryStrategyBackoff& backoff,
                                   int attempts);

}  // namespace kiln::controllers::datapipeline
