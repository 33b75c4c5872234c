#include "kube/http.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl.hpp>
#include <cerrno>
#include <string_view>
#include <system_error>

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

namespace {

// An OpenSSL error of the TLS or certificate libraries, as asio passes it on (ERR_get_error()).
// errno values are far below the packed library field, so they never match.
bool tls_library_error(int value) {
  if (value <= 0) return false;
  const auto packed = static_cast<unsigned long>(value);
  const int lib = ERR_GET_LIB(packed);
  return lib == ERR_LIB_SSL || lib == ERR_LIB_X509 || lib == ERR_LIB_X509V3;
}

}  // namespace

TransportFailure transport_failure(const Config& config, const std::exception& e) {
  std::error_code code;
  if (const auto* http = dynamic_cast<const web::http::http_exception*>(&e)) {
    code = http->error_code();
  }
  // cpprestsdk's platform category (errno values on Linux), or the standard ones.
  const bool errno_like = code.category() == utility::details::platform_category() ||
                          code.category() == std::system_category() ||
                          code.category() == std::generic_category();
  const int value = errno_like ? code.value() : 0;
  // The server going away mid-handshake is not the certificate's fault.
  const bool tls = tls_library_error(value) &&
                   !(ERR_GET_LIB(static_cast<unsigned long>(value)) == ERR_LIB_SSL &&
                     ERR_GET_REASON(static_cast<unsigned long>(value)) ==
                         SSL_R_UNEXPECTED_EOF_WHILE_READING);
  const bool unreachable =
      value == EHOSTUNREACH || value == ECONNREFUSED || value == ENETUNREACH;
  std::string hint;
  if (tls) {
    hint =
        " (TLS: the server's certificate is not signed by the configured certificate-authority,"
        " or the client certificate was refused)";
  } else if (unreachable) {
    hint = " (nothing listens there: is the API server up?)";
  }
  auto message = "connecting to " + config.server + ": " + e.what() + hint;
  const bool writing_headers =
      value != 0 && std::string_view(e.what()).starts_with("Failed to write request");
  return {.error = tls ? Error::terminal(message) : Error::retryable(message),
          .unsent = unreachable || writing_headers};
}

}  // namespace kiln::kube::detail
