// TreeEnsembleClassifier and TreeEnsembleRegressor (ai.onnx.ml, versions 1 and 3), after
// https://onnx.ai/onnx/operators/onnx_aionnxml_TreeEnsembleClassifier.html and
// onnx_aionnxml_TreeEnsembleRegressor.html.
//
// At load the nodes_* / class_* / target_* attribute tuples become one flat array of nodes per
// ensemble (children as indices, leaves pointing at a run of (class, weight) votes), so
// prediction is a loop over roots and an index walk down each tree. Where the spec is vague about
// binary classifiers (one scored class among two labels) we follow onnxruntime's
// tree_ensemble_aggregator.h, the reference converted models are checked against: with all
// weights >= 0 the score s is a probability and Z = [1 - s, s], label 1 when s > 0.5; otherwise s
// is a margin and Z = [logistic(-s), logistic(s)] (LOGISTIC) or [-s, s], label 1 when s > 0.

#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "runtime/onnx/kernel.h"

namespace kiln::runtime::onnx_eval {
namespace {

using ::onnx::NodeProto;

enum class Mode : std::uint8_t { kLeq, kLt, kGte, kGt, kEq, kNeq, kLeaf };
enum class Aggregate { kSum, kAverage, kMin, kMax };

struct TreeNode {
  float threshold = 0.0f;
  std::int32_t feature = 0;
  Mode mode = Mode::kLeaf;
  bool missing_true = false;  // NaN goes to the true branch.
  std::int32_t on_true = -1;  // Child indices into the flat node array.
  std::int32_t on_false = -1;
  std::int32_t votes_begin = 0;  // Leaf votes [begin, end) in the flat vote array.
  std::int32_t votes_end = 0;
};

struct Vote {
  std::int32_t target;
  float weight;
};

// The decoded trees of one ensemble.
struct Forest {
  std::vector<TreeNode> nodes;
  std::vector<std::int32_t> roots;
  std::vector<Vote> votes;
  std::int32_t max_feature = -1;
};

Result<Mode> parse_mode(const std::string& name) {
  static const std::pair<const char*, Mode> kModes[] = {
      {"BRANCH_LEQ", Mode::kLeq}, {"BRANCH_LT", Mode::kLt}, {"BRANCH_GTE", Mode::kGte},
      {"BRANCH_GT", Mode::kGt},   {"BRANCH_EQ", Mode::kEq}, {"BRANCH_NEQ", Mode::kNeq},
      {"LEAF", Mode::kLeaf}};
  for (const auto& [text, mode] : kModes) {
    if (name == text) return mode;
  }
  return Error::invalid_input("unsupported tree node mode '" + name + "'");
}

// Decodes the nodes_* attributes and the votes (`prefix` "class" or "target").
Result<Forest> decode_forest(const NodeProto& node, const std::string& prefix) {
  Attributes a(node);
  for (const char* name :
       {"nodes_values_as_tensor", "nodes_hitrates_as_tensor", "base_values_as_tensor",
        "class_weights_as_tensor", "target_weights_as_tensor"}) {
    if (a.has(name)) {
      return Error::invalid_input(describe(node) + ": " + name +
                                  " (double thresholds) is not supported");
    }
  }
  const auto trees = a.get_ints("nodes_treeids"), ids = a.get_ints("nodes_nodeids");
  const auto features = a.get_ints("nodes_featureids");
  const auto values = a.get_floats("nodes_values");
  const auto modes = a.get_strings("nodes_modes");
  const auto on_true = a.get_ints("nodes_truenodeids"), on_false = a.get_ints("nodes_falsenodeids");
  const auto missing = a.get_ints("nodes_missing_value_tracks_true");
  const std::size_t n = trees.size();
  if (n == 0 || ids.size() != n || features.size() != n || values.size() != n ||
      modes.size() != n || on_true.size() != n || on_false.size() != n ||
      (!missing.empty() && missing.size() != n)) {
    return Error::invalid_input(describe(node) + ": the nodes_* attributes differ in length");
  }
  Forest forest;
  std::map<std::pair<std::int64_t, std::int64_t>, std::int32_t> index;
  for (std::size_t k = 0; k < n; ++k) {
    if (!index.emplace(std::pair{trees[k], ids[k]}, static_cast<std::int32_t>(k)).second) {
      return Error::invalid_input(describe(node) + ": node " + std::to_string(ids[k]) +
                                  " of tree " + std::to_string(trees[k]) + " appears twice");
    }
  }
  auto child = [&](std::size_t k, std::int64_t id) -> std::int32_t {
    auto it = index.find({trees[k], id});
    return it == index.end() ? -1 : it->second;
  };
  std::set<std::int32_t> children;
  forest.nodes.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    auto mode = parse_mode(modes[k]);
    if (!mode.ok()) return mode.error().with_context(describe(node));
    TreeNode& t = forest.nodes[k];
    t.mode = *mode;
    t.threshold = values[k];
    t.feature = static_cast<std::int32_t>(features[k]);
    t.missing_true = !missing.empty() && missing[k] != 0;
    if (t.mode == Mode::kLeaf) continue;
    t.on_true = child(k, on_true[k]);
    t.on_false = child(k, on_false[k]);
    if (t.on_true < 0 || t.on_false < 0 || t.feature < 0) {
      return Error::invalid_input(describe(node) + ": node " + std::to_string(ids[k]) +
                                  " of tree " + std::to_string(trees[k]) +
                                  " has a missing child or a negative feature id");
    }
    children.insert(t.on_true);
    children.insert(t.on_false);
    forest.max_feature = std::max(forest.max_feature, t.feature);
  }
  for (std::size_t k = 0; k < n; ++k) {
    if (children.count(static_cast<std::int32_t>(k)) == 0) {
      forest.roots.push_back(static_cast<std::int32_t>(k));
    }
  }
  // Votes, grouped per leaf in attribute order.
  const auto vote_trees = a.get_ints(prefix + "_treeids");
  const auto vote_nodes = a.get_ints(prefix + "_nodeids");
  const auto vote_ids = a.get_ints(prefix + "_ids");
  const auto vote_weights = a.get_floats(prefix + "_weights");
  const std::size_t v = vote_trees.size();
  if (vote_nodes.size() != v || vote_ids.size() != v || vote_weights.size() != v) {
    return Error::invalid_input(describe(node) + ": the " + prefix +
                                "_* attributes differ in length");
  }
  std::vector<std::vector<Vote>> per_leaf(n);
  for (std::size_t k = 0; k < v; ++k) {
    auto it = index.find({vote_trees[k], vote_nodes[k]});
    if (it == index.end() || forest.nodes[it->second].mode != Mode::kLeaf) {
      return Error::invalid_input(describe(node) + ": a vote names node " +
                                  std::to_string(vote_nodes[k]) + " of tree " +
                                  std::to_string(vote_trees[k]) + ", which is not a leaf");
    }
    per_leaf[it->second].push_back({static_cast<std::int32_t>(vote_ids[k]), vote_weights[k]});
  }
  for (std::size_t k = 0; k < n; ++k) {
    forest.nodes[k].votes_begin = static_cast<std::int32_t>(forest.votes.size());
    forest.votes.insert(forest.votes.end(), per_leaf[k].begin(), per_leaf[k].end());
    forest.nodes[k].votes_end = static_cast<std::int32_t>(forest.votes.size());
  }
  return forest;
}

// The leaf row `x` reaches from `root`.
inline const TreeNode& find_leaf(const Forest& f, std::int32_t root, const float* x) {
  const TreeNode* t = &f.nodes[static_cast<std::size_t>(root)];
  while (t->mode != Mode::kLeaf) {
    const float v = x[t->feature];
    bool go_true = false;
    switch (t->mode) {
      case Mode::kLeq:
        go_true = v <= t->threshold;
        break;
      case Mode::kLt:
        go_true = v < t->threshold;
        break;
      case Mode::kGte:
        go_true = v >= t->threshold;
        break;
      case Mode::kGt:
        go_true = v > t->threshold;
        break;
      case Mode::kEq:
        go_true = v == t->threshold;
        break;
      case Mode::kNeq:
        go_true = v != t->threshold;
        break;
      case Mode::kLeaf:
        break;
    }
    if (t->missing_true && std::isnan(v)) go_true = true;
    t = &f.nodes[static_cast<std::size_t>(go_true ? t->on_true : t->on_false)];
  }
  return *t;
}

// Accumulates the votes of every tree for one row into `scores` (with per-target has-score
// flags, which MIN/MAX and the binary classifier rules need).
void accumulate(const Forest& f, Aggregate aggregate, const float* x, std::vector<float>& scores,
                std::vector<std::uint8_t>& has) {
  for (std::int32_t root : f.roots) {
    const TreeNode& leaf = find_leaf(f, root, x);
    for (std::int32_t k = leaf.votes_begin; k < leaf.votes_end; ++k) {
      const Vote& vote = f.votes[static_cast<std::size_t>(k)];
      float& s = scores[static_cast<std::size_t>(vote.target)];
      std::uint8_t& h = has[static_cast<std::size_t>(vote.target)];
      if (aggregate == Aggregate::kMin) {
        s = !h || vote.weight < s ? vote.weight : s;
      } else if (aggregate == Aggregate::kMax) {
        s = !h || vote.weight > s ? vote.weight : s;
      } else {
        s += vote.weight;
      }
      h = 1;
    }
  }
}

// Checks X (FLOAT, or INT64 converted) against the largest feature id; returns its rows.
Result<std::vector<float>> tree_rows(const NodeProto& node, const Value& x, const Forest& f,
                                     std::int64_t& rows, std::int64_t& cols) {
  if (auto m = as_matrix(node, x, rows, cols); !m.ok()) return std::move(m).error();
  if (cols <= f.max_feature) {
    return Error::invalid_input(describe(node) + " reads feature " + std::to_string(f.max_feature) +
                                "; the input has " + std::to_string(cols) + " features");
  }
  if (x.type == ElemType::kFloat) return x.f;
  if (x.type == ElemType::kInt64) return std::vector<float>(x.i.begin(), x.i.end());
  return Error::terminal(describe(node) + ": input 0 is STRING; expected numbers");
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
    KILN_TRY(std::vector<float> x, tree_rows(node_, *in[0], forest_, rows, cols));
    Value y = Value::floats({rows, targets_});
    const auto n = static_cast<std::size_t>(targets_);
    std::vector<float> scores(n);
    std::vector<std::uint8_t> has(n);
    const bool use_base = base_.size() == n;
    const float origin = base_.size() == 1 ? base_[0] : 0.0f;
    const auto trees = static_cast<float>(forest_.roots.size());
    for (std::int64_t r = 0; r < rows; ++r) {
      std::fill(scores.begin(), scores.end(), 0.0f);
      std::fill(has.begin(), has.end(), 0);
      accumulate(forest_, aggregate_, x.data() + r * cols, scores, has);
      for (std::size_t t = 0; t < n; ++t) {
        float s = has[t] ? scores[t] : 0.0f;
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
      std::copy(scores.begin(), scores.end(), y.f.begin() + r * targets_);
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
    KILN_TRY(std::vector<float> x, tree_rows(node_, *in[0], forest_, rows, cols));
    const bool strings = !labels_string_.empty();
    Value y{strings ? ElemType::kString : ElemType::kInt64, {rows}, {}, {}, {}, false};
    Value z = Value::floats({rows, classes_});
    std::vector<float> scores(static_cast<std::size_t>(classes_));
    std::vector<std::uint8_t> has(scores.size());
    for (std::int64_t r = 0; r < rows; ++r) {
      std::fill(scores.begin(), scores.end(), 0.0f);
      std::fill(has.begin(), has.end(), 0);
      accumulate(forest_, Aggregate::kSum, x.data() + r * cols, scores, has);
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
