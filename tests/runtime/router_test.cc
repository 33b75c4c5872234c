// The router against real upstreams: three OIP servers on port-0 sockets serving real XGBoost
// models, reached through the real HTTP upstream client.

#include "runtime/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "drift/stattests.h"
#include "model_fixtures.h"
#include "runtime/http_server.h"
#include "runtime/upstream_pool.h"
#include "runtime/xgboost_backend.h"

namespace kiln::runtime {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using testing::model_fixtures;

struct Upstream {
  metrics::Registry registry;
  std::unique_ptr<InferenceService> service;
  std::unique_ptr<HttpServer> server;
  std::string url;
};

// Serves the XGBoost model at `path` as "cancer".
std::unique_ptr<Upstream> start_upstream_at(const std::string& path) {
  auto u = std::make_unique<Upstream>();
  u->service = std::make_unique<InferenceService>(ServiceOptions{}, u->registry);
  u->service->add_model("cancer", "1", load_xgboost(path), 0);
  auto server =
      HttpServer::start({"127.0.0.1", 0, 1 << 20, ""},
                        [s = u->service.get()](const HttpRequest& r) { return s->handle(r); });
  if (!server.ok()) return nullptr;
  u->server = std::move(server).value();
  u->url = "http://127.0.0.1:" + std::to_string(u->server->port());
  return u;
}

std::unique_ptr<Upstream> start_upstream(const std::string& model_file) {
  return start_upstream_at(model_fixtures().path(model_file));
}

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

Router::Options mirror_queue_of(std::size_t size) {
  Router::Options options;
  options.mirror_queue = size;
  return options;
}

double total(const std::map<std::string, double>& buckets) {
  double sum = 0;
  for (const auto& [bucket, rows] : buckets) sum += rows;
  return sum;
}

// Every router test runs over both upstream clients: cpprestsdk's (http_upstream_call) and the
// pooled Beast one (pooled_upstream_call, what `kiln-runtime route` uses).
class RouterTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    stable_ = start_upstream("binary.json");
    canary_ = start_upstream("binary.ubj");  // The same trees in the other format.
    shadow_ = start_upstream("binary.json");
    ASSERT_TRUE(stable_ && canary_ && shadow_);
    // The real HTTP call, recording which upstream each request key reached.
    auto real = GetParam() ? pooled_upstream_call() : http_upstream_call();
    call_ = [this, real](const std::string& url, const HttpRequest& r) {
      {
        std::lock_guard lock(seen_mutex_);
        if (!r.key.empty()) seen_[std::string(r.key)].insert(url);
      }
      return real(url, r);
    };
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

  HttpResponse infer(Router& router, int row, std::string_view key = "") {
    const std::string body = infer_body(row);
    return router.handle({"POST", "/v2/models/cancer/infer", body, key});
  }

  std::unique_ptr<Upstream> stable_, canary_, shadow_;
  UpstreamCall call_;
  std::mutex seen_mutex_;
  std::map<std::string, std::set<std::string>> seen_;
  metrics::Registry registry_;
};

TEST_P(RouterTest, WeightZeroSendsEverythingToStable) {
  Router router(config(0, 0), call_, registry_, {});
  for (int i = 0; i < 10; ++i) ASSERT_EQ(infer(router, i).status, 200);
  EXPECT_EQ(metric(registry_, R"(kiln_router_requests_total{variant="stable",code="200"})"), 10);
  EXPECT_EQ(metric(registry_, R"(kiln_router_requests_total{variant="canary",code="200"})"), -1);
}

TEST_P(RouterTest, CanaryAnswersAreComparedWithStableInTheBackground) {
  Router router(config(100, 0), call_, registry_, {});
  for (int i = 0; i < 10; ++i) {
    auto response = infer(router, i);
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(json::parse(response.body)["model_name"], "cancer");
  }
  router.flush();
  EXPECT_EQ(metric(registry_, R"(kiln_router_requests_total{variant="canary",code="200"})"), 10);
  EXPECT_EQ(metric(registry_, R"(kiln_router_comparisons_total{variant="canary",result="agree"})"),
            10);
  EXPECT_EQ(metric(registry_, R"(kiln_router_agreement_ratio{variant="canary"})"), 1);
  EXPECT_EQ(metric(registry_, R"(kiln_router_mean_absolute_difference{variant="canary"})"), 0);
  // The same trees answer the same: every row in the same output bucket for both answers.
  const auto canary_rows = output_rows(registry_, "canary", "canary");
  EXPECT_EQ(total(canary_rows), 10);
  EXPECT_EQ(canary_rows, output_rows(registry_, "canary", "stable"));
}

TEST_P(RouterTest, StickyKeyAlwaysReachesTheSameVariant) {
  Router router(config(50, 0), call_, registry_, {});
  for (int k = 0; k < 20; ++k) {
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(infer(router, i, "user-" + std::to_string(k)).status, 200);
  }
  std::set<std::string> first_hops;
  for (const auto& [key, urls] : seen_) {
    // Canary requests also reach stable in the background (the comparison); the caller's hop is
    // canary for every request of that key, or stable for every one.
    EXPECT_TRUE(urls.size() == 1 || urls.count(canary_->url) == 1) << key;
    first_hops.insert(urls.count(canary_->url) ? "canary" : "stable");
  }
  EXPECT_EQ(first_hops.size(), 2u);  // 20 keys at 50%: both variants are used.
}

TEST_P(RouterTest, ShadowMirrorIsComparedAndNeverChangesTheAnswer) {
  Router router(config(0, 100), call_, registry_, {});
  for (int i = 0; i < 8; ++i) ASSERT_EQ(infer(router, i).status, 200);
  router.flush();
  EXPECT_EQ(metric(registry_, R"(kiln_router_comparisons_total{variant="shadow",result="agree"})"),
            8);
  EXPECT_EQ(metric(registry_, R"(kiln_router_agreement_ratio{variant="shadow"})"), 1);
  const auto shadow_rows = output_rows(registry_, "shadow", "shadow");
  EXPECT_EQ(total(shadow_rows), 8);
  EXPECT_EQ(shadow_rows, output_rows(registry_, "shadow", "stable"));
}

TEST_P(RouterTest, UnreachableShadowNeverFailsTheCaller) {
  auto c = config(0, 100);
  c.shadow_url = "http://127.0.0.1:1";
  Router router(c, call_, registry_, {});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(infer(router, i).status, 200);
  router.flush();
  EXPECT_EQ(metric(registry_, R"(kiln_router_comparisons_total{variant="shadow",result="error"})"),
            3);
}

TEST_P(RouterTest, FullMirrorQueueDropsMirrorsAndCountsThem) {
  Router router(config(0, 100), call_, registry_, mirror_queue_of(0));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(infer(router, i).status, 200);
  EXPECT_EQ(metric(registry_, "kiln_router_mirror_dropped_total"), 5);
}

TEST_P(RouterTest, ReloadMovesTrafficWithoutANewRouter) {
  Router router(config(0, 0), call_, registry_, {});
  ASSERT_EQ(infer(router, 0).status, 200);
  router.reload(config(100, 0));
  ASSERT_EQ(infer(router, 1).status, 200);
  router.flush();
  EXPECT_EQ(metric(registry_, R"(kiln_router_requests_total{variant="stable",code="200"})"), 1);
  EXPECT_EQ(metric(registry_, R"(kiln_router_requests_total{variant="canary",code="200"})"), 1);
}

INSTANTIATE_TEST_SUITE_P(Upstreams, RouterTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Pooled" : "Cpprest"; });

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
  metrics::Registry batched_registry, single_registry;
  Router batched(config, pooled_upstream_call(), batched_registry, mirror_queue_of(1024));
  Router single(config, pooled_upstream_call(), single_registry, mirror_queue_of(1024));
  const std::string path = "/v2/models/cancer/infer";
  for (std::size_t from = 0; from < rows.size(); from += 100) {
    const std::string body = batch_body(rows, from, 100);
    ASSERT_EQ(batched.handle({"POST", path, body, ""}).status, 200);
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const std::string body = batch_body(rows, r, 1);
    ASSERT_EQ(single.handle({"POST", path, body, ""}).status, 200);
  }
  batched.flush();
  single.flush();
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

// A listener that accepts connections (the kernel does) but never answers.
TEST(PooledUpstream, SilentUpstreamTimesOutWith504AndClosedPortIs502) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const std::string url = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  auto call = pooled_upstream_call({.timeout = std::chrono::milliseconds(300)});
  const std::string body = infer_body(0);
  const auto start = std::chrono::steady_clock::now();
  HttpResponse r = call(url, {"POST", "/v2/models/cancer/infer", body, ""});
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_NE(r.body.find("upstream " + url), std::string::npos) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  silent.close();
  r = call(url, {"POST", "/v2/models/cancer/infer", body, ""});
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(call("ftp://example", {"GET", "/", "", ""}).status, 502);
}

// Connections are kept and reused: many sequential calls to one upstream all answer.
TEST(PooledUpstream, KeepsConnectionsAliveAcrossCalls) {
  auto upstream = start_upstream("binary.json");
  ASSERT_TRUE(upstream);
  auto call = pooled_upstream_call();
  for (int i = 0; i < 50; ++i) {
    const std::string body = infer_body(i);
    const HttpResponse r = call(upstream->url, {"POST", "/v2/models/cancer/infer", body, ""});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"outputs\""), std::string::npos);
    EXPECT_EQ(r.content_type.rfind("application/json", 0), 0u) << r.content_type;
  }
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
