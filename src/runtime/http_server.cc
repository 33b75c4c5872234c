#include "runtime/http_server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <exception>
#include <nlohmann/json.hpp>

#include "http/io_pool.h"
#include "http/server.h"

namespace kiln::runtime {
namespace {

std::atomic<std::size_t> g_http_threads{0};

// The transport-neutral request the handlers take: views into `request`, which outlives the call.
HttpRequest view_of(const http::Request& request, const std::string& key_header) {
  HttpRequest out{request.method, request.path(), request.body};
  if (!key_header.empty()) out.key = request.header(key_header);
  out.query = request.query();
  out.inference_header_content_length = request.header("Inference-Header-Content-Length");
  return out;
}

http::Response answer(const HttpHandler& handler, const std::string& key_header,
                      const http::Request& request) noexcept {
  http::Response response;
  try {
    HttpResponse out = handler(view_of(request, key_header));
    response.status = out.status;
    response.content_type = std::move(out.content_type);
    response.body = std::move(out.body);
    response.headers.reserve(out.headers.size());
    for (auto& [name, value] : out.headers) {
      response.headers.push_back({std::move(name), std::move(value)});
    }
  } catch (const std::exception& e) {
    response = {500, "application/json",
                nlohmann::json{{"error", std::string("the handler failed: ") + e.what()}}.dump(
                    -1, ' ', false, nlohmann::json::error_handler_t::replace),
                {}};
  } catch (...) {
    response = {500, "application/json", R"({"error":"the handler failed"})", {}};
  }
  return response;
}

}  // namespace

struct HttpServer::Impl {
  HttpHandler handler;
  std::string key_header;
  std::chrono::milliseconds grace{0};
  std::unique_ptr<http::IoPool> loops;
  std::unique_ptr<boost::asio::thread_pool> workers;  // Null: the handler runs inline.
  std::unique_ptr<http::Server> server;
  bool stopped = false;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl, std::uint16_t port)
    : impl_(std::move(impl)), port_(port) {}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& options,
                                                      HttpHandler handler) {
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(handler);
  impl->key_header = options.key_header;
  impl->grace = options.request_timeout;
  impl->loops = std::make_unique<http::IoPool>(
      options.http_threads > 0 ? options.http_threads : g_http_threads.load());
  if (options.handler_threads > 0) {
    impl->workers = std::make_unique<boost::asio::thread_pool>(options.handler_threads);
  }

  http::ServerOptions server_options;
  server_options.name = options.name;
  server_options.host = options.host;
  server_options.port = options.port;
  server_options.max_header_bytes = options.max_header_bytes;
  server_options.max_body_bytes = options.max_body_bytes;
  server_options.header_timeout = options.header_timeout;
  server_options.body_timeout = options.body_timeout;
  server_options.idle_timeout = options.idle_timeout;
  server_options.request_timeout = options.request_timeout;
  server_options.max_connections = options.max_connections;
  server_options.registry = options.registry;

  Impl* raw = impl.get();  // Outlives the server, which stop() ends first.
  http::Handler on_request;
  if (raw->workers) {
    on_request = [raw](http::Request request, http::Responder respond) {
      boost::asio::post(*raw->workers, [raw, request = std::move(request),
                                        respond = std::move(respond)] {
        respond(answer(raw->handler, raw->key_header, request));
      });
    };
  } else {
    on_request = [raw](http::Request request, http::Responder respond) {
      respond(answer(raw->handler, raw->key_header, request));
    };
  }
  auto server = http::Server::start(std::move(server_options), *impl->loops, std::move(on_request));
  if (!server.ok()) return std::move(server).error();
  impl->server = std::move(server).value();
  const std::uint16_t port = impl->server->port();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl), port));
}

void HttpServer::begin_drain() noexcept {
  if (impl_ && impl_->server) impl_->server->begin_drain();
}

void HttpServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->stop(impl_->grace);
  // Handlers still running on the workers answer into closed connections; wait for them, so
  // none runs after stop() returns.
  if (impl_->workers) impl_->workers->join();
  impl_->loops->stop();
  impl_->server.reset();
}

bool set_http_threads(std::size_t threads) {
  g_http_threads.store(threads);
  return true;
}

}  // namespace kiln::runtime
