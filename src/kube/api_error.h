#pragma once

// Errors from the kube-apiserver. A failed call returns a metav1.Status object
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind) with
// `code`, `reason` (NotFound, AlreadyExists, Conflict, Gone, Expired, TooManyRequests, ...) and
// `message`. We turn it into a kiln::Error whose message has a fixed shape,
//     "<code> <reason>: <message>"          e.g. "404 NotFound: configmaps \"x\" not found"
// (with context such as the verb and path added in front by the client), and whose category says
// what to do: 409, 429, 5xx and transport failures are retryable; other 4xx are terminal, except
// 400/422 (invalid-input). api_code() reads the code back from any error built this way.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/result.h"

namespace kiln::kube {

struct ApiStatus {
  int code = 0;        // HTTP status code.
  std::string reason;  // metav1.StatusReason, may be empty.
  std::string message;

  // Parses a response body: a Status object when it is one, else the raw text as the message and
  // the reason derived from the code.
  static ApiStatus from_response(int code, const std::string& body);
  ErrorCategory category() const;
  Error to_error() const;
};

// The HTTP code of an error made by ApiStatus::to_error() (context prefixes allowed), or 0 when the
// error did not come from an API response (transport failures, our own errors).
int api_code(const Error& error);

inline bool is_not_found(const Error& e) { return api_code(e) == 404; }
inline bool is_conflict(const Error& e) { return api_code(e) == 409; }
inline bool is_gone(const Error& e) { return api_code(e) == 410; }

// Parses a Retry-After header value in delta-seconds (RFC 9110 §10.2.3; the API server never sends
// an HTTP date). nullopt when absent or not a non-negative integer.
std::optional<std::chrono::seconds> parse_retry_after(const std::string& value);

}  // namespace kiln::kube
