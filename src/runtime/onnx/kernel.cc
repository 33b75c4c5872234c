#include "runtime/onnx/kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace kiln::runtime::onnx_eval {
namespace {

using ::onnx::AttributeProto;
using ::onnx::TensorProto;

// Copies `n` little-endian values of type T out of raw bytes into `out` as U.
template <class T, class U>
bool read_raw(const std::string& raw, std::int64_t n, std::vector<U>& out) {
  if (raw.size() != static_cast<std::size_t>(n) * sizeof(T)) return false;
  out.resize(static_cast<std::size_t>(n));
  for (std::int64_t k = 0; k < n; ++k) {
    T v;
    std::memcpy(&v, raw.data() + k * sizeof(T), sizeof(T));
    out[static_cast<std::size_t>(k)] = static_cast<U>(v);
  }
  return true;
}

// Integer tensors of every width, widened to int64.
bool decode_integers(const TensorProto& t, std::int64_t n, std::vector<std::int64_t>& out) {
  const bool raw = t.has_raw_data();
  switch (t.data_type()) {
    case TensorProto::INT64:
      if (raw) return read_raw<std::int64_t>(t.raw_data(), n, out);
      out.assign(t.int64_data().begin(), t.int64_data().end());
      return true;
    case TensorProto::INT32:
      if (raw) return read_raw<std::int32_t>(t.raw_data(), n, out);
      break;
    case TensorProto::INT16:
      if (raw) return read_raw<std::int16_t>(t.raw_data(), n, out);
      break;
    case TensorProto::UINT16:
      if (raw) return read_raw<std::uint16_t>(t.raw_data(), n, out);
      break;
    case TensorProto::INT8:
      if (raw) return read_raw<std::int8_t>(t.raw_data(), n, out);
      break;
    case TensorProto::UINT8:
    case TensorProto::BOOL:
      if (raw) return read_raw<std::uint8_t>(t.raw_data(), n, out);
      break;
    case TensorProto::UINT32:
      if (raw) return read_raw<std::uint32_t>(t.raw_data(), n, out);
      out.assign(t.uint64_data().begin(), t.uint64_data().end());
      return true;
    default:
      return false;
  }
  out.assign(t.int32_data().begin(), t.int32_data().end());  // The narrow types' typed field.
  return true;
}

}  // namespace

std::string_view to_string(ElemType type) noexcept {
  switch (type) {
    case ElemType::kFloat:
      return "FLOAT";
    case ElemType::kInt64:
      return "INT64";
    case ElemType::kString:
      return "STRING";
  }
  return "UNKNOWN";
}

std::size_t Value::size() const noexcept {
  switch (type) {
    case ElemType::kFloat:
      return f.size();
    case ElemType::kInt64:
      return i.size();
    case ElemType::kString:
      return s.size();
  }
  return 0;
}

Value Value::floats(std::vector<std::int64_t> shape) {
  Value v;
  v.f.assign(static_cast<std::size_t>(count(shape)), 0.0f);
  v.shape = std::move(shape);
  return v;
}

std::int64_t count(std::span<const std::int64_t> shape) noexcept {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string shape_string(std::span<const std::int64_t> shape) {
  std::string out = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (k > 0) out += ", ";
    out += std::to_string(shape[k]);
  }
  return out + "]";
}

const AttributeProto* Attributes::find(std::string_view name) const {
  for (const auto& a : node_.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

bool Attributes::has(std::string_view name) const { return find(name) != nullptr; }

std::int64_t Attributes::get_int(std::string_view name, std::int64_t fallback) const {
  const auto* a = find(name);
  return a != nullptr && a->type() == AttributeProto::INT ? a->i() : fallback;
}

float Attributes::get_float(std::string_view name, float fallback) const {
  const auto* a = find(name);
  return a != nullptr && a->type() == AttributeProto::FLOAT ? a->f() : fallback;
}

std::string Attributes::get_string(std::string_view name, std::string fallback) const {
  const auto* a = find(name);
  return a != nullptr && a->type() == AttributeProto::STRING ? a->s() : fallback;
}

std::vector<std::int64_t> Attributes::get_ints(std::string_view name) const {
  const auto* a = find(name);
  if (a == nullptr) return {};
  return {a->ints().begin(), a->ints().end()};
}

std::vector<float> Attributes::get_floats(std::string_view name) const {
  const auto* a = find(name);
  if (a == nullptr) return {};
  return {a->floats().begin(), a->floats().end()};
}

std::vector<std::string> Attributes::get_strings(std::string_view name) const {
  const auto* a = find(name);
  if (a == nullptr) return {};
  return {a->strings().begin(), a->strings().end()};
}

std::string describe(const ::onnx::NodeProto& node) {
  if (!node.name().empty()) return "node '" + node.name() + "' (" + node.op_type() + ")";
  const std::string output = node.output_size() > 0 ? node.output(0) : "";
  return "the " + node.op_type() + " node writing '" + output + "'";
}

Result<void> check_arity(const ::onnx::NodeProto& node, int min_inputs, int max_inputs,
                         int min_outputs, int max_outputs) {
  int inputs = node.input_size();
  while (inputs > 0 && node.input(inputs - 1).empty()) --inputs;
  for (int k = 0; k < inputs; ++k) {
    if (node.input(k).empty()) {
      return Error::invalid_input(describe(node) + " leaves input " + std::to_string(k) +
                                  " empty; only trailing optional inputs may be omitted");
    }
  }
  if (inputs < min_inputs || inputs > max_inputs || node.output_size() < min_outputs ||
      node.output_size() > max_outputs) {
    return Error::invalid_input(describe(node) + " has " + std::to_string(inputs) + " inputs and " +
                                std::to_string(node.output_size()) + " outputs; expected " +
                                std::to_string(min_inputs) + ".." + std::to_string(max_inputs) +
                                " and " + std::to_string(min_outputs) + ".." +
                                std::to_string(max_outputs));
  }
  return Ok();
}

Result<Value> decode_tensor(const TensorProto& t) {
  if (t.data_location() == TensorProto::EXTERNAL) {
    return Error::invalid_input("tensor '" + t.name() + "' keeps its data in an external file");
  }
  Value v;
  v.shape.assign(t.dims().begin(), t.dims().end());
  const std::int64_t n = count(v.shape);
  bool ok = false;
  if (t.data_type() == TensorProto::FLOAT) {
    v.type = ElemType::kFloat;
    if (t.has_raw_data()) {
      ok = read_raw<float>(t.raw_data(), n, v.f);
    } else {
      v.f.assign(t.float_data().begin(), t.float_data().end());
      ok = true;
    }
  } else if (t.data_type() == TensorProto::STRING) {
    v.type = ElemType::kString;
    v.s.assign(t.string_data().begin(), t.string_data().end());
    ok = true;
  } else {
    v.type = ElemType::kInt64;
    ok = decode_integers(t, n, v.i);  // False for DOUBLE, FLOAT16, UINT64, ...
  }
  if (!ok || static_cast<std::int64_t>(v.size()) != n) {
    return Error::invalid_input(
        "tensor '" + t.name() + "' (" + TensorProto::DataType_Name(t.data_type()) + ", shape " +
        shape_string(v.shape) + ") does not hold " + std::to_string(n) +
        " values of a supported type (FLOAT, INT8..INT64, UINT8..UINT32, BOOL, STRING)");
  }
  return v;
}

Result<void> expect_type(const ::onnx::NodeProto& node, const Value& value, ElemType type,
                         int input) {
  if (value.type == type) return Ok();
  return Error::terminal(describe(node) + ": input " + std::to_string(input) + " is " +
                         std::string(to_string(value.type)) + "; expected " +
                         std::string(to_string(type)));
}

Result<void> as_matrix(const ::onnx::NodeProto& node, const Value& value, std::int64_t& rows,
                       std::int64_t& cols) {
  if (value.shape.size() == 2) {
    rows = value.shape[0];
    cols = value.shape[1];
  } else if (value.shape.size() == 1) {
    rows = 1;
    cols = value.shape[0];
  } else {
    return Error::invalid_input(describe(node) + " takes [rows, features]; got shape " +
                                shape_string(value.shape));
  }
  return Ok();
}

bool broadcast_shape(std::span<const std::int64_t> a, std::span<const std::int64_t> b,
                     std::vector<std::int64_t>& out) {
  const std::size_t rank = std::max(a.size(), b.size());
  out.assign(rank, 1);
  for (std::size_t k = 0; k < rank; ++k) {
    const std::int64_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
    const std::int64_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    out[k] = da == 1 ? db : da;
  }
  return true;
}

Result<PostTransform> parse_post_transform(const ::onnx::NodeProto& node) {
  const std::string name = Attributes(node).get_string("post_transform", "NONE");
  if (name == "NONE") return PostTransform::kNone;
  if (name == "SOFTMAX") return PostTransform::kSoftmax;
  if (name == "LOGISTIC") return PostTransform::kLogistic;
  if (name == "SOFTMAX_ZERO") return PostTransform::kSoftmaxZero;
  if (name == "PROBIT") return PostTransform::kProbit;
  return Error::invalid_input(describe(node) + ": unknown post_transform '" + name + "'");
}

std::int64_t to_int64(float v) noexcept {
  // float -> int64 truncates toward zero; NaN is 0 and values beyond the range saturate, where
  // a plain cast would be undefined behaviour.
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18f) return std::numeric_limits<std::int64_t>::max();
  if (v <= -9.2233720368547758e18f) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(v);
}

float logistic(float x) noexcept {
  const float v = 1.0f / (1.0f + std::exp(-std::abs(x)));
  return x < 0 ? 1.0f - v : v;
}

float probit(float x) noexcept {
  // sqrt(2) * erfinv(2x - 1), with the closed-form erfinv approximation (Winitzki, a = 0.147)
  // that onnxruntime uses.
  float y = 2.0f * x - 1.0f;
  const float sign = y < 0 ? -1.0f : 1.0f;
  y = (1.0f - y) * (1.0f + y);
  const float ln = std::log(y);
  const float v = 2.0f / (3.14159f * 0.147f) + 0.5f * ln;
  const float v2 = 1.0f / 0.147f * ln;
  return 1.41421356f * sign * std::sqrt(-v + std::sqrt(v * v - v2));
}

void apply_post_transform(PostTransform transform, std::span<float> scores) noexcept {
  switch (transform) {
    case PostTransform::kNone:
      return;
    case PostTransform::kLogistic:
      for (float& s : scores) s = logistic(s);
      return;
    case PostTransform::kProbit:
      for (float& s : scores) s = probit(s);
      return;
    case PostTransform::kSoftmax:
    case PostTransform::kSoftmaxZero: {
      // SOFTMAX_ZERO leaves exact zeros out of the sum (they stay 0 after scaling).
      const bool zero = transform == PostTransform::kSoftmaxZero;
      float top = -std::numeric_limits<float>::max();
      for (float s : scores) top = std::max(top, s);
      float sum = 0.0f;
      for (float& s : scores) {
        if (zero && std::abs(s) <= 1e-7f) {
          s *= std::exp(-top);
        } else {
          s = std::exp(s - top);
          sum += s;
        }
      }
      for (float& s : scores) s /= sum;
      return;
    }
  }
}

}  // namespace kiln::runtime::onnx_eval
