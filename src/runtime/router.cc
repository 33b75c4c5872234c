#include "runtime/router.h"

#include <cpprest/http_client.h>

#include <cmath>
#include <exception>

namespace kiln::runtime {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

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

Result<double> percent_at(const json& j, const char* variant, const char* key) {
  if (!j.contains(variant) || !j[variant].contains(key)) return 0.0;
  const auto& v = j[variant][key];
  if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 100) {
    return Error::invalid_input(std::string(variant) + "." + key + " must be a number in [0, 100]");
  }
  return v.get<double>();
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
  if (j.contains("stickyHeader")) {
    if (!j["stickyHeader"].is_string())
      return Error::invalid_input("stickyHeader must be a string");
    c.sticky_header = j["stickyHeader"].get<std::string>();
  }
  return c;
}

UpstreamCall http_upstream_call() {
  struct Clients {
    std::mutex mutex;
    std::unordered_map<std::string, std::shared_ptr<web::http::client::http_client>> by_url;
  };
  auto clients = std::make_shared<Clients>();
  return [clients](const std::string& base, const HttpRequest& request) -> HttpResponse {
    try {
      std::shared_ptr<web::http::client::http_client> client;
      {
        std::lock_guard lock(clients->mutex);
        auto& slot = clients->by_url[base];
        if (!slot) slot = std::make_shared<web::http::client::http_client>(base);
        client = slot;
      }
      web::http::http_request out(std::string(request.method));
      out.set_request_uri(std::string(request.path));
      if (!request.body.empty()) out.set_body(std::string(request.body), "application/json");
      auto response = client->request(out).get();
      HttpResponse answer;
      answer.status = response.status_code();
      answer.body = response.extract_utf8string(true).get();
      answer.content_type = response.headers().content_type();
      return answer;
    } catch (const std::exception& e) {
      return {502, json{{"error", std::string("upstream ") + base + ": " + e.what()}}.dump(),
              "application/json"};
    }
  };
}

Router::Router(RouterConfig config, UpstreamCall call, metrics::Registry& registry, Options options)
    : config_(std::make_shared<const RouterConfig>(std::move(config))),
      call_(std::move(call)),
      options_(options),
      requests_(registry.counter("kiln_router_requests_total",
                                 "Requests routed, by variant and upstream status code.",
                                 {"variant", "code"})),
      latency_(registry.histogram("kiln_router_request_duration_seconds",
                                  "Time to answer a routed request, upstream included.",
                                  {"variant"}, metrics::exponential_buckets(50e-6, 2, 17))),
      dropped_(registry
                   .counter("kiln_router_mirror_dropped_total",
                            "Mirrors and comparisons dropped because the queue was full.")
                   .with({})),
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
                          {"variant"})),
      rng_(options.seed),
      worker_([this] { run_jobs(); }) {}

Router::~Router() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

std::shared_ptr<const RouterConfig> Router::config() const { return std::atomic_load(&config_); }

void Router::reload(RouterConfig config) {
  std::atomic_store(&config_, std::shared_ptr<const RouterConfig>(
                                  std::make_shared<const RouterConfig>(std::move(config))));
}

bool Router::draw(double percent) {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  std::lock_guard lock(rng_mutex_);
  return std::uniform_real_distribution<double>(0, 100)(rng_) < percent;
}

HttpResponse Router::handle(const HttpRequest& request) {
  const std::string_view request_key = request.key;
  const auto config = this->config();
  const auto start = Clock::now();
  bool canary = false;
  if (!config->canary_url.empty() && config->canary_weight > 0) {
    if (!request_key.empty()) {
      // A fixed hash of the key in [0, 100): the same key always takes the same side.
      const auto h = std::hash<std::string_view>{}(request_key) % 10000;
      canary = static_cast<double>(h) < config->canary_weight * 100;
    } else {
      canary = draw(config->canary_weight);
    }
  }
  const std::string variant = canary ? "canary" : "stable";
  HttpResponse response = call_(canary ? config->canary_url : config->stable_url, request);
  const bool infer = request.method == "POST" && request.path.ends_with("/infer");
  if (infer && response.status == 200) {
    if (canary) {
      enqueue({"canary", config->stable_url, std::string(request.path), std::string(request.body),
               response.body, true});
    } else if (!config->shadow_url.empty() && draw(config->mirror_percent)) {
      enqueue({"shadow", config->shadow_url, std::string(request.path), std::string(request.body),
               response.body, false});
    }
  }
  requests_.with({variant, std::to_string(response.status)}).inc();
  latency_.with({variant}).observe(std::chrono::duration<double>(Clock::now() - start).count());
  return response;
}

void Router::enqueue(Job job) {
  {
    std::lock_guard lock(mutex_);
    if (jobs_.size() >= options_.mirror_queue) {
      dropped_.inc();
      return;
    }
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void Router::run_jobs() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    HttpResponse other = call_(job.url, HttpRequest{"POST", job.path, job.body});
    if (other.status == 200) {
      compare(job, other.body);
    } else {
      const auto rows = first_output_rows(job.answered);
      comparisons_.with({job.variant, "error"})
          .inc(rows.ok() ? static_cast<double>(rows->rows) : 1);
    }
    lock.lock();
    busy_ = false;
    if (jobs_.empty()) idle_.notify_all();
  }
}

void Router::compare(const Job& job, const std::string& other) {
  const auto answered = first_output_rows(job.answered);
  const auto called = first_output_rows(other);
  const Result<RowComparison> c =
      answered.ok() && called.ok()
          ? compare_rows(*answered, *called, options_.compare)
          : Result<RowComparison>(Error::invalid_input("an answer has no readable output"));
  if (!c.ok()) {
    comparisons_.with({job.variant, "mismatch"})
        .inc(answered.ok() ? static_cast<double>(answered->rows) : 1);
    return;
  }
  comparisons_.with({job.variant, "agree"}).inc(static_cast<double>(c->agreed));
  comparisons_.with({job.variant, "disagree"}).inc(static_cast<double>(c->rows - c->agreed));
  // Which answer is the variant's: the caller's for a canary, the background call's for a shadow.
  const auto& variant_buckets = job.answered_by_variant ? c->buckets_a : c->buckets_b;
  const auto& stable_buckets = job.answered_by_variant ? c->buckets_b : c->buckets_a;
  std::lock_guard lock(mutex_);
  count_outputs(job.variant, job.variant, variant_buckets);
  count_outputs(job.variant, "stable", stable_buckets);
  if (c->rows == 0) return;
  Stats& s = stats_[job.variant];
  s.compared += static_cast<double>(c->rows);
  s.agreed += static_cast<double>(c->agreed);
  s.abs_diff_sum += c->absolute_difference;
  s.values += static_cast<double>(c->values);
  agreement_.with({job.variant}).set(s.agreed / s.compared);
  if (s.values > 0) mad_.with({job.variant}).set(s.abs_diff_sum / s.values);
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

void Router::flush() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return jobs_.empty() && !busy_; });
}

}  // namespace kiln::runtime
