#include "controllers/admission/server.h"

#include <atomic>
#include <exception>

#include "common/log.h"
#include "controllers/admission/review.h"
#include "controllers/admission/validators.h"
#include "http/io_pool.h"
#include "http/server.h"

namespace kiln::controllers {
namespace {

http::Response json_response(int status, const nlohmann::json& body) {
  http::Response response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

http::Response error_response(int status, const std::string& message) {
  return json_response(status, {{"error", message}});
}

}  // namespace

struct AdmissionServer::Impl {
  std::atomic<std::uint64_t> reviews{0};
  ValidationOptions validation;
  std::unique_ptr<http::IoPool> pool;
  std::unique_ptr<http::Server> server;

  http::Response handle(const http::Request& request) {
    if (request.method != "POST" || request.path() != "/validate") {
      return error_response(404, "only POST /validate is served");
    }
    auto review = parse_admission_review(request.body);
    if (!review.ok()) return error_response(400, review.error().message());
    bool allowed = true;
    std::string message;
    try {
      auto errors = validate_object(review->object, validation);
      allowed = errors.empty();
      message = to_message(errors);
    } catch (const std::exception& e) {
      allowed = false;
      message = std::string("kiln admission could not check the object: ") + e.what();
    }
    ++reviews;
    log::info("admission review", {{"kind", review->kind},
                                   {"operation", review->operation},
                                   {"allowed", allowed},
                                   {"message", message}});
    return json_response(200, admission_response(review->uid, allowed, message));
  }
};

Result<std::unique_ptr<AdmissionServer>> AdmissionServer::start(AdmissionServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->validation = options.validation;
  impl->pool = std::make_unique<http::IoPool>(2);
  http::ServerOptions server_options;
  server_options.name = "admission";
  server_options.host = options.host;
  server_options.port = options.port;
  server_options.max_body_bytes = 8u << 20;
  server_options.tls = http::TlsOptions{options.tls.cert_pem, options.tls.key_pem};
  Impl* raw = impl.get();  // Outlives the server: ~AdmissionServer stops it first.
  auto server = http::Server::start(
      std::move(server_options), *impl->pool,
      http::inline_handler([raw](const http::Request& request) { return raw->handle(request); }));
  if (!server.ok()) return server.error().with_context("admission server");
  impl->server = std::move(server).value();
  const std::uint16_t port = impl->server->port();
  return std::unique_ptr<AdmissionServer>(new AdmissionServer(std::move(impl), port));
}

AdmissionServer::AdmissionServer(std::unique_ptr<Impl> impl, std::uint16_t port)
    : impl_(std::move(impl)), port_(port) {}

AdmissionServer::~AdmissionServer() {
  impl_->server->stop();
  impl_->pool->stop();
}

std::uint64_t AdmissionServer::reviews() const noexcept { return impl_->reviews.load(); }

}  // namespace kiln::controllers
