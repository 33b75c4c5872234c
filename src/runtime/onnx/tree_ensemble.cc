// TreeEnsembleClassifier and TreeEnsembleRegressor (ai.onnx.ml, versions 1 and 3), after
// https://onnx.ai/onnx/operators/onnx_aionnxml_TreeEnsembleClassifier.html and
// onnx_aionnxml_TreeEnsembleRegressor.html.
//
// The trees are decoded once at load (tree_forest.h); here are the two kernels' aggregation and
// post transforms. Where the spec is vague about
// binary classifiers (one scored class among two labels) we follow onnxruntime's
// tree_ensemble_aggregator.h, the reference converted models are checked against: with all
// weights >= 0 the score s is a probability and Z = [1 - s, s], label 1 when s > 0.5; otherwise s
// is a margin and Z = [logistic(-s), logistic(s)] (LOGISTIC) or [-s, s], label 1 when s > 0.

#include <cmath>
#include <set>
#include <utility>

#include "runtime/onnx/kernel.h"
#include "runtime/onnx/tree_forest.h"

namespace kiln::runtime::onnx_eval {
namespace {

using ::onnx::NodeProto;

// Checks X against the largest feature id; returns its rows as floats: X's own data when FLOAT,
// else INT64 converted into `scratch`.
Result<const float*> tree_rows(const NodeProto& node, const Value& x, const Forest& f,
                               std::int64_t& rows, std::int64_t& cols,
                               std::vector<float>& scratch) {
  if (auto m = as_matrix(node, x, rows, cols); !m.ok()) return std::move(m).error();
  if (cols <= f.max_feature) {
    return Error::invalid_input(describe(node) + " reads feature " + std::to_string(f.max_feature) +
                                "; the input has " + std::to_string(cols) + " features");
  }
  if (x.type == ElemType::kFloat) return x.f.data();
  if (x.type != ElemType::kInt64) {
    return Error::terminal(describe(node) + ": input 0 is STRING; expected numbers");
  }
  scratch.assign(x.i.begin(), x.i.end());
  return scratch.data();
}

class TreeEnsembleRegressor final : public Kernel {
 public:
  TreeEnsembleRegressor(const NodeProto& node, Forest forest, Aggregate aggregate,
                        PostTransform transform)
      : node_(node), forest_(std::move(forest)), aggregate_(aggregate), transform_(transform) {
    Attributes a(node);
    targets_ = a.get_int("n_targets", 1);
    base_ = a.get_floats("base_values");
  }
  std::int64_t targets() const { return targets_; }

  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    std::int64_t rows = 0, cols = 0;
    std::vector<float> scratch;
    KILN_TRY(const float* x, tree_rows(node_, *in[0], forest_, rows, cols, scratch));
    Value y = Value::floats({rows, targets_});
    std::vector<std::uint8_t> has(y.f.size());
    accumulate(forest_, aggregate_, x, rows, cols, targets_, y.f, has);
    const auto n = static_cast<std::size_t>(targets_);
    const bool use_base = base_.size() == n;
    const float origin = base_.size() == 1 ? base_[0] : 0.0f;
    const auto trees = static_cast<float>(forest_.roots.size());
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::span<float> scores(y.f.data() + r * targets_, n);
      for (std::size_t t = 0; t < n; ++t) {
        float s = scores[t];  // 0 when no tree voted for t.
        if (aggregate_ == Aggregate::kAverage) s /= trees;
        // One target: base_values[0] (onnxruntime's "origin"); several: one base per target.
        s += n == 1 ? origin : (use_base ? base_[t] : 0.0f);
        scores[t] = s;
      }
      if (n >= 2) {
        apply_post_transform(transform_, scores);
      } else if (transform_ == PostTransform::kProbit) {
        scores[0] = probit(scores[0]);
      }
    }
    *out[0] = std::move(y);
    return Ok();
  }

 private:
  const NodeProto& node_;
  Forest forest_;
  Aggregate aggregate_;
  PostTransform transform_;
  std::int64_t targets_ = 1;
  std::vector<float> base_;
};

// Outputs Y (the label per row) and Z (scores [rows, labels]).
class TreeEnsembleClassifier final : public Kernel {
 public:
  TreeEnsembleClassifier(const NodeProto& node, Forest forest, PostTransform transform)
      : node_(node), forest_(std::move(forest)), transform_(transform) {
    Attributes a(node);
    base_ = a.get_floats("base_values");
    labels_int_ = a.get_ints("classlabels_int64s");
    labels_string_ = a.get_strings("classlabels_strings");
    classes_ = static_cast<std::int64_t>(labels_int_.size() + labels_string_.size());
    std::set<std::int32_t> scored;
    for (const auto& vote : forest_.votes) {
      scored.insert(vote.target);
      all_positive_ = all_positive_ && vote.weight >= 0;
    }
    binary_ = classes_ == 2 && scored.size() == 1;
  }

  Result<void> run(std::span<const Value* const> in, std::span<Value* const> out) const override {
    std::int64_t rows = 0, cols = 0;
    std::vector<float> scratch;
    KILN_TRY(const float* x, tree_rows(node_, *in[0], forest_, rows, cols, scratch));
    const bool strings = !labels_string_.empty();
    Value y{strings ? ElemType::kString : ElemType::kInt64, {rows}, {}, {}, {}, false};
    Value z = Value::floats({rows, classes_});
    std::vector<std::uint8_t> all_has(z.f.size());
    accumulate(forest_, Aggregate::kSum, x, rows, cols, classes_, z.f, all_has);
    std::vector<float> scores(static_cast<std::size_t>(classes_));
    std::vector<std::uint8_t> has(scores.size());
    for (std::int64_t r = 0; r < rows; ++r) {
      const auto from = static_cast<std::size_t>(r * classes_);
      std::copy_n(z.f.begin() + from, classes_, scores.begin());
      std::copy_n(all_has.begin() + from, classes_, has.begin());
      const std::int64_t label = classes_ == 2 ? finish_binary(scores, has) : finish(scores, has);
      if (strings) {
        y.s.push_back(labels_string_[static_cast<std::size_t>(label)]);
      } else {
        y.i.push_back(labels_int_[static_cast<std::size_t>(label)]);
      }
      std::copy(scores.begin(), scores.end(), z.f.begin() + r * classes_);
    }
    *out[0] = std::move(y);
    if (out.size() > 1) *out[1] = std::move(z);
    return Ok();
  }

 private:
  // Three or more labels: base values added, label = the first highest scored class, then the
  // post transform over every class.
  std::int64_t finish(std::vector<float>& scores, std::vector<std::uint8_t>& has) const {
    for (std::size_t k = 0; k < base_.size() && k < scores.size(); ++k) {
      scores[k] += base_[k];
      has[k] = 1;
    }
    std::int64_t best = -1;
    for (std::size_t k = 0; k < scores.size(); ++k) {
      if (has[k] && (best < 0 || scores[k] > scores[static_cast<std::size_t>(best)])) {
        best = static_cast<std::int64_t>(k);
      }
    }
    apply_post_transform(transform_, scores);
    return best < 0 ? 0 : best;
  }

  // Two labels. Both scored: as above. One scored class (s, plus base_values[0]): see the top of
  // this file.
  std::int64_t finish_binary(std::vector<float>& scores, std::vector<std::uint8_t>& has) const {
    if (!binary_) {
      for (std::size_t k = 0; k < base_.size() && k < 2; ++k) scores[k] += base_[k];
      const std::int64_t label = scores[1] > scores[0] ? 1 : 0;
      apply_post_transform(transform_, scores);
      return label;
    }
    const std::size_t scored = has[1] ? 1 : 0;
    float s = scores[scored] + (base_.size() == 1 ? base_[0] : 0.0f);
    if (base_.size() == 2) s += base_[scored];
    std::int64_t label = 0;
    if (all_positive_) {
      label = s > 0.5f ? 1 : 0;
      scores = {1.0f - s, s};
    } else {
      label = s > 0.0f ? 1 : 0;
      scores = transform_ == PostTransform::kLogistic
                   ? std::vector<float>{logistic(-s), logistic(s)}
                   : std::vector<float>{-s, s};
    }
    if (transform_ == PostTransform::kProbit) scores = {probit(s), 0.0f};
    return label;
  }

  const NodeProto& node_;
  Forest forest_;
  PostTransform transform_;
  std::vector<float> base_;
  std::vector<std::int64_t> labels_int_;
  std::vector<std::string> labels_string_;
  std::int64_t classes_ = 0;
  bool binary_ = false;       // Two labels, votes for only one class id.
  bool all_positive_ = true;  // Every vote weight >= 0.
};

Result<std::unique_ptr<Kernel>> make_classifier(const NodeContext& c) {
  if (auto a = check_arity(c.node, 1, 1, 1, 2); !a.ok()) return std::move(a).error();
  KILN_TRY(auto transform, parse_post_transform(c.node));
  KILN_TRY(auto forest, decode_forest(c.node, "class"));
  Attributes attrs(c.node);
  const auto classes = static_cast<std::int32_t>(attrs.get_ints("classlabels_int64s").size() +
                                                 attrs.get_strings("classlabels_strings").size());
  if (classes == 0) return Error::invalid_input(describe(c.node) + " has no class labels");
  for (const auto& vote : forest.votes) {
    if (vote.target < 0 || vote.target >= classes) {
      return Error::invalid_input(describe(c.node) + ": class id " + std::to_string(vote.target) +
                                  " is outside the " + std::to_string(classes) + " labels");
    }
  }
  return std::unique_ptr<Kernel>(
      std::make_unique<TreeEnsembleClassifier>(c.node, std::move(forest), transform));
}

Result<Aggregate> parse_aggregate(const NodeProto& node) {
  const std::string name = Attributes(node).get_string("aggregate_function", "SUM");
  if (name == "SUM") return Aggregate::kSum;
  if (name == "AVERAGE") return Aggregate::kAverage;
  if (name == "MIN") return Aggregate::kMin;
  if (name == "MAX") return Aggregate::kMax;
  return Error::invalid_input(describe(node) + ": unknown aggregate_function '" + name + "'");
}

Result<std::unique_ptr<Kernel>> make_regressor(const NodeContext& c) {
  if (auto a = check_arity(c.node, 1, 1, 1, 1); !a.ok()) return std::move(a).error();
  KILN_TRY(auto transform, parse_post_transform(c.node));
  KILN_TRY(auto aggregate, parse_aggregate(c.node));
  KILN_TRY(auto forest, decode_forest(c.node, "target"));
  const auto targets = Attributes(c.node).get_int("n_targets", 1);
  for (const auto& vote : forest.votes) {
    if (vote.target < 0 || vote.target >= targets) {
      return Error::invalid_input(describe(c.node) + ": target id " + std::to_string(vote.target) +
                                  " is outside n_targets " + std::to_string(targets));
    }
  }
  return std::unique_ptr<Kernel>(
      std::make_unique<TreeEnsembleRegressor>(c.node, std::move(forest), aggregate, transform));
}

const OpEntry kTreeOps[] = {
    {"ai.onnx.ml", "TreeEnsembleRegressor", make_regressor},
    {"ai.onnx.ml", "TreeEnsembleClassifier", make_classifier},
};

}  // namespace

std::span<const OpEntry> tree_ops() { return kTreeOps; }

}  // namespace kiln::runtime::onnx_eval
