#include "controllers/common/conditions.h"

namespace kiln::controllers {

using nlohmann::json;

bool set_condition(json& status, const std::string& type, bool value, const std::string& reason,
                   const std::string& message, long long generation, TimePoint now) {
  if (!status.is_object()) status = json::object();
  json& list = status["conditions"];
  if (!list.is_array()) list = json::array();
  const std::string text = value ? "True" : "False";
  json next = {{"type", type},
               {"status", text},
               {"observedGeneration", generation},
               {"lastTransitionTime", format_time(now)},
               {"reason", reason},
               {"message", message}};
  for (json& c : list) {
    if (c.value("type", "") != type) continue;
    const bool changed = c.value("status", "") != text;
    if (!changed) next["lastTransitionTime"] = c.value("lastTransitionTime", format_time(now));
    c = std::move(next);
    return changed;
  }
  list.push_back(std::move(next));
  return true;
}

const json* find_condition(const json& status, const std::string& type) {
  if (!status.is_object() || !status.contains("conditions")) return nullptr;
  for (const json& c : status["conditions"]) {
    if (c.value("type", "") == type) return &c;
  }
  return nullptr;
}

bool condition_true(const json& status, const std::string& type) {
  const json* c = find_condition(status, type);
  return c != nullptr && c->value("status", "") == "True";
}

}  // namespace kiln::controllers
