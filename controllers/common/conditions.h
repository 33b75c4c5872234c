#pragma once

// metav1.Condition bookkeeping on a status object: {type, status, observedGeneration,
// lastTransitionTime, reason, message}. lastTransitionTime moves only when `status` changes
// (Kubernetes API conventions, "Typical status properties"). Pure; thread-safe.

#include <nlohmann/json.hpp>
#include <string>

#include "controllers/common/time.h"

namespace kiln::controllers {

// Sets or adds the condition `type` in status["conditions"] (created when absent). Returns true
// when its status changed or it was added (a transition worth an Event).
bool set_condition(nlohmann::json& status, const std::string& type, bool value,
                   const std::string& reason, const std::string& message, long long generation,
                   TimePoint now);

// The condition `type` of status, or nullptr.
const nlohmann::json* find_condition(const nlohmann::json& status, const std::string& type);

// True when the condition `type` exists with status "True".
bool condition_true(const nlohmann::json& status, const std::string& type);

}  // namespace kiln::controllers
