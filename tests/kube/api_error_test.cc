// ApiStatus parsing, the predicates on Error's code and reason, the classification of transport
// failures, and the token bucket, on an injected clock.

#include "kube/api_error.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <stdexcept>

#include "kube/http.h"
#include "kube/token_bucket.h"

namespace kiln::kube {
namespace {

TEST(ApiStatus, ParsesAStatusBodyIntoCodeReasonAndMessage) {
  auto status = ApiStatus::from_response(
      409, R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"the object has )"
           R"(been modified","reason":"Conflict","code":409})");
  EXPECT_EQ(status.code, 409);
  EXPECT_EQ(status.reason, "Conflict");
  EXPECT_EQ(status.message, "the object has been modified");
  auto error = status.to_error().with_context("PUT /api/v1/x");
  EXPECT_EQ(error.message(), "PUT /api/v1/x: 409 Conflict: the object has been modified");
  EXPECT_EQ(error.code(), 409);
  EXPECT_EQ(error.reason(), "Conflict");
  EXPECT_EQ(error.category(), ErrorCategory::kRetryable);
  EXPECT_EQ(api_code(error), 409);
}

TEST(ApiStatus, CategoriesFollowWhatTheCallerShouldDo) {
  struct Case {
    int code;
    ErrorCategory category;
  };
  for (auto [code, category] :
       {Case{409, ErrorCategory::kRetryable}, Case{429, ErrorCategory::kRetryable},
        Case{500, ErrorCategory::kRetryable}, Case{503, ErrorCategory::kRetryable},
        Case{404, ErrorCategory::kTerminal}, Case{403, ErrorCategory::kTerminal},
        Case{410, ErrorCategory::kTerminal}, Case{422, ErrorCategory::kInvalidInput},
        Case{400, ErrorCategory::kInvalidInput}}) {
    EXPECT_EQ(ApiStatus::from_response(code, "").category(), category) << code;
  }
}

TEST(ApiStatus, NonStatusBodyBecomesTheMessage) {
  auto status = ApiStatus::from_response(503, "upstream down");
  EXPECT_EQ(status.reason, "ServiceUnavailable");
  EXPECT_EQ(status.message, "upstream down");
}

TEST(ApiStatus, ErrorsNotFromTheApiHaveNoCode) {
  EXPECT_EQ(api_code(Error::retryable("connecting to https://x: refused")), 0);
}

// Status bodies as the API server sends them, and what each predicate says of them.
TEST(ApiPredicates, FollowTheReasonThenTheCode) {
  auto body = [](int code, const std::string& reason) {
    return R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"m","reason":")" +
           reason + R"(","code":)" + std::to_string(code) + "}";
  };
  struct Case {
    int code;
    std::string reason;
    bool not_found, already_exists, conflict, invalid, gone, forbidden;
  };
  for (const Case& c : std::vector<Case>{
           {404, "NotFound", true, false, false, false, false, false},
           {409, "AlreadyExists", false, true, false, false, false, false},
           {409, "Conflict", false, false, true, false, false, false},
           {422, "Invalid", false, false, false, true, false, false},
           {410, "Gone", false, false, false, false, true, false},
           {410, "Expired", false, false, false, false, true, false},
           {403, "Forbidden", false, false, false, false, false, true},
           {500, "InternalError", false, false, false, false, false, false},
       }) {
    const Error e = api_error(c.code, body(c.code, c.reason)).with_context("GET /x");
    EXPECT_EQ(e.code(), c.code) << c.reason;
    EXPECT_EQ(e.reason(), c.reason);
    EXPECT_EQ(is_not_found(e), c.not_found) << c.reason;
    EXPECT_EQ(is_already_exists(e), c.already_exists) << c.reason;
    EXPECT_EQ(is_conflict(e), c.conflict) << c.reason;
    EXPECT_EQ(is_invalid(e), c.invalid) << c.reason;
    EXPECT_EQ(is_gone(e), c.gone) << c.reason;
    EXPECT_EQ(is_forbidden(e), c.forbidden) << c.reason;
  }
}

TEST(ApiPredicates, ReadTheFieldsNeverTheMessage) {
  // Messages that read like API errors, in our own errors and in a server's message text.
  EXPECT_FALSE(is_not_found(Error::terminal("404 NotFound: configmaps \"x\" not found")));
  EXPECT_FALSE(is_conflict(Error::retryable("GET /x: 409 Conflict: modified")));
  EXPECT_EQ(api_code(Error::terminal("GET /x: 404 NotFound: m")), 0);
  const Error quoted = api_error(
      422, R"({"kind":"Status","reason":"Invalid","code":422,"message":"x: 404 NotFound: y"})");
  EXPECT_TRUE(is_invalid(quoted));
  EXPECT_FALSE(is_not_found(quoted));
  // No reason from the server: the code decides.
  EXPECT_TRUE(is_not_found(Error::api(ErrorCategory::kTerminal, 404, "", "m")));
  EXPECT_TRUE(is_not_found(api_error(404, "404 page not found")));  // Not a Status: reason derived.
  EXPECT_TRUE(is_conflict(Error::api(ErrorCategory::kRetryable, 409, "Unknown", "m")));
}

// cpprestsdk's exceptions as its asio client throws them: an errno value (after its own
// remapping) or OpenSSL's packed error code, and a fixed text naming the stage.
TEST(TransportFailure, IsClassifiedFromTheErrorCode) {
  Config config;
  config.server = "https://10.0.0.1:6443";
  const int verify_failed = static_cast<int>(
      ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED));
  const int eof_in_handshake = static_cast<int>(
      ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_EOF_WHILE_READING));
  struct Case {
    int code;
    std::string what;
    ErrorCategory category;
    bool unsent;
    std::string hint;
  };
  for (const Case& c : std::vector<Case>{
           {EHOSTUNREACH, "Failed to connect to any resolved endpoint", ErrorCategory::kRetryable,
            true, "nothing listens there"},
           {ETIMEDOUT, "Failed to read HTTP status line", ErrorCategory::kRetryable, false, ""},
           {verify_failed, "Error in SSL handshake", ErrorCategory::kTerminal, false,
            "certificate-authority"},
           {eof_in_handshake, "Error in SSL handshake", ErrorCategory::kRetryable, false, ""},
           // The text alone says nothing about the cause.
           {ECONNRESET, "Failed to read HTTP status line (certificate verify handshake refused)",
            ErrorCategory::kRetryable, false, ""},
           {ECONNRESET, "Failed to write request headers", ErrorCategory::kRetryable, true, ""},
       }) {
    const auto failure =
        detail::transport_failure(config, web::http::http_exception(c.code, c.what));
    EXPECT_EQ(failure.error.category(), c.category) << c.what;
    EXPECT_EQ(failure.unsent, c.unsent) << c.what;
    EXPECT_EQ(failure.error.code(), 0) << c.what;
    const std::string plain = "connecting to https://10.0.0.1:6443: " + c.what;
    if (c.hint.empty()) {
      EXPECT_EQ(failure.error.message(), plain);
    } else {
      EXPECT_EQ(failure.error.message().rfind(plain, 0), 0u) << failure.error.message();
      EXPECT_NE(failure.error.message().find(c.hint), std::string::npos) << failure.error.message();
    }
  }
  // Not cpprestsdk's: retryable, and never taken as unsent.
  const auto other = detail::transport_failure(config, std::runtime_error("refused"));
  EXPECT_EQ(other.error.category(), ErrorCategory::kRetryable);
  EXPECT_FALSE(other.unsent);
}

TEST(RetryAfter, ParsesDeltaSecondsOnly) {
  EXPECT_EQ(parse_retry_after("3"), std::chrono::seconds(3));
  EXPECT_EQ(parse_retry_after("0"), std::chrono::seconds(0));
  EXPECT_EQ(parse_retry_after(""), std::nullopt);
  EXPECT_EQ(parse_retry_after("-1"), std::nullopt);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
}

TEST(TokenBucket, BurstIsFreeThenRequestsAreSpacedAtQps) {
  ManualClock clock;
  TokenBucket bucket(20, 30, clock);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(bucket.reserve(), Clock::duration::zero()) << i;
  // The 31st waits 1/20 s, the 32nd 2/20 s: reservations queue.
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(bucket.reserve()).count(), 50);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(bucket.reserve()).count(), 100);
  clock.advance(std::chrono::seconds(10));  // Refills to the burst, not beyond.
  for (int i = 0; i < 30; ++i) EXPECT_EQ(bucket.reserve(), Clock::duration::zero()) << i;
  EXPECT_GT(bucket.reserve(), Clock::duration::zero());
}

TEST(TokenBucket, ZeroQpsIsUnlimited) {
  ManualClock clock;
  TokenBucket bucket(0, 1, clock);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(bucket.reserve(), Clock::duration::zero());
}

}  // namespace
}  // namespace kiln::kube
