#include "controllers/common/conditions.h"

namespace kiln::controllers {

using nlohmann::json;

bool set_condition(json& status, std::string_view type, ConditionStatus value,
                   std::string_view reason, std::string_view message, int64_t generation,
                   TimePoint now) {
  if (!status.is_object()) status = json::object();
  json& list = status["conditions"];
  if (!list.is_array()) list = json::array();
  const std::string text(api::v1alpha1::to_string(value));
  json next = {{"type", type},
               {"status", text},
               {"observedGeneration", generation},
               {"lastTransitionTime", format_time(now)},
               {"reason", reason},
               {"message", message}};
  for (json& c : list) {
    if (!c.is_object() || c.value("type", "") != type) continue;
    const bool changed = c.value("status", "") != text;
    if (!changed && c.contains("lastTransitionTime")) {
      next["lastTransitionTime"] = c["lastTransitionTime"];
    }
    c = std::move(next);
    return changed;
  }
  list.push_back(std::move(next));
  return true;
}

const json* find_condition(const json& status, std::string_view type) {
  if (!status.is_object() || !status.contains("conditions") || !status["conditions"].is_array()) {
    return nullptr;
  }
  for (const json& c : status["conditions"]) {
    if (c.is_object() && c.value("type", "") == type) return &c;
  }
  return nullptr;
}

std::string condition_status(const json& status, std::string_view type) {
  const json* c = find_condition(status, type);
  return c != nullptr ? c->value("status", "") : "";
}

bool condition_true(const json& status, std::string_view type) {
  return condition_status(status, type) == "True";
}

}  // namespace kiln::controllers
