// kiln_http's server: keep-alive, pipelining, the Responder contract, deadlines, TLS, IPv6 and
// draining, over real sockets.

#include "http/server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "controllers/admission/tls.h"
#include "raw_connection.h"

namespace kiln::http {
namespace {

using namespace std::chrono_literals;
using testing::RawConnection;

// Echoes what the server parsed: "METHOD path?query|header|body".
Response echo(const Request& request) {
  Response response;
  response.content_type = "text/plain";
  response.body = request.method + " " + std::string(request.path()) + "?" +
                  std::string(request.query()) + "|" + std::string(request.header("x-thing")) +
                  "|" + request.body;
  return response;
}

std::unique_ptr<Server> must_start(ServerOptions options, IoPool& pool, Handler handler) {
  auto server = Server::start(std::move(options), pool, std::move(handler));
  EXPECT_TRUE(server.ok()) << server.error().to_string();
  return server.ok() ? std::move(server).value() : nullptr;
}

ServerOptions local(std::string name = "test") {
  ServerOptions options;
  options.name = std::move(name);
  options.host = "127.0.0.1";
  return options;
}

class ServerTest : public ::testing::Test {
 protected:
  metrics::Registry registry_;
  IoPool pool_{2};

  double refusals(const std::string& reason) {
    return testing::metric_value(
        registry_.expose(),
        "kiln_http_refusals_total{server=\"test\",reason=\"" + reason + "\"}");
  }
};

TEST_F(ServerTest, KeepAliveAnswersEveryRequestOnOneConnection) {
  auto server = must_start(local(), pool_, inline_handler(echo));
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  ASSERT_TRUE(connection.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(connection.send("POST /v2/x?a=" + std::to_string(i) +
                                " HTTP/1.1\r\nHost: t\r\nX-THING: v\r\nContent-Length: 2\r\n\r\nhi"));
    auto response = connection.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "POST /v2/x?a=" + std::to_string(i) + "|v|hi");
    EXPECT_EQ(response.headers["content-type"], "text/plain");
    EXPECT_EQ(response.headers.count("connection"), 0u);
  }
  EXPECT_EQ(server->connections(), 1u);
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  // The first request is answered last (from another thread, later); its answer still comes first.
  auto server = must_start(local(), pool_, [](Request request, Responder respond) {
    if (request.path() == "/slow") {
      std::thread([respond] {
        std::this_thread::sleep_for(200ms);
        respond({200, "text/plain", "slow"});
      }).detach();
      return;
    }
    respond({200, "text/plain", std::string(request.path())});
  });
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  ASSERT_TRUE(connection.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
                              "GET /one HTTP/1.1\r\nHost: t\r\n\r\n"
                              "POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"));
  EXPECT_EQ(connection.read_response().body, "slow");
  EXPECT_EQ(connection.read_response().body, "/one");
  EXPECT_EQ(connection.read_response().body, "/two");
}

TEST_F(ServerTest, AResponderAnswersOnceFromAnyThread) {
  std::atomic<int> calls{0};
  auto server = must_start(local(), pool_, [&](Request request, Responder respond) {
    std::thread([respond, &calls, path = std::string(request.path())] {
      respond({200, "text/plain", "first " + path});
      respond({500, "text/plain", "second"});  // Ignored.
      ++calls;
    }).detach();
  });
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  EXPECT_EQ(connection.request("GET", "/a").body, "first /a");
  EXPECT_EQ(connection.request("GET", "/b").body, "first /b");
  while (calls.load() < 2) std::this_thread::sleep_for(1ms);
}

TEST_F(ServerTest, ADroppedResponderAnswers500) {
  auto server = must_start(local(), pool_, [](Request, Responder) {});
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  auto response = connection.request("GET", "/");
  EXPECT_EQ(response.status, 500);
  EXPECT_NE(response.body.find("\"error\""), std::string::npos) << response.body;
  EXPECT_EQ(connection.request("GET", "/").status, 500);  // The connection is still usable.
}

TEST_F(ServerTest, AThrowingInlineHandlerAnswers500) {
  auto server = must_start(local(), pool_, inline_handler([](const Request&) -> Response {
                             throw std::runtime_error("boom");
                           }));
  ASSERT_TRUE(server);
  auto response = RawConnection("127.0.0.1", server->port()).request("GET", "/");
  EXPECT_EQ(response.status, 500);
  EXPECT_NE(response.body.find("boom"), std::string::npos) << response.body;
}

TEST_F(ServerTest, ARequestPastItsDeadlineGets503AndTheLateAnswerIsDropped) {
  auto options = local();
  options.registry = &registry_;
  options.request_timeout = 300ms;
  std::mutex mutex;
  std::vector<Responder> held;
  auto server = must_start(options, pool_, [&](Request request, Responder respond) {
    if (request.path() == "/hang") {
      std::lock_guard lock(mutex);
      held.push_back(respond);
      return;
    }
    respond({200, "text/plain", "ok"});
  });
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  auto response = connection.request("GET", "/hang");
  EXPECT_EQ(response.status, 503);
  EXPECT_NE(response.body.find("deadline"), std::string::npos) << response.body;
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(held.size(), 1u);
    held[0]({200, "text/plain", "late"});  // Dropped: the client was answered.
  }
  auto next = connection.request("GET", "/ok");
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "ok");
  EXPECT_EQ(refusals("request_timeout"), 1);
}

TEST_F(ServerTest, AMalformedRequestGets400AndTheConnectionCloses) {
  auto options = local();
  options.registry = &registry_;
  auto server = must_start(options, pool_, inline_handler(echo));
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  ASSERT_TRUE(connection.send("GET / HTTP/1.1\r\nNo colon here\r\n\r\n"));
  auto response = connection.read_response();
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.headers["connection"], "close");
  EXPECT_NE(response.body.find("malformed"), std::string::npos) << response.body;
  EXPECT_TRUE(connection.wait_closed(5s));
  EXPECT_EQ(refusals("malformed"), 1);
  // The exposition has every reason of this server, and its connection gauge.
  const std::string text = registry_.expose();
  for (const char* reason : {"header_too_large", "body_too_large", "header_timeout",
                             "body_timeout", "request_timeout", "connection_limit"}) {
    EXPECT_EQ(refusals(reason), 0) << reason;
  }
  EXPECT_NE(text.find("kiln_http_connections{server=\"test\"}"), std::string::npos) << text;
}

TEST_F(ServerTest, AKeptAliveConnectionIsClosedAfterTheIdleTimeout) {
  auto options = local();
  options.registry = &registry_;
  options.idle_timeout = 300ms;
  auto server = must_start(options, pool_, inline_handler(echo));
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  EXPECT_EQ(connection.request("GET", "/").status, 200);
  EXPECT_TRUE(connection.wait_closed(10s));
  EXPECT_EQ(refusals("header_timeout"), 0);  // Idling is not a refusal.
  for (int i = 0; i < 500 && server->connections() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server->connections(), 0u);
}

TEST_F(ServerTest, Http10ConnectionsCloseUnlessKeptAlive) {
  auto server = must_start(local(), pool_, inline_handler(echo));
  ASSERT_TRUE(server);
  {
    RawConnection connection("127.0.0.1", server->port());
    ASSERT_TRUE(connection.send("GET /a HTTP/1.0\r\n\r\n"));
    auto response = connection.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.headers["connection"], "close");
    EXPECT_TRUE(connection.wait_closed(5s));
  }
  RawConnection connection("127.0.0.1", server->port());
  ASSERT_TRUE(connection.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto response = connection.read_response();
  EXPECT_EQ(response.headers["connection"], "keep-alive");
  ASSERT_TRUE(connection.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_EQ(connection.read_response().body, "GET /b?||");
}

TEST_F(ServerTest, ExpectContinueGets100OnlyFromHttp11Clients) {
  auto server = must_start(local(), pool_, inline_handler(echo));
  ASSERT_TRUE(server);
  {
    RawConnection connection("127.0.0.1", server->port());
    ASSERT_TRUE(connection.send(
        "POST /one HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"));
    EXPECT_EQ(connection.read_response().status, 100);
    ASSERT_TRUE(connection.send("hi"));
    EXPECT_EQ(connection.read_response().status, 200);
  }
  // RFC 7231 section 5.1.1: an HTTP/1.0 client's 100-continue is ignored; the first answer it
  // reads is the final one.
  RawConnection connection("127.0.0.1", server->port());
  ASSERT_TRUE(connection.send(
      "POST /ten HTTP/1.0\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"));
  auto response = connection.read_response();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "POST /ten?||hi");
}

TEST_F(ServerTest, AThrowingAsynchronousHandlerAnswers500) {
  auto server = must_start(local(), pool_, [](Request request, Responder) {
    if (request.target == "/throw") throw std::runtime_error("boom");
  });
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  auto response = connection.request("GET", "/throw");
  EXPECT_EQ(response.status, 500);
  EXPECT_NE(response.body.find("boom"), std::string::npos) << response.body;
  EXPECT_EQ(connection.request("GET", "/drop").status, 500);  // Dropped: answered too.
}

TEST_F(ServerTest, AContentTypeWithCrLfIsNotWritten) {
  auto server = must_start(local(), pool_, inline_handler([](const Request&) {
                             return Response{200, "text/plain\r\nX-Injected: yes", "ok"};
                           }));
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  auto response = connection.request("GET", "/");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers.count("x-injected"), 0u);
  EXPECT_EQ(response.headers["content-type"], "application/octet-stream");
  EXPECT_EQ(response.body, "ok");
}

TEST_F(ServerTest, NoContentAndNotModifiedHaveNoBody) {
  auto server = must_start(local(), pool_, inline_handler([](const Request& request) {
                             const int status = request.target == "/204"   ? 204
                                                : request.target == "/304" ? 304
                                                                           : 200;
                             return Response{status, "text/plain", "a body that must not go"};
                           }));
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  for (const char* target : {"/204", "/304"}) {
    auto response = connection.request("GET", target);
    EXPECT_EQ(response.status, std::stoi(target + 1));
    EXPECT_EQ(response.headers.count("content-length"), 0u) << target;
    EXPECT_EQ(response.body, "");
  }
  // Nothing of those bodies is left on the connection ahead of the next answer.
  auto next = connection.request("GET", "/200");
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "a body that must not go");
}

TEST_F(ServerTest, ExtraHeadersAreSentAndUnsafeOnesDropped) {
  auto server = must_start(local(), pool_, inline_handler([](const Request&) {
                             Response response;
                             response.body = "{}";
                             response.headers = {{"Inference-Header-Content-Length", "2"},
                                                 {"X-Split", "a\r\nX-Injected: 1"},
                                                 {"Content-Length", "99"}};
                             return response;
                           }));
  ASSERT_TRUE(server);
  auto response = RawConnection("127.0.0.1", server->port()).request("GET", "/");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers["inference-header-content-length"], "2");
  EXPECT_EQ(response.headers.count("x-split"), 0u);
  EXPECT_EQ(response.headers.count("x-injected"), 0u);
  EXPECT_EQ(response.headers["content-length"], "2");
  EXPECT_EQ(response.headers["content-type"], "application/json");
}

TEST_F(ServerTest, ConnectionsOverTheLimitAreClosedAndCounted) {
  auto options = local();
  options.registry = &registry_;
  options.max_connections = 2;
  auto server = must_start(options, pool_, inline_handler(echo));
  ASSERT_TRUE(server);
  RawConnection first("127.0.0.1", server->port());
  RawConnection second("127.0.0.1", server->port());
  EXPECT_EQ(first.request("GET", "/").status, 200);
  EXPECT_EQ(second.request("GET", "/").status, 200);
  RawConnection third("127.0.0.1", server->port());
  ASSERT_TRUE(third.connected());  // The kernel accepts; the server closes it at once.
  EXPECT_TRUE(third.wait_closed(5s));
  EXPECT_EQ(refusals("connection_limit"), 1);
  EXPECT_EQ(server->connections(), 2u);
  EXPECT_EQ(first.request("GET", "/").status, 200);
}

TEST_F(ServerTest, ServesTls) {
  auto bundle = controllers::make_self_signed_tls({"localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(bundle.ok()) << bundle.error().to_string();
  auto options = local();
  options.tls = TlsOptions{bundle->cert_pem, bundle->key_pem};
  auto server = must_start(options, pool_, inline_handler(echo));
  ASSERT_TRUE(server);

  namespace asio = boost::asio;
  namespace beast = boost::beast;
  asio::io_context io;
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.add_certificate_authority(asio::buffer(bundle->ca_cert_pem));
  context.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, context);
  stream.set_verify_callback(asio::ssl::host_name_verification("localhost"));
  beast::get_lowest_layer(stream).connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port()));
  // A regression fails (the blocking calls throw) instead of hanging.
  const timeval limit{30, 0};
  const int fd = beast::get_lowest_layer(stream).socket().native_handle();
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  stream.handshake(asio::ssl::stream_base::client);
  for (const char* body : {"one", "two"}) {  // Two requests on one TLS connection.
    beast::http::request<beast::http::string_body> request{beast::http::verb::post, "/tls", 11};
    request.set(beast::http::field::host, "localhost");
    request.body() = body;
    request.prepare_payload();
    beast::http::write(stream, request);
    beast::flat_buffer buffer;
    beast::http::response<beast::http::string_body> response;
    beast::http::read(stream, buffer, response);
    EXPECT_EQ(response.result_int(), 200);
    EXPECT_EQ(response.body(), std::string("POST /tls?||") + body);
  }
  // Plain HTTP on the TLS port is not answered as HTTP.
  RawConnection plain("127.0.0.1", server->port());
  ASSERT_TRUE(plain.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(plain.read_response(5s).status, 0);
}

TEST_F(ServerTest, ABadCertificateIsInvalidInput) {
  auto options = local();
  options.tls = TlsOptions{"not a certificate", "not a key"};
  auto server = Server::start(options, pool_, inline_handler(echo));
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_NE(server.error().message().find("certificate"), std::string::npos);
}

TEST_F(ServerTest, AnAddressThatIsNotAnIpLiteralIsInvalidInput) {
  auto options = local();
  options.host = "localhost";
  auto server = Server::start(options, pool_, inline_handler(echo));
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_NE(server.error().message().find("'localhost'"), std::string::npos);
}

TEST_F(ServerTest, APortInUseIsRetryable) {
  auto first = must_start(local(), pool_, inline_handler(echo));
  ASSERT_TRUE(first);
  auto options = local();
  options.port = first->port();
  auto second = Server::start(options, pool_, inline_handler(echo));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().category(), ErrorCategory::kRetryable);
}

bool has_ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

TEST_F(ServerTest, ServesIpv6Loopback) {
  if (!has_ipv6_loopback()) GTEST_SKIP() << "this machine has no IPv6 loopback";
  auto options = local();
  options.host = "::1";
  auto server = must_start(options, pool_, inline_handler([](const Request& request) {
                             return Response{200, "text/plain", request.remote_address};
                           }));
  ASSERT_TRUE(server);
  RawConnection connection("::1", server->port());
  ASSERT_TRUE(connection.connected());
  auto response = connection.request("GET", "/");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "::1");
}

TEST_F(ServerTest, TheUnspecifiedIpv6AddressTakesIpv4Too) {
  if (!has_ipv6_loopback()) GTEST_SKIP() << "this machine has no IPv6 loopback";
  auto options = local();
  options.host = "::";
  auto server = must_start(options, pool_, inline_handler(echo));
  ASSERT_TRUE(server);
  EXPECT_EQ(RawConnection("::1", server->port()).request("GET", "/six").status, 200);
  RawConnection four("127.0.0.1", server->port());
  if (!four.connected()) GTEST_SKIP() << "IPv6 sockets here are IPv6-only (bindv6only)";
  EXPECT_EQ(four.request("GET", "/four").status, 200);
}

TEST_F(ServerTest, StopLetsAnInFlightHandlerFinishThenCloses) {
  std::mutex mutex;
  std::condition_variable cv;
  bool started = false;
  auto server = must_start(local(), pool_, [&](Request, Responder respond) {
    {
      std::lock_guard lock(mutex);
      started = true;
    }
    cv.notify_all();
    std::thread([respond] {
      std::this_thread::sleep_for(300ms);
      respond({200, "text/plain", "finished"});
    }).detach();
  });
  ASSERT_TRUE(server);
  const auto port = server->port();
  RawConnection idle("127.0.0.1", port);
  ASSERT_TRUE(idle.connected());
  RawConnection busy("127.0.0.1", port);
  ASSERT_TRUE(busy.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"));
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return started; }));
  }
  server->stop(10s);
  auto response = busy.read_response();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "finished");
  EXPECT_EQ(response.headers["connection"], "close");
  EXPECT_TRUE(busy.wait_closed(5s));
  EXPECT_TRUE(idle.wait_closed(5s));
  EXPECT_FALSE(RawConnection("127.0.0.1", port).connected());  // No longer listening.
  server->stop();  // Idempotent.
}

TEST_F(ServerTest, AfterBeginDrainAnswersCloseTheirConnectionsWhileServingGoesOn) {
  auto server = must_start(local(), pool_, inline_handler(echo));
  ASSERT_TRUE(server);
  RawConnection kept("127.0.0.1", server->port());
  auto before = kept.request("GET", "/before");
  EXPECT_EQ(before.status, 200);
  EXPECT_EQ(before.headers.count("connection"), 0u);  // Kept alive.
  server->begin_drain();
  server->begin_drain();  // Idempotent.
  auto after = kept.request("GET", "/after");
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, "GET /after?||");
  EXPECT_EQ(after.headers["connection"], "close");
  EXPECT_TRUE(kept.wait_closed(5s));
  // New connections are still accepted and served, one answer each.
  RawConnection fresh("127.0.0.1", server->port());
  ASSERT_TRUE(fresh.connected());
  auto answer = fresh.request("GET", "/fresh");
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.headers["connection"], "close");
  EXPECT_TRUE(fresh.wait_closed(5s));
}

// A request counts as in flight from its first byte: one whose body is still being uploaded when
// stop(grace) begins is read, handled and answered within the grace.
TEST_F(ServerTest, StopWaitsForARequestWhoseBodyIsStillBeingUploaded) {
  auto server = must_start(local(), pool_, inline_handler(echo));
  ASSERT_TRUE(server);
  RawConnection idle("127.0.0.1", server->port());
  ASSERT_TRUE(idle.connected());
  EXPECT_EQ(idle.request("GET", "/").status, 200);  // Kept alive, then idle.
  RawConnection uploading("127.0.0.1", server->port());
  ASSERT_TRUE(uploading.send(
      "POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"));
  // The 100 says the server has parsed the header and is reading the body.
  ASSERT_EQ(uploading.read_response().status, 100);
  ASSERT_TRUE(uploading.send("01234"));
  std::thread stopper([&] { server->stop(30s); });
  // The idle connection closes at once, while the upload is still in progress.
  EXPECT_TRUE(idle.wait_closed(10s));
  ASSERT_TRUE(uploading.send("56789"));
  auto response = uploading.read_response();
  stopper.join();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "POST /upload?||0123456789");
  EXPECT_EQ(response.headers["connection"], "close");
  EXPECT_TRUE(uploading.wait_closed(5s));
}

TEST(IoPool, AThrowingHandlerDoesNotEndItsLoop) {
  IoPool pool(1);
  boost::asio::post(pool.next(), [] { throw std::runtime_error("a bug in a handler"); });
  std::mutex mutex;
  std::condition_variable cv;
  bool ran = false;
  boost::asio::post(pool.next(), [&] {
    std::lock_guard lock(mutex);
    ran = true;
    cv.notify_all();
  });
  std::unique_lock lock(mutex);
  EXPECT_TRUE(cv.wait_for(lock, 30s, [&] { return ran; }));
}

TEST_F(ServerTest, StopWithoutGraceClosesAHandlersConnection) {
  std::vector<Responder> held;
  std::mutex mutex;
  std::atomic<bool> called{false};
  auto server = must_start(local(), pool_, [&](Request, Responder respond) {
    std::lock_guard lock(mutex);
    held.push_back(std::move(respond));
    called = true;
  });
  ASSERT_TRUE(server);
  RawConnection connection("127.0.0.1", server->port());
  ASSERT_TRUE(connection.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  while (!called.load()) std::this_thread::sleep_for(1ms);
  server->stop();
  EXPECT_TRUE(connection.wait_closed(5s));
  std::lock_guard lock(mutex);
  held.clear();  // Dropped after stop: nothing is written, nothing breaks.
}

}  // namespace
}  // namespace kiln::http
