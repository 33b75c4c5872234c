#include "runtime/tensor.h"

#include <array>
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

}  // namespace

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
    m.values.reserve(t.size());
    if (!append_as_float(t.data, m.values)) {
      return Error::invalid_input("input '" + t.name + "' is BYTES; this model takes numbers");
    }
    return m;
  }
  // One column per input: gather, then transpose into rows.
  m.cols = static_cast<std::int64_t>(inputs.size());
  m.rows = static_cast<std::int64_t>(inputs[0].size());
  std::vector<float> column;
  m.values.assign(static_cast<std::size_t>(m.rows * m.cols), 0.0f);
  for (std::size_t c = 0; c < inputs.size(); ++c) {
    const Tensor& t = inputs[c];
    if (t.shape.size() > 2 || (t.shape.size() == 2 && t.shape[1] != 1)) {
      return Error::invalid_input("input '" + t.name +
                                  "' must have shape [rows] or [rows, 1] when inputs are columns");
    }
    column.clear();
    if (!append_as_float(t.data, column)) {
      return Error::invalid_input("input '" + t.name + "' is BYTES; this model takes numbers");
    }
    if (static_cast<std::int64_t>(column.size()) != m.rows) {
      return Error::invalid_input("input '" + t.name + "' has " + std::to_string(column.size()) +
                                  " rows; input '" + inputs[0].name + "' has " +
                                  std::to_string(m.rows));
    }
    for (std::int64_t r = 0; r < m.rows; ++r) {
      m.values[static_cast<std::size_t>(r * m.cols) + c] = column[static_cast<std::size_t>(r)];
    }
  }
  return m;
}

}  // namespace kiln::runtime
