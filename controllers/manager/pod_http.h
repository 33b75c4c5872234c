#pragma once

// What the manager asks of the pods Kiln runs, over plain HTTP to the pod IP (no Service hop, so
// every replica is read): the router's Prometheus metrics and the serving pods' profiles.
//
// Pods are taken from the informer cache; only Running pods with a podIP and a Ready condition
// are asked. A pod that does not answer within the timeout, or answers non-2xx, is skipped and
// counted in the result's `failures` (one slow replica does not stall a reconcile for long).
//
// Thread-safety: the functions are reentrant; each call makes its own connections.

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace kiln::controllers::manager {

// GET http://<host>:<port><path>. The body on a 2xx answer; retryable errors for connection
// failures, timeouts and non-2xx answers (the message names the URL and the status).
Result<std::string> http_get(const std::string& host, int port, const std::string& path,
                             std::chrono::milliseconds timeout);

// The IPs of the Ready, Running pods among `pods` (Pod objects).
std::vector<std::string> ready_pod_ips(const std::vector<nlohmann::json>& pods);

// GET `path` on port `port` of every pod in `pod_ips`.
struct PodAnswers {
  std::vector<std::string> bodies;
  std::vector<std::string> failures;  // One message per pod that did not answer.
};
PodAnswers get_from_pods(const std::vector<std::string>& pod_ips, int port, const std::string& path,
                         std::chrono::milliseconds timeout);

}  // namespace kiln::controllers::manager
