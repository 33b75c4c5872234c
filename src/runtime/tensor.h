#pragma once

// Tensors as the Open Inference Protocol (v2) carries them: a name, a datatype, a shape and
// row-major data. Spec: https://github.com/kserve/open-inference-protocol (REST, "$tensor_data").
//
// Storage is by datatype family, so a value never changes type on the way through:
//   FP32, FP16  -> std::vector<float>   (FP16 is widened on decode)
//   FP64        -> std::vector<double>
//   INT8..INT64, UINT8..UINT64 -> std::vector<std::int64_t> (UINT64 above INT64_MAX is refused
//                                 by the decoder)
//   BOOL        -> std::vector<std::uint8_t> (0 or 1)
//   BYTES       -> std::vector<std::string>
// A Tensor is a plain value type: copies are independent; distinct objects may be used from
// different threads.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace kiln::runtime {

// The OIP datatypes.
enum class DataType {
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBytes,
};

// "BOOL", "UINT8", ..., "FP32", "BYTES". The view points to static storage.
std::string_view to_string(DataType datatype) noexcept;
// The datatype named `name` (exact, upper case as in the spec); nullopt for an unknown name.
std::optional<DataType> parse_datatype(std::string_view name) noexcept;
// True for the INT* and UINT* datatypes.
bool is_integer(DataType datatype) noexcept;
// True for FP16, FP32 and FP64.
bool is_floating(DataType datatype) noexcept;

using TensorData = std::variant<std::vector<float>, std::vector<double>, std::vector<std::int64_t>,
                                std::vector<std::uint8_t>, std::vector<std::string>>;

// The empty storage that holds values of `datatype` (see the table at the top of this file).
TensorData empty_data_for(DataType datatype);

struct Tensor {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<std::int64_t> shape;  // Each dimension >= 0; empty means a scalar (one element).
  TensorData data;                  // Row-major; holds element_count(shape) values.

  // The number of values in `data`.
  std::size_t size() const noexcept;
};

// The number of elements a tensor of `shape` holds: the product of the dimensions (1 for a
// scalar). Dimensions must be >= 0.
std::int64_t element_count(std::span<const std::int64_t> shape) noexcept;

// A row-major matrix of features, the input of tabular models.
struct FeatureMatrix {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<float> values;  // rows * cols, row-major; NaN marks a missing value.
};

// Builds the feature matrix of a batch from OIP inputs, as tabular servers (MLServer, KServe)
// accept them:
//   - one input of shape [rows, cols], or [cols] for a single row;
//   - or several inputs of shape [rows] or [rows, 1], one feature column each, in request order.
// Numeric and BOOL data convert to float (FP64 and INT64 values round to the nearest float).
// Errors (invalid-input): no inputs, BYTES data, rank above 2, columns of different lengths.
Result<FeatureMatrix> to_feature_matrix(std::span<const Tensor> inputs);

}  // namespace kiln::runtime
