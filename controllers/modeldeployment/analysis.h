#pragma once

// Rollout analysis from the router's metrics: the Prometheus text parser, the window between two
// scrapes, and the verdict against spec.rollout.analysis.metrics.
//
// ROUTER METRICS, as `kiln-runtime route` exports them at GET /metrics (src/runtime/router.h),
// text format 0.0.4, each with a "variant" label (stable|canary|shadow):
//   kiln_router_requests_total{variant,code}           counter    requests by upstream status;
//                                                                 errors are codes >= 500
//   kiln_router_request_duration_seconds{variant}      histogram  seconds, upstream included
//   kiln_router_comparisons_total{variant,result}      counter    output rows compared with
//                                                                 stable's (a batch of n rows
//                                                                 counts n): result agree |
//                                                                 disagree | mismatch (answers of
//                                                                 other shapes) | error (not
//                                                                 compared)
//   kiln_router_output_rows_total{variant,source,bucket}
//                                                      counter    compared rows by output bucket
//                                                                 (src/runtime/router_compare.h),
//                                                                 source = the variant's answers
//                                                                 or "stable" (stable's answers
//                                                                 to the same requests)
//   kiln_router_mean_absolute_difference{variant}      gauge      kept for status readers
// Other families and labels are ignored (summed over).
//
// The reconciler scrapes every router pod (when analysis_due() in rollout.h says so) and merges
// the snapshots (sum); measure_window() turns that scrape and the counters kept in
// status.lastAnalysis.routerCounters (by whichever replica led then) into the measured window.
// A counter lower than before (a restarted router) counts from zero, as Prometheus' rate() does.
// Without kept counters (the first measurement) the window is the routers' whole life.
//
// Verdict per metric (spec.rollout.analysis.metrics[]):
//   errorRate    canary errors / canary requests            passes when <= threshold
//   latencyP99   canary p99 latency in seconds              passes when <= threshold
//                (histogram_quantile's linear interpolation within the bucket, as PromQL does)
//   agreement    canary agree / compared rows, in the window  passes when >= threshold
//   outputDrift  Jensen-Shannon distance between the window's passes when <= threshold
//                output buckets of stable's answers and of the canary's, on the same requests
//                (drift::jensen_shannon: natural logarithm, scipy's default, so in
//                [0, sqrt(ln 2) ~ 0.833]; 0.1 is Evidently's default drift threshold for it).
//                Buckets are aligned by label; a bucket one side lacks counts 0 there. Both
//                distributions come from the same requests, so the distance measures how the
//                models answer differently, not a change of traffic.
// A metric without data (no comparisons, no histogram, no output rows) fails. A measurement with
// fewer canary requests than minRequests is not counted (neither passes nor fails).
//
// Pure functions; thread-safe.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "controllers/api/v1alpha1.h"
#include "controllers/modeldeployment/support.h"

namespace kiln::controllers::modeldeployment {

namespace api = kiln::api::v1alpha1;
using json = nlohmann::json;

// One variant's cumulative router metrics.
struct VariantCounters {
  double requests = 0;
  double errors = 0;       // Requests answered with a status >= 500.
  double comparisons = 0;  // agree + disagree + mismatch.
  double agreements = 0;   // agree.
  // Cumulative histogram buckets: upper bound (seconds, +inf last) -> observations <= bound.
  std::map<double, double> latency_buckets;
  // kiln_router_output_rows_total of this variant's comparisons, bucket label -> rows: the
  // variant's answers (source = the variant) and stable's answers to the same requests.
  std::map<std::string, double> output_rows;
  std::map<std::string, double> stable_output_rows;
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
// "agreements", "latencyBuckets": {"<upper bound>": count, ..., "+Inf": count}, "outputRows":
// {"<bucket>": rows}, "stableOutputRows": {"<bucket>": rows}}} (the two output maps only when not
// empty). The gauge (mean absolute difference) is left out: a window reads it at its end.
json snapshot_to_json(const RouterSnapshot& snapshot);
// The inverse. invalid-input when a counter is not a number or a bucket bound does not parse.
// Counters kept before the output maps existed read as empty maps.
Result<RouterSnapshot> snapshot_from_json(const json& j);

// Sums two snapshots (two router pods): counters, latency and output buckets add; the mean
// absolute difference takes the larger.
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
  // Canary vs stable: Jensen-Shannon distance of the window's output buckets (natural log, see
  // outputDrift above); nullopt when the window has no compared rows.
  std::optional<double> output_drift;
};

// The window from `previous` (nullptr: from zero) to `current`. Each counter and bucket counts
// from zero when it is lower than before, and every latency and output bucket does when the
// canary's requests are (a restarted router).
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

// The verdict of `sample` against spec.rollout.analysis (minRequests, metrics[]).
AnalysisResult evaluate_analysis(const api::AnalysisSpec& analysis,
                                 const AnalysisSample& sample);

// The canary a measurement measured (status.lastAnalysis.canary).
struct MeasuredCanary {
  std::string uri;
  std::string version;
};

// One measurement's window, from the counters the last measurement kept to this scrape.
struct AnalysisWindow {
  AnalysisSample sample;
  // snapshot_to_json(current): kept in status.lastAnalysis.routerCounters, where the next window
  // starts.
  json router_counters;
  // The kept counters end another canary's window (the previous rollout's, by
  // status.lastAnalysis.canary): this measurement only starts `canary`'s window and must not be
  // counted (status.lastAnalysis.baseline).
  bool baseline = false;
  // Non-empty when the kept counters did not decode (the message): the window is then the
  // routers' whole life.
  std::string restarted;
};

// The window of a measurement of `canary` taken now: `last_analysis` is status.lastAnalysis
// (null or {} before the first), `current` this scrape (merged over the router pods).
AnalysisWindow measure_window(const json& last_analysis, const MeasuredCanary& canary,
                              const RouterSnapshot& current);

}  // namespace kiln::controllers::modeldeployment
