#include "kube/api_error.h"

#include <charconv>

namespace kiln::kube {
namespace {

std::string reason_for(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "Unknown";
  }
}

}  // namespace

ApiStatus ApiStatus::from_response(int code, const std::string& body) {
  ApiStatus status{code, "", ""};
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.value("kind", "") == "Status") {
    status.reason = json.value("reason", "");
    status.message = json.value("message", "");
    if (json.contains("code") && json["code"].is_number_integer()) status.code = json["code"];
  } else {
    status.message = body.size() > 512 ? body.substr(0, 512) + "..." : body;
  }
  if (status.reason.empty()) status.reason = reason_for(status.code);
  return status;
}

ErrorCategory ApiStatus::category() const {
  if (code == 409 || code == 429 || code >= 500) return ErrorCategory::kRetryable;
  if (code == 400 || code == 422) return ErrorCategory::kInvalidInput;
  return ErrorCategory::kTerminal;
}

Error ApiStatus::to_error() const {
  return Error::api(category(), code, reason, std::to_string(code) + " " + reason + ": " + message);
}

std::optional<std::chrono::seconds> parse_retry_after(const std::string& value) {
  long seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || ptr != value.data() + value.size() || seconds < 0 || value.empty()) {
    return std::nullopt;
  }
  return std::chrono::seconds(seconds);
}

}  // namespace kiln::kube
