#pragma once

// status.conditions with metav1.Condition semantics
// (https://github.com/kubernetes/apimachinery/blob/master/pkg/api/meta/conditions.go):
// a list keyed by `type`; setting a condition updates status, reason, message and
// observedGeneration, and moves lastTransitionTime only when the status changes.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace kiln::kube {

struct Condition {
  std::string type;
  std::string status;  // "True", "False" or "Unknown".
  std::string reason;  // CamelCase, required by the API.
  std::string message{};
  int64_t observed_generation = 0;
};

// Sets `condition` in `conditions` (a JSON array, created when null). `now` is the RFC 3339 time
// used when the condition is new or its status changed. Returns true when anything changed.
bool set_condition(nlohmann::json& conditions, const Condition& condition, const std::string& now);

// The condition of that type, or nullopt.
std::optional<nlohmann::json> find_condition(const nlohmann::json& conditions,
                                             const std::string& type);
bool is_condition_true(const nlohmann::json& conditions, const std::string& type);

// Removes the condition of that type; true when there was one.
bool remove_condition(nlohmann::json& conditions, const std::string& type);

// Formats a UTC time as RFC 3339 with seconds ("2026-11-21T15:20:15Z"), metav1.Time's format.
std::string rfc3339(std::chrono::system_clock::time_point t);
// With microseconds ("2026-11-21T15:20:15.123456Z"), metav1.MicroTime's format.
std::string rfc3339_micro(std::chrono::system_clock::time_point t);

}  // namespace kiln::kube
