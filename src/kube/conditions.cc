#include "kube/conditions.h"

#include <ctime>

namespace kiln::kube {

bool set_condition(nlohmann::json& conditions, const Condition& c, const std::string& now) {
  if (!conditions.is_array()) conditions = nlohmann::json::array();
  for (auto& existing : conditions) {
    if (existing.value("type", "") != c.type) continue;
    bool changed = false;
    auto set = [&](const char* field, const nlohmann::json& value) {
      if (!existing.contains(field) || existing[field] != value) {
        existing[field] = value;
        changed = true;
      }
    };
    if (existing.value("status", "") != c.status) {
      existing["lastTransitionTime"] = now;  // Only a status change moves it.
    }
    set("status", c.status);
    set("reason", c.reason);
    set("message", c.message);
    set("observedGeneration", c.observed_generation);
    return changed;
  }
  conditions.push_back({{"type", c.type},
                        {"status", c.status},
                        {"reason", c.reason},
                        {"message", c.message},
                        {"observedGeneration", c.observed_generation},
                        {"lastTransitionTime", now}});
  return true;
}

std::optional<nlohmann::json> find_condition(const nlohmann::json& conditions,
                                             const std::string& type) {
  if (!conditions.is_array()) return std::nullopt;
  for (const auto& c : conditions) {
    if (c.value("type", "") == type) return c;
  }
  return std::nullopt;
}

bool is_condition_true(const nlohmann::json& conditions, const std::string& type) {
  auto c = find_condition(conditions, type);
  return c && c->value("status", "") == "True";
}

bool remove_condition(nlohmann::json& conditions, const std::string& type) {
  if (!conditions.is_array()) return false;
  for (auto it = conditions.begin(); it != conditions.end(); ++it) {
    if (it->value("type", "") == type) {
      conditions.erase(it);
      return true;
    }
  }
  return false;
}

namespace {
std::string format(std::chrono::system_clock::time_point t, bool micro) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (micro) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
    out += frac;
  }
  return out + "Z";
}
}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point t) { return format(t, false); }
std::string rfc3339_micro(std::chrono::system_clock::time_point t) { return format(t, true); }

}  // namespace kiln::kube
