#pragma once

// Wall-clock time as the Kubernetes API writes it (RFC 3339, UTC, whole seconds) and Go-style
// durations ("1h30m", "500ms"). Controllers get `now` injected; nothing here reads a clock.
// Pure functions; thread-safe.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace kiln::controllers {

using TimePoint = std::chrono::system_clock::time_point;
using Seconds = std::chrono::seconds;

// "2024-05-01T12:00:00Z" (sub-seconds dropped).
std::string format_time(TimePoint t);

// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)". std::nullopt when malformed.
std::optional<TimePoint> parse_time(std::string_view text);

// Parses a sequence of <number><unit> with units ms, s, m, h (e.g. "1h30m", "1.5s"), the pattern
// of the CRDs' duration fields. std::nullopt when malformed or empty.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace kiln::controllers
