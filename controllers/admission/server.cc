#include "controllers/admission/server.h"

#include <cpprest/http_listener.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <exception>

#include "common/log.h"
#include "controllers/admission/review.h"
#include "controllers/admission/validators.h"

namespace kiln::controllers {

namespace http = web::http;
using http::experimental::listener::http_listener;
using http::experimental::listener::http_listener_config;

struct AdmissionServer::Impl {
  std::unique_ptr<http_listener> listener;
  std::atomic<std::uint64_t> reviews{0};

  void handle(http::http_request request) {
    if (request.method() != http::methods::POST || request.relative_uri().path() != "/validate") {
      reply_error(request, http::status_codes::NotFound, "only POST /validate is served");
      return;
    }
    request.extract_string(true).then([this, request](pplx::task<std::string> body_task) mutable {
      std::string body;
      try {
        body = body_task.get();
      } catch (const std::exception& e) {
        reply_error(request, http::status_codes::BadRequest,
                    std::string("cannot read body: ") + e.what());
        return;
      }
      answer(request, body);
    });
  }

  void answer(http::http_request& request, const std::string& body) {
    auto review = parse_admission_review(body);
    if (!review.ok()) {
      reply_error(request, http::status_codes::BadRequest, review.error().message());
      return;
    }
    bool allowed = true;
    std::string message;
    try {
      auto errors = validate_object(review->object);
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
    reply(request, http::status_codes::OK, admission_response(review->uid, allowed, message));
  }

  static void reply(http::http_request& request, http::status_code code,
                    const nlohmann::json& body) {
    http::http_response response(code);
    response.set_body(body.dump(), "application/json");
    request.reply(response).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (...) {  // The client went away; nothing to do.
      }
    });
  }

  static void reply_error(http::http_request& request, http::status_code code,
                          const std::string& message) {
    reply(request, code, {{"error", message}});
  }
};

Result<std::unique_ptr<AdmissionServer>> AdmissionServer::start(AdmissionServerOptions options) {
  auto impl = std::make_unique<Impl>();
  const std::string cert = options.tls.cert_pem;
  const std::string key = options.tls.key_pem;
  try {  // Load once here so a bad certificate fails start(), not every handshake.
    boost::asio::ssl::context probe(boost::asio::ssl::context::tls_server);
    probe.use_certificate_chain(boost::asio::buffer(cert.data(), cert.size()));
    probe.use_private_key(boost::asio::buffer(key.data(), key.size()),
                          boost::asio::ssl::context::pem);
  } catch (const std::exception& e) {
    return Error::invalid_input(std::string("admission server: certificate or key: ") + e.what());
  }
  http_listener_config config;
  config.set_ssl_context_callback([cert, key](boost::asio::ssl::context& ctx) {
    ctx.set_options(boost::asio::ssl::context::default_workarounds |
                    boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                    boost::asio::ssl::context::no_tlsv1 | boost::asio::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain(boost::asio::buffer(cert.data(), cert.size()));
    ctx.use_private_key(boost::asio::buffer(key.data(), key.size()),
                        boost::asio::ssl::context::pem);
  });
  const std::string uri = "https://" + options.host + ":" + std::to_string(options.port);
  try {
    impl->listener = std::make_unique<http_listener>(uri, config);
    Impl* raw = impl.get();
    impl->listener->support([raw](http::http_request r) { raw->handle(std::move(r)); });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    return Error::retryable("admission server: cannot listen on " + uri + ": " + e.what());
  }
  return std::unique_ptr<AdmissionServer>(new AdmissionServer(std::move(impl), options.port));
}

AdmissionServer::AdmissionServer(std::unique_ptr<Impl> impl, std::uint16_t port)
    : impl_(std::move(impl)), port_(port) {}

AdmissionServer::~AdmissionServer() {
  try {
    impl_->listener->close().wait();
  } catch (...) {  // Closing a listener that failed is not an error worth reporting.
  }
}

std::uint64_t AdmissionServer::reviews() const noexcept { return impl_->reviews.load(); }

}  // namespace kiln::controllers
