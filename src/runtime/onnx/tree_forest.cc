#include "runtime/onnx/tree_forest.h"

#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "runtime/onnx/kernel.h"

namespace kiln::runtime::onnx_eval {
namespace {

using ::onnx::NodeProto;

template <Mode M>
inline bool compare(float v, float threshold) {
  if constexpr (M == Mode::kLeq) return v <= threshold;
  if constexpr (M == Mode::kLt) return v < threshold;
  if constexpr (M == Mode::kGte) return v >= threshold;
  if constexpr (M == Mode::kGt) return v > threshold;
  if constexpr (M == Mode::kEq) return v == threshold;
  if constexpr (M == Mode::kNeq) return v != threshold;
  return false;
}

inline bool compare(Mode mode, float v, float threshold) {
  switch (mode) {
    case Mode::kLeq:
      return compare<Mode::kLeq>(v, threshold);
    case Mode::kLt:
      return compare<Mode::kLt>(v, threshold);
    case Mode::kGte:
      return compare<Mode::kGte>(v, threshold);
    case Mode::kGt:
      return compare<Mode::kGt>(v, threshold);
    case Mode::kEq:
      return compare<Mode::kEq>(v, threshold);
    case Mode::kNeq:
      return compare<Mode::kNeq>(v, threshold);
    case Mode::kLeaf:
      break;
  }
  return false;
}

// The walk for an ensemble whose branch nodes all have mode `M` (kLeaf: mixed modes, read per
// node); `kMissing` when some node sends NaN to its true branch.
template <Mode M, bool kMissing>
std::int32_t walk(const Forest& f, std::int32_t k, const float* x) {
  const TreeNode* nodes = f.nodes.data();
  while (nodes[k].feature >= 0) {
    const TreeNode& t = nodes[k];
    const float v = x[t.feature];
    bool go_true = M == Mode::kLeaf ? compare(f.modes[static_cast<std::size_t>(k)], v, t.threshold)
                                    : compare<M>(v, t.threshold);
    if constexpr (kMissing) {
      go_true = go_true || (f.missing_true[static_cast<std::size_t>(k)] && std::isnan(v));
    }
    k = go_true ? t.on_true : t.on_false;
  }
  return k;
}

template <Mode M>
TreeWalk walk_for(bool missing) {
  return missing ? &walk<M, true> : &walk<M, false>;
}

TreeWalk choose_walk(const Forest& f) {
  bool missing = false;
  Mode uniform = Mode::kLeaf;
  bool mixed = false;
  for (std::size_t k = 0; k < f.nodes.size(); ++k) {
    if (f.modes[k] == Mode::kLeaf) continue;
    missing = missing || f.missing_true[k] != 0;
    if (uniform == Mode::kLeaf) uniform = f.modes[k];
    mixed = mixed || f.modes[k] != uniform;
  }
  switch (mixed ? Mode::kLeaf : uniform) {
    case Mode::kLeq:
      return walk_for<Mode::kLeq>(missing);
    case Mode::kLt:
      return walk_for<Mode::kLt>(missing);
    case Mode::kGte:
      return walk_for<Mode::kGte>(missing);
    case Mode::kGt:
      return walk_for<Mode::kGt>(missing);
    case Mode::kEq:
      return walk_for<Mode::kEq>(missing);
    case Mode::kNeq:
      return walk_for<Mode::kNeq>(missing);
    case Mode::kLeaf:
      break;
  }
  return walk_for<Mode::kLeaf>(missing);
}

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
}  // namespace

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
  forest.modes.resize(n);
  forest.missing_true.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    auto mode = parse_mode(modes[k]);
    if (!mode.ok()) return mode.error().with_context(describe(node));
    TreeNode& t = forest.nodes[k];
    forest.modes[k] = *mode;
    forest.missing_true[k] = !missing.empty() && missing[k] != 0;
    if (*mode == Mode::kLeaf) continue;
    t.threshold = values[k];
    t.feature = static_cast<std::int32_t>(features[k]);
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
    if (it == index.end() || forest.modes[it->second] != Mode::kLeaf) {
      return Error::invalid_input(describe(node) + ": a vote names node " +
                                  std::to_string(vote_nodes[k]) + " of tree " +
                                  std::to_string(vote_trees[k]) + ", which is not a leaf");
    }
    per_leaf[it->second].push_back({static_cast<std::int32_t>(vote_ids[k]), vote_weights[k]});
  }
  for (std::size_t k = 0; k < n; ++k) {
    if (forest.modes[k] != Mode::kLeaf) continue;
    forest.nodes[k].on_true = static_cast<std::int32_t>(forest.votes.size());
    forest.votes.insert(forest.votes.end(), per_leaf[k].begin(), per_leaf[k].end());
    forest.nodes[k].on_false = static_cast<std::int32_t>(forest.votes.size());
  }
  forest.walk = choose_walk(forest);
  return forest;
}

void accumulate(const Forest& f, Aggregate aggregate, const float* x, std::int64_t rows,
                std::int64_t cols, std::int64_t targets, std::vector<float>& scores,
                std::vector<std::uint8_t>& has) {
  for (std::int32_t root : f.roots) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const TreeNode& leaf = f.nodes[static_cast<std::size_t>(f.walk(f, root, x + r * cols))];
      for (std::int32_t k = leaf.on_true; k < leaf.on_false; ++k) {
        const Vote& vote = f.votes[static_cast<std::size_t>(k)];
        const auto at = static_cast<std::size_t>(r * targets + vote.target);
        float& s = scores[at];
        if (aggregate == Aggregate::kMin) {
          s = !has[at] || vote.weight < s ? vote.weight : s;
        } else if (aggregate == Aggregate::kMax) {
          s = !has[at] || vote.weight > s ? vote.weight : s;
        } else {
          s += vote.weight;
        }
        has[at] = 1;
      }
    }
  }
}

}  // namespace kiln::runtime::onnx_eval
