#pragma once

// Internal: cpprestsdk plumbing shared by Client and WatchStream. Not part of the public API.

#include <cpprest/http_client.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "kube/config.h"

namespace kiln::kube::detail {

// An http_client for config.server that verifies the server against config.ca_pem (hostname
// checked per RFC 2818 by cpprestsdk) and presents the client certificate when there is one.
std::unique_ptr<web::http::client::http_client> make_http_client(const Config& config,
                                                                 std::chrono::seconds timeout);

// A request with the Authorization, Accept and User-Agent headers set. Errors: the token file.
Result<web::http::http_request> make_request(const Config& config, const std::string& method,
                                             const std::string& path_and_query,
                                             const std::string& body,
                                             const std::string& content_type);

// What a failed cpprestsdk request means for the caller.
struct TransportFailure {
  // "connecting to <server>: <what>[ (hint)]", with no code or reason: terminal when the TLS
  // handshake failed on a certificate (it will not verify on the next try either), retryable
  // otherwise (refused, reset, timed out, the server closing mid-handshake, ...).
  Error error;
  // The request cannot have reached the server, so any verb may be sent again: the connect was
  // refused or the host unreachable, or the request could not be written (a pooled
  // connection the server closed, e.g. on restart).
  bool unsent = false;
};

// Classifies a cpprestsdk exception from the std::error_code of its http_exception, not from its
// text. cpprestsdk (asio client, 2.10) reports errno values in its platform_category after its own
// remapping (a refused connect and a broken pipe while writing headers both become EHOSTUNREACH,
// a timer expiry ETIMEDOUT), and a TLS handshake failure with OpenSSL's packed error code (library
// SSL or X509). The one thing the code does not tell is the stage: a reset while writing the
// request is known only from cpprestsdk's fixed text "Failed to write request ...". Any other
// exception is a retryable error with its what().
TransportFailure transport_failure(const Config& config, const std::exception& e);

}  // namespace kiln::kube::detail
