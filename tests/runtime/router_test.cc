// The router against real upstreams: OIP servers on port-0 sockets serving real XGBoost models,
// and scripted Beast servers (hanging, failing, answering garbage), reached through the real
// upstream client; callers reach the router through its real server and a real client.

#include "runtime/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <sstream>

#include "drift/stattests.h"
#include "model_fixtures.h"
#include "runtime/http_server.h"
#include "runtime/xgboost_backend.h"

namespace kiln::runtime {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using testing::model_fixtures;
using namespace std::chrono_literals;

constexpr const char* kInfer = "/v2/models/cancer/infer";

// An OIP server of the XGBoost model at `path` as "cancer", recording the sticky keys it sees.
struct Upstream {
  metrics::Registry registry;
  std::unique_ptr<InferenceService> service;
  std::unique_ptr<HttpServer> server;
  std::string url;
  std::mutex mutex;
  std::set<std::string> keys;
};

std::unique_ptr<Upstream> start_upstream_at(const std::string& path) {
  auto u = std::make_unique<Upstream>();
  u->service = std::make_unique<InferenceService>(ServiceOptions{}, u->registry);
  u->service->add_model("cancer", "1", load_xgboost(path), 0);
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.key_header = "x-request-key";
  auto server = HttpServer::start(options, [u = u.get()](const HttpRequest& r) {
    if (!r.key.empty()) {
      std::lock_guard lock(u->mutex);
      u->keys.insert(std::string(r.key));
    }
    return u->service->handle(r);
  });
  if (!server.ok()) return nullptr;
  u->server = std::move(server).value();
  u->url = "http://127.0.0.1:" + std::to_string(u->server->port());
  return u;
}

std::unique_ptr<Upstream> start_upstream(const std::string& model_file) {
  return start_upstream_at(model_fixtures().path(model_file));
}

// An upstream whose answers a test scripts: answer(), hang (held until release_all()) or fail.
class ScriptedUpstream {
 public:
  enum class Mode { kAnswer, kHang };
  explicit ScriptedUpstream(int status = 200, std::string body = "{}") : pool_(1) {
    set(Mode::kAnswer, status, std::move(body));
    http::ServerOptions options;
    options.host = "127.0.0.1";
    options.request_timeout = 60s;
    auto server = http::Server::start(options, pool_, [this](http::Request, http::Responder r) {
      std::lock_guard lock(mutex_);
      ++requests_;
      if (mode_ == Mode::kHang) {
        held_.push_back(std::move(r));
        held_changed_.notify_all();
        return;
      }
      r(response());
    });
    if (server.ok()) server_ = std::move(server).value();
  }
  ~ScriptedUpstream() {
    release_all();
    if (server_) server_->stop();
  }
  bool ok() const { return server_ != nullptr; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  void set(Mode mode, int status = 200, std::string body = "{}") {
    std::lock_guard lock(mutex_);
    mode_ = mode;
    status_ = status;
    body_ = std::move(body);
  }
  int requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // Waits until `n` requests are held (at most 30 s).
  bool wait_held(std::size_t n) {
    std::unique_lock lock(mutex_);
    return held_changed_.wait_for(lock, 30s, [&] { return held_.size() >= n; });
  }
  // Answers the held requests with the scripted answer.
  void release_all() {
    std::vector<http::Responder> held;
    http::Response answer;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
      answer = response();
    }
    for (auto& r : held) r(answer);
  }

 private:
  http::Response response() const {
    http::Response r;
    r.status = status_;
    r.body = body_;
    return r;
  }

  http::IoPool pool_;
  std::mutex mutex_;
  std::condition_variable held_changed_;
  Mode mode_ = Mode::kAnswer;
  int status_ = 200;
  std::string body_;
  int requests_ = 0;
  std::vector<http::Responder> held_;
  std::unique_ptr<http::Server> server_;
};

std::string infer_body(int row) {
  const auto rows = model_fixtures().rows("binary");
  json data = json::array();
  for (float v : rows[static_cast<std::size_t>(row) % rows.size()]) {
    data.push_back(std::isnan(v) ? json() : json(v));
  }
  return json{
      {"inputs", {{{"name", "input"}, {"shape", {1, 20}}, {"datatype", "FP32"}, {"data", data}}}}}
      .dump();
}

double metric(const metrics::Registry& registry, const std::string& series) {
  const std::string text = registry.expose();
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// kiln_router_output_rows_total of one comparison variant and source: bucket -> rows.
std::map<std::string, double> output_rows(const metrics::Registry& registry,
                                          const std::string& variant, const std::string& source) {
  const std::string prefix = "kiln_router_output_rows_total{variant=\"" + variant +
                             "\",source=\"" + source + "\",bucket=\"";
  std::map<std::string, double> out;
  std::istringstream lines(registry.expose());
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(prefix)) continue;
    const auto end = line.find("\"}", prefix.size());
    out[line.substr(prefix.size(), end - prefix.size())] = std::stod(line.substr(end + 3));
  }
  return out;
}

double total(const std::map<std::string, double>& buckets) {
  double sum = 0;
  for (const auto& [bucket, rows] : buckets) sum += rows;
  return sum;
}

struct Reply {
  int status = 0;  // 0: the call failed.
  std::string body;
  std::chrono::steady_clock::duration took{};
};

// A router on its own loops behind its own http::Server, and a client of it on other loops.
class RoutedService {
 public:
  RoutedService(RouterConfig config, Router::Options options = {})
      : router_(std::move(config), pool_, registry, std::move(options)), client_(client_pool_) {
    http::ServerOptions server_options;
    server_options.host = "127.0.0.1";
    server_options.request_timeout = 60s;
    auto server = http::Server::start(
        server_options, pool_, [this](http::Request request, http::Responder respond) {
          router_.handle(std::move(request), std::move(respond));
        });
    if (server.ok()) server_ = std::move(server).value();
    url_ = server_ ? "http://127.0.0.1:" + std::to_string(server_->port()) : "";
  }
  ~RoutedService() {
    if (server_) server_->stop();
  }
  bool ok() const { return server_ != nullptr; }
  Router& router() { return router_; }

  // Starts one request; the future holds its reply.
  std::future<Reply> send(std::string method, std::string target, std::string body = "",
                          std::string key = "") {
    http::ClientRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.body = std::move(body);
    if (!key.empty()) request.headers.push_back({"x-request-key", std::move(key)});
    auto promise = std::make_shared<std::promise<Reply>>();
    auto reply = promise->get_future();
    const auto start = std::chrono::steady_clock::now();
    client_.call(url_, std::move(request), [promise, start](Result<http::ClientResponse> r) {
      Reply out;
      out.took = std::chrono::steady_clock::now() - start;
      if (r.ok()) {
        out.status = r->status;
        out.body = std::move(r->body);
      } else {
        out.body = r.error().to_string();
      }
      promise->set_value(std::move(out));
    });
    return reply;
  }
  Reply infer(int row, std::string key = "") {
    return send("POST", kInfer, infer_body(row), std::move(key)).get();
  }

  metrics::Registry registry;

 private:
  http::IoPool pool_{2};
  Router router_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
  http::IoPool client_pool_{1};
  http::Client client_;
};

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stable_ = start_upstream("binary.json");
    canary_ = start_upstream("binary.ubj");  // The same trees in the other format.
    shadow_ = start_upstream("binary.json");
    ASSERT_TRUE(stable_ && canary_ && shadow_);
  }

  RouterConfig config(double canary_weight, double mirror_percent) {
    RouterConfig c;
    c.stable_url = stable_->url;
    c.canary_url = canary_->url;
    c.canary_weight = canary_weight;
    c.shadow_url = shadow_->url;
    c.mirror_percent = mirror_percent;
    return c;
  }

  std::unique_ptr<Upstream> stable_, canary_, shadow_;
};

Router::Options mirror_queue_of(std::size_t size) {
  Router::Options options;
  options.mirror_queue = size;
  return options;
}

TEST_F(RouterTest, WeightZeroSendsEverythingToStable) {
  RoutedService routed(config(0, 0));
  ASSERT_TRUE(routed.ok());
  for (int i = 0; i < 10; ++i) ASSERT_EQ(routed.infer(i).status, 200);
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_requests_total{variant="stable",code="200"})"),
            10);
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_requests_total{variant="canary",code="200"})"),
            -1);
}

TEST_F(RouterTest, CanaryAnswersAreComparedWithStableInTheBackground) {
  RoutedService routed(config(100, 0));
  for (int i = 0; i < 10; ++i) {
    auto response = routed.infer(i);
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(json::parse(response.body)["model_name"], "cancer");
  }
  routed.router().flush();
  const auto& r = routed.registry;
  EXPECT_EQ(metric(r, R"(kiln_router_requests_total{variant="canary",code="200"})"), 10);
  EXPECT_EQ(metric(r, R"(kiln_router_comparisons_total{variant="canary",result="agree"})"), 10);
  EXPECT_EQ(metric(r, R"(kiln_router_agreement_ratio{variant="canary"})"), 1);
  EXPECT_EQ(metric(r, R"(kiln_router_mean_absolute_difference{variant="canary"})"), 0);
  // The same trees answer the same: every row in the same output bucket for both answers.
  const auto canary_rows = output_rows(r, "canary", "canary");
  EXPECT_EQ(total(canary_rows), 10);
  EXPECT_EQ(canary_rows, output_rows(r, "canary", "stable"));
}

TEST_F(RouterTest, StickyKeyAlwaysReachesTheSameVariant) {
  RoutedService routed(config(50, 0));
  for (int k = 0; k < 20; ++k) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(routed.infer(i, "user-" + std::to_string(k)).status, 200);
    }
  }
  routed.router().flush();
  // The key passes through to the variant it reached; background comparisons carry none.
  int on_canary = 0;
  for (int k = 0; k < 20; ++k) {
    const std::string key = "user-" + std::to_string(k);
    const bool stable = stable_->keys.count(key) > 0, canary = canary_->keys.count(key) > 0;
    EXPECT_NE(stable, canary) << key;
    EXPECT_EQ(canary, sticky_bucket(key) < 50) << key;
    on_canary += canary;
  }
  EXPECT_GT(on_canary, 0);  // 20 keys at 50%: both variants are used.
  EXPECT_LT(on_canary, 20);
}

TEST_F(RouterTest, ShadowMirrorIsComparedAndNeverChangesTheAnswer) {
  RoutedService routed(config(0, 100));
  for (int i = 0; i < 8; ++i) ASSERT_EQ(routed.infer(i).status, 200);
  routed.router().flush();
  const auto& r = routed.registry;
  EXPECT_EQ(metric(r, R"(kiln_router_comparisons_total{variant="shadow",result="agree"})"), 8);
  EXPECT_EQ(metric(r, R"(kiln_router_agreement_ratio{variant="shadow"})"), 1);
  const auto shadow_rows = output_rows(r, "shadow", "shadow");
  EXPECT_EQ(total(shadow_rows), 8);
  EXPECT_EQ(shadow_rows, output_rows(r, "shadow", "stable"));
}

TEST_F(RouterTest, UnreachableShadowNeverFailsTheCaller) {
  auto c = config(0, 100);
  c.shadow_url = "http://127.0.0.1:1";
  RoutedService routed(c);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(routed.infer(i).status, 200);
  routed.router().flush();
  EXPECT_EQ(
      metric(routed.registry, R"(kiln_router_comparisons_total{variant="shadow",result="error"})"),
      3);
}

TEST_F(RouterTest, FullMirrorQueueDropsMirrorsAndCountsThem) {
  RoutedService routed(config(0, 100), mirror_queue_of(0));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(routed.infer(i).status, 200);
  EXPECT_EQ(metric(routed.registry, "kiln_router_mirror_dropped_total"), 5);
}

TEST_F(RouterTest, ReloadMovesTrafficWithoutANewRouter) {
  RoutedService routed(config(0, 0));
  ASSERT_EQ(routed.infer(0).status, 200);
  routed.router().reload(config(100, 0));
  ASSERT_EQ(routed.infer(1).status, 200);
  routed.router().flush();
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_requests_total{variant="stable",code="200"})"),
            1);
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_requests_total{variant="canary",code="200"})"),
            1);
}

TEST_F(RouterTest, NonInferRequestsPassThroughWithTheirQuery) {
  RoutedService routed(config(0, 0));
  const Reply ready = routed.send("GET", "/v2/models/cancer/ready").get();
  EXPECT_EQ(ready.status, 200) << ready.body;
  const Reply missing = routed.send("GET", "/v2/models/nope").get();
  EXPECT_EQ(missing.status, 404) << missing.body;
  routed.router().flush();
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_requests_total{variant="stable",code="404"})"),
            1);
}

// Issue #16: one hanging canary froze stable traffic. Stable requests are answered while the
// canary's requests hang, none waiting for them, and the canary's get 504 at the deadline.
TEST_F(RouterTest, HangingCanaryDoesNotDelayStableAnswers) {
  ScriptedUpstream canary;
  ASSERT_TRUE(canary.ok());
  canary.set(ScriptedUpstream::Mode::kHang);
  auto c = config(50, 0);
  c.canary_url = canary.url();
  Router::Options options;
  options.upstream_timeout = 3s;
  options.eject_after = 0;  // Every canary request waits for its deadline.
  RoutedService routed(c, options);
  std::vector<std::string> canary_keys, stable_keys;
  for (int k = 0; canary_keys.size() < 20 || stable_keys.size() < 40; ++k) {
    const std::string key = "user-" + std::to_string(k);
    auto& keys = sticky_bucket(key) < 50 ? canary_keys : stable_keys;
    if (keys.size() < (&keys == &canary_keys ? 20u : 40u)) keys.push_back(key);
  }
  std::vector<std::future<Reply>> hanging, answered;
  for (const auto& key : canary_keys) {
    hanging.push_back(routed.send("POST", kInfer, infer_body(0), key));
  }
  ASSERT_TRUE(canary.wait_held(20));
  for (std::size_t i = 0; i < stable_keys.size(); ++i) {
    answered.push_back(
        routed.send("POST", kInfer, infer_body(static_cast<int>(i)), stable_keys[i]));
  }
  // Other requests too: a stable key's readiness check.
  const Reply live = routed.send("GET", "/v2/health/live", "", stable_keys[0]).get();
  EXPECT_EQ(live.status, 200) << live.body;
  for (auto& f : answered) {
    const Reply r = f.get();
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_LT(r.took, 3s);  // Never held up to the canary's deadline.
  }
  for (auto& f : hanging) {
    const Reply r = f.get();
    EXPECT_EQ(r.status, 504) << r.body;
    EXPECT_THAT(r.body, HasSubstr(canary.url()));
  }
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_requests_total{variant="canary",code="504"})"),
            20);
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_requests_total{variant="stable",code="200"})"),
            41);
}

// Issue #16: a malformed 200 from a canary or shadow terminated the router. Each is counted.
TEST_F(RouterTest, GarbageFromCanaryOrShadowIsCountedAndTheRouterStaysUp) {
  const std::vector<std::string> garbage = {
      R"({"outputs":["x"]})", "{", "[]", R"({"outputs":[{"name":"o","shape":[1],"data":"x"}]})",
      R"({"outputs":[{"name":"o","shape":[99999999999],"datatype":"FP32","data":[1]}]})",
      R"({"outputs":[{"name":"o","shape":[1,2],"datatype":"FP32","data":[[1,[2]]]}]})"};
  for (const auto& body : garbage) {
    ScriptedUpstream bad(200, body);
    ASSERT_TRUE(bad.ok());
    auto c = config(100, 0);
    c.canary_url = bad.url();
    RoutedService routed(c);
    const Reply r = routed.infer(0);
    EXPECT_EQ(r.status, 200) << body;  // The canary's answer, passed on as it is.
    EXPECT_EQ(r.body, body);
    auto mirrored = config(0, 100);
    mirrored.shadow_url = bad.url();
    routed.router().reload(mirrored);
    EXPECT_EQ(routed.infer(1).status, 200) << body;
    routed.router().flush();
    const auto& m = routed.registry;
    EXPECT_EQ(metric(m, R"(kiln_router_comparisons_total{variant="canary",result="mismatch"})"), 1)
        << body;
    EXPECT_EQ(metric(m, R"(kiln_router_comparisons_total{variant="shadow",result="mismatch"})"), 1)
        << body;
    EXPECT_EQ(routed.infer(2).status, 200) << body;  // Still routing.
  }
}

// A manual clock for the ejection times.
struct ManualClock {
  std::atomic<std::int64_t> offset_ns{0};
  const std::chrono::steady_clock::time_point base = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point now() const {
    return base + std::chrono::nanoseconds(offset_ns.load());
  }
  void advance(std::chrono::milliseconds d) {
    offset_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  }
};

TEST_F(RouterTest, FailingCanaryIsEjectedToStableAndReturnsAfterItsTime) {
  ScriptedUpstream canary(500, R"({"error": "broken"})");
  ASSERT_TRUE(canary.ok());
  auto c = config(100, 0);
  c.canary_url = canary.url();
  ManualClock clock;
  Router::Options options;
  options.eject_after = 3;
  options.eject_time = 10s;
  options.now = [&clock] { return clock.now(); };
  RoutedService routed(c, options);
  const auto& m = routed.registry;
  const std::string ejected = R"(kiln_router_upstream_ejected{variant="canary"})";
  const std::string ejections = R"(kiln_router_ejections_total{variant="canary"})";
  EXPECT_EQ(metric(m, ejected), 0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(routed.infer(i).status, 500);
  EXPECT_EQ(metric(m, ejected), 1);
  EXPECT_EQ(metric(m, ejections), 1);
  // Ejected: the canary's share goes to stable.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(routed.infer(i).status, 200);
  EXPECT_EQ(canary.requests(), 3);
  EXPECT_EQ(metric(m, R"(kiln_router_requests_total{variant="stable",code="200"})"), 4);

  clock.advance(10s);  // Back after the base time.
  routed.router().refresh_metrics();
  EXPECT_EQ(metric(m, ejected), 0);
  canary.set(ScriptedUpstream::Mode::kAnswer, 200, R"({"outputs": []})");
  EXPECT_EQ(routed.infer(0).status, 200);
  EXPECT_EQ(canary.requests(), 4);

  // A second ejection soon after lasts twice the base time (Envoy's base × ejections).
  canary.set(ScriptedUpstream::Mode::kAnswer, 503, "{}");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(routed.infer(i).status, 503);
  EXPECT_EQ(metric(m, ejections), 2);
  clock.advance(10s);
  EXPECT_EQ(routed.infer(0).status, 200);
  EXPECT_EQ(canary.requests(), 7);  // Still ejected.
  clock.advance(10s);
  EXPECT_EQ(routed.infer(0).status, 503);
  EXPECT_EQ(canary.requests(), 8);  // Back.
}

TEST_F(RouterTest, EjectedStableIsAnswered503AtOnce) {
  ScriptedUpstream stable(502, "{}");
  ASSERT_TRUE(stable.ok());
  auto c = config(0, 0);
  c.stable_url = stable.url();
  ManualClock clock;
  Router::Options options;
  options.eject_after = 2;
  options.eject_time = 30s;
  options.now = [&clock] { return clock.now(); };
  RoutedService routed(c, options);
  EXPECT_EQ(routed.infer(0).status, 502);
  EXPECT_EQ(routed.infer(0).status, 502);
  const Reply refused = routed.infer(0);
  EXPECT_EQ(refused.status, 503);
  EXPECT_THAT(json::parse(refused.body)["error"].get<std::string>(), HasSubstr("ejected"));
  EXPECT_EQ(stable.requests(), 2);
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_upstream_ejected{variant="stable"})"), 1);
  clock.advance(30s);
  stable.set(ScriptedUpstream::Mode::kAnswer, 200, "{}");
  EXPECT_EQ(routed.infer(0).status, 200);
  EXPECT_EQ(stable.requests(), 3);
}

TEST_F(RouterTest, EjectedShadowGetsNoMirrorsAndTheyCountAsErrors) {
  ScriptedUpstream shadow(500, "{}");
  ASSERT_TRUE(shadow.ok());
  auto c = config(0, 100);
  c.shadow_url = shadow.url();
  Router::Options options;
  options.eject_after = 2;
  RoutedService routed(c, options);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(routed.infer(i).status, 200);
    routed.router().flush();
  }
  EXPECT_EQ(shadow.requests(), 2);
  EXPECT_EQ(
      metric(routed.registry, R"(kiln_router_comparisons_total{variant="shadow",result="error"})"),
      4);
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_upstream_ejected{variant="shadow"})"), 1);
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_ejections_total{variant="shadow"})"), 1);
  EXPECT_EQ(metric(routed.registry, R"(kiln_router_upstream_ejected{variant="stable"})"), 0);
}

TEST_F(RouterTest, RequestsPastTheInFlightBoundAre429) {
  ScriptedUpstream stable;
  ASSERT_TRUE(stable.ok());
  stable.set(ScriptedUpstream::Mode::kHang, 200, "{}");
  auto c = config(0, 0);
  c.stable_url = stable.url();
  Router::Options options;
  options.max_in_flight = 2;
  RoutedService routed(c, options);
  auto first = routed.send("GET", "/a");
  auto second = routed.send("GET", "/b");
  ASSERT_TRUE(stable.wait_held(2));
  const Reply third = routed.send("GET", "/c").get();
  EXPECT_EQ(third.status, 429);
  EXPECT_THAT(json::parse(third.body)["error"].get<std::string>(), HasSubstr("in flight"));
  EXPECT_EQ(metric(routed.registry, "kiln_router_rejected_total"), 1);
  stable.set(ScriptedUpstream::Mode::kAnswer, 200, "{}");
  stable.release_all();
  EXPECT_EQ(first.get().status, 200);
  EXPECT_EQ(second.get().status, 200);
  EXPECT_EQ(routed.send("GET", "/d").get().status, 200);
}

TEST_F(RouterTest, SilentUpstreamIs504AndClosedPortIs502) {
  ScriptedUpstream silent;
  ASSERT_TRUE(silent.ok());
  silent.set(ScriptedUpstream::Mode::kHang);
  auto c = config(0, 0);
  c.stable_url = silent.url();
  Router::Options options;
  options.upstream_timeout = 300ms;
  options.eject_after = 0;
  RoutedService routed(c, options);
  const Reply late = routed.infer(0);
  EXPECT_EQ(late.status, 504) << late.body;
  EXPECT_THAT(late.body, HasSubstr("upstream " + silent.url()));
  c.stable_url = "http://127.0.0.1:1";
  routed.router().reload(c);
  const Reply refused = routed.infer(0);
  EXPECT_EQ(refused.status, 502) << refused.body;
  c.stable_url = "ftp://example";
  routed.router().reload(c);
  EXPECT_EQ(routed.infer(0).status, 502);
}

TEST(StickyHash, IsFnv1a64) {
  // Test vectors of draft-eastlake-fnv (FNV-1a, 64 bits).
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ull);
  // bucket = (hash mod 10000) / 100.
  EXPECT_DOUBLE_EQ(sticky_bucket("a"), 19.96);
  EXPECT_DOUBLE_EQ(sticky_bucket("user-1"), 7.08);
  EXPECT_DOUBLE_EQ(sticky_bucket("user-2"), 53.41);
}

TEST_F(RouterTest, StickyKeyGoesToCanaryWhenItsBucketIsUnderTheWeight) {
  RoutedService routed(config(10, 0));
  ASSERT_EQ(routed.infer(0, "user-1").status, 200);  // Bucket 7.08 < 10: canary.
  ASSERT_EQ(routed.infer(0, "user-2").status, 200);  // Bucket 53.41: stable.
  routed.router().flush();
  EXPECT_EQ(canary_->keys, std::set<std::string>{"user-1"});
  EXPECT_EQ(stable_->keys, std::set<std::string>{"user-2"});
}

// The first `n` rows' 20 features of the breast-cancer data make_models.py trains on.
std::vector<std::vector<float>> cancer_rows(std::size_t n) {
  std::ifstream in(model_fixtures().path("breast_cancer.csv"));
  std::vector<std::vector<float>> rows;
  std::string line;
  std::getline(in, line);  // Header.
  while (rows.size() < n && std::getline(in, line)) {
    std::istringstream cells(line);
    std::vector<float> row;
    for (std::string cell; row.size() < 20 && std::getline(cells, cell, ',');) {
      row.push_back(std::stof(cell));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// A real model that answers otherwise than binary.json: its first `trees` trees, written next to
// the test's temporary files (XGBoost's JSON model format).
std::string truncated_binary_model(std::size_t trees) {
  std::ifstream in(model_fixtures().path("binary.json"));
  json model = json::parse(in);
  json& gbtree = model["learner"]["gradient_booster"]["model"];
  gbtree["trees"].erase(gbtree["trees"].begin() + static_cast<std::ptrdiff_t>(trees),
                        gbtree["trees"].end());
  gbtree["tree_info"].erase(gbtree["tree_info"].begin() + static_cast<std::ptrdiff_t>(trees),
                            gbtree["tree_info"].end());
  gbtree["gbtree_model_param"]["num_trees"] = std::to_string(trees);
  const std::string path = ::testing::TempDir() + "/binary_" + std::to_string(trees) + ".json";
  std::ofstream(path) << model.dump();
  return path;
}

// One infer request of rows [from, from + count) as a [count, 20] FP32 tensor.
std::string batch_body(const std::vector<std::vector<float>>& rows, std::size_t from,
                       std::size_t count) {
  json data = json::array();
  for (std::size_t r = from; r < from + count; ++r) {
    for (float v : rows[r]) data.push_back(v);
  }
  return json{{"inputs",
               {{{"name", "input"},
                 {"shape", {count, 20}},
                 {"datatype", "FP32"},
                 {"data", std::move(data)}}}}}
      .dump();
}

// Issue #15: with batches of 100 rows the router's agreement fell far below the models' row-by-row
// agreement. The same 500 rows sent as 5 batches or as 500 requests give the same row counts, and
// the output buckets count rows too.
TEST(RouterBatches, BatchedAgreementEqualsRowByRowAgreement) {
  auto stable = start_upstream("binary.json");
  auto canary = start_upstream_at(truncated_binary_model(3));
  ASSERT_TRUE(stable && canary);
  const auto rows = cancer_rows(500);
  ASSERT_EQ(rows.size(), 500u);
  RouterConfig config;
  config.stable_url = stable->url;
  config.canary_url = canary->url;
  config.canary_weight = 100;
  RoutedService batched_router(config, mirror_queue_of(1024));
  RoutedService single_router(config, mirror_queue_of(1024));
  for (std::size_t from = 0; from < rows.size(); from += 100) {
    ASSERT_EQ(batched_router.send("POST", kInfer, batch_body(rows, from, 100)).get().status, 200);
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    ASSERT_EQ(single_router.send("POST", kInfer, batch_body(rows, r, 1)).get().status, 200);
  }
  batched_router.router().flush();
  single_router.router().flush();
  const metrics::Registry& batched_registry = batched_router.registry;
  const metrics::Registry& single_registry = single_router.registry;
  const std::string agree = R"(kiln_router_comparisons_total{variant="canary",result="agree"})";
  const std::string disagree =
      R"(kiln_router_comparisons_total{variant="canary",result="disagree"})";
  EXPECT_EQ(metric(batched_registry, agree) + metric(batched_registry, disagree), 500);
  EXPECT_EQ(metric(batched_registry, agree), metric(single_registry, agree));
  EXPECT_EQ(metric(batched_registry, disagree), metric(single_registry, disagree));
  // The 3-tree model decides otherwise on a few rows, and agrees on most.
  EXPECT_GT(metric(batched_registry, disagree), 0);
  EXPECT_GT(metric(batched_registry, agree), 450);
  EXPECT_DOUBLE_EQ(metric(batched_registry, R"(kiln_router_agreement_ratio{variant="canary"})"),
                   metric(batched_registry, agree) / 500);

  for (const char* source : {"canary", "stable"}) {
    const auto batched_rows = output_rows(batched_registry, "canary", source);
    EXPECT_EQ(total(batched_rows), 500) << source;
    EXPECT_EQ(batched_rows, output_rows(single_registry, "canary", source)) << source;
  }
  // Its scores stay near 0.5 where stable's are near 0 or 1: the distributions differ.
  const auto canary_rows = output_rows(batched_registry, "canary", "canary");
  const auto stable_rows = output_rows(batched_registry, "canary", "stable");
  EXPECT_NE(canary_rows, stable_rows);
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> aligned;
  for (const auto& [bucket, n] : stable_rows) aligned[bucket].first = std::llround(n);
  for (const auto& [bucket, n] : canary_rows) aligned[bucket].second = std::llround(n);
  std::vector<std::uint64_t> reference, current;
  for (const auto& [bucket, counts] : aligned) {
    reference.push_back(counts.first);
    current.push_back(counts.second);
  }
  const double js = drift::jensen_shannon(drift::shares_from_counts(reference, current));
  RecordProperty("agreement", std::to_string(metric(batched_registry, agree) / 500));
  RecordProperty("output_js_distance", std::to_string(js));
  EXPECT_GT(js, 0.5);
}

TEST(RouterConfigTest, ParsesEveryFieldAndRefusesBadOnes) {
  auto c = RouterConfig::from_json(json::parse(R"({"stable": {"url": "http://a"},
      "canary": {"url": "http://b", "weight": 10}, "shadow": {"url": "http://c",
      "mirrorPercent": 5}, "stickyHeader": "x-user"})"));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->canary_weight, 10);
  EXPECT_EQ(c->mirror_percent, 5);
  EXPECT_EQ(c->sticky_header, "x-user");
  EXPECT_THAT(RouterConfig::from_json(json::parse("{}")).error().message(),
              HasSubstr("stable is required"));
  EXPECT_THAT(RouterConfig::from_json(json::parse(R"({"stable": {"url": "http://a"},
                                  "canary": {"url": "http://b", "weight": 150}})"))
                  .error()
                  .message(),
              HasSubstr("canary.weight"));
}

}  // namespace
}  // namespace kiln::runtime
