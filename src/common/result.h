#pragma once

// Errors as values: `Error` (a category, a message and, from a server, a code and reason) and
// `Result<T>`, an expected-like type for functions that can fail on outside input. Nothing in this
// header throws.
//
//   Result<Config> load(std::string_view path) {
//     KILN_TRY(std::string text, read_file(path));
//     if (text.empty()) return Error::invalid_input("empty config");
//     return parse(text);
//   }

#include <concepts>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace kiln {

// What the caller should do about an error.
enum class ErrorCategory {
  kRetryable,     // Transient (timeout, conflict, 5xx): try again later with backoff.
  kTerminal,      // Will not succeed by retrying; report and stop.
  kInvalidInput,  // The input (spec, flag, environment, request) is wrong; fix it, don't retry.
};

// Returns "retryable", "terminal" or "invalid-input". The view points to static storage.
std::string_view to_string(ErrorCategory category) noexcept;

// An error: a category, a human-readable message and, when a server answered, its HTTP status code
// and machine-readable reason (Kubernetes' metav1.Status `reason`: NotFound, AlreadyExists,
// Conflict, Invalid, Gone, Expired, Forbidden, ...). Callers decide what went wrong from
// category(), code() and reason(), never from the message, which is for people. A plain value
// type; copies are independent and distinct objects may be used from different threads.
class Error {
 public:
  Error(ErrorCategory category, std::string message)
      : category_(category), message_(std::move(message)) {}

  static Error retryable(std::string message) {
    return {ErrorCategory::kRetryable, std::move(message)};
  }
  static Error terminal(std::string message) {
    return {ErrorCategory::kTerminal, std::move(message)};
  }
  static Error invalid_input(std::string message) {
    return {ErrorCategory::kInvalidInput, std::move(message)};
  }
  // An error a server answered with: HTTP status `code` (100..599; other values are stored as 0)
  // and `reason` (may be empty). kube::ApiStatus::to_error() builds these from a metav1.Status.
  static Error api(ErrorCategory category, int code, std::string reason, std::string message) {
    Error error(category, std::move(message));
    error.code_ = code >= 100 && code <= 599 ? code : 0;
    error.reason_ = std::move(reason);
    return error;
  }

  ErrorCategory category() const noexcept { return category_; }
  const std::string& message() const noexcept { return message_; }
  // The HTTP status code the server answered with; 0 when the error did not come from an HTTP
  // answer (a transport failure, a local check).
  int code() const noexcept { return code_; }
  // The server's machine-readable reason ("NotFound", "Conflict", ...); empty when none.
  const std::string& reason() const noexcept { return reason_; }

  // Returns a copy with the same category, code and reason whose message is
  // "<context>: <message>", for adding context as an error travels up:
  // `return r.error().with_context("reading config")`.
  Error with_context(std::string_view context) const;

  // Returns "<category>: <message>", e.g. "invalid-input: port must be positive".
  std::string to_string() const;

  friend bool operator==(const Error&, const Error&) = default;

 private:
  ErrorCategory category_;
  int code_ = 0;
  std::string reason_;
  std::string message_;
};

namespace detail {
// Print `what` (and the error, when given) to stderr and abort. Called when a Result is misused:
// value() on an error or error() on a success. That is a bug in the caller, not a runtime error.
[[noreturn]] void result_misuse(const char* what, const Error* error) noexcept;
}  // namespace detail

// Holds either a value of type T or an Error. Converts implicitly from anything T can be built
// from and from Error, so a function returning Result<T> can `return value;` or
// `return Error::terminal("...");`.
//
// Accessing the value of an error Result (value(), *, ->) or the error of a successful one
// (error()) aborts the process with a message: check ok() first. A Result is a value type with
// the thread-safety of T: const access from several threads is safe when it is for T.
template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_reference_v<T> && !std::is_same_v<std::remove_cv_t<T>, Error>,
                "Result<T> holds a non-reference value type other than Error");

 public:
  // Success holding T constructed from `value`; implicit when U converts to T implicitly.
  template <class U = T>
    requires(std::constructible_from<T, U> && !std::same_as<std::remove_cvref_t<U>, Result> &&
             !std::same_as<std::remove_cvref_t<U>, Error>)
  explicit(!std::convertible_to<U, T>) Result(U&& value)  // NOLINT(*-explicit-constructor)
      : state_(std::in_place_index<0>, std::forward<U>(value)) {}

  // Failure holding `error`.
  Result(Error error)  // NOLINT(*-explicit-constructor)
      : state_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  // The value. Aborts if !ok().
  T& value() & {
    check_value();
    return *std::get_if<0>(&state_);
  }
  const T& value() const& {
    check_value();
    return *std::get_if<0>(&state_);
  }
  T&& value() && {
    check_value();
    return std::move(*std::get_if<0>(&state_));
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error. Aborts if ok().
  const Error& error() const& {
    check_error();
    return *std::get_if<1>(&state_);
  }
  Error&& error() && {
    check_error();
    return std::move(*std::get_if<1>(&state_));
  }

  // The value if ok(), else `fallback` converted to T.
  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? *std::get_if<0>(&state_) : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  T value_or(U&& fallback) && {
    return ok() ? std::move(*std::get_if<0>(&state_)) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check_value() const {
    if (!ok()) detail::result_misuse("Result::value() called on an error", std::get_if<1>(&state_));
  }
  void check_error() const {
    if (ok()) detail::result_misuse("Result::error() called on a success", nullptr);
  }

  std::variant<T, Error> state_;
};

// Result of an operation that produces no value: either success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  // Success.
  Result() = default;
  // Failure holding `error`.
  Result(Error error)  // NOLINT(*-explicit-constructor)
      : error_(std::move(error)) {}

  static Result success() { return {}; }

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }

  // Does nothing on success; aborts on an error. For "this cannot fail here" call sites.
  void value() const {
    if (error_) detail::result_misuse("Result<void>::value() called on an error", &*error_);
  }

  // The error. Aborts if ok().
  const Error& error() const& {
    check_error();
    return *error_;  // NOLINT(bugprone-unchecked-optional-access): checked above.
  }
  Error&& error() && {
    check_error();
    return std::move(*error_);  // NOLINT(bugprone-unchecked-optional-access): checked above.
  }

 private:
  void check_error() const {
    if (!error_) detail::result_misuse("Result<void>::error() called on a success", nullptr);
  }

  std::optional<Error> error_;  // Empty on success.
};

// A successful Result<void>: `return Ok();`.
inline Result<void> Ok() { return {}; }  // NOLINT(readability-identifier-naming)

}  // namespace kiln

#define KILN_TRY_CONCAT_INNER_(a, b) a##b
#define KILN_TRY_CONCAT_(a, b) KILN_TRY_CONCAT_INNER_(a, b)
// NOLINTBEGIN(bugprone-macro-parentheses): `decl` is a declaration and `tmp` an identifier.
#define KILN_TRY_IMPL_(tmp, decl, expr)         \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return std::move(tmp).error(); \
  decl = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

// KILN_TRY(decl, expr): evaluates `expr` (a Result<T>); on error returns the error from the
// enclosing function (whose return type must be a Result); otherwise declares `decl` from the
// value. `decl` is a declaration such as `auto port` or `std::string text`. A statement, usable
// once per line.
#define KILN_TRY(decl, expr) \
  KILN_TRY_IMPL_(KILN_TRY_CONCAT_(kiln_try_result_, __LINE__), decl, expr)
