#pragma once

// Cron schedules of DataPipelines, in UTC: five fields (minute hour day-of-month month
// day-of-week) with *, lists, ranges and steps (*/15, 1-5, 0,30), or @yearly @annually @monthly
// @weekly @daily @midnight @hourly — the syntax of Kubernetes CronJobs (robfig/cron standard
// parser). As in cron, when both day-of-month and day-of-week are restricted, a day matching
// either runs. Names (JAN, MON) are not supported. Pure; thread-safe.

#include <bitset>
#include <optional>
#include <string>

#include "common/result.h"
#include "controllers/common/time.h"

namespace kiln::controllers::datapipeline {

struct Cron {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     // 1-31.
  std::bitset<13> months;   // 1-12.
  std::bitset<7> weekdays;  // 0 = Sunday (7 is read as 0).
  bool any_day = true;      // Day-of-month field was *.
  bool any_weekday = true;  // Day-of-week field was *.

  bool matches(TimePoint t) const;  // `t`'s minute, in UTC.
};

// Errors (invalid-input): a wrong field count, an out-of-range value, a malformed field.
Result<Cron> parse_cron(const std::string& text);

// The latest minute t with after < t <= now that matches, or std::nullopt. Looks back at most
// 7 days from `now` (older missed ticks are not caught up, as CronJob's 100-miss guard).
std::optional<TimePoint> latest_tick(const Cron& cron, TimePoint after, TimePoint now);

// The first matching minute after `t` within a year, or std::nullopt.
std::optional<TimePoint> next_tick(const Cron& cron, TimePoint t);

}  // namespace kiln::controllers::datapipeline
