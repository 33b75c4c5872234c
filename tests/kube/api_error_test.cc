// ApiStatus parsing and the token bucket, on an injected clock.

#include "kube/api_error.h"

#include <gtest/gtest.h>

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
