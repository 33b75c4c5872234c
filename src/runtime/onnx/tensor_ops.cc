// The ai.onnx tensor operators of MLPs and of skl2onnx's glue, after the operator specs at
// https://onnx.ai/onnx/operators/ (Gemm, MatMul, Add, Sub, Mul, Div, Relu, Sigmoid, Tanh,
// Softmax, Flatten, Reshape, Identity, Concat, Cast, ArgMax).

#include <algorithm>
#include <cmath>
#include <functional>

#include "runtime/onnx/kernel.h"

namespace kiln::runtime::onnx_eval {
namespace {

using ::onnx::NodeProto;
using ::onnx::TensorProto;

// A kernel that keeps its node for error messages.
class NodeKernel : public Kernel {
 public:
  explicit NodeKernel(const NodeProto& node) : node_(node) {}

 protected:
  const NodeProto& node_;
};

Error shape_error(const NodeProto& node, const std::string& what) {
  return Error::invalid_input(describe(node) + ": " + what);
}

// Resolves a possibly negative axis against `rank`; false when out of range.
bool resolve_axis(std::int64_t axis, std::size_t rank, std::size_t& out) {
  const auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r) return false;
  out = static_cast<std::size_t>(axis < 0 ? axis + r : axis);
  return true;
}

std::int64_t product(const std::vector<std::int64_t>& shape, std::size_t from, std::size_t to) {
  std::int64_t n = 1;
  for (std::size_t k = from; k < to; ++k) n *= shape[k];
  return n;
}

class Identity final : public NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    *out[0] = *in[0];
    return Ok();
  }
};

// Elementwise FLOAT functions; Fn is a stateless functor, inlined into the loop.
template <class Fn>
class Unary final : public NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    if (auto t = expect_type(node_, *in[0], ElemType::kFloat, 0); !t.ok()) return t;
    Value& y = *out[0];
    y = Value{ElemType::kFloat, in[0]->shape, {}, {}, {}, false};
    y.f.resize(in[0]->f.size());
    std::transform(in[0]->f.begin(), in[0]->f.end(), y.f.begin(), Fn{});
    return Ok();
  }
};

struct Relu {
  float operator()(float x) const { return x > 0.0f ? x : 0.0f; }
};
struct Sigmoid {
  float operator()(float x) const { return logistic(x); }
};
struct Tanh {
  float operator()(float x) const { return std::tanh(x); }
};

// The strides of an operand of `shape` in a broadcast output of `rank` dimensions: 0 along the
// dimensions it is broadcast over.
std::vector<std::int64_t> broadcast_strides(const std::vector<std::int64_t>& shape,
                                            std::size_t rank) {
  std::vector<std::int64_t> strides;
  strides.reserve(rank);
  std::int64_t step = 1;
  for (std::size_t k = rank; k-- > 0;) {
    const std::size_t lead = rank - shape.size();
    const std::int64_t dim = k < lead ? 1 : shape[k - lead];
    strides.push_back(dim == 1 ? 0 : step);
    step *= dim;
  }
  std::reverse(strides.begin(), strides.end());
  return strides;
}

// True when `shape`, aligned right against `out`, is all ones followed by out's trailing
// dimensions, so its values repeat unchanged along out's leading dimensions.
bool is_trailing(const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& out) {
  std::size_t k = shape.size();
  std::size_t o = out.size();
  while (k > 0 && shape[k - 1] == out[o - 1]) --k, --o;  // The trailing run that matches.
  for (std::size_t j = 0; j < k; ++j) {
    if (shape[j] != 1) return false;
  }
  return true;
}

// Elementwise binary operators with multidirectional (NumPy) broadcasting.
template <template <class> class Op>
class Binary final : public NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& a = *in[0];
    const Value& b = *in[1];
    if (a.type != b.type || a.type == ElemType::kString) {
      return Error::terminal(describe(node_) + ": inputs are " + std::string(to_string(a.type)) +
                             " and " + std::string(to_string(b.type)));
    }
    Value& y = *out[0];
    y = Value{a.type, {}, {}, {}, {}, false};
    if (!broadcast_shape(a.shape, b.shape, y.shape)) {
      return shape_error(node_, "shapes " + shape_string(a.shape) + " and " +
                                    shape_string(b.shape) + " do not broadcast");
    }
    if (a.type == ElemType::kFloat) {
      apply(a.shape, a.f, b.shape, b.f, y.shape, y.f);
    } else {
      if constexpr (std::is_same_v<Op<int>, std::divides<int>>) {
        if (std::find(b.i.begin(), b.i.end(), 0) != b.i.end()) {
          return shape_error(node_, "integer division by zero");
        }
      }
      apply(a.shape, a.i, b.shape, b.i, y.shape, y.i);
    }
    return Ok();
  }

 private:
  template <class T>
  static void apply(const std::vector<std::int64_t>& sa, const std::vector<T>& a,
                    const std::vector<std::int64_t>& sb, const std::vector<T>& b,
                    const std::vector<std::int64_t>& sy, std::vector<T>& y) {
    const Op<T> op;
    const auto n = static_cast<std::size_t>(count(sy));
    y.resize(n);
    if (a.size() == n && b.size() == n) {
      for (std::size_t k = 0; k < n; ++k) y[k] = op(a[k], b[k]);
      return;
    }
    // Fast paths: b repeats along a's leading dimensions (a bias row [1, n] or [n], a scalar).
    if (a.size() == n && !b.empty() && n % b.size() == 0 && is_trailing(sb, sy)) {
      const std::size_t m = b.size();
      for (std::size_t k = 0; k < n; k += m) {
        for (std::size_t j = 0; j < m; ++j) y[k + j] = op(a[k + j], b[j]);
      }
      return;
    }
    if (b.size() == n && !a.empty() && n % a.size() == 0 && is_trailing(sa, sy)) {
      const std::size_t m = a.size();
      for (std::size_t k = 0; k < n; k += m) {
        for (std::size_t j = 0; j < m; ++j) y[k + j] = op(a[j], b[k + j]);
      }
      return;
    }
    const std::size_t rank = sy.size();
    const std::vector<std::int64_t> stride_a = broadcast_strides(sa, rank);
    const std::vector<std::int64_t> stride_b = broadcast_strides(sb, rank);
    std::vector<std::int64_t> index(rank, 0);
    std::int64_t ia = 0, ib = 0;
    for (std::size_t k = 0; k < n; ++k) {
      y[k] = op(a[static_cast<std::size_t>(ia)], b[static_cast<std::size_t>(ib)]);
      for (std::size_t d = rank; d-- > 0;) {  // Odometer increment of the output index.
        ia += stride_a[d];
        ib += stride_b[d];
        if (++index[d] < sy[d]) break;
        ia -= stride_a[d] * sy[d];
        ib -= stride_b[d] * sy[d];
        index[d] = 0;
      }
    }
  }
};

// Y = alpha * A' * B' + beta * C, A' = transA ? A^T : A, B' likewise; C broadcasts to [M, N].
class Gemm final : public NodeKernel {
 public:
  explicit Gemm(const NodeProto& node) : NodeKernel(node) {
    Attributes attrs(node);
    alpha_ = attrs.get_float("alpha", 1.0f);
    beta_ = attrs.get_float("beta", 1.0f);
    trans_a_ = attrs.get_int("transA", 0) != 0;
    trans_b_ = attrs.get_int("transB", 0) != 0;
  }
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& a = *in[0];
    const Value& b = *in[1];
    for (int k = 0; k < 2; ++k) {
      if (auto t = expect_type(node_, *in[k], ElemType::kFloat, k); !t.ok()) return t;
    }
    if (a.shape.size() != 2 || b.shape.size() != 2) {
      return shape_error(node_, "A and B must be matrices; got " + shape_string(a.shape) + " and " +
                                    shape_string(b.shape));
    }
    const auto m = a.shape[trans_a_ ? 1 : 0], k = a.shape[trans_a_ ? 0 : 1];
    const auto kb = b.shape[trans_b_ ? 1 : 0], n = b.shape[trans_b_ ? 0 : 1];
    if (k != kb) {
      return shape_error(node_, "A " + shape_string(a.shape) + " and B " + shape_string(b.shape) +
                                    " do not multiply");
    }
    Value& y = *out[0];
    y = Value::floats({m, n});
    const Value* c = in.size() > 2 ? in[2] : nullptr;
    if (c != nullptr && beta_ != 0.0f) {
      std::vector<std::int64_t> shape;
      if (c->type != ElemType::kFloat || !broadcast_shape(y.shape, c->shape, shape) ||
          shape != y.shape) {
        return shape_error(node_, "C " + shape_string(c->shape) + " does not broadcast to " +
                                      shape_string(y.shape));
      }
      const std::int64_t crows = c->shape.size() == 2 ? c->shape[0] : 1;
      const std::int64_t ccols = c->shape.empty() ? 1 : c->shape.back();
      for (std::int64_t i = 0; i < m; ++i) {
        for (std::int64_t j = 0; j < n; ++j) {
          y.f[i * n + j] = beta_ * c->f[(crows == 1 ? 0 : i) * ccols + (ccols == 1 ? 0 : j)];
        }
      }
    }
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        float sum = 0.0f;
        for (std::int64_t p = 0; p < k; ++p) {
          const float av = trans_a_ ? a.f[p * m + i] : a.f[i * k + p];
          const float bv = trans_b_ ? b.f[j * k + p] : b.f[p * n + j];
          sum += av * bv;
        }
        y.f[i * n + j] += alpha_ * sum;
      }
    }
    return Ok();
  }

 private:
  float alpha_ = 1.0f, beta_ = 1.0f;
  bool trans_a_ = false, trans_b_ = false;
};

// NumPy matmul of A [..., M, K] (or [K]) with a matrix B [K, N] (or [K]).
class MatMul final : public NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& a = *in[0];
    const Value& b = *in[1];
    for (int k = 0; k < 2; ++k) {
      if (auto t = expect_type(node_, *in[k], ElemType::kFloat, k); !t.ok()) return t;
    }
    if (a.shape.empty() || b.shape.empty() || b.shape.size() > 2) {
      return shape_error(node_, "supports A [..., M, K] times B [K, N]; got " +
                                    shape_string(a.shape) + " and " + shape_string(b.shape));
    }
    const std::int64_t k = a.shape.back();
    const std::int64_t n = b.shape.size() == 2 ? b.shape[1] : 1;
    if (b.shape[0] != k) {
      return shape_error(node_, "A " + shape_string(a.shape) + " and B " + shape_string(b.shape) +
                                    " do not multiply");
    }
    const std::int64_t m = count(a.shape) / std::max<std::int64_t>(k, 1);
    std::vector<std::int64_t> shape(a.shape.begin(), a.shape.end() - 1);
    if (b.shape.size() == 2) shape.push_back(n);
    Value& y = *out[0];
    y = Value::floats(std::move(shape));
    for (std::int64_t i = 0; i < m; ++i) {
      float* row = y.f.data() + i * n;
      const float* x = a.f.data() + i * k;
      for (std::int64_t p = 0; p < k; ++p) {
        const float xv = x[p];
        const float* bp = b.f.data() + p * n;
        for (std::int64_t j = 0; j < n; ++j) row[j] += xv * bp[j];
      }
    }
    return Ok();
  }
};

// Softmax: before opset 13 the input is coerced to 2-D at `axis` (default 1); from 13 on it runs
// along `axis` alone (default -1).
class Softmax final : public NodeKernel {
 public:
  Softmax(const NodeProto& node, std::int64_t opset) : NodeKernel(node), legacy_(opset < 13) {
    axis_ = Attributes(node).get_int("axis", legacy_ ? 1 : -1);
  }
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& x = *in[0];
    if (auto t = expect_type(node_, x, ElemType::kFloat, 0); !t.ok()) return t;
    std::size_t axis = 0;
    if (!resolve_axis(axis_, x.shape.size(), axis)) {
      return shape_error(
          node_, "axis " + std::to_string(axis_) + " is outside shape " + shape_string(x.shape));
    }
    const std::int64_t outer = product(x.shape, 0, axis);
    const std::int64_t n = legacy_ ? product(x.shape, axis, x.shape.size()) : x.shape[axis];
    const std::int64_t inner = legacy_ ? 1 : product(x.shape, axis + 1, x.shape.size());
    Value& y = *out[0];
    y = *in[0];
    for (std::int64_t o = 0; o < outer; ++o) {
      for (std::int64_t i = 0; i < inner; ++i) {
        float* base = y.f.data() + o * n * inner + i;
        float top = -INFINITY;
        for (std::int64_t j = 0; j < n; ++j) top = std::max(top, base[j * inner]);
        float sum = 0.0f;
        for (std::int64_t j = 0; j < n; ++j)
          sum += base[j * inner] = std::exp(base[j * inner] - top);
        for (std::int64_t j = 0; j < n; ++j) base[j * inner] /= sum;
      }
    }
    return Ok();
  }

 private:
  bool legacy_;
  std::int64_t axis_;
};

class Flatten final : public NodeKernel {
 public:
  explicit Flatten(const NodeProto& node)
      : NodeKernel(node), axis_(Attributes(node).get_int("axis", 1)) {}
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const auto rank = static_cast<std::int64_t>(in[0]->shape.size());
    if (axis_ < -rank || axis_ > rank) return shape_error(node_, "axis outside the input's rank");
    const auto axis = static_cast<std::size_t>(axis_ < 0 ? axis_ + rank : axis_);
    *out[0] = *in[0];
    out[0]->shape = {product(in[0]->shape, 0, axis),
                     product(in[0]->shape, axis, in[0]->shape.size())};
    return Ok();
  }

 private:
  std::int64_t axis_;
};

// Reshape to the INT64 `shape` input: 0 copies the input's dimension (unless allowzero), one -1
// is inferred.
class Reshape final : public NodeKernel {
 public:
  explicit Reshape(const NodeProto& node)
      : NodeKernel(node), allow_zero_(Attributes(node).get_int("allowzero", 0) != 0) {}
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& x = *in[0];
    if (auto t = expect_type(node_, *in[1], ElemType::kInt64, 1); !t.ok()) return t;
    std::vector<std::int64_t> shape = in[1]->i;
    int inferred = -1;
    std::int64_t known = 1;
    for (std::size_t k = 0; k < shape.size(); ++k) {
      if (shape[k] == 0 && !allow_zero_ && k < x.shape.size()) shape[k] = x.shape[k];
      if (shape[k] == -1) {
        if (inferred >= 0) return shape_error(node_, "the shape has two -1 dimensions");
        inferred = static_cast<int>(k);
      } else {
        known *= shape[k];
      }
    }
    const std::int64_t total = count(x.shape);
    if (inferred >= 0 && known > 0 && total % known == 0) shape[inferred] = total / known;
    const bool negative = std::any_of(shape.begin(), shape.end(), [](auto d) { return d < 0; });
    if (negative || count(shape) != total) {
      return shape_error(
          node_, "cannot reshape " + shape_string(x.shape) + " to " + shape_string(in[1]->i));
    }
    *out[0] = x;
    out[0]->shape = std::move(shape);
    return Ok();
  }

 private:
  bool allow_zero_;
};

class Concat final : public NodeKernel {
 public:
  explicit Concat(const NodeProto& node)
      : NodeKernel(node), axis_(Attributes(node).get_int("axis", 0)) {}
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& first = *in[0];
    std::size_t axis = 0;
    if (!resolve_axis(axis_, first.shape.size(), axis)) {
      return shape_error(node_, "axis outside shape " + shape_string(first.shape));
    }
    std::vector<std::int64_t> shape = first.shape;
    shape[axis] = 0;
    for (std::size_t k = 0; k < in.size(); ++k) {
      const Value& v = *in[k];
      if (v.type != first.type) return expect_type(node_, v, first.type, static_cast<int>(k));
      bool same = v.shape.size() == first.shape.size();
      for (std::size_t d = 0; same && d < v.shape.size(); ++d) {
        same = d == axis || v.shape[d] == first.shape[d];
      }
      if (!same) {
        return shape_error(node_, "shapes " + shape_string(first.shape) + " and " +
                                      shape_string(v.shape) + " differ off the axis");
      }
      shape[axis] += v.shape[axis];
    }
    const std::int64_t outer = product(shape, 0, axis);
    Value& y = *out[0];
    y = Value{first.type, shape, {}, {}, {}, false};
    for (std::int64_t o = 0; o < outer; ++o) {
      for (const Value* v : in) {
        const std::int64_t chunk = product(v->shape, axis, v->shape.size());
        append(*v, o * chunk, chunk, y);
      }
    }
    return Ok();
  }

 private:
  static void append(const Value& v, std::int64_t from, std::int64_t n, Value& y) {
    switch (v.type) {
      case ElemType::kFloat:
        y.f.insert(y.f.end(), v.f.begin() + from, v.f.begin() + from + n);
        break;
      case ElemType::kInt64:
        y.i.insert(y.i.end(), v.i.begin() + from, v.i.begin() + from + n);
        break;
      case ElemType::kString:
        y.s.insert(y.s.end(), v.s.begin() + from, v.s.begin() + from + n);
        break;
    }
  }
  std::int64_t axis_;
};

// Cast between FLOAT and the integer types (held as int64; float to integer truncates toward
// zero as C++ and onnxruntime do).
class Cast final : public NodeKernel {
 public:
  Cast(const NodeProto& node, ElemType to) : NodeKernel(node), to_(to) {}
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& x = *in[0];
    Value& y = *out[0];
    if (x.type == to_) {
      y = x;
      return Ok();
    }
    y = Value{to_, x.shape, {}, {}, {}, false};
    if (x.type == ElemType::kFloat && to_ == ElemType::kInt64) {
      y.i.reserve(x.f.size());
      for (float v : x.f) y.i.push_back(to_int64(v));
    } else if (x.type == ElemType::kInt64 && to_ == ElemType::kFloat) {
      y.f.reserve(x.i.size());
      for (auto v : x.i) y.f.push_back(static_cast<float>(v));
    } else {
      return Error::terminal(describe(node_) + ": cannot cast " + std::string(to_string(x.type)) +
                             " to " + std::string(to_string(to_)));
    }
    return Ok();
  }

 private:
  ElemType to_;
};

// ArgMax along `axis` (first maximum unless select_last_index), INT64 output.
class ArgMax final : public NodeKernel {
 public:
  explicit ArgMax(const NodeProto& node) : NodeKernel(node) {
    Attributes attrs(node);
    axis_ = attrs.get_int("axis", 0);
    keep_dims_ = attrs.get_int("keepdims", 1) != 0;
    last_ = attrs.get_int("select_last_index", 0) != 0;
  }
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& x = *in[0];
    if (auto t = expect_type(node_, x, ElemType::kFloat, 0); !t.ok()) return t;
    std::size_t axis = 0;
    if (!resolve_axis(axis_, x.shape.size(), axis) || x.shape[axis] == 0) {
      return shape_error(node_, "axis outside shape " + shape_string(x.shape));
    }
    const std::int64_t outer = product(x.shape, 0, axis), n = x.shape[axis];
    const std::int64_t inner = product(x.shape, axis + 1, x.shape.size());
    Value& y = *out[0];
    y = Value{ElemType::kInt64, x.shape, {}, {}, {}, false};
    if (keep_dims_) {
      y.shape[axis] = 1;
    } else {
      y.shape.erase(y.shape.begin() + static_cast<std::ptrdiff_t>(axis));
    }
    for (std::int64_t o = 0; o < outer; ++o) {
      for (std::int64_t i = 0; i < inner; ++i) {
        const float* base = x.f.data() + o * n * inner + i;
        std::int64_t best = 0;
        for (std::int64_t j = 1; j < n; ++j) {
          const float v = base[j * inner], top = base[best * inner];
          if (v > top || (last_ && v == top)) best = j;
        }
        y.i.push_back(best);
      }
    }
    return Ok();
  }

 private:
  std::int64_t axis_;
  bool keep_dims_, last_;
};

template <class K>
Result<std::unique_ptr<Kernel>> make(const NodeContext& c, int min_in, int max_in) {
  if (auto a = check_arity(c.node, min_in, max_in, 1, 1); !a.ok()) return std::move(a).error();
  if constexpr (std::is_constructible_v<K, const NodeProto&, std::int64_t>) {
    return std::unique_ptr<Kernel>(std::make_unique<K>(c.node, c.opset));
  } else {
    return std::unique_ptr<Kernel>(std::make_unique<K>(c.node));
  }
}

Result<std::unique_ptr<Kernel>> make_cast(const NodeContext& c) {
  if (auto a = check_arity(c.node, 1, 1, 1, 1); !a.ok()) return std::move(a).error();
  const auto to = Attributes(c.node).get_int("to", 0);
  ElemType type = ElemType::kFloat;
  if (to == TensorProto::FLOAT) {
    type = ElemType::kFloat;
  } else if (to == TensorProto::INT64 || to == TensorProto::INT32) {
    type = ElemType::kInt64;
  } else {
    return Error::invalid_input(describe(c.node) + ": casting to " +
                                TensorProto::DataType_Name(static_cast<int>(to)) +
                                " is not supported (FLOAT, INT32, INT64 are)");
  }
  return std::unique_ptr<Kernel>(std::make_unique<Cast>(c.node, type));
}

const OpEntry kTensorOps[] = {
    {"", "Identity", [](const NodeContext& c) { return make<Identity>(c, 1, 1); }},
    {"", "Relu", [](const NodeContext& c) { return make<Unary<Relu>>(c, 1, 1); }},
    {"", "Sigmoid", [](const NodeContext& c) { return make<Unary<Sigmoid>>(c, 1, 1); }},
    {"", "Tanh", [](const NodeContext& c) { return make<Unary<Tanh>>(c, 1, 1); }},
    {"", "Add", [](const NodeContext& c) { return make<Binary<std::plus>>(c, 2, 2); }},
    {"", "Sub", [](const NodeContext& c) { return make<Binary<std::minus>>(c, 2, 2); }},
    {"", "Mul", [](const NodeContext& c) { return make<Binary<std::multiplies>>(c, 2, 2); }},
    {"", "Div", [](const NodeContext& c) { return make<Binary<std::divides>>(c, 2, 2); }},
    {"", "Gemm", [](const NodeContext& c) { return make<Gemm>(c, 2, 3); }},
    {"", "MatMul", [](const NodeContext& c) { return make<MatMul>(c, 2, 2); }},
    {"", "Softmax", [](const NodeContext& c) { return make<Softmax>(c, 1, 1); }},
    {"", "Flatten", [](const NodeContext& c) { return make<Flatten>(c, 1, 1); }},
    {"", "Reshape", [](const NodeContext& c) { return make<Reshape>(c, 2, 2); }},
    {"", "Concat", [](const NodeContext& c) { return make<Concat>(c, 1, 1 << 20); }},
    {"", "Cast", make_cast},
    {"", "ArgMax", [](const NodeContext& c) { return make<ArgMax>(c, 1, 1); }},
};

}  // namespace

std::span<const OpEntry> tensor_ops() { return kTensorOps; }

}  // namespace kiln::runtime::onnx_eval
