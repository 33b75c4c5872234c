#pragma once

// One attempt of a step: what its Job and pod say, the retry decision and the backoff delay.
// Pure; thread-safe.

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::controllers::datapipeline {

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

// Whether a failure of `kind` is retried under `retry_policy` (OnFailure | OnError | Always),
// after `attempts` attempts with `limit` retries allowed (retryStrategy.limit).
bool should_retry(AttemptOutcome::Kind kind, const std::string& retry_policy, int attempts,
                  int limit);

// The delay before attempt `attempts + 1`: duration * factor^(attempts - 1), capped at
// maxDuration (retryStrategy.backoff; defaults 10s, 2, 5m as in the CRD), whole seconds.
std::chrono::seconds backoff_delay(const nlohmann::json& retry_strategy, int attempts);

}  // namespace kiln::controllers::datapipeline
