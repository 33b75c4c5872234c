// The upstream client against real servers on port-0 sockets: a small Beast server in this file
// whose behaviour each test chooses (answer, hang, close after answering, answer a large body).

#include "http/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <dlfcn.h>
#include <netdb.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>

// A resolver that hangs: this binary's getaddrinfo() (Asio's resolver thread calls it; the
// executable's definition comes before libc's) blocks for the name kSlowHost until the test
// releases it, and hands every other name to libc's.
namespace slow_dns {
constexpr const char* kSlowHost = "slow-resolve.kiln.test";
std::mutex mutex;
std::condition_variable cv;
bool released = false;
bool resolving = false;
}  // namespace slow_dns

extern "C" int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                           addrinfo** res) noexcept {
  using Real = int (*)(const char*, const char*, const addrinfo*, addrinfo**);
  static const auto real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "getaddrinfo"));
  if (node == nullptr || std::string_view(node) != slow_dns::kSlowHost) {
    return real(node, service, hints, res);
  }
  std::unique_lock lock(slow_dns::mutex);
  slow_dns::resolving = true;
  slow_dns::cv.notify_all();
  slow_dns::cv.wait_for(lock, std::chrono::seconds(60), [] { return slow_dns::released; });
  slow_dns::resolving = false;
  slow_dns::cv.notify_all();
  return EAI_NONAME;
}

namespace kiln::http {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

enum class Mode {
  kAnswer,            // Answers every request on a kept-alive connection.
  kHang,              // Reads the request and never answers.
  kCloseAfterAnswer,  // Answers as kept alive, then closes the connection.
  kContinueFirst,     // Writes "100 Continue", then (a little later) the answer.
  kEndlessChunkExtension,  // A chunked answer whose first chunk header never ends ("1;aaa...").
  kEndlessTrailer,         // A chunked answer whose trailer never ends ("0\r\nX: aaa...").
};

// An HTTP/1.1 server on its own thread. Its answer's body is the request's target, followed by
// `padding` bytes, with headers x-seen-key, x-seen-expect and x-seen-hop echoing the request's
// x-request-key, expect and x-hop.
class TestUpstream {
 public:
  explicit TestUpstream(Mode mode, std::size_t padding = 0, bool chunked = false)
      : mode_(mode), padding_(padding), chunked_(chunked), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(io_, accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestUpstream() {
    io_.stop();
    thread_.join();
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  int accepted() const { return accepted_.load(); }
  int requests() const { return requests_.load(); }

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
      ++accepted_;
      asio::co_spawn(io_, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    try {
      boost::beast::flat_buffer buffer;
      for (;;) {
        bhttp::request<bhttp::string_body> request;
        co_await bhttp::async_read(socket, buffer, request, asio::use_awaitable);
        ++requests_;
        if (mode_ == Mode::kHang) {
          asio::steady_timer forever(io_, std::chrono::hours(24));
          co_await forever.async_wait(asio::use_awaitable);
        }
        bhttp::response<bhttp::string_body> response{bhttp::status::ok, 11};
        response.set(bhttp::field::content_type, "text/plain");
        response.set("x-seen-key", request["x-request-key"]);
        response.set("x-seen-expect", request["expect"]);
        response.set("x-seen-hop", request["x-hop"]);
        response.body() = std::string(request.target()) + std::string(padding_, 'x');
        response.keep_alive(true);
        if (chunked_) {
          response.chunked(true);
        } else {
          response.prepare_payload();
        }
        if (mode_ == Mode::kEndlessChunkExtension || mode_ == Mode::kEndlessTrailer) {
          co_await endless(socket, mode_ == Mode::kEndlessTrailer ? "0\r\nX: " : "1;");
          co_return;
        }
        if (mode_ == Mode::kContinueFirst) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          co_await asio::async_write(socket, asio::buffer(kContinue.data(), kContinue.size()),
                                     asio::use_awaitable);
          // The final answer comes later, so a client that took the 100 for it is caught.
          asio::steady_timer later(io_, 100ms);
          co_await later.async_wait(asio::use_awaitable);
        }
        co_await bhttp::async_write(socket, response, asio::use_awaitable);
        if (mode_ == Mode::kCloseAfterAnswer) co_return;  // The socket closes here.
      }
    } catch (const std::exception&) {
      // The client went away.
    }
  }

  // A chunked answer's head and `start`, then 'a' until the client stops reading (at most 1 GiB).
  asio::awaitable<void> endless(tcp::socket& socket, std::string start) {
    std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + start;
    co_await asio::async_write(socket, asio::buffer(head), asio::use_awaitable);
    const std::string filler(64u << 10, 'a');
    for (std::size_t sent = 0; sent < (1u << 30); sent += filler.size()) {
      co_await asio::async_write(socket, asio::buffer(filler), asio::use_awaitable);
    }
  }

  const Mode mode_;
  const std::size_t padding_;
  const bool chunked_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// Waits for `future`, at most a minute: a callback that never comes fails the test at once
// (aborting, as the callback may still refer to the caller's frame) instead of hanging it.
template <class T>
std::future<T>& within_a_minute(std::future<T>& future, const char* what) {
  if (future.wait_for(60s) != std::future_status::ready) {
    std::fprintf(stderr, "no callback within a minute: %s\n", what);
    std::fflush(stderr);
    std::abort();
  }
  return future;
}

// Calls and waits for the callback.
Result<ClientResponse> call(Client& client, const std::string& url, ClientRequest request,
                            std::chrono::milliseconds timeout = 0ms) {
  std::promise<Result<ClientResponse>> promise;
  auto answered = promise.get_future();
  client.call(
      url, std::move(request), [&](Result<ClientResponse> r) { promise.set_value(std::move(r)); },
      timeout);
  return within_a_minute(answered, "call").get();
}

ClientRequest get(std::string target) {
  ClientRequest request;
  request.method = "GET";
  request.target = std::move(target);
  request.content_type.clear();
  return request;
}

TEST(HttpClient, KeptAliveConnectionIsReusedAcrossCalls) {
  IoPool pool(2);
  TestUpstream upstream(Mode::kAnswer);
  Client client(pool);
  for (int i = 0; i < 20; ++i) {
    auto r = call(client, upstream.url(), get("/v2/models/m/ready?i=" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "/v2/models/m/ready?i=" + std::to_string(i));
    EXPECT_EQ(r->content_type, "text/plain");
  }
  // Calls from outside the pool go to its loops in turn: at most one connection a loop.
  EXPECT_LE(upstream.accepted(), 2);
  EXPECT_EQ(upstream.requests(), 20);
}

TEST(HttpClient, CallsFromALoopThreadReuseThatLoopsConnection) {
  IoPool pool(2);
  TestUpstream upstream(Mode::kAnswer);
  Client client(pool);
  // Each callback makes the next call from the loop thread it runs on.
  std::promise<int> finished;
  std::function<void(int)> step = [&](int left) {
    client.call(upstream.url(), get("/x"), [&, left](Result<ClientResponse> r) {
      if (!r.ok() || r->status != 200) return finished.set_value(-1);
      if (left == 0) return finished.set_value(0);
      step(left - 1);
    });
  };
  step(30);
  auto chained = finished.get_future();
  EXPECT_EQ(within_a_minute(chained, "chained calls").get(), 0);
  EXPECT_EQ(upstream.accepted(), 1);
  EXPECT_EQ(upstream.requests(), 31);
}

TEST(HttpClient, HeadersAndBodyPassThrough) {
  IoPool pool(1);
  TestUpstream upstream(Mode::kAnswer);
  Client client(pool);
  ClientRequest request;
  request.target = "/v2/models/m/infer";
  request.body = R"({"inputs": []})";
  request.headers = {{"x-request-key", "user-7"}, {"Connection", "close"}};
  auto r = call(client, upstream.url(), request);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->header("X-Seen-Key"), "user-7");
  EXPECT_EQ(r->header("absent"), "");
  // The hop-by-hop Connection header was not passed on: the connection stays for the next call.
  ASSERT_TRUE(call(client, upstream.url(), get("/again")).ok());
  EXPECT_EQ(upstream.accepted(), 1);
}

TEST(HttpClient, ExpectAndHeadersNamedByConnectionAreNotPassedOn) {
  IoPool pool(1);
  TestUpstream upstream(Mode::kAnswer);
  Client client(pool);
  ClientRequest request;
  request.target = "/v2/models/m/infer";
  request.body = "{}";
  request.headers = {{"Expect", "100-continue"},
                     {"Connection", "keep-alive, X-Hop"},
                     {"x-hop", "secret"},
                     {"x-request-key", "k"}};
  auto r = call(client, upstream.url(), request);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("x-seen-expect"), "");
  EXPECT_EQ(r->header("x-seen-hop"), "");
  EXPECT_EQ(r->header("x-seen-key"), "k");
}

TEST(HttpClient, InterimContinueIsSkippedAndEachCallGetsItsOwnAnswer) {
  IoPool pool(1);
  TestUpstream upstream(Mode::kContinueFirst);
  Client client(pool);
  for (const char* target : {"/first", "/second", "/third"}) {
    auto r = call(client, upstream.url(), get(target));
    ASSERT_TRUE(r.ok()) << target << ": " << r.error().to_string();
    EXPECT_EQ(r->status, 200) << target;
    EXPECT_EQ(r->body, target);
  }
  EXPECT_EQ(upstream.accepted(), 1);  // One pooled connection, each answer read whole.
  EXPECT_EQ(upstream.requests(), 3);
}

TEST(HttpClient, HangingUpstreamTimesOutAtTheDeadline) {
  IoPool pool(1);
  TestUpstream upstream(Mode::kHang);
  Client client(pool, {.timeout = 300ms});
  const auto start = std::chrono::steady_clock::now();
  auto r = call(client, upstream.url(), get("/slow"));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason(), "Timeout");
  EXPECT_EQ(r.error().category(), ErrorCategory::kRetryable);
  EXPECT_THAT(r.error().message(), HasSubstr(upstream.url()));
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 10s);
  // A per-call deadline overrides the options'.
  auto shorter = call(client, upstream.url(), get("/slow"), 50ms);
  ASSERT_FALSE(shorter.ok());
  EXPECT_EQ(shorter.error().reason(), "Timeout");
}

TEST(HttpClient, TheDeadlineCoversAResolutionThatHangs) {
  IoPool pool(1);
  Client client(pool);
  std::promise<Result<ClientResponse>> promise;
  auto answered = promise.get_future();
  client.call(
      std::string("http://") + slow_dns::kSlowHost + ":80", get("/"),
      [&](Result<ClientResponse> r) { promise.set_value(std::move(r)); }, 200ms);
  // Answered at the deadline while getaddrinfo() still blocks, not once it returns.
  const bool in_time = answered.wait_for(30s) == std::future_status::ready;
  bool still_resolving;
  {
    std::lock_guard lock(slow_dns::mutex);
    still_resolving = slow_dns::resolving;
    slow_dns::released = true;
  }
  slow_dns::cv.notify_all();
  ASSERT_TRUE(in_time) << "no answer while the name was being resolved";
  EXPECT_TRUE(still_resolving);
  auto r = answered.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason(), "Timeout");
  EXPECT_THAT(r.error().message(), HasSubstr("resolving"));
  // The late resolution is ignored (the call answered once); the loop goes on serving.
  {
    std::unique_lock lock(slow_dns::mutex);
    slow_dns::cv.wait_for(lock, 30s, [] { return !slow_dns::resolving; });
  }
  TestUpstream upstream(Mode::kAnswer);
  auto after = call(client, upstream.url(), get("/after"));
  ASSERT_TRUE(after.ok()) << after.error().to_string();
  EXPECT_EQ(after->body, "/after");
}

TEST(HttpClient, RefusedConnectionIsUnavailable) {
  IoPool pool(1);
  std::string url;
  {
    asio::io_context io;
    tcp::acceptor closed(io, {asio::ip::make_address("127.0.0.1"), 0});
    url = "http://127.0.0.1:" + std::to_string(closed.local_endpoint().port());
  }
  Client client(pool);
  auto r = call(client, url, get("/"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason(), "Unavailable");
  EXPECT_THAT(r.error().message(), HasSubstr(url));
}

TEST(HttpClient, MalformedBaseUrlIsUnavailable) {
  IoPool pool(1);
  Client client(pool);
  for (const char* url : {"ftp://host", "http://", "http://host:", "http://host:99999",
                          "http://[::1", "http://host:8a"}) {
    auto r = call(client, url, get("/"));
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().reason(), "Unavailable") << url;
  }
}

TEST(HttpClient, NameIsResolved) {
  IoPool pool(1);
  TestUpstream upstream(Mode::kAnswer);
  Client client(pool);
  const std::string url = "http://localhost:" + upstream.url().substr(upstream.url().rfind(':') + 1);
  auto r = call(client, url, get("/by-name"));
  // localhost may resolve to ::1 first; the connect tries every address in turn.
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->body, "/by-name");
}

TEST(HttpClient, StalePooledConnectionIsRetriedOnceOnANewOne) {
  IoPool pool(1);
  TestUpstream upstream(Mode::kCloseAfterAnswer);
  Client client(pool);
  for (int i = 0; i < 5; ++i) {
    auto r = call(client, upstream.url(), get("/" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << i << ": " << r.error().to_string();
    EXPECT_EQ(r->body, "/" + std::to_string(i));
  }
  // Every call after the first found its pooled connection closed and opened another.
  EXPECT_EQ(upstream.accepted(), 5);
  EXPECT_EQ(upstream.requests(), 5);
}

TEST(HttpClient, ResponseOverTheLimitFails) {
  IoPool pool(1);
  TestUpstream upstream(Mode::kAnswer, 1u << 20);
  Client client(pool, {.max_response_bytes = 4096});
  auto r = call(client, upstream.url(), get("/big"));
  ASSERT_FALSE(r.ok()) << "answered " << r->status;
  EXPECT_EQ(r.error().reason(), "ResponseTooLarge");
  // A body within the limit still answers.
  Client roomy(pool, {.max_response_bytes = 2u << 20});
  auto ok = call(roomy, upstream.url(), get("/big"));
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(ok->body.size(), 4 + (1u << 20));
}

TEST(HttpClient, ChunkedResponseOverTheLimitFails) {
  IoPool pool(1);
  TestUpstream upstream(Mode::kAnswer, 1u << 20, /*chunked=*/true);
  Client client(pool, {.max_response_bytes = 4096});
  auto r = call(client, upstream.url(), get("/big"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason(), "ResponseTooLarge");
  TestUpstream small(Mode::kAnswer, 10, /*chunked=*/true);
  auto ok = call(client, small.url(), get("/small"));
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(ok->body, "/small" + std::string(10, 'x'));
}

TEST(HttpClient, AnEndlessChunkHeaderOrTrailerFailsTheCall) {
  IoPool pool(1);
  for (Mode mode : {Mode::kEndlessChunkExtension, Mode::kEndlessTrailer}) {
    TestUpstream upstream(mode);
    Client client(pool, {.timeout = 60s});
    auto r = call(client, upstream.url(), get("/endless"));
    ASSERT_FALSE(r.ok()) << "answered " << r->status;
    // Refused as it grows past the read buffer, not at the deadline.
    EXPECT_EQ(r.error().reason(), "ResponseTooLarge") << r.error().to_string();
  }
}

TEST(HttpClient, ManyConcurrentCallsEachAnswerOnce) {
  IoPool pool(2);
  TestUpstream upstream(Mode::kAnswer);
  Client client(pool, {.max_idle_per_upstream = 4});
  constexpr int kCalls = 200;
  std::atomic<int> ok{0}, answered{0};
  std::promise<void> all;
  for (int i = 0; i < kCalls; ++i) {
    client.call(upstream.url(), get(std::string("/").append(std::to_string(i))),
                [&, i](Result<ClientResponse> r) {
                  if (r.ok() && r->body == std::string("/") + std::to_string(i)) ++ok;
                  if (++answered == kCalls) all.set_value();
                });
  }
  auto every = all.get_future();
  within_a_minute(every, "concurrent calls");
  EXPECT_EQ(ok.load(), kCalls);
  EXPECT_EQ(upstream.requests(), kCalls);
}

TEST(HttpClient, DestroyedWithCallsInFlightStillCallsBack) {
  IoPool pool(1);
  TestUpstream upstream(Mode::kHang);
  std::promise<std::string> reason;
  {
    Client client(pool, {.timeout = 200ms});
    client.call(upstream.url(), get("/"), [&](Result<ClientResponse> r) {
      reason.set_value(r.ok() ? "ok" : r.error().reason());
    });
  }
  auto reasoned = reason.get_future();
  EXPECT_EQ(within_a_minute(reasoned, "call of a destroyed client").get(), "Timeout");
}

TEST(HttpClient, ThrowingCallbackDoesNotStopTheLoop) {
  IoPool pool(1);
  TestUpstream upstream(Mode::kAnswer);
  Client client(pool);
  client.call(upstream.url(), get("/"), [](Result<ClientResponse>) {
    throw std::runtime_error("a bug in a callback");
  });
  auto r = call(client, upstream.url(), get("/after"));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->body, "/after");
}

}  // namespace
}  // namespace kiln::http
