#include "common/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kiln {
namespace {

TEST(Error, CategoriesHaveStableNames) {
  EXPECT_EQ(to_string(ErrorCategory::kRetryable), "retryable");
  EXPECT_EQ(to_string(ErrorCategory::kTerminal), "terminal");
  EXPECT_EQ(to_string(ErrorCategory::kInvalidInput), "invalid-input");
}

TEST(Error, FactoriesSetTheCategoryAndKeepTheMessage) {
  struct Case {
    Error error;
    ErrorCategory category;
  };
  const std::vector<Case> cases = {
      {Error::retryable("m"), ErrorCategory::kRetryable},
      {Error::terminal("m"), ErrorCategory::kTerminal},
      {Error::invalid_input("m"), ErrorCategory::kInvalidInput},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.error.category(), c.category);
    EXPECT_EQ(c.error.message(), "m");
  }
}

TEST(Error, WithContextPrefixesTheMessageAndKeepsTheCategory) {
  const Error inner = Error::retryable("connection refused");
  const Error outer = inner.with_context("listing pods").with_context("reconciling default/a");
  EXPECT_EQ(outer.message(), "reconciling default/a: listing pods: connection refused");
  EXPECT_EQ(outer.category(), ErrorCategory::kRetryable);
  EXPECT_EQ(inner.message(), "connection refused");
}

TEST(Error, PlainErrorsHaveNoCodeOrReason) {
  const Error lookalike(ErrorCategory::kTerminal, "404 NotFound: looks like an API error");
  for (const Error& e :
       {Error::retryable("m"), Error::terminal("m"), Error::invalid_input("m"), lookalike}) {
    EXPECT_EQ(e.code(), 0) << e.to_string();
    EXPECT_EQ(e.reason(), "") << e.to_string();
  }
}

TEST(Error, ApiErrorsCarryCodeReasonCategoryAndMessage) {
  const Error e = Error::api(ErrorCategory::kInvalidInput, 422, "Invalid", "spec.replicas: < 0");
  EXPECT_EQ(e.category(), ErrorCategory::kInvalidInput);
  EXPECT_EQ(e.code(), 422);
  EXPECT_EQ(e.reason(), "Invalid");
  EXPECT_EQ(e.message(), "spec.replicas: < 0");
}

TEST(Error, ApiCodesOutsideTheHttpRangeAreStoredAsZero) {
  for (int code : {-1, 0, 99, 600, 1000}) {
    EXPECT_EQ(Error::api(ErrorCategory::kTerminal, code, "X", "m").code(), 0) << code;
  }
  EXPECT_EQ(Error::api(ErrorCategory::kTerminal, 100, "X", "m").code(), 100);
  EXPECT_EQ(Error::api(ErrorCategory::kTerminal, 599, "X", "m").code(), 599);
}

TEST(Error, WithContextKeepsCodeAndReason) {
  const Error inner = Error::api(ErrorCategory::kRetryable, 409, "Conflict", "modified");
  const Error outer = inner.with_context("PUT /x").with_context("update status");
  EXPECT_EQ(outer.message(), "update status: PUT /x: modified");
  EXPECT_EQ(outer.code(), 409);
  EXPECT_EQ(outer.reason(), "Conflict");
  EXPECT_EQ(outer.category(), ErrorCategory::kRetryable);
}

TEST(Error, EqualityComparesCodeAndReason) {
  const Error a = Error::api(ErrorCategory::kRetryable, 409, "Conflict", "m");
  EXPECT_EQ(a, Error::api(ErrorCategory::kRetryable, 409, "Conflict", "m"));
  EXPECT_NE(a, Error::api(ErrorCategory::kRetryable, 409, "AlreadyExists", "m"));
  EXPECT_NE(a, Error::api(ErrorCategory::kRetryable, 429, "Conflict", "m"));
  EXPECT_NE(a, Error::retryable("m"));
}

TEST(Error, ToStringJoinsCategoryAndMessage) {
  EXPECT_EQ(Error::invalid_input("port must be positive").to_string(),
            "invalid-input: port must be positive");
}

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return Error::invalid_input(std::string("not a digit: ") + c);
  return c - '0';
}

TEST(Result, HoldsAValueConvertedImplicitly) {
  const Result<int> r = parse_digit('7');
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 7);
  EXPECT_EQ(*r, 7);
}

TEST(Result, HoldsAnErrorConvertedImplicitly) {
  const Result<int> r = parse_digit('x');
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error(), Error::invalid_input("not a digit: x"));
}

TEST(Result, ConvertsFromAnythingTheValueTypeIsBuiltFrom) {
  const Result<std::string> r = "literal";
  EXPECT_EQ(r.value(), "literal");
  EXPECT_EQ(r->size(), 7u);
}

TEST(Result, ValueOrReturnsTheFallbackOnlyOnError) {
  EXPECT_EQ(parse_digit('3').value_or(-1), 3);
  EXPECT_EQ(parse_digit('x').value_or(-1), -1);
}

TEST(Result, MovesAMoveOnlyValueOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
}

TEST(Result, MutatesTheHeldValueThroughArrowAndStar) {
  Result<std::vector<int>> r = std::vector<int>{1};
  r->push_back(2);
  (*r).push_back(3);
  EXPECT_EQ(r.value(), (std::vector<int>{1, 2, 3}));
}

TEST(ResultDeathTest, ValueOnAnErrorAbortsWithTheError) {
  const Result<int> r = Error::terminal("boom");
  EXPECT_DEATH((void)r.value(), "Result::value\\(\\) called on an error: terminal: boom");
}

TEST(ResultDeathTest, ErrorOnASuccessAborts) {
  const Result<int> r = 1;
  EXPECT_DEATH((void)r.error(), "Result::error\\(\\) called on a success");
}

TEST(ResultVoid, DefaultsToSuccess) {
  EXPECT_TRUE(Result<void>().ok());
  EXPECT_TRUE(Result<void>::success().ok());
  EXPECT_TRUE(Ok().ok());
}

TEST(ResultVoid, HoldsAnError) {
  const Result<void> r = Error::retryable("later");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().to_string(), "retryable: later");
}

TEST(ResultVoidDeathTest, ValueOnAnErrorAborts) {
  const Result<void> r = Error::terminal("boom");
  EXPECT_DEATH(r.value(), "Result<void>::value\\(\\) called on an error: terminal: boom");
}

Result<int> sum_of_digits(const std::string& text) {
  KILN_TRY(int first, parse_digit(text.at(0)));
  KILN_TRY(int second, parse_digit(text.at(1)));
  return first + second;
}

TEST(KilnTry, DeclaresTheValueOnSuccess) { EXPECT_EQ(sum_of_digits("34").value(), 7); }

TEST(KilnTry, ReturnsTheFirstErrorUnchanged) {
  EXPECT_EQ(sum_of_digits("3x").error(), Error::invalid_input("not a digit: x"));
}

Result<void> check_digit(char c) {
  KILN_TRY(int digit, parse_digit(c));
  (void)digit;
  return Ok();
}

TEST(KilnTry, WorksInFunctionsReturningResultVoid) {
  EXPECT_TRUE(check_digit('1').ok());
  EXPECT_EQ(check_digit('y').error().category(), ErrorCategory::kInvalidInput);
}

}  // namespace
}  // namespace kiln
