#pragma once

// metav1.Condition bookkeeping on a status object: {type, status, observedGeneration,
// lastTransitionTime, reason, message}. lastTransitionTime moves only when `status` changes
// (Kubernetes API conventions, "Typical status properties"; apimachinery's meta.SetStatusCondition).
// The one implementation every kind's plan and the executor use. Pure; thread-safe.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "controllers/api/v1alpha1.h"
#include "controllers/common/time.h"

namespace kiln::controllers {

using ConditionStatus = api::v1alpha1::ConditionStatus;

// Sets or adds the condition `type` in status["conditions"] (created when absent; `status` made an
// object when it is not). reason, message and observedGeneration always take the new values.
// Returns true when its status changed or it was added (a transition worth an Event).
bool set_condition(nlohmann::json& status, std::string_view type, ConditionStatus value,
                   std::string_view reason, std::string_view message, int64_t generation,
                   TimePoint now);
// The same with True / False.
inline bool set_condition(nlohmann::json& status, std::string_view type, bool value,
                          std::string_view reason, std::string_view message, int64_t generation,
                          TimePoint now) {
  return set_condition(status, type, value ? ConditionStatus::kTrue : ConditionStatus::kFalse,
                       reason, message, generation, now);
}
// A string would convert to `bool` (always true): name the status with ConditionStatus.
bool set_condition(nlohmann::json&, std::string_view, const char*, std::string_view,
                   std::string_view, int64_t, TimePoint) = delete;

// The condition `type` of status, or nullptr.
const nlohmann::json* find_condition(const nlohmann::json& status, std::string_view type);

// Its status ("True", "False", "Unknown"), or "" when absent.
std::string condition_status(const nlohmann::json& status, std::string_view type);

// True when the condition `type` exists with status "True".
bool condition_true(const nlohmann::json& status, std::string_view type);

}  // namespace kiln::controllers
