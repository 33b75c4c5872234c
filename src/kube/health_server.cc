#include "kube/health_server.h"

#include <exception>

#include "http/io_pool.h"
#include "http/server.h"

namespace kiln::kube {

HealthServer::HealthServer() = default;

HealthServer::~HealthServer() { stop(); }

Result<void> HealthServer::start(const std::string& address, int port, Handler handler) {
  if (port < 0 || port > 65535) {
    return Error::invalid_input("health server: port " + std::to_string(port) +
                                " is out of range");
  }
  handler_ = std::move(handler);
  pool_ = std::make_unique<http::IoPool>(1);
  http::ServerOptions options;
  options.name = "health";
  options.host = address;
  options.port = static_cast<std::uint16_t>(port);
  options.max_body_bytes = 64u << 10;  // GET only.
  auto served = http::Server::start(
      std::move(options), *pool_, http::inline_handler([this](const http::Request& request) {
        http::Response response;
        HttpReply reply;
        if (request.method != "GET") {
          reply = {405, "text/plain; charset=utf-8", "only GET\n"};
        } else {
          try {
            reply = handler_(std::string(request.path()));
          } catch (const std::exception& e) {
            reply = {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
          }
        }
        response.status = reply.code;
        response.content_type = std::move(reply.content_type);
        response.body = std::move(reply.body);
        return response;
      }));
  if (!served.ok()) {
    pool_.reset();
    return Error::invalid_input("health server: " + served.error().message());
  }
  server_ = std::move(served).value();
  port_ = server_->port();
  return Ok();
}

void HealthServer::stop() {
  if (server_) server_->stop();
  if (pool_) pool_->stop();
  server_.reset();
  pool_.reset();
}

}  // namespace kiln::kube
