#pragma once

// Small helpers shared by the ModelDeployment and DriftMonitor plans: wall-clock times in RFC 3339,
// Go-style durations, child names and metadata lookups. Names, times and durations delegate to
// controllers/common, which also holds the conditions (conditions.h) and owner references
// (names.h) every kind uses.
//
// Every function is pure and thread-safe.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "controllers/common/conditions.h"
#include "controllers/common/names.h"
#include "controllers/common/plan.h"

namespace kiln::controllers::support {

using json = nlohmann::json;
// Wall-clock time: what status timestamps (metav1.Time, RFC 3339) record.
using TimePoint = std::chrono::system_clock::time_point;

inline constexpr std::string_view kGroupVersion = "kiln.dev/v1alpha1";

// The plan's parts are the shape every controller shares (controllers/common/plan.h).
using Event = controllers::Event;
using ObjectRef = controllers::ObjectRef;
using MetadataPatch = controllers::MetadataPatch;
using Plan = controllers::Plan;

// RFC 3339 in UTC with second precision ("2026-11-21T16:20:00Z"), as metav1.Time serializes.
std::string format_time(TimePoint t);
// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)". invalid-input otherwise.
Result<TimePoint> parse_time(std::string_view text);

// A Go/Kubernetes duration as the CRDs accept it: one or more "<number><unit>" with unit in
// ms, s, m, h ("30s", "1h30m", "1.5h"). invalid-input for anything else.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

// A child name "<parent>-<suffix>" that is a valid DNS label (<= 63 characters): when too long,
// the parent part is truncated and "-<5 hex of a hash of the full name>" appended before the
// suffix, so distinct long names stay distinct. An empty suffix gives "<parent>" (truncated the
// same way when longer than 63).
std::string child_name(std::string_view parent, std::string_view suffix);
// 8 hex characters of FNV-1a 64 of `text`: a stable short digest for names and annotations.
std::string short_hash(std::string_view text);

// metadata.name / namespace / generation of an object ("" / 0 when absent).
std::string name_of(const json& object);
std::string namespace_of(const json& object);
int64_t generation_of(const json& object);
// metadata.annotations[key] when it is a string.
std::optional<std::string> annotation(const json& object, std::string_view key);

// j[key] as T when present with the right JSON type, else `fallback`.
template <class T>
T value_or(const json& j, std::string_view key, T fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if constexpr (std::is_same_v<T, bool>) {
    return it->is_boolean() ? it->template get<bool>() : fallback;
  } else if constexpr (std::is_arithmetic_v<T>) {
    return it->is_number() ? it->template get<T>() : fallback;
  } else {
    return it->is_string() ? it->template get<T>() : fallback;
  }
}

}  // namespace kiln::controllers::support
