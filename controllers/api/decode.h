#pragma once

// Decoding JSON into the generated API types (controllers/api/v1alpha1.h): the scalar, container
// and optional cases the generated `decode` functions call, and the checks they share. Every error
// is invalid-input and names the field path, e.g. `spec.canary.trafficPercent: expected an
// integer, got string`. Pure functions; safe from any thread.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/common/result.h"

// KILN_API_CHECK(expr): returns the error of `expr` (a Result<void>) from the enclosing function.
#define KILN_API_CHECK(expr)                                             \
  do {                                                                   \
    if (auto kiln_api_check_ = (expr); !kiln_api_check_.ok()) {          \
      return std::move(kiln_api_check_).error();                         \
    }                                                                    \
  } while (false)

namespace kiln::api::detail {

// "<path>: <what>" as an invalid-input Error.
Error field_error(std::string_view path, std::string_view what);
// "path.name", or "name" when path is empty.
std::string join(std::string_view path, std::string_view name);
// The member `name` of object `j`, or nullptr when absent or null (null means absent, as the API
// server's defaulting treats it).
const nlohmann::json* member(const nlohmann::json& j, std::string_view name);
// Checks that `j` is an object whose keys are all in `fields` (a misspelled key is an error, not a
// silent fallback).
Result<void> expect_object(const nlohmann::json& j, std::string_view path,
                           std::span<const std::string_view> fields);

Result<void> decode(const nlohmann::json& j, std::string_view path, std::string& out);
Result<void> decode(const nlohmann::json& j, std::string_view path, bool& out);
// Integers must be whole numbers within the type's range.
Result<void> decode(const nlohmann::json& j, std::string_view path, int32_t& out);
Result<void> decode(const nlohmann::json& j, std::string_view path, int64_t& out);
// Any JSON number.
Result<void> decode(const nlohmann::json& j, std::string_view path, double& out);
// Any JSON value, copied (free-form fields such as pod templates).
Result<void> decode(const nlohmann::json& j, std::string_view path, nlohmann::json& out);
Result<void> decode(const nlohmann::json& j, std::string_view path,
                    std::map<std::string, std::string>& out);
Result<void> decode(const nlohmann::json& j, std::string_view path,
                    std::map<std::string, double>& out);

// An array, each element decoded with the path `path[i]`.
template <class T>
Result<void> decode(const nlohmann::json& j, std::string_view path, std::vector<T>& out) {
  if (!j.is_array()) return field_error(path, std::string("expected an array, got ") + j.type_name());
  out.clear();
  out.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    T item{};
    KILN_API_CHECK(decode(j[i], std::string(path) + "[" + std::to_string(i) + "]", item));
    out.push_back(std::move(item));
  }
  return Ok();
}

// A present optional value.
template <class T>
Result<void> decode(const nlohmann::json& j, std::string_view path, std::optional<T>& out) {
  T value{};
  KILN_API_CHECK(decode(j, path, value));
  out = std::move(value);
  return Ok();
}

// Bounds from the schema (minimum, maximum, maxLength, minItems, maxItems).
Result<void> at_least(std::string_view path, double value, double minimum);
Result<void> at_most(std::string_view path, double value, double maximum);
Result<void> max_length(std::string_view path, const std::string& value, size_t limit);
Result<void> min_items(std::string_view path, size_t count, size_t limit);
Result<void> max_items(std::string_view path, size_t count, size_t limit);

}  // namespace kiln::api::detail
