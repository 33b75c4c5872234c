#include "controllers/modeldeployment/support.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace kiln::controllers::support {

void Plan::requeue_within(std::chrono::milliseconds after) {
  if (after < std::chrono::milliseconds(0)) after = std::chrono::milliseconds(0);
  if (!requeue_after || after < *requeue_after) requeue_after = after;
}

std::string format_time(TimePoint t) {
  const std::time_t seconds =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

Result<TimePoint> parse_time(std::string_view text) {
  const std::string s(text);
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return Error::invalid_input("not an RFC 3339 time: '" + s + "'");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  }
  long offset_seconds = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int hh = 0, mm = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &hh, &mm) != 2) {
      return Error::invalid_input("bad time zone offset in '" + s + "'");
    }
    offset_seconds = (s[i] == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
    i += 6;
  }
  if (i != s.size()) return Error::invalid_input("not an RFC 3339 time: '" + s + "'");
  const std::time_t utc = timegm(&tm) - offset_seconds;
  return std::chrono::system_clock::from_time_t(utc);
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return Error::invalid_input("empty duration");
  double total_ms = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (i == start) return Error::invalid_input("bad duration '" + std::string(text) + "'");
    const double number = std::strtod(std::string(text.substr(start, i - start)).c_str(), nullptr);
    double unit_ms = 0;
    if (text.substr(i, 2) == "ms") {
      unit_ms = 1, i += 2;
    } else if (i < text.size() && text[i] == 's') {
      unit_ms = 1000, ++i;
    } else if (i < text.size() && text[i] == 'm') {
      unit_ms = 60'000, ++i;
    } else if (i < text.size() && text[i] == 'h') {
      unit_ms = 3'600'000, ++i;
    } else {
      return Error::invalid_input("bad duration unit in '" + std::string(text) + "'");
    }
    total_ms += number * unit_ms;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms + 0.5));
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
  constexpr std::size_t kMax = 63;
  std::string full(parent);
  if (!suffix.empty()) full += "-" + std::string(suffix);
  if (full.size() <= kMax) return full;
  const std::string hash = short_hash(full).substr(0, 5);
  const std::size_t tail = suffix.empty() ? 0 : suffix.size() + 1;
  const std::size_t keep = kMax - tail - hash.size() - 1;
  std::string head(parent.substr(0, std::min(keep, parent.size())));
  while (!head.empty() && (head.back() == '-' || head.back() == '.')) head.pop_back();
  std::string name = head + "-" + hash;
  if (!suffix.empty()) name += "-" + std::string(suffix);
  return name;
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
