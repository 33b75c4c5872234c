#include "runtime/http_server.h"

#include <arpa/inet.h>
#include <cpprest/http_listener.h>
#include <netinet/in.h>
#include <pplx/threadpool.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <exception>

namespace kiln::runtime {
namespace {

namespace http = web::http;

// A socket bound (not listening) to host:0 with SO_REUSEADDR, holding the port it got.
struct PortReservation {
  int fd = -1;
  std::uint16_t port = 0;
  ~PortReservation() {
    if (fd >= 0) ::close(fd);
  }
};

Result<void> reserve(const std::string& host, std::uint16_t port, PortReservation& out) {
  out.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (out.fd < 0) return Error::retryable(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(out.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return Error::invalid_input("listen address '" + host + "' is not an IPv4 address");
  }
  if (::bind(out.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Error::retryable("cannot bind " + host + ":" + std::to_string(port) + ": " +
                            std::strerror(errno));
  }
  socklen_t len = sizeof addr;
  ::getsockname(out.fd, reinterpret_cast<sockaddr*>(&addr), &len);
  out.port = ntohs(addr.sin_port);
  return Ok();
}

void reply(http::http_request& request, HttpResponse&& response) {
  http::http_response out(static_cast<http::status_code>(response.status));
  out.headers().set_content_type(response.content_type);
  out.set_body(std::move(response.body), response.content_type);
  request.reply(out).then([](pplx::task<void> t) {
    try {
      t.get();
    } catch (...) {  // The client went away; nothing to answer.
    }
  });
}

}  // namespace

struct HttpServer::Impl {
  std::unique_ptr<http::experimental::listener::http_listener> listener;
  HttpHandler handler;
  std::size_t max_body_bytes = 0;
  std::string key_header;
  bool stopped = false;

  void on_request(http::http_request request) {
    const auto length = request.headers().content_length();
    if (length > max_body_bytes) {
      reply(request, {413,
                      R"({"error":"the request body has )" + std::to_string(length) +
                          R"( bytes; the limit is )" + std::to_string(max_body_bytes) + "\"}",
                      "application/json"});
      return;
    }
    request.extract_utf8string(true).then([this, request](pplx::task<std::string> body) mutable {
      std::string text;
      try {
        text = body.get();
      } catch (const std::exception& e) {
        reply(request, {400, R"({"error":"cannot read the request body"})", "application/json"});
        return;
      }
      const std::string method = request.method();
      const std::string path = request.request_uri().path();
      std::string key;
      if (!key_header.empty()) {
        auto it = request.headers().find(key_header);
        if (it != request.headers().end()) key = it->second;
      }
      const std::string query = request.request_uri().query();
      reply(request, handler(HttpRequest{method, path, text, key, query}));
    });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl, std::uint16_t port)
    : impl_(std::move(impl)), port_(port) {}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& options,
                                                      HttpHandler handler) {
  PortReservation reservation;
  if (auto reserved = reserve(options.host, options.port, reservation); !reserved.ok()) {
    return std::move(reserved).error();
  }
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(handler);
  impl->max_body_bytes = options.max_body_bytes;
  impl->key_header = options.key_header;
  const std::string uri = "http://" + options.host + ":" + std::to_string(reservation.port) + "/";
  try {
    impl->listener = std::make_unique<http::experimental::listener::http_listener>(uri);
    Impl* raw = impl.get();
    impl->listener->support([raw](http::http_request request) { raw->on_request(request); });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    return Error::retryable("cannot listen on " + uri + ": " + e.what());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl), reservation.port));
}

void HttpServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  try {
    impl_->listener->close().wait();
  } catch (...) {  // Closing a listener that failed is not an error worth reporting.
  }
}

bool set_http_threads(std::size_t threads) {
  try {
    crossplat::threadpool::initialize_with_threads(threads);
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace kiln::runtime
