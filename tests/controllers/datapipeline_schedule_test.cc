// DataPipeline schedules (cron, concurrency policies), history limits and TTL clean-up.

#include <gtest/gtest.h>

#include "controllers/datapipeline/schedule.h"
#include "datapipeline_world.h"

namespace kiln::controllers::datapipeline {
namespace {

using nlohmann::json;
using testing::make_pipeline;
using testing::make_step;
using testing::World;
using namespace std::chrono_literals;

TimePoint at(const char* text) { return *parse_time(text); }

TEST(Cron, MatchesTheMinutesItNames) {
  struct Case {
    const char* schedule;
    const char* time;
    bool want;
  };
  const Case cases[] = {
      {"*/15 * * * *", "2024-03-01T10:45:00Z", true},
      {"*/15 * * * *", "2024-03-01T10:46:00Z", false},
      {"0 9-17 * * 1-5", "2024-03-01T12:00:00Z", true},   // A Friday.
      {"0 9-17 * * 1-5", "2024-03-02T12:00:00Z", false},  // A Saturday.
      {"30 2 1,15 * *", "2024-03-15T02:30:00Z", true},
      {"0 0 1 * 0", "2024-03-03T00:00:00Z", true},  // Either day field matches (a Sunday).
      {"0 0 * * 7", "2024-03-03T00:00:00Z", true},  // 7 is Sunday too.
      {"@daily", "2024-03-03T00:00:00Z", true},
      {"@hourly", "2024-03-03T05:01:00Z", false},
  };
  for (const Case& c : cases) {
    auto cron = parse_cron(c.schedule);
    ASSERT_TRUE(cron.ok()) << c.schedule;
    EXPECT_EQ(cron->matches(at(c.time)), c.want) << c.schedule << " at " << c.time;
  }
}

TEST(Cron, RejectsMalformedSchedules) {
  for (const char* bad : {"* * * *", "61 * * * *", "* 24 * * *", "*/0 * * * *", "a * * * *"}) {
    EXPECT_FALSE(parse_cron(bad).ok()) << bad;
  }
}

TEST(Cron, FindsTheLatestAndNextTicks) {
  auto cron = parse_cron("*/15 * * * *");
  ASSERT_TRUE(cron.ok());
  EXPECT_EQ(latest_tick(*cron, at("2024-03-01T10:00:00Z"), at("2024-03-01T10:47:10Z")),
            at("2024-03-01T10:45:00Z"));
  EXPECT_EQ(latest_tick(*cron, at("2024-03-01T10:45:00Z"), at("2024-03-01T10:47:10Z")),
            std::nullopt);
  EXPECT_EQ(next_tick(*cron, at("2024-03-01T10:47:10Z")), at("2024-03-01T11:00:00Z"));
}

World scheduled(const std::string& policy) {
  World w{make_pipeline(json::array({make_step("a")}),
                        {{"schedule", "*/10 * * * *"}, {"concurrencyPolicy", policy}})};
  w.pipeline["metadata"]["creationTimestamp"] = "2023-11-14T22:00:00Z";
  w.now = at("2023-11-14T22:05:00Z");
  return w;
}

TEST(Schedule, StartsARunOnEachTickOnly) {
  World w = scheduled("Allow");
  const Plan& idle = w.step();
  EXPECT_TRUE(w.pipeline["status"]["runs"].empty());  // No run on creation when scheduled.
  EXPECT_EQ(idle.requeue_after, 301s);
  w.now = at("2023-11-14T22:10:30Z");
  w.step();
  ASSERT_EQ(w.pipeline["status"]["runs"].size(), 1u);
  EXPECT_EQ(w.pipeline["status"]["lastScheduleTime"], "2023-11-14T22:10:00Z");
  w.step();
  EXPECT_EQ(w.pipeline["status"]["runs"].size(), 1u);  // Same tick, same run.
}

TEST(Schedule, ConcurrencyPolicyDecidesAboutTheActiveRun) {
  struct Case {
    const char* policy;
    std::size_t runs;
    const char* older_phase;
  };
  const Case cases[] = {
      {"Allow", 2, "Running"}, {"Forbid", 1, "Running"}, {"Replace", 2, "Failed"}};
  for (const Case& c : cases) {
    World w = scheduled(c.policy);
    w.now = at("2023-11-14T22:10:30Z");
    w.step();
    const std::string first_job = w.job("a");
    w.now = at("2023-11-14T22:20:30Z");  // Next tick, the first run still going.
    const Plan& plan = w.step();
    ASSERT_EQ(w.pipeline["status"]["runs"].size(), c.runs) << c.policy;
    EXPECT_EQ(w.run(c.runs - 1)["phase"], c.older_phase) << c.policy;
    const bool deleted = !plan.remove.empty() && plan.remove[0].name == first_job;
    EXPECT_EQ(deleted, std::string(c.policy) == "Replace") << c.policy;
  }
}

TEST(Schedule, ForbiddenTickRunsOnceTheActiveRunEnds) {
  World w = scheduled("Forbid");
  w.now = at("2023-11-14T22:10:30Z");
  w.step();
  w.now = at("2023-11-14T22:20:30Z");
  w.step();
  w.complete(w.job("a"));
  w.step();  // Finishes the first run...
  w.step();  // ...and the next plan starts the tick that stayed due.
  ASSERT_EQ(w.pipeline["status"]["runs"].size(), 2u);
  EXPECT_EQ(w.pipeline["status"]["lastScheduleTime"], "2023-11-14T22:20:00Z");
  EXPECT_EQ(w.run(1)["phase"], "Succeeded");
}

TEST(Schedule, SuspendStopsNewRuns) {
  World w = scheduled("Allow");
  w.pipeline["spec"]["suspend"] = true;
  w.now = at("2023-11-14T23:00:30Z");
  w.step();
  EXPECT_TRUE(w.pipeline["status"]["runs"].empty());
}

TEST(History, KeepsTheLimitsAndDeletesDroppedRunsJobs) {
  World w{make_pipeline(json::array({make_step("a")}), {{"successfulRunsHistoryLimit", 1}})};
  std::vector<std::string> jobs;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) w.pipeline["metadata"]["annotations"]["kiln.dev/run"] = std::to_string(i);
    w.step();
    jobs.push_back(w.job("a"));
    w.complete(jobs.back());
    w.step();
    w.now += 1min;
  }
  // Only the newest run is kept; the Jobs of the dropped runs are deleted.
  ASSERT_EQ(w.pipeline["status"]["runs"].size(), 1u);
  std::vector<std::string> left;
  for (const json& j : w.observed.jobs) left.push_back(j["metadata"]["name"]);
  EXPECT_EQ(left, std::vector<std::string>{jobs.back()});
}

TEST(History, TtlDeletesAFinishedRunsJobsButKeepsItsStatus) {
  World w{make_pipeline(json::array({make_step("a")}), {{"ttlSecondsAfterFinished", 60}})};
  w.step();
  w.complete(w.job("a"));
  const Plan& finished = w.step();
  EXPECT_EQ(finished.requeue_after, 60s);
  EXPECT_EQ(w.observed.jobs.size(), 1u);
  w.now += 61s;
  const Plan& expired = w.step();
  ASSERT_EQ(expired.remove.size(), 1u);
  EXPECT_EQ(expired.remove[0].kind, "Job");
  EXPECT_EQ(w.run()["phase"], "Succeeded");
}

}  // namespace
}  // namespace kiln::controllers::datapipeline
