#pragma once

// Internal to the ONNX backend: the trees of a TreeEnsembleClassifier / TreeEnsembleRegressor
// decoded once at load into flat arrays, and the walk that scores rows with them.
//
// Layout: every node of every tree in one array of 16-byte nodes (threshold, feature, the two
// child indices; a leaf has feature -1 and its children fields hold its run [begin, end) of votes
// in the vote array). Branch modes and missing-value flags live in parallel arrays, read only by
// the general walk: when every branch node of the ensemble has the same mode (skl2onnx writes
// BRANCH_LEQ everywhere) a walk specialised for that mode is chosen at load, without a switch per
// node. Rows are scored tree by tree (all rows through one tree, then the next), which keeps one
// tree's nodes in cache; each row still adds its trees' votes in tree order, as onnxruntime does.
//
// Thread-safety: a Forest is immutable after decode_forest(); accumulate() is reentrant.

#include <onnx/onnx_pb.h>  // The ONNX-ML schema with ONNX_ML defined (onnx.cmake).

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace kiln::runtime::onnx_eval {

enum class Mode : std::uint8_t { kLeq, kLt, kGte, kGt, kEq, kNeq, kLeaf };
enum class Aggregate { kSum, kAverage, kMin, kMax };

struct TreeNode {
  float threshold = 0.0f;
  std::int32_t feature = -1;  // -1 for a leaf.
  std::int32_t on_true = 0;   // Branch: child indices. Leaf: the votes [on_true, on_false).
  std::int32_t on_false = 0;
};

struct Vote {
  std::int32_t target;  // Class index or regression target.
  float weight;
};

struct Forest;
// Returns the index of the leaf row `x` reaches from node `root`.
using TreeWalk = std::int32_t (*)(const Forest& forest, std::int32_t root, const float* x);

struct Forest {
  std::vector<TreeNode> nodes;
  std::vector<Mode> modes;                 // Per node.
  std::vector<std::uint8_t> missing_true;  // Per node: NaN goes to the true branch.
  std::vector<std::int32_t> roots;         // One per tree, in the order trees first appear.
  std::vector<Vote> votes;
  std::int32_t max_feature = -1;
  TreeWalk walk = nullptr;
};

// Decodes the nodes_* attributes and the votes (`prefix` "class" or "target") of `node`.
// Errors (invalid-input): attribute lists of different lengths, duplicate or missing nodes, votes
// on non-leaf nodes, unknown modes, the double-precision *_as_tensor attributes.
Result<Forest> decode_forest(const ::onnx::NodeProto& node, const std::string& prefix);

// Scores `rows` rows of `cols` features (row-major `x`, cols > forest.max_feature): for row r and
// target t, scores[r * targets + t] aggregates the votes of every tree (sum for SUM and AVERAGE,
// min, max) and has[r * targets + t] is 1 when any tree voted for t. Both must be sized
// rows * targets and zeroed. Vote targets must be < targets (checked at load).
void accumulate(const Forest& forest, Aggregate aggregate, const float* x, std::int64_t rows,
                std::int64_t cols, std::int64_t targets, std::vector<float>& scores,
                std::vector<std::uint8_t>& has);

}  // namespace kiln::runtime::onnx_eval
