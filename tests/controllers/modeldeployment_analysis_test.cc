// Unit tests of the router-metrics parser and the analysis verdict. The exposition text is
// produced by our own Prometheus registry (kiln::metrics), registering the families of the
// router contract in analysis.h, so the parser reads what a real router would write.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "controllers/modeldeployment/analysis.h"

namespace kiln::controllers::modeldeployment {
namespace {

// The router's metric families, with the names and labels `kiln-runtime route` registers
// (src/runtime/router.cc).
struct RouterMetrics {
  metrics::Registry registry;
  metrics::Family<metrics::Counter>& requests =
      registry.counter("kiln_router_requests_total", "Requests.", {"variant", "code"});
  metrics::Family<metrics::Histogram>& latency =
      registry.histogram("kiln_router_request_duration_seconds", "Latency.", {"variant"},
                         {0.001, 0.005, 0.01, 0.1, 0.25, 1});
  metrics::Family<metrics::Counter>& compared =
      registry.counter("kiln_router_comparisons_total", "Comparisons.", {"variant", "result"});
  metrics::Family<metrics::Gauge>& agreement_ratio =
      registry.gauge("kiln_router_agreement_ratio", "Agreement.", {"variant"});
  metrics::Family<metrics::Gauge>& mad =
      registry.gauge("kiln_router_mean_absolute_difference", "MAD.", {"variant"});
  metrics::Family<metrics::Counter>& outputs = registry.counter(
      "kiln_router_output_rows_total", "Output rows.", {"variant", "source", "bucket"});

  // `agree` of `total` canary answers equal stable's; the rest disagree.
  void compare(int agree, int total) {
    compared.with({"canary", "agree"}).inc(agree);
    compared.with({"canary", "disagree"}).inc(total - agree);
  }

  // Compared canary rows by output bucket: the canary's answers and stable's to the same requests.
  void answer(const std::map<std::string, int>& canary, const std::map<std::string, int>& stable) {
    for (const auto& [bucket, rows] : canary) outputs.with({"canary", "canary", bucket}).inc(rows);
    for (const auto& [bucket, rows] : stable) outputs.with({"canary", "stable", bucket}).inc(rows);
  }

  RouterSnapshot scrape() {
    auto parsed = parse_router_metrics(registry.expose());
    EXPECT_TRUE(parsed.ok()) << parsed.error().to_string();
    return parsed.ok() ? *parsed : RouterSnapshot{};
  }
};

// Jensen-Shannon distance with the natural logarithm, written out from its definition
// (scipy.spatial.distance.jensenshannon): sqrt((KL(p||m) + KL(q||m)) / 2), m = (p + q) / 2.
double js_distance(const std::vector<double>& p_counts, const std::vector<double>& q_counts) {
  double np = 0, nq = 0;
  for (double x : p_counts) np += x;
  for (double x : q_counts) nq += x;
  double divergence = 0;
  for (std::size_t i = 0; i < p_counts.size(); ++i) {
    const double p = p_counts[i] / np, q = q_counts[i] / nq, m = (p + q) / 2;
    if (p > 0) divergence += p * std::log(p / m) / 2;
    if (q > 0) divergence += q * std::log(q / m) / 2;
  }
  return std::sqrt(divergence);
}

api::AnalysisSpec analysis_spec() {
  api::AnalysisSpec spec;
  auto decoded = api::decode(json::parse(R"({"minRequests": 50, "metrics": [
    {"name": "errorRate", "threshold": 0.01}, {"name": "latencyP99", "threshold": 0.2},
    {"name": "agreement", "threshold": 0.9}, {"name": "outputDrift", "threshold": 0.1}]})"),
                             "spec.rollout.analysis", spec);
  EXPECT_TRUE(decoded.ok());
  return spec;
}

TEST(ModelDeploymentAnalysis, ParsesCountersAcrossCodesFromRegistryExposition) {
  RouterMetrics m;
  m.requests.with({"canary", "200"}).inc(95);
  m.requests.with({"canary", "404"}).inc(2);
  m.requests.with({"canary", "502"}).inc(3);
  m.requests.with({"stable", "200"}).inc(900);
  m.compare(76, 78);
  m.compared.with({"canary", "mismatch"}).inc(2);
  m.compared.with({"canary", "error"}).inc(5);
  m.agreement_ratio.with({"canary"}).set(0.9);
  m.mad.with({"canary"}).set(0.01);
  m.answer({{"p:0.1", 40}, {"p:0.9", 38}}, {{"p:0.1", 39}, {"p:0.8", 1}, {"p:0.9", 38}});
  m.outputs.with({"shadow", "shadow", "p:0.1"}).inc(5);  // Another variant's comparisons.
  const RouterSnapshot s = m.scrape();
  ASSERT_TRUE(s.variants.count("canary"));
  const VariantCounters& c = s.variants.at("canary");
  EXPECT_EQ(c.requests, 100);
  EXPECT_EQ(c.errors, 3);        // 5xx only: a 404 is the caller's error.
  EXPECT_EQ(c.comparisons, 80);  // agree + disagree + mismatch; errors were not compared.
  EXPECT_EQ(c.agreements, 76);
  EXPECT_EQ(c.output_rows, (std::map<std::string, double>{{"p:0.1", 40}, {"p:0.9", 38}}));
  EXPECT_EQ(c.stable_output_rows,
            (std::map<std::string, double>{{"p:0.1", 39}, {"p:0.8", 1}, {"p:0.9", 38}}));
  EXPECT_EQ(s.variants.at("shadow").output_rows.at("p:0.1"), 5);
  EXPECT_TRUE(s.variants.at("shadow").stable_output_rows.empty());
  EXPECT_DOUBLE_EQ(*c.mean_absolute_difference, 0.01);
  EXPECT_EQ(s.variants.at("stable").requests, 900);
}

TEST(ModelDeploymentAnalysis, P99InterpolatesInsideTheBucketLikePromQL) {
  RouterMetrics m;
  auto& h = m.latency.with({"canary"});
  for (int i = 0; i < 98; ++i) h.observe(0.003);  // bucket (0.001, 0.005]
  for (int i = 0; i < 2; ++i) h.observe(0.2);     // bucket (0.1, 0.25]
  const RouterSnapshot s = m.scrape();
  const auto& buckets = s.variants.at("canary").latency_buckets;
  ASSERT_EQ(buckets.size(), 7u);  // six bounds and +Inf
  EXPECT_TRUE(std::isinf(buckets.rbegin()->first));
  // rank 0.99 * 100 = 99 falls in (0.1, 0.25] holding cumulative 98..100:
  // 0.1 + (0.25 - 0.1) * (99 - 98) / (100 - 98) = 0.175.
  auto p99 = histogram_quantile(0.99, buckets);
  ASSERT_TRUE(p99.has_value());
  EXPECT_NEAR(*p99, 0.175, 1e-12);
  // rank 50 in (0.001, 0.005] holding 0..98: 0.001 + 0.004 * 50 / 98.
  EXPECT_NEAR(*histogram_quantile(0.5, buckets), 0.001 + 0.004 * 50.0 / 98.0, 1e-12);
  EXPECT_FALSE(histogram_quantile(0.99, {}).has_value());
}

TEST(ModelDeploymentAnalysis, WindowSubtractsThePreviousScrapeAndSurvivesARouterRestart) {
  RouterMetrics m;
  m.requests.with({"canary", "200"}).inc(90);
  m.requests.with({"canary", "500"}).inc(10);
  const RouterSnapshot first = m.scrape();
  m.requests.with({"canary", "200"}).inc(199);
  m.requests.with({"canary", "500"}).inc(1);
  const RouterSnapshot second = m.scrape();
  const AnalysisSample window = sample_between(&first, second);
  EXPECT_EQ(window.canary_requests, 200);
  EXPECT_EQ(window.canary_errors, 1);

  RouterMetrics restarted;  // Counters start again below the previous scrape.
  restarted.requests.with({"canary", "200"}).inc(60);
  const AnalysisSample after_reset = sample_between(&second, restarted.scrape());
  EXPECT_EQ(after_reset.canary_requests, 60);
  EXPECT_EQ(after_reset.canary_errors, 0);
}

// The window's start is kept in status as JSON (so a new leader continues it): the window measured
// from the JSON equals the window measured from the snapshot itself.
TEST(ModelDeploymentAnalysis, SnapshotKeptAsJsonGivesTheSameWindow) {
  RouterMetrics m;
  m.requests.with({"canary", "200"}).inc(90);
  m.requests.with({"canary", "500"}).inc(10);
  m.requests.with({"stable", "200"}).inc(400);
  for (double s : {0.0005, 0.003, 0.2, 2.0}) m.latency.with({"canary"}).observe(s);
  m.compare(80, 100);
  const RouterSnapshot first = m.scrape();
  const json kept = json::parse(snapshot_to_json(first).dump());  // As status stores it.
  auto restored = snapshot_from_json(kept);
  ASSERT_TRUE(restored.ok()) << restored.error().to_string();
  EXPECT_EQ(kept["canary"]["latencyBuckets"]["+Inf"], 4);

  m.requests.with({"canary", "200"}).inc(150);
  m.requests.with({"canary", "500"}).inc(3);
  for (int i = 0; i < 150; ++i) m.latency.with({"canary"}).observe(0.004);
  m.compare(140, 150);
  const RouterSnapshot second = m.scrape();
  const AnalysisSample direct = sample_between(&first, second);
  const AnalysisSample via_json = sample_between(&*restored, second);
  EXPECT_EQ(via_json.canary_requests, 153);
  EXPECT_EQ(via_json.canary_requests, direct.canary_requests);
  EXPECT_EQ(via_json.canary_errors, direct.canary_errors);
  EXPECT_EQ(via_json.stable_requests, direct.stable_requests);
  ASSERT_TRUE(via_json.latency_p99 && direct.latency_p99);
  EXPECT_DOUBLE_EQ(*via_json.latency_p99, *direct.latency_p99);
  ASSERT_TRUE(via_json.agreement && direct.agreement);
  EXPECT_DOUBLE_EQ(*via_json.agreement, *direct.agreement);

  EXPECT_FALSE(snapshot_from_json(json::array()).ok());
  EXPECT_FALSE(snapshot_from_json({{"canary", {{"requests", "many"}}}}).ok());
  EXPECT_FALSE(snapshot_from_json({{"canary", {{"latencyBuckets", {{"soon", 1}}}}}}).ok());
}

TEST(ModelDeploymentAnalysis, MergeSumsRouterPods) {
  RouterMetrics a, b;
  a.requests.with({"canary", "200"}).inc(30);
  b.requests.with({"canary", "200"}).inc(40);
  // Each pod alone sees the same outputs on both sides; together the canary's differ.
  a.answer({{"p:0.9", 30}}, {{"p:0.9", 30}});
  b.answer({{"p:0.1", 40}}, {{"p:0.1", 10}, {"p:0.9", 30}});
  const RouterSnapshot merged = merge_snapshots(a.scrape(), b.scrape());
  EXPECT_EQ(merged.variants.at("canary").requests, 70);
  EXPECT_EQ(merged.variants.at("canary").output_rows,
            (std::map<std::string, double>{{"p:0.1", 40}, {"p:0.9", 30}}));
  EXPECT_EQ(merged.variants.at("canary").stable_output_rows,
            (std::map<std::string, double>{{"p:0.1", 10}, {"p:0.9", 60}}));
  const auto drift = sample_between(nullptr, merged).output_drift;
  ASSERT_TRUE(drift.has_value());
  EXPECT_NEAR(*drift, js_distance({10, 60}, {40, 30}), 1e-12);
}

// outputDrift is the Jensen-Shannon distance of the window's rows: rows counted before the window
// (a drifted start) do not count, the kept JSON gives the same window, and a restarted router's
// buckets count from zero.
TEST(ModelDeploymentAnalysis, OutputDriftIsMeasuredOverTheWindowsRows) {
  RouterMetrics m;
  m.requests.with({"canary", "200"}).inc(200);
  m.answer({{"p:0.5", 200}}, {{"p:0.9", 200}});  // Before the window: far apart.
  const RouterSnapshot first = m.scrape();
  m.requests.with({"canary", "200"}).inc(100);
  m.answer({{"p:0.1", 90}, {"p:0.9", 10}}, {{"p:0.1", 50}, {"p:0.9", 50}});
  const RouterSnapshot second = m.scrape();

  const auto window = sample_between(&first, second).output_drift;
  ASSERT_TRUE(window.has_value());
  // Buckets (p:0.1, p:0.5, p:0.9): stable (50, 0, 50), canary (90, 0, 10).
  EXPECT_NEAR(*window, js_distance({50, 0, 50}, {90, 0, 10}), 1e-12);
  EXPECT_NEAR(*window, 0.31898, 1e-5);
  const auto whole_life = sample_between(nullptr, second).output_drift;
  ASSERT_TRUE(whole_life.has_value());
  EXPECT_NEAR(*whole_life, js_distance({50, 0, 250}, {90, 200, 10}), 1e-12);

  auto kept = snapshot_from_json(json::parse(snapshot_to_json(first).dump()));
  ASSERT_TRUE(kept.ok()) << kept.error().to_string();
  EXPECT_EQ(snapshot_to_json(first)["canary"]["stableOutputRows"]["p:0.9"], 200);
  EXPECT_DOUBLE_EQ(*sample_between(&*kept, second).output_drift, *window);

  RouterMetrics restarted;
  restarted.requests.with({"canary", "200"}).inc(60);
  restarted.answer({{"p:0.9", 60}}, {{"p:0.9", 60}});
  const auto after_restart = sample_between(&second, restarted.scrape()).output_drift;
  ASSERT_TRUE(after_restart.has_value());
  EXPECT_DOUBLE_EQ(*after_restart, 0);

  // No compared rows in the window: no data.
  EXPECT_FALSE(sample_between(&second, second).output_drift.has_value());
  EXPECT_FALSE(
      snapshot_from_json({{"canary", {{"outputRows", {{"p:0.1", "many"}}}}}}).ok());
  EXPECT_FALSE(snapshot_from_json({{"canary", {{"stableOutputRows", json::array()}}}}).ok());
}

TEST(ModelDeploymentAnalysis, HealthyCanaryPassesEveryMetric) {
  RouterMetrics m;
  m.requests.with({"canary", "200"}).inc(200);
  for (int i = 0; i < 200; ++i) m.latency.with({"canary"}).observe(0.003);
  m.compare(195, 200);
  m.answer({{"p:0.1", 98}, {"p:0.9", 102}}, {{"p:0.1", 100}, {"p:0.9", 100}});
  const AnalysisResult r = evaluate_analysis(analysis_spec(), sample_between(nullptr, m.scrape()));
  EXPECT_TRUE(r.counted);
  EXPECT_TRUE(r.passed);
  EXPECT_EQ(r.requests, 200);
  ASSERT_EQ(r.metrics.size(), 4u);
  for (const auto& metric : r.metrics) EXPECT_TRUE(metric.passed) << metric.name;
  const json status = r.to_status(support::TimePoint{});
  EXPECT_EQ(status["metrics"][2]["name"], "agreement");
  EXPECT_DOUBLE_EQ(status["metrics"][2]["value"].get<double>(), 195.0 / 200.0);
}

struct FailingCase {
  const char* name;
  int errors;
  int agreements;
  int moved;  // Of the canary's 50 rows in bucket p:0.9, those it answers in p:0.6 instead.
  const char* failed_metric;
};

void PrintTo(const FailingCase& c, std::ostream* os) { *os << c.name; }

class ModelDeploymentAnalysisFailing : public testing::TestWithParam<FailingCase> {};

TEST_P(ModelDeploymentAnalysisFailing, OneMetricOverItsThresholdFailsTheMeasurement) {
  const FailingCase& c = GetParam();
  RouterMetrics m;
  m.requests.with({"canary", "200"}).inc(100 - c.errors);
  m.requests.with({"canary", "503"}).inc(c.errors);
  for (int i = 0; i < 100; ++i) m.latency.with({"canary"}).observe(0.003);
  m.compare(c.agreements, 100);
  // Stable answers 50 rows in p:0.1 and 50 in p:0.9; 30 moved rows give a distance of 0.370, 2
  // give 0.084 (threshold 0.1).
  m.answer({{"p:0.1", 50}, {"p:0.6", c.moved}, {"p:0.9", 50 - c.moved}},
           {{"p:0.1", 50}, {"p:0.9", 50}});
  const AnalysisResult r = evaluate_analysis(analysis_spec(), sample_between(nullptr, m.scrape()));
  EXPECT_TRUE(r.counted);
  EXPECT_FALSE(r.passed);
  for (const auto& metric : r.metrics) {
    EXPECT_EQ(metric.passed, metric.name != c.failed_metric) << metric.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ModelDeploymentAnalysisFailing,
                         testing::Values(FailingCase{"errors", 5, 100, 2, "errorRate"},
                                         FailingCase{"disagreement", 0, 80, 2, "agreement"},
                                         FailingCase{"drift", 0, 100, 30, "outputDrift"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ModelDeploymentAnalysis, TooFewRequestsIsNotCountedAndMissingDataFails) {
  RouterMetrics m;
  m.requests.with({"canary", "200"}).inc(10);
  const AnalysisResult r = evaluate_analysis(analysis_spec(), sample_between(nullptr, m.scrape()));
  EXPECT_FALSE(r.counted);
  EXPECT_FALSE(r.passed);
  EXPECT_FALSE(r.metrics[1].value.has_value());  // No latency histogram.
  EXPECT_FALSE(r.metrics[1].passed);
}

TEST(ModelDeploymentAnalysis, MalformedExpositionIsAnError) {
  EXPECT_FALSE(parse_router_metrics("kiln_router_requests_total{variant=\"canary\"} abc\n").ok());
  EXPECT_FALSE(parse_router_metrics("kiln_router_requests_total{variant=canary} 1\n").ok());
  auto ok = parse_router_metrics(
      "# HELP x y\n# TYPE x counter\nother_metric 4\n"
      "kiln_router_requests_total{variant=\"ca\\\"nary\"} 7 1700000000000\n");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->variants.at("ca\"nary").requests, 7);
}

RouterSnapshot canary_traffic(double requests, double errors) {
  RouterSnapshot s;
  s.variants["canary"].requests = requests;
  s.variants["canary"].errors = errors;
  return s;
}

TEST(ModelDeploymentAnalysisWindow, StartsAtTheCountersTheLastMeasurementOfThisCanaryKept) {
  const MeasuredCanary v2{"pvc://m/v2.json", "v2"};
  // The first measurement: the routers' whole life.
  auto first = measure_window(json::object(), v2, canary_traffic(100, 1));
  EXPECT_FALSE(first.baseline);
  EXPECT_TRUE(first.restarted.empty());
  EXPECT_EQ(first.sample.canary_requests, 100);
  EXPECT_EQ(first.router_counters, snapshot_to_json(canary_traffic(100, 1)));
  // The next one: from what the first kept.
  const json last = {{"canary", {{"uri", v2.uri}, {"version", v2.version}}},
                     {"routerCounters", first.router_counters}};
  auto next = measure_window(last, v2, canary_traffic(250, 4));
  EXPECT_FALSE(next.baseline);
  EXPECT_EQ(next.sample.canary_requests, 150);
  EXPECT_EQ(next.sample.canary_errors, 3);
}

TEST(ModelDeploymentAnalysisWindow, CountersKeptForAnotherCanaryOnlyStartTheWindow) {
  const json last = {{"canary", {{"uri", "pvc://m/v2.json"}, {"version", "v2"}}},
                     {"routerCounters", snapshot_to_json(canary_traffic(100, 0))}};
  auto w = measure_window(last, {"pvc://m/v3.json", "v3"}, canary_traffic(130, 9));
  EXPECT_TRUE(w.baseline);
  EXPECT_EQ(w.sample.canary_requests, 30);  // Still v2's traffic, in part: not to be counted.
  // Kept counters that do not say which canary they measured are not this one's either.
  json unnamed = last;
  unnamed.erase("canary");
  EXPECT_TRUE(measure_window(unnamed, {"pvc://m/v2.json", "v2"}, canary_traffic(130, 9)).baseline);
}

TEST(ModelDeploymentAnalysisWindow, UnreadableKeptCountersRestartTheWindowAndSaySo) {
  const json last = {{"canary", {{"uri", "pvc://m/v2.json"}, {"version", "v2"}}},
                     {"routerCounters", {{"canary", {{"requests", "many"}}}}}};
  auto w = measure_window(last, {"pvc://m/v2.json", "v2"}, canary_traffic(130, 9));
  EXPECT_FALSE(w.restarted.empty());
  EXPECT_EQ(w.sample.canary_requests, 130);
}

TEST(ModelDeploymentAnalysis, KeptBucketBoundsAreTheShortestTextThatReadsBack) {
  RouterSnapshot s;
  s.variants["canary"].latency_buckets = {{0.0002, 3}, {0.1024, 5},
                                          {std::numeric_limits<double>::infinity(), 7}};
  const json kept = snapshot_to_json(s);
  EXPECT_EQ(kept["canary"]["latencyBuckets"],
            (json{{"0.0002", 3}, {"0.1024", 5}, {"+Inf", 7}}));
  auto back = snapshot_from_json(kept);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->variants["canary"].latency_buckets, s.variants["canary"].latency_buckets);
}

}  // namespace
}  // namespace kiln::controllers::modeldeployment
