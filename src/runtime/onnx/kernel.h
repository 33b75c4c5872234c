#pragma once

// Internal to the ONNX backend: the values that flow between nodes, the kernel interface every
// supported operator implements, and the helpers kernels share (attribute reading, broadcasting,
// the ONNX-ML post transforms). Nothing here is part of kiln_runtime's public API.
//
// A Kernel is built once per graph node at load time from the node's attributes (decoded into
// typed members there), and run() is then called concurrently from many threads: it must only
// read its members and write its outputs.

#include <onnx/onnx_pb.h>  // The ONNX-ML schema with ONNX_ML defined (onnx.cmake).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kiln::runtime::onnx_eval {

// Element types held at run time. ONNX INT32/INT16/INT8/UINT*/BOOL tensors are widened to
// int64 (kInt64); DOUBLE is not supported (skl2onnx emits FLOAT models unless told otherwise).
enum class ElemType { kFloat, kInt64, kString };

std::string_view to_string(ElemType type) noexcept;

// A tensor value between nodes, row-major. Exactly one of the vectors is used, per `type`.
// `zipmap` marks the output of ZipMap (ONNX type seq(map(K, float))), carried as a FLOAT tensor
// [rows, classes] whose column j holds the probability of the j-th class label of that ZipMap.
struct Value {
  ElemType type = ElemType::kFloat;
  std::vector<std::int64_t> shape;
  std::vector<float> f;
  std::vector<std::int64_t> i;
  std::vector<std::string> s;
  bool zipmap = false;

  std::size_t size() const noexcept;
  static Value floats(std::vector<std::int64_t> shape);
};

// Product of the dimensions (1 for a scalar).
std::int64_t count(std::span<const std::int64_t> shape) noexcept;
std::string shape_string(std::span<const std::int64_t> shape);

// One operator instance. Inputs absent in the node (optional, empty name) arrive as nullptr.
class Kernel {
 public:
  virtual ~Kernel() = default;
  // Computes the outputs from the inputs. Errors: invalid-input when the shapes the request
  // produced do not fit the operator, terminal when the model feeds the operator a wrong type.
  virtual Result<void> run(std::span<const Value* const> inputs,
                           std::span<Value* const> outputs) const = 0;
};

// What a kernel factory sees of its node.
struct NodeContext {
  const ::onnx::NodeProto& node;
  std::int64_t opset;  // The model's opset version for the node's domain.
};

using KernelFactory = Result<std::unique_ptr<Kernel>> (*)(const NodeContext&);

struct OpEntry {
  std::string_view domain;  // "" (ai.onnx) or "ai.onnx.ml".
  std::string_view op_type;
  KernelFactory make;
};

// The operators of each source file.
std::span<const OpEntry> tensor_ops();
std::span<const OpEntry> ml_ops();
std::span<const OpEntry> tree_ops();

// Typed access to a node's attributes; absent attributes give the default.
class Attributes {
 public:
  explicit Attributes(const ::onnx::NodeProto& node) : node_(node) {}
  bool has(std::string_view name) const;
  std::int64_t get_int(std::string_view name, std::int64_t fallback) const;
  float get_float(std::string_view name, float fallback) const;
  std::string get_string(std::string_view name, std::string fallback) const;
  std::vector<std::int64_t> get_ints(std::string_view name) const;
  std::vector<float> get_floats(std::string_view name) const;
  std::vector<std::string> get_strings(std::string_view name) const;

 private:
  const ::onnx::AttributeProto* find(std::string_view name) const;
  const ::onnx::NodeProto& node_;
};

// "node 'name' (OpType)", or for an unnamed node "the OpType node writing 'output'", for error
// messages.
std::string describe(const ::onnx::NodeProto& node);

// Checks a node's input and output counts at load (inputs counted up to the last non-empty name).
Result<void> check_arity(const ::onnx::NodeProto& node, int min_inputs, int max_inputs,
                         int min_outputs, int max_outputs);

// Decodes an initializer or a tensor attribute (FLOAT, INT8..INT64, UINT8..UINT32, BOOL, STRING;
// raw_data or the typed fields). Errors: invalid-input for other types and external data.
Result<Value> decode_tensor(const ::onnx::TensorProto& tensor);

// Runtime checks kernels share; the errors name `node`.
Result<void> expect_type(const ::onnx::NodeProto& node, const Value& value, ElemType type,
                         int input);
// Views a value of rank 1 ([features], one row) or 2 ([rows, features]) as rows x cols; other
// ranks are invalid-input.
Result<void> as_matrix(const ::onnx::NodeProto& node, const Value& value, std::int64_t& rows,
                       std::int64_t& cols);

// NumPy broadcasting of two shapes (ONNX "multidirectional broadcasting"); false if they do not
// broadcast.
bool broadcast_shape(std::span<const std::int64_t> a, std::span<const std::int64_t> b,
                     std::vector<std::int64_t>& out);

// float -> int64 as Cast does (truncation toward zero), defined for every input: NaN gives 0,
// values beyond int64's range saturate.
std::int64_t to_int64(float v) noexcept;

// The ONNX-ML post_transform attribute (TreeEnsemble*, Linear*): NONE, SOFTMAX, LOGISTIC,
// SOFTMAX_ZERO, PROBIT. Formulas as onnxruntime's ml_common.h computes them, in float.
enum class PostTransform { kNone, kSoftmax, kLogistic, kSoftmaxZero, kProbit };
Result<PostTransform> parse_post_transform(const ::onnx::NodeProto& node);
float logistic(float x) noexcept;
float probit(float x) noexcept;
// Applies `transform` to the `scores` of one row in place (two or more scores).
void apply_post_transform(PostTransform transform, std::span<float> scores) noexcept;

}  // namespace kiln::runtime::onnx_eval
