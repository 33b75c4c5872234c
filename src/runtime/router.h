#pragma once

// The router of a ModelDeployment (`kiln-runtime route`): the public endpoint in front of the
// stable, canary and shadow variants, each a `kiln-runtime serve` Service. It never pins a thread:
// handle() runs on the HTTP server's event loop (http/server.h) and every upstream call is an
// asynchronous http::Client call on the same loops (http/client.h), so a hanging upstream holds a
// socket and a deadline, never a thread.
//
//   - Split: a request goes to canary with probability canary.weight/100, else to stable. With
//     the sticky header present (e.g. x-request-key), the choice is a hash of its value, so one
//     key always lands on the same variant for a given weight: the key's bucket is
//     (FNV-1a 64 of its bytes mod 10000) / 100, in [0, 100) by steps of 0.01, and the request
//     goes to canary when bucket < weight (sticky_bucket() below).
//   - Shadow: a share (shadow.mirrorPercent) of stable-routed infer requests is copied to the
//     shadow once stable has answered, as a call in the background. The caller never waits for
//     the shadow. At most Options::mirror_queue mirrors and comparisons are in flight at once;
//     one past that is dropped and counted.
//   - Comparison: the shadow's answer, and for canary-routed infer requests a background call to
//     stable, are compared with stable's row by row (runtime/router_compare.h): agreement = the
//     same decision per row of the first output (value >= 0.5 for a score per row, the argmax for
//     class scores [rows, classes], equal labels for integer/BYTES outputs, a relative tolerance
//     of 10% for a regressor), plus the mean absolute difference of the values. A batch of n rows
//     counts n comparisons. An answer that cannot be read (e.g. a 200 with {"outputs": ["x"]}) is
//     counted as a mismatch, never fatal.
//   - Output distribution: every compared row's output bucket (router_compare.h) is counted for
//     both answers, the variant's and stable's, on the same requests. A reader subtracts two
//     scrapes to get both distributions over a window and compares them (the rollout analysis
//     takes their Jensen-Shannon distance, controllers/modeldeployment/analysis.h).
//   - Limits: at most Options::max_in_flight caller requests are routed at once; one past that is
//     answered 429 {"error": ...} at once. Each upstream call has one deadline
//     (Options::upstream_timeout, connecting included): past it the caller gets 504; an upstream
//     that cannot be reached (or answers over Options::max_response_bytes) 502.
//   - Outlier ejection, as Envoy's outlier detection (consecutive 5xx): after
//     Options::eject_after consecutive failures of one upstream (an answer >= 500, a timeout, an
//     unreachable upstream; background calls count too) it is ejected for
//     eject_time × n, capped at max_eject_time, where n is its ejection count (Envoy's
//     base_ejection_time × number of ejections; n goes down by one for each eject_time it then
//     stays in, as Envoy's multiplier does). While ejected, a canary's share goes to stable, a
//     shadow gets no mirror (counted result="error"), and stable answers 503 at once. After the
//     time it takes traffic again, with its failure count at zero.
//   - Reload: reload() swaps the configuration atomically; requests in flight keep the one they
//     started with, and the listener (and its connections) is untouched. A variant whose URL
//     changes starts with a clean ejection state.
//
// Metrics (the "variant" of a comparison is the one compared with stable: canary or shadow):
//   kiln_router_requests_total{variant,code}             counter: requests, by the status code
//       answered (variant = the upstream chosen: stable or canary)
//   kiln_router_request_duration_seconds{variant}        histogram, seconds, upstream included
//   kiln_router_mirror_dropped_total                     counter: mirrors/comparisons dropped
//       because Options::mirror_queue were in flight
//   kiln_router_rejected_total                           counter: requests answered 429 (the
//       in-flight bound)
//   kiln_router_ejections_total{variant}                 counter: outlier ejections of an upstream
//   kiln_router_upstream_ejected{variant}                gauge: 1 while ejected, else 0
//   kiln_router_comparisons_total{variant,result}        counter: output ROWS compared with
//       stable's: result = agree | disagree | mismatch (answers of different shape or datatype,
//       or one that cannot be read: the rows of the caller's answer, or 1 when it has no
//       readable output) | error (the background call failed, answered non-200 or was not made
//       because its upstream is ejected: those rows, or 1)
//   kiln_router_output_rows_total{variant,source,bucket} counter: compared rows (agree or
//       disagree) by the bucket of their output; source = the variant's answer ("canary" or
//       "shadow") or stable's ("stable"). At most Options::max_output_buckets buckets a variant;
//       rows of buckets past that count under bucket="other".
//   kiln_router_agreement_ratio{variant}                 gauge: agree / compared rows since start
//   kiln_router_mean_absolute_difference{variant}        gauge: of the values, since start
//
// Thread-safety: handle(), reload(), config() and refresh_metrics() may be called from any
// thread; handle() must not block and does not (it is called on a loop thread). Nothing throws
// out of handle() or a completion.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/metrics.h"
#include "common/result.h"
#include "http/client.h"
#include "http/io_pool.h"
#include "http/server.h"
#include "runtime/router_compare.h"

namespace kiln::runtime {

struct RouterConfig {
  std::string stable_url;     // "http://host:port"
  std::string canary_url;     // Empty: no canary.
  double canary_weight = 0;   // Percent of traffic, [0, 100].
  std::string shadow_url;     // Empty: no shadow.
  double mirror_percent = 0;  // Percent of stable infer requests mirrored, [0, 100].
  std::string sticky_header = "x-request-key";
  // The variants' OIP v2 gRPC addresses ("host:port", "[::1]:8081"), for the gRPC router
  // (grpc_router.h); empty: the variant takes no gRPC traffic.
  std::string stable_grpc_url;
  std::string canary_grpc_url;
  std::string shadow_grpc_url;

  // {"stable": {"url", "grpcUrl"}, "canary": {"url", "grpcUrl", "weight"},
  //  "shadow": {"url", "grpcUrl", "mirrorPercent"}, "stickyHeader"} ("grpcUrl" optional);
  // invalid-input naming the field when malformed.
  static Result<RouterConfig> from_json(const nlohmann::json& j);
};

// FNV-1a, 64 bits (Fowler, Noll, Vo; IETF draft-eastlake-fnv, offset basis 0xcbf29ce484222325,
// prime 0x100000001b3) of `bytes`. FNV-1a64("a") = 0xaf63dc4c8601ec8c.
std::uint64_t fnv1a64(std::string_view bytes) noexcept;
// The sticky key's bucket in [0, 100): (fnv1a64(key) mod 10000) / 100. A key goes to canary when
// its bucket < canary weight.
double sticky_bucket(std::string_view key) noexcept;

class Router {
 public:
  struct Options {
    std::size_t mirror_queue = 256;  // Mirrors/comparisons in flight at once before dropping.
    std::uint64_t seed = 1;          // Of the split and mirror draws.
    CompareOptions compare;          // Decision rules of the comparison (router_compare.h).
    // Distinct output buckets a variant may use in kiln_router_output_rows_total (bounds the
    // series a labels output can create); rows of further buckets count as "other".
    std::size_t max_output_buckets = 64;
    std::size_t max_in_flight = 1024;               // Caller requests routed at once; then 429.
    std::chrono::milliseconds upstream_timeout{30000};  // One upstream call, connect included.
    std::size_t max_response_bytes = 64u << 20;     // An upstream answer's body; over it 502.
    std::size_t eject_after = 5;                    // Consecutive failures; 0: never eject.
    std::chrono::milliseconds eject_time{30000};    // Envoy's base_ejection_time.
    std::chrono::milliseconds max_eject_time{300000};  // Envoy's max_ejection_time.
    // The clock of ejections (tests inject one); null: std::chrono::steady_clock::now.
    std::function<std::chrono::steady_clock::time_point()> now;
  };

  // Upstream calls run on `pool`'s loops; the pool must keep running until the router is
  // destroyed. Metrics go to `registry`, which must outlive the router.
  Router(RouterConfig config, http::IoPool& pool, metrics::Registry& registry, Options options);
  // Waits for the calls in flight (each ends by its deadline); stop the server in front first.
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Routes one request (an http::Handler): `respond` is called exactly once, on a loop thread,
  // with the upstream's answer or the router's own (429, 502, 503, 504, {"error": ...}).
  void handle(http::Request request, http::Responder respond) noexcept;

  // Replaces the configuration for requests that start from now on.
  void reload(RouterConfig config);
  std::shared_ptr<const RouterConfig> config() const;

  // Sets kiln_router_upstream_ejected to 0 for ejections whose time has passed (handle() does it
  // for the upstreams it looks at); call before exposing the metrics.
  void refresh_metrics() noexcept;

  // Blocks until no mirror or comparison is in flight (for tests and drain).
  void flush();

  // THE DECISION CORE, shared with a second transport in front of the same variants (the gRPC
  // router, grpc_router.h): the same split, in-flight and mirror bounds, outlier ejection (one
  // state per variant, whichever transport saw the failure) and metric families. Each member
  // below is thread-safe and never blocks.
  enum Upstream : std::size_t { kStable, kCanary, kShadow, kUpstreams };
  // "stable", "canary", "shadow": the variant label of the metrics.
  static const char* name_of(Upstream u) noexcept;
  struct Route {
    Upstream upstream = kStable;
    std::uint64_t generation = 0;  // Of the upstream's ejection state, for record().
    bool available = true;  // false: stable was chosen and is ejected; answer 503/UNAVAILABLE.
  };
  // The variant a new request goes to under `config` (canary_url and canary_weight): canary by
  // sticky_bucket(sticky_key) < weight, or a seeded draw when the key is empty, unless canary is
  // ejected; else stable.
  Route pick(const RouterConfig& config, std::string_view sticky_key) noexcept;
  // Takes one of Options::max_in_flight slots: false (counted in kiln_router_rejected_total)
  // when all are taken; after true, call request_done() exactly once. The destructor waits for
  // every slot taken.
  bool try_start_request() noexcept;
  void request_done() noexcept;
  // Takes one of Options::mirror_queue background slots: false (counted in
  // kiln_router_mirror_dropped_total) when all are taken; after true, call background_done()
  // exactly once, as the last thing that touches the router. flush() waits for them.
  bool try_start_background() noexcept;
  void background_done() noexcept;
  // Whether a stable-routed infer request is mirrored: config has a shadow and a draw of
  // mirror_percent says so.
  bool draw_mirror(const RouterConfig& config) noexcept;
  bool is_ejected(Upstream u) noexcept;
  std::uint64_t generation(Upstream u) const noexcept;
  // An answer of `u` under `generation` (from pick() or generation()): a failure is an answer
  // >= 500 in the REST table (a timeout, an unreachable upstream included).
  void record(Upstream u, std::uint64_t generation, bool failure) noexcept;
  // One caller request answered `status` (an HTTP code) by `u` after `seconds`.
  void count_request(Upstream u, int status, double seconds);
  // One comparison of `variant` (kCanary or kShadow): `answered` is the answer the caller got,
  // `other` the background call's; answered_by_variant says which of them is the variant's.
  // Unreadable answers count as a mismatch (see the metrics above).
  void count_comparison(Upstream variant, const Result<OutputRows>& answered,
                        const Result<OutputRows>& other, bool answered_by_variant);
  // A comparison that could not be made (`result` "error" or "mismatch"): the rows of
  // `answered`, or 1.
  void count_failed_comparison(Upstream variant, const Result<OutputRows>& answered,
                               const char* result);
  const Options& options() const noexcept { return options_; }

 private:
  struct Exchange;  // One caller request in flight.
  // A background call whose answer is compared with an answer the caller already got: for a
  // shadow mirror, the shadow is called and compared with stable's answer; for a canary request,
  // stable is called and compared with canary's answer. The comparison is symmetric.
  struct Job {
    Upstream variant = kCanary;  // The variant the comparison is reported under.
    Upstream callee = kStable;   // Where the background call goes: kShadow or kStable.
    std::string url;
    std::string target;
    std::string body;
    std::string content_type;
    std::string header_length;         // The request's Inference-Header-Content-Length, or "".
    std::string answered;              // The response body the caller got.
    std::string answered_header_length;  // Its Inference-Header-Content-Length ("" if none).
    bool answered_by_variant = false;  // `answered` is the variant's (canary) or stable's (shadow).
    std::uint64_t generation = 0;      // Of the callee's ejection state.
  };
  // Consecutive failures and ejection of one upstream. Lock-free: every field is atomic.
  struct Outlier {
    std::atomic<std::uint64_t> failures{0};
    std::atomic<std::int64_t> ejected_until{0};  // Clock ticks (ns); 0: not ejected.
    std::atomic<std::int64_t> returned_at{0};    // When the last ejection ended.
    std::atomic<std::uint64_t> ejections{0};     // The multiplier n.
    std::atomic<std::uint64_t> generation{0};    // Bumped when the URL changes.
  };

  void route(http::Request& request, http::Responder& respond);
  void answered(Exchange& exchange, Result<http::ClientResponse> result);
  void start_background(Job job);
  void background_answered(Job& job, Result<http::ClientResponse> result);
  // Compares the job's answer with `other`, the background call's, and counts the rows.
  // `other_header_length`: the other answer's Inference-Header-Content-Length ("" if none).
  void compare(const Job& job, std::string_view other, std::string_view other_header_length);
  // Counts `rows` of the answer the caller got under `result`.
  void count_unreadable(const Job& job, const char* result);
  // Counts the rows of one answer by bucket, under the variant's bucket limit. Holds mutex_.
  void count_outputs(const std::string& variant, const std::string& source,
                     const std::map<std::string, std::uint64_t>& buckets);
  bool draw(double percent) noexcept;
  std::int64_t now_ticks() const;
  // Whether `u` is ejected now; ends an ejection whose time has passed.
  bool ejected(Upstream u, std::int64_t now) noexcept;
  // Records an answer of `u` (a failure: >= 500, timeout, unreachable) under `generation`.
  void record(Upstream u, std::uint64_t generation, bool failure, std::int64_t now) noexcept;
  metrics::Counter& requests(Upstream u, int status);
  metrics::Histogram& latency(Upstream u);
  // Calls in flight, shared with their completions so that the last one may end after the router.
  struct Tracker {
    std::atomic<std::size_t> in_flight{0};   // Caller requests, until their completion returns.
    std::atomic<std::size_t> background{0};  // Mirrors and comparisons.
    std::atomic<int> waiters{0};             // flush() or the destructor waits on idle.
    std::mutex mutex;
    std::condition_variable idle;
    // Counts one task of `counter` done; wakes the waiters when it was the last.
    void done(std::atomic<std::size_t>& counter) noexcept;
    void wait_until_zero(bool foreground_too);
  };

  std::atomic<std::shared_ptr<const RouterConfig>> config_;
  Options options_;
  http::Client client_;
  std::atomic<std::uint64_t> draws_{0};

  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& latency_;
  metrics::Counter& dropped_;
  metrics::Counter& rejected_;
  metrics::Family<metrics::Counter>& ejections_;
  metrics::Family<metrics::Gauge>& ejected_;
  metrics::Family<metrics::Counter>& comparisons_;
  metrics::Family<metrics::Counter>& outputs_;
  metrics::Family<metrics::Gauge>& agreement_;
  metrics::Family<metrics::Gauge>& mad_;
  // Children looked up once (Family::with costs ~190 ns): by upstream, and by status code.
  std::array<std::array<std::atomic<metrics::Counter*>, 600>, kUpstreams> request_children_{};
  std::array<std::atomic<metrics::Histogram*>, kUpstreams> latency_children_{};

  std::array<metrics::Counter*, kUpstreams> ejection_children_{};
  std::array<metrics::Gauge*, kUpstreams> ejected_children_{};

  std::array<Outlier, kUpstreams> outliers_;
  const std::shared_ptr<Tracker> tracker_ = std::make_shared<Tracker>();

  std::mutex mutex_;  // Guards the members below.
  struct Stats {
    double compared = 0, agreed = 0, abs_diff_sum = 0, values = 0;
  };
  std::unordered_map<std::string, Stats> stats_;
  std::unordered_map<std::string, std::set<std::string>> buckets_;  // Per variant, in use.
};

}  // namespace kiln::runtime
