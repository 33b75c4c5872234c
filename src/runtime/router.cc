#include "runtime/router.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>

#include "common/log.h"

namespace kiln::runtime {
namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kUpstreamNames[] = {"stable", "canary", "shadow"};

Result<std::string> url_at(const json& j, const char* variant, bool required) {
  if (!j.contains(variant)) {
    if (required) return Error::invalid_input(std::string(variant) + " is required");
    return std::string();
  }
  const auto& v = j[variant];
  if (!v.is_object() || !v.contains("url") || !v["url"].is_string()) {
    return Error::invalid_input(std::string(variant) + ".url must be a string");
  }
  return v["url"].get<std::string>();
}

// "host:port": a port in 1..65535 and a host without a scheme, path or space (an IPv6 address
// in brackets).
bool is_host_port(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || s.size() - colon - 1 > 5 ||
      colon + 1 == s.size()) {
    return false;
  }
  unsigned port = 0;
  for (const char c : s.substr(colon + 1)) {
    if (c < '0' || c > '9') return false;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port == 0 || port > 65535) return false;
  const std::string_view host = s.substr(0, colon);
  if (host.find_first_of("/ \t@?#") != std::string_view::npos) return false;
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return host.find(':') == std::string_view::npos;
}

Result<std::string> grpc_url_at(const json& j, const char* variant) {
  if (!j.contains(variant) || !j[variant].is_object() || !j[variant].contains("grpcUrl")) {
    return std::string();
  }
  const auto& v = j[variant]["grpcUrl"];
  if (!v.is_string() || !is_host_port(v.get_ref<const std::string&>())) {
    return Error::invalid_input(std::string(variant) +
                                ".grpcUrl must be \"host:port\" (e.g. \"stable.ns.svc:8081\")");
  }
  return v.get<std::string>();
}

Result<double> percent_at(const json& j, const char* variant, const char* key) {
  if (!j.contains(variant) || !j[variant].contains(key)) return 0.0;
  const auto& v = j[variant][key];
  if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 100) {
    return Error::invalid_input(std::string(variant) + "." + key + " must be a number in [0, 100]");
  }
  return v.get<double>();
}

http::Response json_error(int status, std::string_view message) {
  http::Response response;
  response.status = status;
  response.body = json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
  return response;
}

std::int64_t ticks(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace

Result<RouterConfig> RouterConfig::from_json(const json& j) {
  if (!j.is_object()) return Error::invalid_input("router configuration must be an object");
  RouterConfig c;
  KILN_TRY(c.stable_url, url_at(j, "stable", true));
  KILN_TRY(c.canary_url, url_at(j, "canary", false));
  KILN_TRY(c.canary_weight, percent_at(j, "canary", "weight"));
  KILN_TRY(c.shadow_url, url_at(j, "shadow", false));
  KILN_TRY(c.mirror_percent, percent_at(j, "shadow", "mirrorPercent"));
  KILN_TRY(c.stable_grpc_url, grpc_url_at(j, "stable"));
  KILN_TRY(c.canary_grpc_url, grpc_url_at(j, "canary"));
  KILN_TRY(c.shadow_grpc_url, grpc_url_at(j, "shadow"));
  if (j.contains("stickyHeader")) {
    if (!j["stickyHeader"].is_string())
      return Error::invalid_input("stickyHeader must be a string");
    c.sticky_header = j["stickyHeader"].get<std::string>();
  }
  return c;
}

std::uint64_t fnv1a64(std::string_view bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

double sticky_bucket(std::string_view key) noexcept {
  return static_cast<double>(fnv1a64(key) % 10000) / 100;
}

// One caller request in flight: owned by its upstream call's completion.
namespace {

// The binary tensor extension's header (runtime/oip_codec.h): an answer with it is JSON, then
// binary output data; the comparison reads both (answer_first_output_rows).
constexpr std::string_view kInferenceHeaderLength = "inference-header-content-length";

// Gives back one caller slot of a tracker (Router::Tracker, private) when destroyed, however the
// request ends: an early answer, an exception, or its completion. Move-only.
template <class Tracker>
class InFlightSlot {
 public:
  InFlightSlot() = default;
  explicit InFlightSlot(std::shared_ptr<Tracker> tracker) noexcept : tracker_(std::move(tracker)) {}
  InFlightSlot(InFlightSlot&&) noexcept = default;
  InFlightSlot& operator=(InFlightSlot&& other) noexcept {
    release();
    tracker_ = std::move(other.tracker_);
    return *this;
  }
  ~InFlightSlot() { release(); }

 private:
  void release() noexcept {
    if (tracker_) tracker_->done(tracker_->in_flight);
    tracker_.reset();
  }
  std::shared_ptr<Tracker> tracker_;
};

}  // namespace

struct Router::Exchange {
  // Destroyed last: the router may be gone once the slot is given back.
  InFlightSlot<Tracker> slot;
  Router* router = nullptr;
  std::shared_ptr<Tracker> tracker;
  http::Responder respond{nullptr};  // Set once the exchange starts.
  std::shared_ptr<const RouterConfig> config;
  Upstream upstream = kStable;
  std::uint64_t generation = 0;
  SteadyClock::time_point start;
  bool infer = false;
  // Kept for a comparison's background call (only when one may follow).
  std::string target;
  std::string body;
  std::string content_type;
  std::string header_length;  // Inference-Header-Content-Length of a binary-extension request.
};

void Router::Tracker::done(std::atomic<std::size_t>& counter) noexcept {
  if (counter.fetch_sub(1) == 1 && waiters.load() > 0) {
    std::lock_guard lock(mutex);
    idle.notify_all();
  }
}

void Router::Tracker::wait_until_zero(bool foreground_too) {
  waiters.fetch_add(1);
  {
    std::unique_lock lock(mutex);
    idle.wait(lock, [&] { return background.load() == 0 && (!foreground_too || in_flight.load() == 0); });
  }
  waiters.fetch_sub(1);
}

Router::Router(RouterConfig config, http::IoPool& pool, metrics::Registry& registry,
               Options options)
    : config_(std::make_shared<const RouterConfig>(std::move(config))),
      options_(std::move(options)),
      client_(pool, http::ClientOptions{.timeout = options_.upstream_timeout,
                                        .max_response_bytes = options_.max_response_bytes}),
      draws_(0),
      requests_(registry.counter("kiln_router_requests_total",
                                 "Requests routed, by variant and status code answered.",
                                 {"variant", "code"})),
      latency_(registry.histogram("kiln_router_request_duration_seconds",
                                  "Time to answer a routed request, upstream included.",
                                  {"variant"}, metrics::exponential_buckets(50e-6, 2, 17))),
      dropped_(registry
                   .counter("kiln_router_mirror_dropped_total",
                            "Mirrors and comparisons dropped because too many were in flight.")
                   .with({})),
      rejected_(registry
                    .counter("kiln_router_rejected_total",
                             "Requests answered 429 because too many were in flight.")
                    .with({})),
      ejections_(registry.counter("kiln_router_ejections_total",
                                  "Outlier ejections of an upstream after consecutive failures.",
                                  {"variant"})),
      ejected_(registry.gauge("kiln_router_upstream_ejected",
                              "1 while the upstream is ejected, else 0.", {"variant"})),
      comparisons_(registry.counter(
          "kiln_router_comparisons_total",
          "Output rows compared with stable's (a batch of n rows counts n), by variant and result.",
          {"variant", "result"})),
      outputs_(registry.counter("kiln_router_output_rows_total",
                                "Compared output rows by bucket of the output, for the variant's "
                                "answers (source=variant) and stable's (source=stable).",
                                {"variant", "source", "bucket"})),
      agreement_(registry.gauge("kiln_router_agreement_ratio",
                                "Share of compared rows whose decision equals stable's.",
                                {"variant"})),
      mad_(registry.gauge("kiln_router_mean_absolute_difference",
                          "Mean absolute difference of output values against stable's.",
                          {"variant"})) {
  draws_.store(0);
  for (std::size_t u = 0; u < kUpstreams; ++u) {
    ejection_children_[u] = &ejections_.with({kUpstreamNames[u]});
    ejected_children_[u] = &ejected_.with({kUpstreamNames[u]});
    ejected_children_[u]->set(0);
  }
}

Router::~Router() { tracker_->wait_until_zero(true); }

std::shared_ptr<const RouterConfig> Router::config() const { return config_.load(); }

void Router::reload(RouterConfig config) {
  const auto old = config_.load();
  const std::string* before[] = {&old->stable_url, &old->canary_url, &old->shadow_url};
  const std::string* after[] = {&config.stable_url, &config.canary_url, &config.shadow_url};
  const std::string* grpc_before[] = {&old->stable_grpc_url, &old->canary_grpc_url,
                                      &old->shadow_grpc_url};
  const std::string* grpc_after[] = {&config.stable_grpc_url, &config.canary_grpc_url,
                                     &config.shadow_grpc_url};
  for (std::size_t u = 0; u < kUpstreams; ++u) {
    if (*before[u] == *after[u] && *grpc_before[u] == *grpc_after[u]) continue;
    // Another upstream: its ejection state starts clean; answers of the old one are ignored.
    Outlier& o = outliers_[u];
    o.generation.fetch_add(1);
    o.ejected_until.store(0);
    o.failures.store(0);
    o.ejections.store(0);
    o.returned_at.store(0);
    ejected_children_[u]->set(0);
  }
  config_.store(std::make_shared<const RouterConfig>(std::move(config)));
}

std::int64_t Router::now_ticks() const {
  const auto now = options_.now ? options_.now() : SteadyClock::now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
}

bool Router::draw(double percent) noexcept {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  // SplitMix64 (Steele, Lea, Flood 2014) over a shared counter: lock-free and seeded.
  std::uint64_t x = options_.seed + 0x9e3779b97f4a7c15ull * (draws_.fetch_add(1) + 1);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<double>(x >> 11) * 0x1.0p-53 * 100 < percent;
}

bool Router::ejected(Upstream u, std::int64_t now) noexcept {
  Outlier& o = outliers_[u];
  std::int64_t until = o.ejected_until.load();
  if (until == 0) return false;
  if (now < until) return true;
  if (o.ejected_until.compare_exchange_strong(until, 0)) {
    o.failures.store(0);
    o.returned_at.store(until);
    ejected_children_[u]->set(0);
    log::info("upstream back from ejection", {{"variant", kUpstreamNames[u]}});
  }
  return false;
}

void Router::record(Upstream u, std::uint64_t generation, bool failure, std::int64_t now) noexcept {
  if (options_.eject_after == 0) return;
  Outlier& o = outliers_[u];
  if (o.generation.load() != generation) return;
  if (!failure) {
    if (o.failures.load(std::memory_order_relaxed) != 0) o.failures.store(0);
    return;
  }
  if (o.failures.fetch_add(1) + 1 < options_.eject_after) return;
  // Envoy's multiplier: one more ejection, less one for each base time spent back in.
  const std::int64_t base = std::max<std::int64_t>(ticks(options_.eject_time), 1);
  const std::int64_t cap = std::max(ticks(options_.max_eject_time), base);
  std::uint64_t n = o.ejections.load();
  const std::int64_t returned = o.returned_at.load();
  if (returned > 0 && now > returned) {
    const auto healthy = static_cast<std::uint64_t>((now - returned) / base);
    n = n > healthy ? n - healthy : 0;
  }
  n += 1;
  const std::int64_t duration =
      n > static_cast<std::uint64_t>(cap / base) ? cap : base * static_cast<std::int64_t>(n);
  std::int64_t expected = 0;
  if (!o.ejected_until.compare_exchange_strong(expected, std::max<std::int64_t>(now + duration, 1))) {
    return;  // Already ejected.
  }
  o.ejections.store(n);
  ejection_children_[u]->inc();
  ejected_children_[u]->set(1);
  log::warn("upstream ejected", {{"variant", kUpstreamNames[u]},
                                 {"consecutiveFailures", options_.eject_after},
                                 {"seconds", static_cast<double>(duration) / 1e9}});
}

void Router::refresh_metrics() noexcept {
  const auto now = now_ticks();
  for (std::size_t u = 0; u < kUpstreams; ++u) (void)ejected(static_cast<Upstream>(u), now);
}

metrics::Counter& Router::requests(Upstream u, int status) {
  auto& slot = request_children_[u][static_cast<std::size_t>(std::clamp(status, 0, 599))];
  metrics::Counter* child = slot.load(std::memory_order_acquire);
  if (child == nullptr) {
    child = &requests_.with({kUpstreamNames[u], std::to_string(status)});
    slot.store(child, std::memory_order_release);
  }
  return *child;
}

metrics::Histogram& Router::latency(Upstream u) {
  auto& slot = latency_children_[u];
  metrics::Histogram* child = slot.load(std::memory_order_acquire);
  if (child == nullptr) {
    child = &latency_.with({kUpstreamNames[u]});
    slot.store(child, std::memory_order_release);
  }
  return *child;
}

void Router::handle(http::Request request, http::Responder respond) noexcept {
  try {
    route(request, respond);
  } catch (const std::exception& e) {
    respond(json_error(500, std::string("the router failed: ") + e.what()));  // Ignored if sent.
  } catch (...) {
    respond(json_error(500, "the router failed"));
  }
}

void Router::route(http::Request& request, http::Responder& respond) {
  if (!try_start_request()) {
    respond(json_error(429, "the router has " + std::to_string(options_.max_in_flight) +
                                " requests in flight (its --max-in-flight); retry later"));
    return;
  }
  InFlightSlot<Tracker> slot(tracker_);  // From here on the slot is given back on every path.
  auto exchange = std::make_unique<Exchange>();
  exchange->slot = std::move(slot);
  exchange->router = this;
  exchange->tracker = tracker_;
  exchange->config = config_.load();
  exchange->start = SteadyClock::now();
  const RouterConfig& config = *exchange->config;
  const Route picked = pick(config, request.header(config.sticky_header));
  const Upstream upstream = picked.upstream;
  if (!picked.available) {
    requests(kStable, 503).inc();
    respond(json_error(503, "upstream stable " + config.stable_url + " is ejected after " +
                                std::to_string(options_.eject_after) +
                                " consecutive failures; retry later"));
    return;
  }
  exchange->upstream = upstream;
  exchange->generation = picked.generation;
  exchange->infer = request.method == "POST" && request.path().ends_with("/infer");
  exchange->respond = std::move(respond);

  http::ClientRequest out;
  out.content_type = std::string(request.header("content-type"));
  if (exchange->infer &&
      (upstream == kCanary || (!config.shadow_url.empty() && config.mirror_percent > 0))) {
    exchange->target = request.target;
    exchange->body = request.body;
    exchange->content_type = out.content_type;
    exchange->header_length = std::string(request.header(kInferenceHeaderLength));
  }
  out.method = std::move(request.method);
  out.target = std::move(request.target);
  out.body = std::move(request.body);
  out.headers = std::move(request.headers);  // End-to-end ones pass (http/client.h).
  const std::string& url = upstream == kCanary ? config.canary_url : config.stable_url;
  // The completion owns the exchange; a raw pointer keeps the callback in std::function's
  // own storage (no allocation). Called exactly once (http/client.h).
  Exchange* raw = exchange.release();
  try {
    client_.call(
        url, std::move(out),
        [raw](Result<http::ClientResponse> result) {
          // Its slot is given back when it goes, after the answer: the router may be gone then.
          std::unique_ptr<Exchange> exchange(raw);
          try {
            exchange->router->answered(*exchange, std::move(result));
          } catch (...) {
            try {
              exchange->respond(json_error(500, "the router failed"));  // Ignored if sent.
            } catch (...) {  // Out of memory: the Responder answers 500 when dropped.
            }
          }
        },
        options_.upstream_timeout);
  } catch (...) {
    // call() threw, so the completion will never run (http/client.h): answer here.
    std::unique_ptr<Exchange> back(raw);
    back->respond(json_error(500, "the router is out of memory"));
  }
}

void Router::answered(Exchange& exchange, Result<http::ClientResponse> result) {
  const auto now = now_ticks();
  const bool failure = !result.ok() || result->status >= 500;
  record(exchange.upstream, exchange.generation, failure, now);
  http::Response response;
  std::string header_length;  // Of a binary-extension answer, for a comparison that may follow.
  if (result.ok()) {
    header_length = std::string(result->header(kInferenceHeaderLength));
    response.status = result->status;
    if (!result->content_type.empty()) response.content_type = std::move(result->content_type);
    response.body = std::move(result->body);
    response.headers = std::move(result->headers);
  } else {
    response = json_error(result.error().reason() == "Timeout" ? 504 : 502,
                          result.error().message());
  }
  requests(exchange.upstream, response.status).inc();
  latency(exchange.upstream)
      .observe(std::chrono::duration<double>(SteadyClock::now() - exchange.start).count());

  std::optional<Job> job;
  const RouterConfig& config = *exchange.config;
  if (exchange.infer && response.status == 200) {
    if (exchange.upstream == kCanary) {
      job.emplace();
      job->variant = kCanary;
      job->callee = kStable;
      job->url = config.stable_url;
      job->answered_by_variant = true;
    } else if (!config.shadow_url.empty() && draw(config.mirror_percent)) {
      job.emplace();
      job->variant = kShadow;
      job->callee = kShadow;
      job->url = config.shadow_url;
    }
  }
  if (job) {
    // Reserved before the caller is answered, so that flush() after the answer sees it.
    if (!try_start_background()) {
      job.reset();
    } else {
      job->target = std::move(exchange.target);
      job->body = std::move(exchange.body);
      job->content_type = std::move(exchange.content_type);
      job->header_length = std::move(exchange.header_length);
      job->answered = response.body;
      job->answered_header_length = std::move(header_length);
      job->generation = outliers_[job->callee].generation.load();
    }
  }
  exchange.respond(std::move(response));
  if (job) start_background(std::move(*job));
}

void Router::start_background(Job job) {
  struct Background {
    Router* router;
    std::shared_ptr<Tracker> tracker;
    Job job;
  };
  Background* raw = nullptr;
  try {
    if (ejected(job.callee, now_ticks())) {
      count_unreadable(job, "error");
      tracker_->done(tracker_->background);
      return;
    }
    http::ClientRequest out;
    out.target = job.target;
    out.body = std::move(job.body);
    out.content_type = job.content_type;
    // A binary-extension request is only readable with its JSON part's length.
    if (!job.header_length.empty()) {
      out.headers.push_back({std::string(kInferenceHeaderLength), job.header_length});
    }
    const std::string url = job.url;
    raw = new Background{this, tracker_, std::move(job)};
    client_.call(
        url, std::move(out),
        [raw](Result<http::ClientResponse> result) {
          std::unique_ptr<Background> background(raw);
          try {
            background->router->background_answered(background->job, std::move(result));
          } catch (...) {
            // Counting failed (out of memory): the comparison is lost, the router goes on.
          }
          background->tracker->done(background->tracker->background);
        },
        options_.upstream_timeout);
  } catch (...) {
    delete raw;  // The completion will never run (http/client.h).
    tracker_->done(tracker_->background);
  }
}

void Router::background_answered(Job& job, Result<http::ClientResponse> result) {
  const bool failure = !result.ok() || result->status >= 500;
  record(job.callee, job.generation, failure, now_ticks());
  if (!result.ok() || result->status != 200) return count_unreadable(job, "error");
  try {
    compare(job, result->body, result->header(kInferenceHeaderLength));
  } catch (const std::exception&) {
    count_unreadable(job, "mismatch");
  }
}

void Router::count_unreadable(const Job& job, const char* result) {
  count_failed_comparison(job.variant,
                          answer_first_output_rows(job.answered, job.answered_header_length),
                          result);
}

void Router::count_failed_comparison(Upstream variant, const Result<OutputRows>& rows,
                                     const char* result) {
  comparisons_.with({kUpstreamNames[variant], result})
      .inc(rows.ok() && rows->rows > 0 ? static_cast<double>(rows->rows) : 1);
}

void Router::compare(const Job& job, std::string_view other,
                     std::string_view other_header_length) {
  count_comparison(job.variant, answer_first_output_rows(job.answered, job.answered_header_length),
                   answer_first_output_rows(other, other_header_length), job.answered_by_variant);
}

void Router::count_comparison(Upstream which, const Result<OutputRows>& answered,
                              const Result<OutputRows>& called, bool answered_by_variant) {
  const std::string variant = kUpstreamNames[which];
  const Result<RowComparison> c =
      answered.ok() && called.ok()
          ? compare_rows(*answered, *called, options_.compare)
          : Result<RowComparison>(Error::invalid_input("an answer has no readable output"));
  if (!c.ok()) {
    comparisons_.with({variant, "mismatch"})
        .inc(answered.ok() && answered->rows > 0 ? static_cast<double>(answered->rows) : 1);
    return;
  }
  comparisons_.with({variant, "agree"}).inc(static_cast<double>(c->agreed));
  comparisons_.with({variant, "disagree"}).inc(static_cast<double>(c->rows - c->agreed));
  // Which answer is the variant's: the caller's for a canary, the background call's for a shadow.
  const auto& variant_buckets = answered_by_variant ? c->buckets_a : c->buckets_b;
  const auto& stable_buckets = answered_by_variant ? c->buckets_b : c->buckets_a;
  std::lock_guard lock(mutex_);
  count_outputs(variant, variant, variant_buckets);
  count_outputs(variant, "stable", stable_buckets);
  if (c->rows == 0) return;
  Stats& s = stats_[variant];
  s.compared += static_cast<double>(c->rows);
  s.agreed += static_cast<double>(c->agreed);
  s.abs_diff_sum += c->absolute_difference;
  s.values += static_cast<double>(c->values);
  agreement_.with({variant}).set(s.agreed / s.compared);
  if (s.values > 0) mad_.with({variant}).set(s.abs_diff_sum / s.values);
}

void Router::count_outputs(const std::string& variant, const std::string& source,
                           const std::map<std::string, std::uint64_t>& buckets) {
  std::set<std::string>& in_use = buckets_[variant];
  for (const auto& [bucket, rows] : buckets) {
    const bool known = in_use.count(bucket) > 0;
    if (!known && in_use.size() < options_.max_output_buckets) in_use.insert(bucket);
    const bool kept = known || in_use.count(bucket) > 0;
    outputs_.with({variant, source, kept ? bucket : "other"}).inc(static_cast<double>(rows));
  }
}

void Router::flush() { tracker_->wait_until_zero(false); }

const char* Router::name_of(Upstream u) noexcept {
  return u < kUpstreams ? kUpstreamNames[u] : "unknown";
}

Router::Route Router::pick(const RouterConfig& config, std::string_view sticky_key) noexcept {
  const auto now = now_ticks();
  Route route;
  if (!config.canary_url.empty() && config.canary_weight > 0) {
    const bool canary = sticky_key.empty() ? draw(config.canary_weight)
                                           : sticky_bucket(sticky_key) < config.canary_weight;
    // An ejected canary's share goes to stable.
    if (canary && !ejected(kCanary, now)) route.upstream = kCanary;
  }
  if (route.upstream == kStable && ejected(kStable, now)) route.available = false;
  route.generation = outliers_[route.upstream].generation.load();
  return route;
}

bool Router::try_start_request() noexcept {
  if (tracker_->in_flight.fetch_add(1) < options_.max_in_flight) return true;
  tracker_->done(tracker_->in_flight);
  rejected_.inc();
  return false;
}

void Router::request_done() noexcept { tracker_->done(tracker_->in_flight); }

bool Router::try_start_background() noexcept {
  if (tracker_->background.fetch_add(1) < options_.mirror_queue) return true;
  tracker_->done(tracker_->background);
  dropped_.inc();
  return false;
}

void Router::background_done() noexcept { tracker_->done(tracker_->background); }

bool Router::draw_mirror(const RouterConfig& config) noexcept {
  return !config.shadow_url.empty() && draw(config.mirror_percent);
}

bool Router::is_ejected(Upstream u) noexcept { return ejected(u, now_ticks()); }

std::uint64_t Router::generation(Upstream u) const noexcept {
  return outliers_[u].generation.load();
}

void Router::record(Upstream u, std::uint64_t generation, bool failure) noexcept {
  record(u, generation, failure, now_ticks());
}

void Router::count_request(Upstream u, int status, double seconds) {
  requests(u, status).inc();
  latency(u).observe(seconds);
}

}  // namespace kiln::runtime
