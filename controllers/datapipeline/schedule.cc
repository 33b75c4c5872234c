#include "controllers/datapipeline/schedule.h"

#include <ctime>
#include <sstream>
#include <vector>

namespace kiln::controllers::datapipeline {

namespace {

using std::chrono::minutes;

// Sets bits [lo, hi] of one field's text ("*", "*/5", "1-5", "1,2,10-20/2").
template <std::size_t N>
Result<bool> parse_field(const std::string& text, int lo, int hi, std::bitset<N>& out) {
  std::stringstream parts(text);
  std::string part;
  while (std::getline(parts, part, ',')) {
    int step = 1;
    if (const auto slash = part.find('/'); slash != std::string::npos) {
      step = std::atoi(part.c_str() + slash + 1);
      if (step <= 0) return Error::invalid_input("bad step in \"" + text + "\"");
      part = part.substr(0, slash);
    }
    int a = lo, b = hi;
    if (part != "*") {
      const auto dash = part.find('-');
      char* end = nullptr;
      a = static_cast<int>(std::strtol(part.c_str(), &end, 10));
      if (end == part.c_str()) return Error::invalid_input("bad value in \"" + text + "\"");
      b = dash == std::string::npos ? a : std::atoi(part.c_str() + dash + 1);
      if (dash == std::string::npos && step > 1) b = hi;
    }
    if (a < lo || b > hi || a > b) return Error::invalid_input("out of range: \"" + text + "\"");
    for (int v = a; v <= b; v += step) out.set(static_cast<std::size_t>(v));
  }
  return true;
}

std::string expand_macro(const std::string& text) {
  if (text == "@yearly" || text == "@annually") return "0 0 1 1 *";
  if (text == "@monthly") return "0 0 1 * *";
  if (text == "@weekly") return "0 0 * * 0";
  if (text == "@daily" || text == "@midnight") return "0 0 * * *";
  if (text == "@hourly") return "0 * * * *";
  return text;
}

TimePoint floor_minute(TimePoint t) { return std::chrono::floor<minutes>(t); }

}  // namespace

bool Cron::matches(TimePoint t) const {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  if (!minutes.test(tm.tm_min) || !hours.test(tm.tm_hour) || !months.test(tm.tm_mon + 1)) {
    return false;
  }
  const bool day = days.test(tm.tm_mday);
  const bool weekday = weekdays.test(tm.tm_wday);
  if (any_day || any_weekday) return day && weekday;
  return day || weekday;
}

Result<Cron> parse_cron(const std::string& text) {
  std::stringstream in(expand_macro(text));
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.size() != 5) return Error::invalid_input("schedule \"" + text + "\": want 5 fields");
  Cron cron;
  std::bitset<8> weekdays;
  auto ok = parse_field(fields[0], 0, 59, cron.minutes);
  if (ok) ok = parse_field(fields[1], 0, 23, cron.hours);
  if (ok) ok = parse_field(fields[2], 1, 31, cron.days);
  if (ok) ok = parse_field(fields[3], 1, 12, cron.months);
  if (ok) ok = parse_field(fields[4], 0, 7, weekdays);
  if (!ok) return ok.error().with_context("schedule \"" + text + "\"");
  for (std::size_t d = 0; d < 7; ++d) cron.weekdays[d] = weekdays[d] || (d == 0 && weekdays[7]);
  cron.any_day = fields[2] == "*" || fields[2] == "?";
  cron.any_weekday = fields[4] == "*" || fields[4] == "?";
  return cron;
}

std::optional<TimePoint> latest_tick(const Cron& cron, TimePoint after, TimePoint now) {
  const TimePoint floor = std::max(after, now - std::chrono::hours(24 * 7));
  for (TimePoint t = floor_minute(now); t > floor; t -= minutes(1)) {
    if (cron.matches(t)) return t;
  }
  return std::nullopt;
}

std::optional<TimePoint> next_tick(const Cron& cron, TimePoint t) {
  const TimePoint end = t + std::chrono::hours(24 * 366);
  for (TimePoint m = floor_minute(t) + minutes(1); m <= end; m += minutes(1)) {
    if (cron.matches(m)) return m;
  }
  return std::nullopt;
}

}  // namespace kiln::controllers::datapipeline
