#pragma once

// Names and labels of a TrainingJob's children: the Indexed Job (one per gang attempt) and the
// headless Service that gives its pods stable hostnames `<job>-<index>.<service>`.

#include <nlohmann/json.hpp>
#include <string>

namespace kiln::controllers::trainingjob {

inline constexpr const char* kLabel = "kiln.dev/trainingjob";
// Label the Job controller puts on its pods (Kubernetes >= 1.27).
inline constexpr const char* kJobNameLabel = "batch.kubernetes.io/job-name";
inline constexpr const char* kCompletionIndexAnnotation =
    "batch.kubernetes.io/job-completion-index";
inline constexpr const char* kCompletionIndexLabel = "batch.kubernetes.io/job-completion-index";

// The Job of gang attempt `restarts` (status.restarts): `<tj>` first, then `<tj>-r<N>`, so a
// restarted gang never waits for the old Job's deletion. Short enough that pod hostnames
// `<job>-<index>` stay DNS labels (the name leaves room for 4-digit indices).
std::string job_name(const std::string& trainingjob, long long restarts);

// The headless Service: `<tj>-workers` (hashed when long).
std::string service_name(const std::string& trainingjob);

// `<job>-<index>.<service>`: a worker's hostname inside the namespace.
std::string worker_host(const std::string& job, int index, const std::string& service);

// {kiln.dev/trainingjob: <tj>}.
nlohmann::json labels(const std::string& trainingjob);

}  // namespace kiln::controllers::trainingjob
