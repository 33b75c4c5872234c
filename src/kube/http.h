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

// Turns a cpprestsdk exception into an error naming the server and the likely cause: terminal
// for TLS verification failures, retryable otherwise.
Error transport_error(const Config& config, const std::string& what);

}  // namespace kiln::kube::detail
