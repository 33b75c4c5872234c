#pragma once

// Errors from the kube-apiserver. A failed call returns a metav1.Status object
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind) with
// `code`, `reason` (NotFound, AlreadyExists, Conflict, Gone, Expired, TooManyRequests, ...) and
// `message`. ApiStatus::to_error() turns it into a kiln::Error carrying the code and reason as
// fields (Error::code(), Error::reason()) and a message for people of a fixed shape,
//     "<code> <reason>: <message>"          e.g. "404 NotFound: configmaps \"x\" not found"
// (with context such as the verb and path added in front by the client). The category says what
// to do: 409, 429, 5xx and transport failures are retryable; other 4xx are terminal, except
// 400/422 (invalid-input). The predicates below read the fields, never the message (as
// apimachinery's apierrors.IsNotFound reads a StatusError's reason and code).

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

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
  // An Error::api() with this code, reason and category.
  Error to_error() const;
};

// The error of a non-2xx API response: ApiStatus::from_response(code, body).to_error().
inline Error api_error(int code, const std::string& body) {
  return ApiStatus::from_response(code, body).to_error();
}

// The HTTP code of an error (Error::code()): 0 when it did not come from an API response
// (transport failures, our own errors).
inline int api_code(const Error& error) { return error.code(); }

// True when `error` has `reason`, or, when the server gave no reason, when its code is `code`
// (apimachinery's reasonAndCodeForError).
inline bool has_reason(const Error& error, std::string_view reason, int code) {
  if (!error.reason().empty() && error.reason() != "Unknown") return error.reason() == reason;
  return error.code() == code;
}

inline bool is_not_found(const Error& e) { return has_reason(e, "NotFound", 404); }
// 409 AlreadyExists (a create of a name in use); not a conflict.
inline bool is_already_exists(const Error& e) { return has_reason(e, "AlreadyExists", 409); }
// 409 Conflict: a stale resourceVersion or UID precondition, or an apply conflict; re-read.
inline bool is_conflict(const Error& e) { return has_reason(e, "Conflict", 409); }
// 422 Invalid: the object failed validation.
inline bool is_invalid(const Error& e) { return has_reason(e, "Invalid", 422); }
inline bool is_bad_request(const Error& e) { return has_reason(e, "BadRequest", 400); }
inline bool is_forbidden(const Error& e) { return has_reason(e, "Forbidden", 403); }
inline bool is_unauthorized(const Error& e) { return has_reason(e, "Unauthorized", 401); }
inline bool is_too_many_requests(const Error& e) { return has_reason(e, "TooManyRequests", 429); }
// Any 410: reason Gone, or Expired (a resourceVersion older than the watch cache, an expired
// continue token), as client-go's watch and pager test IsGone || IsResourceExpired.
inline bool is_gone(const Error& e) { return e.code() == 410; }

// Parses a Retry-After header value in delta-seconds (RFC 9110 §10.2.3; the API server never sends
// an HTTP date). nullopt when absent or not a non-negative integer.
std::optional<std::chrono::seconds> parse_retry_after(const std::string& value);

}  // namespace kiln::kube
