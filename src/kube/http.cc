#include "kube/http.h"

#include <boost/asio/ssl.hpp>

namespace kiln::kube::detail {

std::unique_ptr<web::http::client::http_client> make_http_client(const Config& config,
                                                                 std::chrono::seconds timeout) {
  web::http::client::http_client_config http_config;
  http_config.set_timeout(timeout);
  http_config.set_validate_certificates(true);  // Never off: see config.h.
  std::string ca = config.ca_pem, cert = config.client_cert_pem, key = config.client_key_pem;
  http_config.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
    // Trust only the cluster's CA, not the system store.
    SSL_CTX_set_cert_store(ctx.native_handle(), X509_STORE_new());
    ctx.add_certificate_authority(boost::asio::buffer(ca));
    if (!cert.empty()) {
      ctx.use_certificate_chain(boost::asio::buffer(cert));
      ctx.use_private_key(boost::asio::buffer(key), boost::asio::ssl::context::pem);
    }
  });
  return std::make_unique<web::http::client::http_client>(config.server, http_config);
}

Result<web::http::http_request> make_request(const Config& config, const std::string& method,
                                             const std::string& path_and_query,
                                             const std::string& body,
                                             const std::string& content_type) {
  web::http::http_request request(method);
  request.set_request_uri(path_and_query);
  request.headers().add("Accept", "application/json");
  request.headers().add("User-Agent", config.user_agent);
  KILN_TRY(std::string token, config.bearer_token());
  if (!token.empty()) request.headers().add("Authorization", "Bearer " + token);
  if (!content_type.empty()) request.set_body(body, content_type);
  return request;
}

Error transport_error(const Config& config, const std::string& what) {
  std::string hint;
  bool tls = false;
  if (what.find("handshake") != std::string::npos ||
      what.find("certificate") != std::string::npos || what.find("verify") != std::string::npos) {
    hint =
        " (TLS: the server's certificate is not signed by the configured certificate-authority,"
        " or the client certificate was refused)";
    tls = true;
  } else if (what.find("refused") != std::string::npos) {
    hint = " (nothing listens there: is the API server up?)";
  }
  auto message = "connecting to " + config.server + ": " + what + hint;
  // A certificate that does not verify will not verify on the next try either.
  return tls ? Error::terminal(message) : Error::retryable(message);
}

}  // namespace kiln::kube::detail
