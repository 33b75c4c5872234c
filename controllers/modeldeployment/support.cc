#include "controllers/modeldeployment/support.h"

#include <cstdio>

#include "controllers/common/names.h"
#include "controllers/common/time.h"

namespace kiln::controllers::support {

std::string format_time(TimePoint t) { return controllers::format_time(t); }

Result<TimePoint> parse_time(std::string_view text) {
  auto t = controllers::parse_time(text);
  if (!t) return Error::invalid_input("not an RFC 3339 time: '" + std::string(text) + "'");
  return *t;
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto d = controllers::parse_duration(text);
  if (!d) return Error::invalid_input("bad duration '" + std::string(text) + "'");
  return *d;
}

std::chrono::milliseconds duration_or(const json& j, std::string_view key,
                                      std::chrono::milliseconds fallback) {
  const auto text = value_or<std::string>(j, key, "");
  if (text.empty()) return fallback;
  auto parsed = parse_duration(text);
  return parsed.ok() ? *parsed : fallback;
}

const json* find_condition(const json& status, std::string_view type) {
  if (!status.is_object() || !status.contains("conditions")) return nullptr;
  for (const auto& c : status["conditions"]) {
    if (c.is_object() && c.value("type", "") == type) return &c;
  }
  return nullptr;
}

std::string condition_status(const json& status, std::string_view type) {
  const json* c = find_condition(status, type);
  return c ? c->value("status", "") : "";
}

bool set_condition(json& status, std::string_view type, std::string_view condition_status,
                   std::string_view reason, std::string_view message, int64_t generation,
                   TimePoint now) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) {
    status["conditions"] = json::array();
  }
  for (auto& c : status["conditions"]) {
    if (c.value("type", "") != type) continue;
    const bool changed = c.value("status", "") != condition_status;
    if (changed || !c.contains("lastTransitionTime")) c["lastTransitionTime"] = format_time(now);
    c["status"] = condition_status;
    c["reason"] = reason;
    c["message"] = message;
    c["observedGeneration"] = generation;
    return changed;
  }
  status["conditions"].push_back({{"type", type},
                                  {"status", condition_status},
                                  {"observedGeneration", generation},
                                  {"lastTransitionTime", format_time(now)},
                                  {"reason", reason},
                                  {"message", message}});
  return true;
}

std::string short_hash(std::string_view text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(h));
  return std::string(buffer, 8);
}

std::string child_name(std::string_view parent, std::string_view suffix) {
  return controllers::child_name(parent, suffix);
}

json owner_references(const json& parent) {
  return json::array(
      {{{"apiVersion", parent.value("apiVersion", std::string(kGroupVersion))},
        {"kind", parent.value("kind", "")},
        {"name", name_of(parent)},
        {"uid", parent.contains("metadata") ? parent["metadata"].value("uid", "") : std::string()},
        {"controller", true},
        {"blockOwnerDeletion", true}}});
}

std::string name_of(const json& object) {
  return object.contains("metadata") ? object["metadata"].value("name", "") : "";
}
std::string namespace_of(const json& object) {
  return object.contains("metadata") ? object["metadata"].value("namespace", "") : "";
}
int64_t generation_of(const json& object) {
  return object.contains("metadata") ? value_or<int64_t>(object["metadata"], "generation", 0) : 0;
}

std::optional<std::string> annotation(const json& object, std::string_view key) {
  if (!object.contains("metadata")) return std::nullopt;
  const auto& meta = object["metadata"];
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) return std::nullopt;
  auto it = meta["annotations"].find(key);
  if (it == meta["annotations"].end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace kiln::controllers::support
