#pragma once

// The router of a ModelDeployment (`kiln-runtime route`): the public endpoint in front of the
// stable, canary and shadow variants, each a `kiln-runtime serve` Service.
//
//   - Split: a request goes to canary with probability canary.weight/100, else to stable. With
//     the sticky header present (e.g. x-request-key), the choice is a hash of its value, so one
//     key always lands on the same variant for a given weight.
//   - Shadow: a share (shadow.mirrorPercent) of stable-routed infer requests is copied to the
//     shadow through a bounded queue served by one background thread. The caller never waits for
//     the shadow; when the queue is full the mirror is dropped and counted.
//   - Comparison: the shadow's answer, and for canary-routed infer requests a background call to
//     stable, are compared with stable's row by row (runtime/router_compare.h): agreement = the
//     same decision per row of the first output (value >= 0.5 for a score per row, the argmax for
//     class scores [rows, classes], equal labels for integer/BYTES outputs, a relative tolerance
//     of 10% for a regressor), plus the mean absolute difference of the values. A batch of n rows
//     counts n comparisons.
//   - Output distribution: every compared row's output bucket (router_compare.h) is counted for
//     both answers, the variant's and stable's, on the same requests. A reader subtracts two
//     scrapes to get both distributions over a window and compares them (the rollout analysis
//     takes their Jensen-Shannon distance, controllers/modeldeployment/analysis.h).
//   - Reload: reload() swaps the configuration atomically; requests in flight keep the one they
//     started with, and the listener (and its connections) is untouched.
//
// Metrics (the "variant" of a comparison is the one compared with stable: canary or shadow):
//   kiln_router_requests_total{variant,code}             counter: requests, by upstream status
//   kiln_router_request_duration_seconds{variant}        histogram, seconds, upstream included
//   kiln_router_mirror_dropped_total                     counter: mirrors/comparisons dropped
//   kiln_router_comparisons_total{variant,result}        counter: output ROWS compared with
//       stable's: result = agree | disagree | mismatch (answers of different shape or datatype:
//       the rows of the caller's answer) | error (the background call failed: those rows, or 1
//       when the caller's answer has no readable output)
//   kiln_router_output_rows_total{variant,source,bucket} counter: compared rows (agree or
//       disagree) by the bucket of their output; source = the variant's answer ("canary" or
//       "shadow") or stable's ("stable"). At most Options::max_output_buckets buckets a variant;
//       rows of buckets past that count under bucket="other".
//   kiln_router_agreement_ratio{variant}                 gauge: agree / compared rows since start
//   kiln_router_mean_absolute_difference{variant}        gauge: of the values, since start
//
// Thread-safety: handle() and reload() may be called from any thread.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/metrics.h"
#include "runtime/inference_service.h"
#include "runtime/router_compare.h"

namespace kiln::runtime {

struct RouterConfig {
  std::string stable_url;     // "http://host:port"
  std::string canary_url;     // Empty: no canary.
  double canary_weight = 0;   // Percent of traffic, [0, 100].
  std::string shadow_url;     // Empty: no shadow.
  double mirror_percent = 0;  // Percent of stable infer requests mirrored, [0, 100].
  std::string sticky_header = "x-request-key";

  // {"stable": {"url"}, "canary": {"url", "weight"}, "shadow": {"url", "mirrorPercent"},
  //  "stickyHeader"}; invalid-input naming the field when malformed.
  static Result<RouterConfig> from_json(const nlohmann::json& j);
};

// Sends one request to an upstream and returns its response (status 502 when unreachable).
// Must be thread-safe.
using UpstreamCall =
    std::function<HttpResponse(const std::string& base_url, const HttpRequest& request)>;

// An UpstreamCall over cpprestsdk's http_client, one kept-alive client per upstream URL.
UpstreamCall http_upstream_call();

class Router {
 public:
  struct Options {
    std::size_t mirror_queue = 256;  // Pending mirrors/comparisons before dropping.
    std::uint64_t seed = 1;          // Of the split and mirror draws.
    CompareOptions compare;          // Decision rules of the comparison (router_compare.h).
    // Distinct output buckets a variant may use in kiln_router_output_rows_total (bounds the
    // series a labels output can create); rows of further buckets count as "other".
    std::size_t max_output_buckets = 64;
  };

  Router(RouterConfig config, UpstreamCall call, metrics::Registry& registry, Options options);
  ~Router();  // Stops the background thread; pending mirrors are dropped.
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Routes one request; request.key is the sticky header's value ("" when absent). Never
  // throws; upstream failures answer 502.
  HttpResponse handle(const HttpRequest& request);

  // Replaces the configuration for requests that start from now on.
  void reload(RouterConfig config);
  std::shared_ptr<const RouterConfig> config() const;

  // Blocks until every queued mirror and comparison has been processed (for tests and drain).
  void flush();

 private:
  // A background call whose answer is compared with an answer the caller already got: for a
  // shadow mirror, the shadow is called and compared with stable's answer; for a canary request,
  // stable is called and compared with canary's answer. The comparison is symmetric.
  struct Job {
    std::string variant;  // The variant the comparison is reported under: "shadow" or "canary".
    std::string url;      // Where the background call goes.
    std::string path;
    std::string body;
    std::string answered;  // The response body the caller got.
    bool answered_by_variant = false;  // `answered` is the variant's (canary) or stable's (shadow).
  };
  void enqueue(Job job);
  void run_jobs();
  // Compares the job's answer with `other`, the background call's, and counts the rows.
  void compare(const Job& job, const std::string& other);
  // Counts the rows of one answer by bucket, under the variant's bucket limit. Holds mutex_.
  void count_outputs(const std::string& variant, const std::string& source,
                     const std::map<std::string, std::uint64_t>& buckets);
  bool draw(double percent);

  std::shared_ptr<const RouterConfig> config_;  // Accessed with std::atomic_load/store.
  UpstreamCall call_;
  Options options_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& latency_;
  metrics::Counter& dropped_;
  metrics::Family<metrics::Counter>& comparisons_;
  metrics::Family<metrics::Counter>& outputs_;
  metrics::Family<metrics::Gauge>& agreement_;
  metrics::Family<metrics::Gauge>& mad_;

  std::mutex rng_mutex_;
  std::mt19937_64 rng_;

  std::mutex mutex_;  // Guards the members below.
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Job> jobs_;
  bool busy_ = false;
  bool stopping_ = false;
  struct Stats {
    double compared = 0, agreed = 0, abs_diff_sum = 0, values = 0;
  };
  std::unordered_map<std::string, Stats> stats_;
  std::unordered_map<std::string, std::set<std::string>> buckets_;  // Per variant, in use.
  std::thread worker_;
};

}  // namespace kiln::runtime
