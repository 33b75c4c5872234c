// The webhook's HTTPS endpoint without an API server: a TLS client that verifies the serving
// certificate against make_self_signed_tls's CA posts AdmissionReviews as the API server would.

#include "controllers/admission/server.h"

#include <gtest/gtest.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "controllers/admission/tls.h"

namespace kiln::controllers {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using nlohmann::json;

class AdmissionServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tls = make_self_signed_tls({"localhost"}, {"127.0.0.1"});
    ASSERT_TRUE(tls.ok()) << tls.error().to_string();
    ca_ = tls->ca_cert_pem;
    auto server = AdmissionServer::start({"127.0.0.1", 0, *tls});
    ASSERT_TRUE(server.ok()) << server.error().to_string();
    server_ = std::move(server).value();
  }

  // One HTTPS request on a fresh, verified connection: status and body.
  std::pair<int, std::string> call(beast::http::verb method, const std::string& target,
                                   const std::string& body) {
    asio::io_context io;
    asio::ssl::context context(asio::ssl::context::tls_client);
    context.add_certificate_authority(asio::buffer(ca_));
    context.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, context);
    stream.set_verify_callback(asio::ssl::host_name_verification("localhost"));
    beast::get_lowest_layer(stream).connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    stream.handshake(asio::ssl::stream_base::client);
    beast::http::request<beast::http::string_body> request{method, target, 11};
    request.set(beast::http::field::host, "localhost");
    request.set(beast::http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
    beast::http::write(stream, request);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> response;
    beast::http::read(stream, buffer, response);
    return {response.result_int(), response.body()};
  }

  static std::string review(const std::string& uid, json steps) {
    return json{{"apiVersion", "admission.k8s.io/v1"},
                {"kind", "AdmissionReview"},
                {"request",
                 {{"uid", uid},
                  {"operation", "CREATE"},
                  {"kind", {{"group", "kiln.dev"}, {"version", "v1alpha1"}, {"kind", "DataPipeline"}}},
                  {"object",
                   {{"apiVersion", "kiln.dev/v1alpha1"},
                    {"kind", "DataPipeline"},
                    {"metadata", {{"name", "p"}}},
                    {"spec", {{"steps", steps}}}}}}}}
        .dump();
  }

  std::string ca_;
  std::unique_ptr<AdmissionServer> server_;
};

TEST_F(AdmissionServerTest, AnswersReviewsOverVerifiedTls) {
  auto [status, body] =
      call(beast::http::verb::post, "/validate",
           review("u-1", {{{"name", "a"}, {"image", "x"}, {"dependsOn", {"b"}}},
                          {{"name", "b"}, {"image", "x"}, {"dependsOn", {"a"}}}}));
  ASSERT_EQ(status, 200) << body;
  const auto denied = json::parse(body);
  EXPECT_EQ(denied["response"]["uid"], "u-1");
  EXPECT_EQ(denied["response"]["allowed"], false);
  EXPECT_NE(denied["response"]["status"]["message"].get<std::string>().find("dependency cycle"),
            std::string::npos)
      << body;

  std::tie(status, body) =
      call(beast::http::verb::post, "/validate", review("u-2", {{{"name", "a"}, {"image", "x"}}}));
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(json::parse(body)["response"]["allowed"], true);
  EXPECT_EQ(server_->reviews(), 2u);
}

TEST_F(AdmissionServerTest, RefusesWhatIsNotAReview) {
  auto [status, body] = call(beast::http::verb::post, "/validate", "not json");
  EXPECT_EQ(status, 400);
  EXPECT_TRUE(json::parse(body).contains("error")) << body;
  std::tie(status, body) = call(beast::http::verb::get, "/validate", "");
  EXPECT_EQ(status, 404);
  EXPECT_EQ(server_->reviews(), 0u);
}

TEST(AdmissionServer, ABadCertificateIsInvalidInput) {
  auto server = AdmissionServer::start({"127.0.0.1", 0, TlsBundle{"", "junk", "junk"}});
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().category(), ErrorCategory::kInvalidInput);
}

}  // namespace
}  // namespace kiln::controllers
