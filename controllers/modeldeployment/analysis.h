#pragma once

// Rollout analysis from the router's metrics: the Prometheus text parser, the window between two
// scrapes, and the verdict against spec.rollout.analysis.metrics.
//
// ROUTER METRICS, as `kiln-runtime route` exports them at GET /metrics (src/runtime/router.h),
// text format 0.0.4, each with a "variant" label (stable|canary|shadow):
//   kiln_router_requests_total{variant,code}           counter    requests by upstream status;
//                                                                 errors are codes >= 500
//   kiln_router_request_duration_seconds{variant}      histogram  seconds, upstream included
//   kiln_router_comparisons_total{variant,result}      counter    answers compared with stable's:
//                                                                 result agree | disagree |
//                                                                 mismatch (compared, unequal) |
//                                                                 error (not compared)
//   kiln_router_mean_absolute_difference{variant}      gauge      kept for status readers
//   kiln_router_output_drift{variant}                  gauge      Jensen-Shannon distance (base 2)
//                                                                 of outputs vs stable's; the
//                                                                 router does not export it yet,
//                                                                 so outputDrift has no data
// Other families and labels are ignored (summed over).
//
// The reconciler scrapes every router pod (when analysis_due() in rollout.h says so), merges the
// snapshots (sum; output drift: the largest), and keeps the snapshot of the last counted
// measurement in memory; sample_between() turns two snapshots into the measured window. A counter
// lower than before (a restarted router) counts from zero, as Prometheus' rate() does. Without a
// previous snapshot (first measurement, or after a manager restart) the window is the router's
// whole life.
//
// Verdict per metric (spec.rollout.analysis.metrics[]):
//   errorRate    canary errors / canary requests            passes when <= threshold
//   latencyP99   canary p99 latency in seconds              passes when <= threshold
//                (histogram_quantile's linear interpolation within the bucket, as PromQL does)
//   agreement    canary agree / compared, in the window       passes when >= threshold
//   outputDrift  canary's output drift gauge                passes when <= threshold
// A metric without data (no comparisons, no histogram, no gauge) fails. A measurement with fewer
// canary requests than minRequests is not counted (neither passes nor fails).
//
// Pure functions; thread-safe.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "controllers/modeldeployment/support.h"

namespace kiln::controllers::modeldeployment {

using json = nlohmann::json;

// One variant's cumulative router metrics.
struct VariantCounters {
  double requests = 0;
  double errors = 0;       // Requests answered with a status >= 500.
  double comparisons = 0;  // agree + disagree + mismatch.
  double agreements = 0;   // agree.
  // Cumulative histogram buckets: upper bound (seconds, +inf last) -> observations <= bound.
  std::map<double, double> latency_buckets;
  std::optional<double> output_drift;
  std::optional<double> mean_absolute_difference;
};

// The router's metrics at one scrape, per variant name.
struct RouterSnapshot {
  std::map<std::string, VariantCounters, std::less<>> variants;
};

// Parses Prometheus text exposition (0.0.4) and keeps the kiln_router_* families above. Samples of
// other families are skipped. invalid-input on a malformed sample line (bad labels, bad value).
Result<RouterSnapshot> parse_router_metrics(std::string_view text);

// The snapshot's counters as JSON, for status.lastAnalysis.routerCounters (where the next window
// starts, so a new leader continues it): {"<variant>": {"requests", "errors", "comparisons",
// "agreements", "latencyBuckets": {"<upper bound>": count, ..., "+Inf": count}}}. The gauges
// (output drift, mean absolute difference) are left out: a window reads them at its end.
json snapshot_to_json(const RouterSnapshot& snapshot);
// The inverse. invalid-input when a counter is not a number or a bucket bound does not parse.
Result<RouterSnapshot> snapshot_from_json(const json& j);

// Sums two snapshots (two router pods): counters and buckets add; output drift takes the larger.
RouterSnapshot merge_snapshots(const RouterSnapshot& a, const RouterSnapshot& b);

// PromQL's histogram_quantile(q, buckets) on cumulative buckets (upper bound -> count, the +Inf
// bucket last): linear interpolation inside the bucket holding rank q * total; the highest finite
// bound when the rank lands in +Inf. nullopt when the histogram is empty.
std::optional<double> histogram_quantile(double q, const std::map<double, double>& buckets);

// What one analysis measured over a window.
struct AnalysisSample {
  double canary_requests = 0;
  double canary_errors = 0;
  double stable_requests = 0;
  double stable_errors = 0;
  std::optional<double> latency_p99;   // Canary, seconds.
  std::optional<double> agreement;     // Canary vs stable, share in [0, 1].
  std::optional<double> output_drift;  // Canary vs stable, Jensen-Shannon distance.
};

// The window from `previous` (nullptr: from zero) to `current`.
AnalysisSample sample_between(const RouterSnapshot* previous, const RouterSnapshot& current);

struct MetricResult {
  std::string name;
  std::optional<double> value;
  double threshold = 0;
  bool passed = false;
};

struct AnalysisResult {
  bool counted = false;  // Enough canary requests (minRequests) for a verdict.
  bool passed = false;   // counted and every metric passed.
  int64_t requests = 0;  // Canary requests measured.
  std::vector<MetricResult> metrics;

  // status.lastAnalysis: {time, passed, requests, metrics[{name, value?, threshold, passed}]}.
  json to_status(support::TimePoint time) const;
};

// The verdict of `sample` against spec.rollout.analysis (`analysis`: {minRequests, metrics[]}).
AnalysisResult evaluate_analysis(const json& analysis, const AnalysisSample& sample);

}  // namespace kiln::controllers::modeldeployment
