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
//     stable, are compared with stable's: agreement = the same decision (first output: value >=
//     0.5 for one column, argmax for several), plus the mean absolute difference of the values.
//   - Reload: reload() swaps the configuration atomically; requests in flight keep the one they
//     started with, and the listener (and its connections) is untouched.
//
// Metrics: kiln_router_requests_total{variant,code}, kiln_router_request_duration_seconds{variant},
// kiln_router_mirror_dropped_total, kiln_router_comparisons_total{variant,result},
// kiln_router_agreement_ratio{variant}, kiln_router_mean_absolute_difference{variant}.
//
// Thread-safety: handle() and reload() may be called from any thread.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/metrics.h"
#include "runtime/inference_service.h"

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
  };
  void enqueue(Job job);
  void run_jobs();
  void compare(const std::string& variant, const std::string& a, const std::string& b);
  bool draw(double percent);

  std::shared_ptr<const RouterConfig> config_;  // Accessed with std::atomic_load/store.
  UpstreamCall call_;
  Options options_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& latency_;
  metrics::Counter& dropped_;
  metrics::Family<metrics::Counter>& comparisons_;
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
  std::thread worker_;
};

}  // namespace kiln::runtime
