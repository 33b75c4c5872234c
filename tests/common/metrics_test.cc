#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace kiln::metrics {
namespace {

using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(Metrics, ExposesExactTextForASmallRegistry) {
  Registry registry;
  auto& requests =
      registry.counter("kiln_http_requests_total", "HTTP requests served.", {"method", "code"});
  requests.with({"POST", "500"}).inc();
  requests.with({"GET", "200"}).inc(2);
  registry.gauge("kiln_queue_depth", "Keys waiting in the work queue.").with({}).set(3.5);
  auto& latency = registry.histogram("kiln_reconcile_duration_seconds", "Reconcile latency.",
                                     {"controller"}, {0.125, 1});
  Histogram& training = latency.with({"training"});
  for (double seconds : {0.0625, 0.5, 2.0}) training.observe(seconds);
  registry.gauge("kiln_busy_workers", "Busy workers by pool.", {"pool"});

  EXPECT_EQ(registry.expose(),
            "# HELP kiln_http_requests_total HTTP requests served.\n"
            "# TYPE kiln_http_requests_total counter\n"
            "kiln_http_requests_total{method=\"GET\",code=\"200\"} 2\n"
            "kiln_http_requests_total{method=\"POST\",code=\"500\"} 1\n"
            "# HELP kiln_queue_depth Keys waiting in the work queue.\n"
            "# TYPE kiln_queue_depth gauge\n"
            "kiln_queue_depth 3.5\n"
            "# HELP kiln_reconcile_duration_seconds Reconcile latency.\n"
            "# TYPE kiln_reconcile_duration_seconds histogram\n"
            "kiln_reconcile_duration_seconds_count{controller=\"training\"} 3\n"
            "kiln_reconcile_duration_seconds_sum{controller=\"training\"} 2.5625\n"
            "kiln_reconcile_duration_seconds_bucket{controller=\"training\",le=\"0.125\"} 1\n"
            "kiln_reconcile_duration_seconds_bucket{controller=\"training\",le=\"1\"} 2\n"
            "kiln_reconcile_duration_seconds_bucket{controller=\"training\",le=\"+Inf\"} 3\n");
  // kiln_busy_workers has labels and no child yet: prometheus-cpp leaves it out.
}

TEST(Metrics, HistogramExposesCumulativeBucketsSumAndCount) {
  Registry registry;
  Histogram& h = registry.histogram("kiln_size_bytes", "Sizes.", {}, {10, 100}).with({});
  for (double bytes : {1.0, 10.0, 11.0, 100.0, 1000.0}) h.observe(bytes);  // Bounds are inclusive.
  EXPECT_EQ(registry.expose(),
            "# HELP kiln_size_bytes Sizes.\n"
            "# TYPE kiln_size_bytes histogram\n"
            "kiln_size_bytes_count 5\n"
            "kiln_size_bytes_sum 1122\n"
            "kiln_size_bytes_bucket{le=\"10\"} 2\n"
            "kiln_size_bytes_bucket{le=\"100\"} 4\n"
            "kiln_size_bytes_bucket{le=\"+Inf\"} 5\n");
}

TEST(Metrics, HistogramCountsNaNInTheInfBucket) {
  Registry registry;
  Histogram& h = registry.histogram("kiln_ratio", "Ratio.", {}, {1}).with({});
  h.observe(kNaN);
  const Histogram::Snapshot snapshot = h.snapshot();
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_TRUE(std::isnan(snapshot.sum));
}

TEST(Metrics, HistogramWithoutBucketsHasOnlyInf) {
  Registry registry;
  registry.histogram("kiln_wait_seconds", "Waits.", {}, {}).with({}).observe(4);
  EXPECT_THAT(registry.expose(), HasSubstr("kiln_wait_seconds_count 1\n"
                                           "kiln_wait_seconds_sum 4\n"
                                           "kiln_wait_seconds_bucket{le=\"+Inf\"} 1\n"));
}

TEST(Metrics, UnlabelledFamilyExposesZeroBeforeFirstUse) {
  Registry registry;
  registry.counter("kiln_restarts_total", "Restarts.");
  EXPECT_THAT(registry.expose(), HasSubstr("\nkiln_restarts_total 0\n"));
}

TEST(Metrics, EscapesLabelValuesAndHelpText) {
  Registry registry;
  registry.gauge("kiln_info", "Line one\nback\\slash \"quoted\"", {"path"})
      .with({"C:\\dir\n\"x\""})
      .set(1);
  EXPECT_EQ(registry.expose(),
            "# HELP kiln_info Line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE kiln_info gauge\n"
            "kiln_info{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(Metrics, ReplacesInvalidUtf8InLabelValues) {
  Registry registry;
  auto& family = registry.gauge("kiln_names", "Names.", {"name"});
  Gauge& repaired = family.with({"a\xff"});
  EXPECT_EQ(&family.with({"a\xfe"}), &repaired);  // Both become "a\uFFFD".
  EXPECT_EQ(&family.with({"a\uFFFD"}), &repaired);
  EXPECT_THAT(registry.expose(), HasSubstr("kiln_names{name=\"a\uFFFD\"} 0\n"));
}

// prometheus::TextSerializer writes 16 significant digits (so 0.1 + 0.2 reads 0.3, not the
// shortest round-trip 0.30000000000000004) and spells NaN "Nan", which parsers take either way.
TEST(Metrics, WritesNumbersWithSixteenSignificantDigits) {
  struct Case {
    double value;
    std::string text;
  };
  const std::vector<Case> cases = {
      {0, "0"},
      {3, "3"},
      {-0.5, "-0.5"},
      {0.1, "0.1"},
      {1.0 / 3, "0.3333333333333333"},
      {0.1 + 0.2, "0.3"},
      {123456789.25, "123456789.25"},
      {1e21, "1e+21"},
      {1e-7, "1e-07"},
      {kInf, "+Inf"},
      {-kInf, "-Inf"},
      {kNaN, "Nan"},
  };
  for (const Case& c : cases) {
    Registry registry;
    registry.gauge("kiln_value", "Value.").with({}).set(c.value);
    EXPECT_THAT(registry.expose(), HasSubstr("\nkiln_value " + c.text + "\n")) << c.value;
  }
}

TEST(Metrics, RemovedChildrenLeaveTheExposition) {
  Registry registry;
  auto& drifted = registry.gauge("kiln_test_drifted", "Drift.", {"monitor", "feature"});
  drifted.with({"a", "temp"}).set(1);
  drifted.with({"a", "dewp"}).set(0);
  drifted.with({"b", "temp"}).set(1);
  EXPECT_EQ(drifted.remove_if([](const auto& v) { return v[0] == "a"; }), 2u);
  const std::string text = registry.expose();
  EXPECT_EQ(text.find("monitor=\"a\""), std::string::npos) << text;
  EXPECT_NE(text.find("kiln_test_drifted{monitor=\"b\",feature=\"temp\"} 1"), std::string::npos)
      << text;
  EXPECT_EQ(drifted.remove_if([](const auto&) { return false; }), 0u);
  drifted.with({"a", "temp"}).set(2);  // A removed series comes back fresh when used again.
  EXPECT_NE(registry.expose().find("kiln_test_drifted{monitor=\"a\",feature=\"temp\"} 2"),
            std::string::npos);
}

TEST(Metrics, CounterAddsIncrements) {
  Registry registry;
  Counter& c = registry.counter("kiln_events_total", "Events.").with({});
  c.inc();
  c.inc(2.5);
  EXPECT_EQ(c.value(), 3.5);
}

TEST(MetricsDeathTest, CounterRejectsNegativeIncrements) {
  Registry registry;
  Counter& c = registry.counter("kiln_events_total", "Events.").with({});
  // Debug builds assert; release builds ignore the call. Either way the value is unchanged here.
  EXPECT_DEBUG_DEATH(c.inc(-1), "non-negative");
  EXPECT_DEBUG_DEATH(c.inc(kNaN), "non-negative");
  EXPECT_EQ(c.value(), 0);
}

TEST(Metrics, GaugeSetsIncrementsAndDecrements) {
  Registry registry;
  Gauge& g = registry.gauge("kiln_in_flight", "In flight.").with({});
  g.set(10);
  g.inc();
  g.inc(4);
  g.dec(2.5);
  g.dec();
  EXPECT_EQ(g.value(), 11.5);
}

TEST(Metrics, WithReturnsOneStableChildPerLabelValues) {
  Registry registry;
  auto& family = registry.counter("kiln_calls_total", "Calls.", {"verb", "code"});
  Counter& get_ok = family.with({"GET", "200"});
  for (int i = 0; i < 1000; ++i) family.with({"PUT", std::to_string(i)});  // Forces rehashing.
  EXPECT_EQ(&family.with({"GET", "200"}), &get_ok);
  EXPECT_NE(&family.with({"GET", "500"}), &get_ok);
  EXPECT_NE(&family.with({"200", "GET"}), &get_ok);
}

TEST(Metrics, WithRejectsTheWrongNumberOfLabelValues) {
  Registry registry;
  auto& labelled = registry.counter("kiln_calls_total", "Calls.", {"verb", "code"});
  auto& unlabelled = registry.gauge("kiln_up", "Up.");
  EXPECT_THROW(labelled.with({}), std::invalid_argument);
  EXPECT_THROW(labelled.with({"GET"}), std::invalid_argument);
  EXPECT_THROW(labelled.with({"GET", "200", "x"}), std::invalid_argument);
  EXPECT_THROW(unlabelled.with({"x"}), std::invalid_argument);
}

TEST(Metrics, ConcurrentUpdatesSumExactly) {
  Registry registry;
  auto& counters = registry.counter("kiln_ops_total", "Ops.", {"kind"});
  Histogram& histogram = registry.histogram("kiln_op_seconds", "Op latency.").with({});
  Gauge& gauge = registry.gauge("kiln_level", "Level.").with({});
  constexpr int kThreads = 4;
  constexpr int kIterations = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      Counter& held = counters.with({"held"});
      for (int i = 0; i < kIterations; ++i) {
        held.inc();
        counters.with({"looked_up"}).inc(0.5);
        histogram.observe(0.25);
        gauge.inc();
        gauge.dec(2);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(counters.with({"held"}).value(), kThreads * kIterations);
  EXPECT_EQ(counters.with({"looked_up"}).value(), kThreads * kIterations * 0.5);
  EXPECT_EQ(histogram.snapshot().cumulative_counts.back(), kThreads * kIterations);
  EXPECT_EQ(histogram.snapshot().sum, kThreads * kIterations * 0.25);
  EXPECT_EQ(gauge.value(), -kThreads * kIterations);
}

TEST(Metrics, AcceptsNamesWithColonsAndUnderscores) {
  Registry registry;
  EXPECT_NO_THROW(registry.gauge("kiln:queue_depth:avg5m", "Recorded.", {"_private", "a1"}));
  EXPECT_NO_THROW(registry.counter("_kiln_total", "Leading underscore."));
}

TEST(Metrics, RegistrationRejectsInvalidDefinitions) {
  struct Case {
    std::string description;
    std::function<void(Registry&)> register_metric;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"counter without _total", [](Registry& r) { r.counter("kiln_requests", "h"); }, "_total"},
      {"dash in name", [](Registry& r) { r.gauge("kiln-up", "h"); }, "invalid metric name"},
      {"leading digit", [](Registry& r) { r.gauge("1kiln", "h"); }, "invalid metric name"},
      {"empty name", [](Registry& r) { r.gauge("", "h"); }, "invalid metric name"},
      {"reserved name", [](Registry& r) { r.gauge("__kiln_up", "h"); }, "reserved"},
      {"bad label", [](Registry& r) { r.gauge("kiln_up", "h", {"a-b"}); }, "invalid label name"},
      {"colon label", [](Registry& r) { r.gauge("kiln_up", "h", {"a:b"}); }, "invalid label"},
      {"reserved label", [](Registry& r) { r.gauge("kiln_up", "h", {"__x"}); }, "reserved"},
      {"repeated label", [](Registry& r) { r.gauge("kiln_up", "h", {"a", "a"}); }, "repeated"},
      {"le on histogram", [](Registry& r) { r.histogram("kiln_s", "h", {"le"}); }, "\"le\""},
      {"equal buckets", [](Registry& r) { r.histogram("kiln_s", "h", {}, {1, 1}); }, "increasing"},
      {"falling buckets", [](Registry& r) { r.histogram("kiln_s", "h", {}, {2, 1}); }, "increas"},
      {"inf bucket", [](Registry& r) { r.histogram("kiln_s", "h", {}, {1, kInf}); }, "finite"},
      {"nan bucket", [](Registry& r) { r.histogram("kiln_s", "h", {}, {kNaN}); }, "finite"},
      {"duplicate name",
       [](Registry& r) {
         r.gauge("kiln_up", "h");
         r.gauge("kiln_up", "h", {"other"});
       },
       "already registered"},
      {"clash with a histogram series",
       [](Registry& r) {
         r.histogram("kiln_wait_seconds", "h");
         r.gauge("kiln_wait_seconds_count", "h");
       },
       "already registered"},
  };
  for (const Case& c : cases) {
    Registry registry;
    try {
      c.register_metric(registry);
      ADD_FAILURE() << c.description << ": no exception";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr(c.message)) << c.description;
    }
  }
}

TEST(Metrics, RejectedRegistrationLeavesTheNameFree) {
  Registry registry;
  EXPECT_THROW(registry.gauge("kiln_up", "h", {"__bad"}), std::invalid_argument);
  EXPECT_NO_THROW(registry.gauge("kiln_up", "h"));
}

TEST(Metrics, DefaultBucketsArePrometheusDefaults) {
  EXPECT_EQ(default_buckets(),
            (std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}));
}

TEST(Metrics, ExponentialBucketsMultiplyFromStart) {
  EXPECT_EQ(exponential_buckets(0.5, 2, 4), (std::vector<double>{0.5, 1, 2, 4}));
  EXPECT_THROW(exponential_buckets(0, 2, 4), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 1, 4), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 2, 0), std::invalid_argument);
}

TEST(Metrics, ContentTypeIsTextFormatZeroZeroFour) {
  EXPECT_STREQ(kExpositionContentType, "text/plain; version=0.0.4; charset=utf-8");
}

// ---- promtool: the reference parser and linter ----

struct PromtoolResult {
  int exit_status;
  std::string output;  // stdout and stderr.
};

// Runs `promtool check metrics < file` on `exposition`.
PromtoolResult promtool_check(const std::string& exposition) {
  static int run = 0;
  const std::filesystem::path path = std::filesystem::path(testing::TempDir()) /
                                     ("kiln_metrics_" + std::to_string(::getpid()) + "_" +
                                      std::to_string(++run) + ".prom");
  std::ofstream(path, std::ios::binary) << exposition;
  const std::string command =
      std::string(KILN_PROMTOOL) + " check metrics < '" + path.string() + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  std::string output;
  char buffer[512];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  std::filesystem::remove(path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(MetricsPromtool, PromtoolAcceptsRealExposition) {
  Registry registry;
  auto& requests = registry.counter("kiln_http_requests_total", "Requests \\ by \"code\"\nline 2.",
                                    {"code", "path"});
  for (const char* path : {"/a\"quoted\"", "C:\\windows\\", "two\nlines", "ünïcødé ✓ 日本", "",
                           "bad \xff utf8", "{braces}=,"}) {
    requests.with({"200", path}).inc(3);
  }
  registry.counter("kiln_restarts_total", "Restarts.");
  registry.gauge("kiln_queue_depth", "Depth.").with({}).set(-2.5);
  auto& ratios = registry.gauge("kiln_ratio", "Ratios.", {"kind"});
  ratios.with({"inf"}).set(kInf);
  ratios.with({"nan"}).set(kNaN);
  ratios.with({"tiny"}).set(1e-300);
  auto& latency = registry.histogram("kiln_reconcile_duration_seconds", "Latency.", {"kind"});
  for (double seconds : {0.001, 0.07, 3.0, 50.0}) latency.with({"Job"}).observe(seconds);
  latency.with({"Deployment \"x\""}).observe(0.2);
  registry.histogram("kiln_payload_bytes", "Payload sizes.", {}, exponential_buckets(64, 4, 8));
  registry.histogram("kiln_idle_seconds", "Never observed, with labels.", {"pool"});

  const std::string exposition = registry.expose();
  const PromtoolResult result = promtool_check(exposition);
  EXPECT_EQ(result.exit_status, 0) << result.output << "\n" << exposition;
  EXPECT_EQ(result.output, "") << exposition;
}

TEST(MetricsPromtool, PromtoolRejectsBrokenExposition) {
  struct Case {
    std::string exposition;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"kiln_x_total{a=\"unterminated} 1\n", "parsing error"},
      {"# HELP kiln_x h\n# TYPE kiln_x gauge\nkiln_x{a=\"\xff\"} 1\n", "invalid label value"},
      {"# HELP kiln_x h\n# TYPE kiln_x counter\nkiln_x 1\n", "should have \"_total\" suffix"},
  };
  for (const Case& c : cases) {
    const PromtoolResult result = promtool_check(c.exposition);
    EXPECT_NE(result.exit_status, 0) << c.exposition;
    EXPECT_THAT(result.output, HasSubstr(c.problem)) << c.exposition;
  }
}

}  // namespace
}  // namespace kiln::metrics
