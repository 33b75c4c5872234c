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
// scalar). Dimensions must be >= 0, and the caller must have bounded the shape first (the
// codecs check the count against the bytes that carry it): the product is not checked for
// overflow here.
std::int64_t element_count(std::span<const std::int64_t> shape) noexcept;

// THE RAW (BINARY) FORM of tensor data, shared by the REST binary tensor extension
// (Triton's extension_binary_data.md, KServe's "Binary Tensor Data Extension") and gRPC's
// raw_input_contents / raw_output_contents: little-endian, row-major, no padding between elements.
// Fixed-size datatypes take their native size (BOOL 1 byte, 0 false and anything else true; FP16 the
// IEEE 754 binary16 bits); a BYTES element is a 4-byte little-endian unsigned length, then that many
// bytes.

// Bytes a fixed-size element of `datatype` takes (1 for BOOL/INT8/UINT8, ..., 8 for FP64/INT64);
// 0 for BYTES, whose elements vary.
std::size_t element_size(DataType datatype) noexcept;

// Decodes `bytes`, the raw form of exactly `count` elements of `datatype` (count >= 0). Every
// byte must be used. Errors (invalid-input) begin with `where` (e.g. "inputs[2]"): a size other
// than count x element_size; a BYTES element's length running past the end, or bytes left over;
// a UINT64 above INT64_MAX. Allocates at most count elements, after checking the size, so memory is
// bounded by bytes.size() (a BYTES element takes >= 4 bytes, its std::string 32).
Result<TensorData> decode_raw(DataType datatype, std::int64_t count, std::string_view bytes,
                              std::string_view where);

// Appends the raw form of `tensor`'s data, as its datatype lays it out (INT*/UINT* narrowed to
// their width, FP16 rounded to nearest even), to `out`. Returns the bytes appended.
std::size_t append_raw(const Tensor& tensor, std::string& out);

// IEEE 754 binary16 <-> float. half_to_float is exact; float_to_half rounds to nearest even,
// overflowing to infinity and keeping NaN a NaN.
float half_to_float(std::uint16_t half) noexcept;
std::uint16_t float_to_half(float value) noexcept;

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
// Errors (invalid-input): no inputs, BYTES data, rank above 2, columns of different lengths, a
// tensor holding other than its shape's element count.
// Memory: every input is checked before the matrix is allocated, so it takes 4 bytes per element
// the inputs hold (rows x cols floats), never more: a long first column next to many empty ones is
// refused without allocating rows x inputs.
Result<FeatureMatrix> to_feature_matrix(std::span<const Tensor> inputs);

}  // namespace kiln::runtime
