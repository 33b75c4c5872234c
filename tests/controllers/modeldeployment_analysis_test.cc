// Unit tests of the router-metrics parser and the analysis verdict. The exposition text is
// produced by our own Prometheus registry (kiln::metrics), registering the families of the
// router contract in analysis.h, so the parser reads what a real router would write.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/metrics.h"
#include "controllers/modeldeployment/analysis.h"

namespace kiln::controllers::modeldeployment {
namespace {

// The router's metric families, with the names and labels `kiln-runtime route` registers
// (src/runtime/router.cc), plus the proposed output-drift gauge.
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
  metrics::Family<metrics::Gauge>& drift =
      registry.gauge("kiln_router_output_drift", "Output drift.", {"variant"});

  // `agree` of `total` canary answers equal stable's; the rest disagree.
  void compare(int agree, int total) {
    compared.with({"canary", "agree"}).inc(agree);
    compared.with({"canary", "disagree"}).inc(total - agree);
  }

  RouterSnapshot scrape() {
    auto parsed = parse_router_metrics(registry.expose());
    EXPECT_TRUE(parsed.ok()) << parsed.error().to_string();
    return parsed.ok() ? *parsed : RouterSnapshot{};
  }
};

json analysis_spec() {
  return json::parse(R"({"minRequests": 50, "metrics": [
    {"name": "errorRate", "threshold": 0.01}, {"name": "latencyP99", "threshold": 0.2},
    {"name": "agreement", "threshold": 0.9}, {"name": "outputDrift", "threshold": 0.1}]})");
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
  m.drift.with({"canary"}).set(0.04);
  const RouterSnapshot s = m.scrape();
  ASSERT_TRUE(s.variants.count("canary"));
  const VariantCounters& c = s.variants.at("canary");
  EXPECT_EQ(c.requests, 100);
  EXPECT_EQ(c.errors, 3);        // 5xx only: a 404 is the caller's error.
  EXPECT_EQ(c.comparisons, 80);  // agree + disagree + mismatch; errors were not compared.
  EXPECT_EQ(c.agreements, 76);
  ASSERT_TRUE(c.output_drift.has_value());
  EXPECT_DOUBLE_EQ(*c.output_drift, 0.04);
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
  a.drift.with({"canary"}).set(0.02);
  b.drift.with({"canary"}).set(0.05);
  const RouterSnapshot merged = merge_snapshots(a.scrape(), b.scrape());
  EXPECT_EQ(merged.variants.at("canary").requests, 70);
  EXPECT_DOUBLE_EQ(*merged.variants.at("canary").output_drift, 0.05);
}

TEST(ModelDeploymentAnalysis, HealthyCanaryPassesEveryMetric) {
  RouterMetrics m;
  m.requests.with({"canary", "200"}).inc(200);
  for (int i = 0; i < 200; ++i) m.latency.with({"canary"}).observe(0.003);
  m.compare(195, 200);
  m.drift.with({"canary"}).set(0.03);
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
  double drift;
  const char* failed_metric;
};

class ModelDeploymentAnalysisFailing : public testing::TestWithParam<FailingCase> {};

TEST_P(ModelDeploymentAnalysisFailing, OneMetricOverItsThresholdFailsTheMeasurement) {
  const FailingCase& c = GetParam();
  RouterMetrics m;
  m.requests.with({"canary", "200"}).inc(100 - c.errors);
  m.requests.with({"canary", "503"}).inc(c.errors);
  for (int i = 0; i < 100; ++i) m.latency.with({"canary"}).observe(0.003);
  m.compare(c.agreements, 100);
  m.drift.with({"canary"}).set(c.drift);
  const AnalysisResult r = evaluate_analysis(analysis_spec(), sample_between(nullptr, m.scrape()));
  EXPECT_TRUE(r.counted);
  EXPECT_FALSE(r.passed);
  for (const auto& metric : r.metrics) {
    EXPECT_EQ(metric.passed, metric.name != c.failed_metric) << metric.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ModelDeploymentAnalysisFailing,
                         testing::Values(FailingCase{"errors", 5, 100, 0.0, "errorRate"},
                                         FailingCase{"disagreement", 0, 80, 0.0, "agreement"},
                                         FailingCase{"drift", 0, 100, 0.3, "outputDrift"}),
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

}  // namespace
}  // namespace kiln::controllers::modeldeployment
