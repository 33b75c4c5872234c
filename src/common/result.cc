#include "common/result.h"

#include <cstdio>
#include <cstdlib>

namespace kiln {

std::string_view to_string(ErrorCategory category) noexcept {
  switch (category) {
    case ErrorCategory::kRetryable:
      return "retryable";
    case ErrorCategory::kTerminal:
      return "terminal";
    case ErrorCategory::kInvalidInput:
      return "invalid-input";
  }
  return "unknown";
}

Error Error::with_context(std::string_view context) const {
  std::string message(context);
  message += ": ";
  message += message_;
  Error out = *this;
  out.message_ = std::move(message);
  return out;
}

std::string Error::to_string() const {
  std::string out(kiln::to_string(category_));
  out += ": ";
  out += message_;
  return out;
}

namespace detail {

void result_misuse(const char* what, const Error* error) noexcept {
  if (error != nullptr) {
    std::fprintf(stderr, "kiln: fatal: %s: %s\n", what, error->to_string().c_str());
  } else {
    std::fprintf(stderr, "kiln: fatal: %s\n", what);
  }
  std::abort();
}

}  // namespace detail
}  // namespace kiln
