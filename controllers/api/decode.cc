#include "controllers/api/decode.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::api::detail {
namespace {

template <class Int>
Result<void> decode_integer(const nlohmann::json& j, std::string_view path, Int& out) {
  if (j.is_number_integer()) {
    if (j.is_number_unsigned()) {
      const auto v = j.get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<Int>::max())) {
        return field_error(path, "integer out of range");
      }
      out = static_cast<Int>(v);
      return Ok();
    }
    const auto v = j.get<int64_t>();
    if (v < std::numeric_limits<Int>::min() || v > std::numeric_limits<Int>::max()) {
      return field_error(path, "integer out of range");
    }
    out = static_cast<Int>(v);
    return Ok();
  }
  // A float that is a whole number (JSON has one number type; 3.0 is the integer 3). The upper
  // bound is exclusive: max() + 1 is a power of two, exact as a double, where max() may not be.
  if (j.is_number_float()) {
    const double v = j.get<double>();
    const double limit = -static_cast<double>(std::numeric_limits<Int>::min());  // max() + 1
    if (std::isfinite(v) && v == std::floor(v)) {
      if (v < static_cast<double>(std::numeric_limits<Int>::min()) || v >= limit) {
        return field_error(path, "integer out of range");
      }
      out = static_cast<Int>(v);
      return Ok();
    }
  }
  return field_error(path, std::string("expected an integer, got ") +
                               (j.is_number() ? "a fraction" : j.type_name()));
}

std::string number_text(double v) {
  nlohmann::json j = v;
  if (v == std::floor(v) && std::abs(v) < 1e15) j = static_cast<int64_t>(v);
  return j.dump();
}

}  // namespace

Error field_error(std::string_view path, std::string_view what) {
  return Error::invalid_input(std::string(path) + ": " + std::string(what));
}

std::string join(std::string_view path, std::string_view name) {
  if (path.empty()) return std::string(name);
  std::string out(path);
  out += '.';
  out += name;
  return out;
}

const nlohmann::json* member(const nlohmann::json& j, std::string_view name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<void> expect_object(const nlohmann::json& j, std::string_view path,
                           std::span<const std::string_view> fields) {
  if (!j.is_object()) {
    return field_error(path.empty() ? "object" : path,
                       std::string("expected an object, got ") + j.type_name());
  }
  for (const auto& [key, _] : j.items()) {
    if (std::find(fields.begin(), fields.end(), key) == fields.end()) {
      return field_error(join(path, key), "unknown field");
    }
  }
  return Ok();
}

Result<void> decode(const nlohmann::json& j, std::string_view path, std::string& out) {
  if (!j.is_string()) return field_error(path, std::string("expected a string, got ") + j.type_name());
  out = j.get<std::string>();
  return Ok();
}

Result<void> decode(const nlohmann::json& j, std::string_view path, bool& out) {
  if (!j.is_boolean()) return field_error(path, std::string("expected a boolean, got ") + j.type_name());
  out = j.get<bool>();
  return Ok();
}

Result<void> decode(const nlohmann::json& j, std::string_view path, int32_t& out) {
  return decode_integer(j, path, out);
}

Result<void> decode(const nlohmann::json& j, std::string_view path, int64_t& out) {
  return decode_integer(j, path, out);
}

Result<void> decode(const nlohmann::json& j, std::string_view path, double& out) {
  if (!j.is_number()) return field_error(path, std::string("expected a number, got ") + j.type_name());
  out = j.get<double>();
  return Ok();
}

Result<void> decode(const nlohmann::json& j, std::string_view, nlohmann::json& out) {
  out = j;
  return Ok();
}

Result<void> decode(const nlohmann::json& j, std::string_view path,
                    std::map<std::string, std::string>& out) {
  if (!j.is_object()) return field_error(path, std::string("expected an object, got ") + j.type_name());
  out.clear();
  for (const auto& [key, value] : j.items()) {
    KILN_API_CHECK(decode(value, join(path, key), out[key]));
  }
  return Ok();
}

Result<void> decode(const nlohmann::json& j, std::string_view path,
                    std::map<std::string, double>& out) {
  if (!j.is_object()) return field_error(path, std::string("expected an object, got ") + j.type_name());
  out.clear();
  for (const auto& [key, value] : j.items()) {
    KILN_API_CHECK(decode(value, join(path, key), out[key]));
  }
  return Ok();
}

Result<void> at_least(std::string_view path, double value, double minimum) {
  if (value < minimum) {
    return field_error(path, "must be at least " + number_text(minimum) + ", got " + number_text(value));
  }
  return Ok();
}

Result<void> at_most(std::string_view path, double value, double maximum) {
  if (value > maximum) {
    return field_error(path, "must be at most " + number_text(maximum) + ", got " + number_text(value));
  }
  return Ok();
}

Result<void> max_length(std::string_view path, const std::string& value, size_t limit) {
  // Characters, as the API server's maxLength counts them: UTF-8 bytes that start one.
  const auto characters = static_cast<size_t>(
      std::count_if(value.begin(), value.end(),
                    [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  if (characters > limit) {
    return field_error(path, "longer than " + std::to_string(limit) + " characters");
  }
  return Ok();
}

Result<void> min_items(std::string_view path, size_t count, size_t limit) {
  if (count < limit) return field_error(path, "needs at least " + std::to_string(limit) + " items");
  return Ok();
}

Result<void> max_items(std::string_view path, size_t count, size_t limit) {
  if (count > limit) return field_error(path, "has more than " + std::to_string(limit) + " items");
  return Ok();
}

}  // namespace kiln::api::detail
