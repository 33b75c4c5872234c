// The classical ONNX-ML operators other than tree ensembles, after the ai.onnx.ml specs at
// https://onnx.ai/onnx/operators/ (LinearClassifier, LinearRegressor, Scaler, Normalizer,
// OneHotEncoder, ZipMap, ArrayFeatureExtractor). Where the spec leaves a case open we do what
// onnxruntime's CPU kernels do (Normalizer of an all-zero row), since that is what converted
// models are checked against, except where onnxruntime contradicts the ONNX reference evaluator
// (binary LinearClassifier with one coefficient row, below).

#include <algorithm>
#include <cmath>

#include "runtime/onnx/kernel.h"

namespace kiln::runtime::onnx_eval {
namespace {

using ::onnx::NodeProto;

// X as float rows x cols: FLOAT as is, INT64 converted (the ML operators accept both).
Result<std::vector<float>> float_rows(const NodeProto& node, const Value& x, std::int64_t& rows,
                                      std::int64_t& cols) {
  if (auto m = as_matrix(node, x, rows, cols); !m.ok()) return std::move(m).error();
  if (x.type == ElemType::kFloat) return x.f;
  if (x.type == ElemType::kInt64) return std::vector<float>(x.i.begin(), x.i.end());
  return Error::terminal(describe(node) + ": input 0 is STRING; expected numbers");
}

// Scores = X * coefficients^T + intercepts, for `targets` rows of coefficients.
Result<Value> linear_scores(const NodeProto& node, const Value& x,
                            const std::vector<float>& coefficients,
                            const std::vector<float>& intercepts, std::int64_t targets) {
  std::int64_t rows = 0, cols = 0;
  KILN_TRY(std::vector<float> xs, float_rows(node, x, rows, cols));
  if (targets <= 0 || cols * targets != static_cast<std::int64_t>(coefficients.size())) {
    return Error::invalid_input(describe(node) + " takes " +
                                std::to_string(targets > 0 ? coefficients.size() / targets : 0) +
                                " features; the input has " + std::to_string(cols));
  }
  Value y = Value::floats({rows, targets});
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t t = 0; t < targets; ++t) {
      float sum = 0.0f;
      const float* w = coefficients.data() + t * cols;
      const float* v = xs.data() + r * cols;
      for (std::int64_t c = 0; c < cols; ++c) sum += v[c] * w[c];
      y.f[r * targets + t] = sum + (intercepts.empty() ? 0.0f : intercepts[t]);
    }
  }
  return y;
}

class NodeKernel : public Kernel {
 public:
  explicit NodeKernel(const NodeProto& node) : node_(node) {}

 protected:
  const NodeProto& node_;
};

// Outputs Y (label per row) and Z (scores [rows, classes]).
class LinearClassifier final : public NodeKernel {
 public:
  explicit LinearClassifier(const NodeProto& node, PostTransform transform)
      : NodeKernel(node), transform_(transform) {
    Attributes a(node);
    coefficients_ = a.get_floats("coefficients");
    intercepts_ = a.get_floats("intercepts");
    labels_int_ = a.get_ints("classlabels_ints");
    labels_string_ = a.get_strings("classlabels_strings");
    classes_ = static_cast<std::int64_t>(intercepts_.size());
    const auto labels = static_cast<std::int64_t>(labels_int_.size() + labels_string_.size());
    if (classes_ == 0) classes_ = labels == 2 ? 1 : labels;
  }
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    KILN_TRY(Value scores, linear_scores(node_, *in[0], coefficients_, intercepts_, classes_));
    const std::int64_t rows = scores.shape[0];
    const bool strings = !labels_string_.empty();
    Value& y = *out[0];
    y = Value{strings ? ElemType::kString : ElemType::kInt64, {rows}, {}, {}, {}, false};
    for (std::int64_t r = 0; r < rows; ++r) {
      std::int64_t best = 0;
      const float* s = scores.f.data() + r * classes_;
      if (classes_ == 1) {
        best = s[0] > 0 ? 1 : 0;  // Labels [negative, positive]; 0 and 1 without labels.
      } else {
        for (std::int64_t c = 1; c < classes_; ++c) {
          if (s[c] > s[best]) best = c;
        }
      }
      if (strings) {
        y.s.push_back(best < static_cast<std::int64_t>(labels_string_.size())
                          ? labels_string_[best]
                          : std::to_string(best));
      } else {
        y.i.push_back(best < static_cast<std::int64_t>(labels_int_.size()) ? labels_int_[best]
                                                                           : best);
      }
    }
    if (out.size() > 1) *out[1] = probabilities(std::move(scores));
    return Ok();
  }

 private:
  Value probabilities(Value scores) const {
    const std::int64_t rows = scores.shape[0];
    const bool binary = classes_ == 1 && labels_int_.size() + labels_string_.size() == 2;
    if (!binary) {
      if (classes_ > 1) {
        for (std::int64_t r = 0; r < rows; ++r) {
          apply_post_transform(
              transform_, {scores.f.data() + r * classes_, static_cast<std::size_t>(classes_)});
        }
      } else if (transform_ == PostTransform::kProbit) {
        for (float& s : scores.f) s = probit(s);
      }
      return scores;
    }
    // One score s per row for two labels: Z = post_transform([-s, s]), as the ONNX reference
    // evaluator (onnx.reference, op_linear_classifier.py) computes it. onnxruntime 1.19 writes
    // [1 - s, s] without the transform here (skl2onnx's logistic regression writes one
    // coefficient row per class, so it does not meet the difference).
    Value z = Value::floats({rows, 2});
    for (std::int64_t r = 0; r < rows; ++r) {
      z.f[2 * r] = -scores.f[r];
      z.f[2 * r + 1] = scores.f[r];
      apply_post_transform(transform_, {z.f.data() + 2 * r, 2});
    }
    return z;
  }

  PostTransform transform_;
  std::vector<float> coefficients_, intercepts_;
  std::vector<std::int64_t> labels_int_;
  std::vector<std::string> labels_string_;
  std::int64_t classes_ = 0;
};

class LinearRegressor final : public NodeKernel {
 public:
  LinearRegressor(const NodeProto& node, PostTransform transform)
      : NodeKernel(node), transform_(transform) {
    Attributes a(node);
    coefficients_ = a.get_floats("coefficients");
    intercepts_ = a.get_floats("intercepts");
    targets_ = a.get_int("targets", 1);
  }
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    KILN_TRY(*out[0], linear_scores(node_, *in[0], coefficients_, intercepts_, targets_));
    Value& y = *out[0];
    if (targets_ > 1) {
      for (std::int64_t r = 0; r < y.shape[0]; ++r) {
        apply_post_transform(transform_,
                             {y.f.data() + r * targets_, static_cast<std::size_t>(targets_)});
      }
    } else if (transform_ == PostTransform::kProbit) {
      for (float& s : y.f) s = probit(s);
    }
    return Ok();
  }

 private:
  PostTransform transform_;
  std::vector<float> coefficients_, intercepts_;
  std::int64_t targets_;
};

// Y = (X - offset) * scale, offset and scale one value or one per feature.
class Scaler final : public NodeKernel {
 public:
  explicit Scaler(const NodeProto& node)
      : NodeKernel(node),
        offset_(Attributes(node).get_floats("offset")),
        scale_(Attributes(node).get_floats("scale")) {}
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    std::int64_t rows = 0, cols = 0;
    KILN_TRY(std::vector<float> x, float_rows(node_, *in[0], rows, cols));
    for (const auto* v : {&offset_, &scale_}) {
      if (v->size() > 1 && static_cast<std::int64_t>(v->size()) != cols) {
        return Error::invalid_input(describe(node_) + " takes " + std::to_string(v->size()) +
                                    " features; the input has " + std::to_string(cols));
      }
    }
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c) {
        float& v = x[r * cols + c];
        const float offset = offset_.empty() ? 0.0f : offset_[offset_.size() == 1 ? 0 : c];
        const float scale = scale_.empty() ? 1.0f : scale_[scale_.size() == 1 ? 0 : c];
        v = (v - offset) * scale;
      }
    }
    *out[0] = Value{ElemType::kFloat, in[0]->shape, std::move(x), {}, {}, false};
    return Ok();
  }

 private:
  std::vector<float> offset_, scale_;
};

// Each row divided by its MAX, L1 (sum of |x|) or L2 (Euclidean) norm; a zero norm leaves the row.
class Normalizer final : public NodeKernel {
 public:
  enum class Norm { kMax, kL1, kL2 };
  Normalizer(const NodeProto& node, Norm norm) : NodeKernel(node), norm_(norm) {}
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    std::int64_t rows = 0, cols = 0;
    KILN_TRY(std::vector<float> x, float_rows(node_, *in[0], rows, cols));
    for (std::int64_t r = 0; r < rows; ++r) {
      float* row = x.data() + r * cols;
      float norm = 0.0f;
      if (norm_ == Norm::kMax) {
        norm = cols > 0 ? *std::max_element(row, row + cols) : 0.0f;
      } else {
        for (std::int64_t c = 0; c < cols; ++c) {
          norm += norm_ == Norm::kL1 ? std::abs(row[c]) : row[c] * row[c];
        }
        if (norm_ == Norm::kL2) norm = std::sqrt(norm);
      }
      if (norm != 0.0f) {
        for (std::int64_t c = 0; c < cols; ++c) row[c] /= norm;
      }
    }
    *out[0] = Value{ElemType::kFloat, in[0]->shape, std::move(x), {}, {}, false};
    return Ok();
  }

 private:
  Norm norm_;
};

// Y[..., k] = 1 where X equals the k-th category; shape X.shape + [categories].
class OneHotEncoder final : public NodeKernel {
 public:
  explicit OneHotEncoder(const NodeProto& node) : NodeKernel(node) {
    Attributes a(node);
    ints_ = a.get_ints("cats_int64s");
    strings_ = a.get_strings("cats_strings");
    zeros_ = a.get_int("zeros", 1) != 0;
  }
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& x = *in[0];
    const auto categories = static_cast<std::int64_t>(ints_.size() + strings_.size());
    std::vector<std::int64_t> shape = x.shape;
    shape.push_back(categories);
    Value y = Value::floats(std::move(shape));
    for (std::size_t k = 0; k < x.size(); ++k) {
      std::int64_t at = -1;
      if (x.type == ElemType::kString) {
        at = std::find(strings_.begin(), strings_.end(), x.s[k]) - strings_.begin();
        if (at == static_cast<std::int64_t>(strings_.size())) at = -1;
      } else {
        const std::int64_t v = x.type == ElemType::kInt64 ? x.i[k] : to_int64(x.f[k]);
        at = std::find(ints_.begin(), ints_.end(), v) - ints_.begin();
        if (at == static_cast<std::int64_t>(ints_.size())) at = -1;
      }
      if (at >= 0) {
        y.f[k * categories + at] = 1.0f;
      } else if (!zeros_) {
        return Error::invalid_input(describe(node_) + ": value " + std::to_string(k) +
                                    " is not a known category (zeros=0)");
      }
    }
    *out[0] = std::move(y);
    return Ok();
  }

 private:
  std::vector<std::int64_t> ints_;
  std::vector<std::string> strings_;
  bool zeros_ = true;
};

// seq(map(label, probability)) per row; carried as the [rows, classes] FLOAT tensor itself.
class ZipMap final : public NodeKernel {
 public:
  ZipMap(const NodeProto& node, std::int64_t classes) : NodeKernel(node), classes_(classes) {}
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& x = *in[0];
    if (auto t = expect_type(node_, x, ElemType::kFloat, 0); !t.ok()) return t;
    std::int64_t rows = 0, cols = 0;
    if (auto m = as_matrix(node_, x, rows, cols); !m.ok()) return m;
    if (cols != classes_) {
      return Error::invalid_input(describe(node_) + " has " + std::to_string(classes_) +
                                  " labels; the input has " + std::to_string(cols) + " columns");
    }
    *out[0] = Value{ElemType::kFloat, {rows, cols}, x.f, {}, {}, true};
    return Ok();
  }

 private:
  std::int64_t classes_;
};

// Z = X[..., Y]: the elements of X's last axis at the indices Y (flattened). A 1-D X gives
// [1, indices].
class ArrayFeatureExtractor final : public NodeKernel {
 public:
  using NodeKernel::NodeKernel;
  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    const Value& x = *in[0];
    const Value& indices = *in[1];
    if (auto t = expect_type(node_, indices, ElemType::kInt64, 1); !t.ok()) return t;
    if (x.shape.empty()) return Error::invalid_input(describe(node_) + ": X is a scalar");
    const std::int64_t stride = x.shape.back();
    const auto n = static_cast<std::int64_t>(indices.i.size());
    for (auto k : indices.i) {
      if (k < 0 || k >= stride) {
        return Error::invalid_input(describe(node_) + ": index " + std::to_string(k) +
                                    " is outside [0, " + std::to_string(stride) + ")");
      }
    }
    Value z{x.type, x.shape, {}, {}, {}, false};
    if (x.shape.size() == 1) z.shape = {1, stride};
    z.shape.back() = n;
    const std::int64_t outer = stride > 0 ? count(x.shape) / stride : 0;
    for (std::int64_t o = 0; o < outer; ++o) {
      for (auto k : indices.i) {
        const auto at = static_cast<std::size_t>(o * stride + k);
        switch (x.type) {
          case ElemType::kFloat:
            z.f.push_back(x.f[at]);
            break;
          case ElemType::kInt64:
            z.i.push_back(x.i[at]);
            break;
          case ElemType::kString:
            z.s.push_back(x.s[at]);
            break;
        }
      }
    }
    *out[0] = std::move(z);
    return Ok();
  }
};

template <class K, class... Args>
Result<std::unique_ptr<Kernel>> make(const NodeContext& c, int inputs, int outputs, Args... args) {
  if (auto a = check_arity(c.node, inputs, inputs, 1, outputs); !a.ok()) {
    return std::move(a).error();
  }
  return std::unique_ptr<Kernel>(std::make_unique<K>(c.node, args...));
}

Result<std::unique_ptr<Kernel>> make_linear_classifier(const NodeContext& c) {
  KILN_TRY(auto transform, parse_post_transform(c.node));
  return make<LinearClassifier>(c, 1, 2, transform);
}

Result<std::unique_ptr<Kernel>> make_linear_regressor(const NodeContext& c) {
  KILN_TRY(auto transform, parse_post_transform(c.node));
  return make<LinearRegressor>(c, 1, 1, transform);
}

Result<std::unique_ptr<Kernel>> make_normalizer(const NodeContext& c) {
  const std::string norm = Attributes(c.node).get_string("norm", "MAX");
  if (norm == "MAX") return make<Normalizer>(c, 1, 1, Normalizer::Norm::kMax);
  if (norm == "L1") return make<Normalizer>(c, 1, 1, Normalizer::Norm::kL1);
  if (norm == "L2") return make<Normalizer>(c, 1, 1, Normalizer::Norm::kL2);
  return Error::invalid_input(describe(c.node) + ": unknown norm '" + norm + "'");
}

Result<std::unique_ptr<Kernel>> make_zipmap(const NodeContext& c) {
  Attributes a(c.node);
  const auto classes = static_cast<std::int64_t>(a.get_ints("classlabels_int64s").size() +
                                                 a.get_strings("classlabels_strings").size());
  if (classes == 0) return Error::invalid_input(describe(c.node) + " has no class labels");
  return make<ZipMap>(c, 1, 1, classes);
}

const OpEntry kMlOps[] = {
    {"ai.onnx.ml", "LinearClassifier", make_linear_classifier},
    {"ai.onnx.ml", "LinearRegressor", make_linear_regressor},
    {"ai.onnx.ml", "Scaler", [](const NodeContext& c) { return make<Scaler>(c, 1, 1); }},
    {"ai.onnx.ml", "Normalizer", make_normalizer},
    {"ai.onnx.ml", "OneHotEncoder",
     [](const NodeContext& c) { return make<OneHotEncoder>(c, 1, 1); }},
    {"ai.onnx.ml", "ZipMap", make_zipmap},
    {"ai.onnx.ml", "ArrayFeatureExtractor",
     [](const NodeContext& c) { return make<ArrayFeatureExtractor>(c, 2, 1); }},
};

}  // namespace

std::span<const OpEntry> ml_ops() { return kMlOps; }

}  // namespace kiln::runtime::onnx_eval
