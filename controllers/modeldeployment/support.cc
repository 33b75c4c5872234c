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
