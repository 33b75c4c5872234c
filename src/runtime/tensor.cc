#include "runtime/tensor.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

namespace kiln::runtime {
namespace {

constexpr std::array<std::pair<DataType, std::string_view>, 13> kNames = {{
    {DataType::kBool, "BOOL"},
    {DataType::kUint8, "UINT8"},
    {DataType::kUint16, "UINT16"},
    {DataType::kUint32, "UINT32"},
    {DataType::kUint64, "UINT64"},
    {DataType::kInt8, "INT8"},
    {DataType::kInt16, "INT16"},
    {DataType::kInt32, "INT32"},
    {DataType::kInt64, "INT64"},
    {DataType::kFp16, "FP16"},
    {DataType::kFp32, "FP32"},
    {DataType::kFp64, "FP64"},
    {DataType::kBytes, "BYTES"},
}};

// Appends the values of `data` to `out` as floats; false for BYTES.
bool append_as_float(const TensorData& data, std::vector<float>& out) {
  return std::visit(
      [&out](const auto& values) {
        using V = typename std::decay_t<decltype(values)>::value_type;
        if constexpr (std::is_same_v<V, std::string>) {
          return false;
        } else {
          for (const auto& v : values) out.push_back(static_cast<float>(v));
          return true;
        }
      },
      data);
}

// The little-endian unsigned integer of `n` bytes at `p`.
std::uint64_t load_le(const char* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

void store_le(std::uint64_t v, std::size_t n, std::string& out) {
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The value of an n-byte integer of `datatype` from its bits (sign-extended for INT*).
std::int64_t integer_of(std::uint64_t bits, std::size_t n, DataType datatype) noexcept {
  const bool is_signed = datatype >= DataType::kInt8 && datatype <= DataType::kInt64;
  if (!is_signed || n == 8) return static_cast<std::int64_t>(bits);
  const std::uint64_t sign = std::uint64_t{1} << (8 * n - 1);
  return static_cast<std::int64_t>((bits ^ sign) - sign);
}

Result<TensorData> decode_raw_bytes(std::int64_t count, std::string_view bytes,
                                    std::string_view where) {
  // Each element takes at least its 4-byte length: check before reserving.
  if (static_cast<std::uint64_t>(count) > bytes.size() / 4) {
    return Error::invalid_input(std::string(where) + ": " + std::to_string(bytes.size()) +
                                " bytes cannot hold " + std::to_string(count) +
                                " BYTES elements (each takes a 4-byte length)");
  }
  std::vector<std::string> values;
  values.reserve(static_cast<std::size_t>(count));
  std::size_t at = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    if (bytes.size() - at < 4) {
      return Error::invalid_input(std::string(where) + ": BYTES element " + std::to_string(i) +
                                  " has no room for its 4-byte length");
    }
    const std::uint64_t length = load_le(bytes.data() + at, 4);
    at += 4;
    if (length > bytes.size() - at) {
      return Error::invalid_input(std::string(where) + ": BYTES element " + std::to_string(i) +
                                  " has length " + std::to_string(length) + ", past the end (" +
                                  std::to_string(bytes.size() - at) + " bytes left)");
    }
    values.emplace_back(bytes.substr(at, static_cast<std::size_t>(length)));
    at += static_cast<std::size_t>(length);
  }
  if (at != bytes.size()) {
    return Error::invalid_input(std::string(where) + ": " + std::to_string(bytes.size() - at) +
                                " bytes are left after its " + std::to_string(count) +
                                " BYTES elements");
  }
  return TensorData(std::move(values));
}

}  // namespace

std::size_t element_size(DataType datatype) noexcept {
  switch (datatype) {
    case DataType::kBool:
    case DataType::kUint8:
    case DataType::kInt8:
      return 1;
    case DataType::kUint16:
    case DataType::kInt16:
    case DataType::kFp16:
      return 2;
    case DataType::kUint32:
    case DataType::kInt32:
    case DataType::kFp32:
      return 4;
    case DataType::kUint64:
    case DataType::kInt64:
    case DataType::kFp64:
      return 8;
    case DataType::kBytes:
      return 0;
  }
  return 0;
}

float half_to_float(std::uint16_t half) noexcept {
  const bool negative = (half & 0x8000) != 0;
  const int exponent = (half >> 10) & 0x1f;
  const int mantissa = half & 0x3ff;
  float v;
  if (exponent == 0) {
    v = std::ldexp(static_cast<float>(mantissa), -24);  // Zero or subnormal.
  } else if (exponent == 31) {
    v = mantissa == 0 ? std::numeric_limits<float>::infinity()
                      : std::numeric_limits<float>::quiet_NaN();
  } else {
    v = std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
  }
  return negative ? -v : v;
}

std::uint16_t float_to_half(float value) noexcept {
  const auto bits = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
  const std::uint32_t magnitude = bits & 0x7fffffff;
  if (magnitude >= 0x7f800000) {  // Infinity or NaN.
    return sign | (magnitude > 0x7f800000 ? 0x7e00 : 0x7c00);
  }
  if (magnitude >= 0x477ff000) return sign | 0x7c00;  // >= 65520 rounds to infinity.
  if (magnitude < 0x38800000) {                        // Below 2^-14: a subnormal half.
    const float scaled = std::nearbyint(std::ldexp(std::abs(value), 24));  // Ties to even.
    return sign | static_cast<std::uint16_t>(scaled);
  }
  const std::uint32_t exponent = (magnitude >> 23) - 127 + 15;
  const std::uint32_t mantissa = magnitude & 0x7fffff;
  std::uint32_t half = (exponent << 10) | (mantissa >> 13);
  const std::uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) ++half;  // Carries into the exponent.
  return sign | static_cast<std::uint16_t>(half);
}

Result<TensorData> decode_raw(DataType datatype, std::int64_t count, std::string_view bytes,
                              std::string_view where) {
  if (count < 0) return Error::invalid_input(std::string(where) + ": negative element count");
  if (datatype == DataType::kBytes) return decode_raw_bytes(count, bytes, where);
  const std::size_t n = element_size(datatype);
  if (static_cast<std::uint64_t>(count) > bytes.size() / n ||
      static_cast<std::uint64_t>(count) * n != bytes.size()) {
    return Error::invalid_input(std::string(where) + ": " + std::to_string(bytes.size()) +
                                " bytes do not hold " + std::to_string(count) + " " +
                                std::string(to_string(datatype)) + " elements (" +
                                std::to_string(n) + " bytes each)");
  }
  TensorData data = empty_data_for(datatype);
  const char* p = bytes.data();
  const auto total = static_cast<std::size_t>(count);
  if (datatype == DataType::kFp32 || datatype == DataType::kFp16) {
    auto& out = std::get<std::vector<float>>(data);
    out.reserve(total);
    for (std::size_t i = 0; i < total; ++i, p += n) {
      const std::uint64_t bits = load_le(p, n);
      out.push_back(n == 2 ? half_to_float(static_cast<std::uint16_t>(bits))
                           : std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
    }
  } else if (datatype == DataType::kFp64) {
    auto& out = std::get<std::vector<double>>(data);
    out.reserve(total);
    for (std::size_t i = 0; i < total; ++i, p += n) out.push_back(std::bit_cast<double>(load_le(p, n)));
  } else if (datatype == DataType::kBool) {
    auto& out = std::get<std::vector<std::uint8_t>>(data);
    out.reserve(total);
    for (std::size_t i = 0; i < total; ++i) out.push_back(p[i] != 0 ? 1 : 0);
  } else {
    auto& out = std::get<std::vector<std::int64_t>>(data);
    out.reserve(total);
    for (std::size_t i = 0; i < total; ++i, p += n) {
      const std::uint64_t bits = load_le(p, n);
      if (datatype == DataType::kUint64 &&
          bits > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return Error::invalid_input(std::string(where) + ": element " + std::to_string(i) +
                                    " (" + std::to_string(bits) + ") is out of range for UINT64 "
                                    "(at most 2^63 - 1 is accepted)");
      }
      out.push_back(integer_of(bits, n, datatype));
    }
  }
  return data;
}

std::size_t append_raw(const Tensor& tensor, std::string& out) {
  const std::size_t before = out.size();
  const std::size_t n = element_size(tensor.datatype);
  std::visit(
      [&](const auto& values) {
        using V = typename std::decay_t<decltype(values)>::value_type;
        if constexpr (std::is_same_v<V, std::string>) {
          for (const auto& v : values) {
            store_le(v.size(), 4, out);
            out += v;
          }
        } else {
          out.reserve(out.size() + values.size() * n);
          for (const auto& v : values) {
            if constexpr (std::is_same_v<V, float>) {
              if (n == 2) {
                store_le(float_to_half(v), 2, out);
              } else {
                store_le(std::bit_cast<std::uint32_t>(v), 4, out);
              }
            } else if constexpr (std::is_same_v<V, double>) {
              store_le(std::bit_cast<std::uint64_t>(v), 8, out);
            } else {
              store_le(static_cast<std::uint64_t>(v), n, out);
            }
          }
        }
      },
      tensor.data);
  return out.size() - before;
}

std::string_view to_string(DataType datatype) noexcept {
  for (const auto& [type, name] : kNames) {
    if (type == datatype) return name;
  }
  return "UNKNOWN";
}

std::optional<DataType> parse_datatype(std::string_view name) noexcept {
  for (const auto& [type, known] : kNames) {
    if (known == name) return type;
  }
  return std::nullopt;
}

bool is_integer(DataType datatype) noexcept {
  return datatype >= DataType::kUint8 && datatype <= DataType::kInt64;
}

bool is_floating(DataType datatype) noexcept {
  return datatype == DataType::kFp16 || datatype == DataType::kFp32 || datatype == DataType::kFp64;
}

TensorData empty_data_for(DataType datatype) {
  switch (datatype) {
    case DataType::kFp16:
    case DataType::kFp32:
      return std::vector<float>{};
    case DataType::kFp64:
      return std::vector<double>{};
    case DataType::kBool:
      return std::vector<std::uint8_t>{};
    case DataType::kBytes:
      return std::vector<std::string>{};
    default:
      return std::vector<std::int64_t>{};
  }
}

std::size_t Tensor::size() const noexcept {
  return std::visit([](const auto& values) { return values.size(); }, data);
}

std::int64_t element_count(std::span<const std::int64_t> shape) noexcept {
  std::int64_t count = 1;
  for (std::int64_t d : shape) count *= d;
  return count;
}

Result<FeatureMatrix> to_feature_matrix(std::span<const Tensor> inputs) {
  if (inputs.empty()) return Error::invalid_input("the request has no inputs");
  FeatureMatrix m;
  if (inputs.size() == 1) {
    const Tensor& t = inputs[0];
    if (t.shape.size() > 2) {
      return Error::invalid_input("input '" + t.name + "' has rank " +
                                  std::to_string(t.shape.size()) + "; expected [rows, features]");
    }
    m.rows = t.shape.size() == 2 ? t.shape[0] : 1;
    m.cols = t.shape.empty() ? 1 : t.shape.back();
    if (std::holds_alternative<std::vector<std::string>>(t.data)) {
      return Error::invalid_input("input '" + t.name + "' is BYTES; this model takes numbers");
    }
    std::int64_t cells = 0;
    if (__builtin_mul_overflow(m.rows, m.cols, &cells) ||
        static_cast<std::uint64_t>(cells) != t.size()) {
      return Error::invalid_input("input '" + t.name + "' holds " + std::to_string(t.size()) +
                                  " values; its shape needs " + std::to_string(m.rows) + " x " +
                                  std::to_string(m.cols));
    }
    m.values.reserve(t.size());
    append_as_float(t.data, m.values);
    return m;
  }
  // One column per input. Every input is checked before the matrix is allocated, so its size is
  // the inputs' own element count: rows x inputs of a long first column and many empty ones would
  // otherwise be allocated before the second input is looked at.
  m.cols = static_cast<std::int64_t>(inputs.size());
  m.rows = static_cast<std::int64_t>(inputs[0].size());
  for (const Tensor& t : inputs) {
    if (t.shape.size() > 2 || (t.shape.size() == 2 && t.shape[1] != 1)) {
      return Error::invalid_input("input '" + t.name +
                                  "' must have shape [rows] or [rows, 1] when inputs are columns");
    }
    if (std::holds_alternative<std::vector<std::string>>(t.data)) {
      return Error::invalid_input("input '" + t.name + "' is BYTES; this model takes numbers");
    }
    if (static_cast<std::int64_t>(t.size()) != m.rows) {
      return Error::invalid_input("input '" + t.name + "' has " + std::to_string(t.size()) +
                                  " rows; input '" + inputs[0].name + "' has " +
                                  std::to_string(m.rows));
    }
  }
  m.values.assign(static_cast<std::size_t>(m.rows * m.cols), 0.0f);
  std::vector<float> column;
  column.reserve(static_cast<std::size_t>(m.rows));
  for (std::size_t c = 0; c < inputs.size(); ++c) {
    column.clear();
    append_as_float(inputs[c].data, column);
    for (std::int64_t r = 0; r < m.rows; ++r) {
      m.values[static_cast<std::size_t>(r * m.cols) + c] = column[static_cast<std::size_t>(r)];
    }
  }
  return m;
}

}  // namespace kiln::runtime
