#pragma once

// The ONNX backend: ONNX models (https://onnx.ai/onnx/) evaluated by kiln's own interpreter,
// parsed with the ONNX protobuf definitions (Debian libonnx, onnx-ml.proto) and checked against
// onnxruntime's outputs on scikit-learn models converted by skl2onnx.
//
// Operators (https://onnx.ai/onnx/operators/; a graph with any other operator, or a node in
// another domain, is refused at load with a message naming each such operator and its node):
//   ai.onnx.ml: TreeEnsembleClassifier, TreeEnsembleRegressor (versions 1 and 3: nodes_modes
//     BRANCH_LEQ/LT/GTE/GT/EQ/NEQ, nodes_missing_value_tracks_true, base_values, class_ids /
//     class_weights, target_ids / target_weights, aggregate_function SUM/AVERAGE/MIN/MAX,
//     post_transform NONE/LOGISTIC/SOFTMAX/SOFTMAX_ZERO/PROBIT; the *_as_tensor double
//     attributes are refused), LinearClassifier (multi_class, post_transform, classlabels_ints /
//     classlabels_strings), LinearRegressor (targets, post_transform), Scaler (offset, scale),
//     Normalizer (norm MAX/L1/L2), OneHotEncoder (cats_int64s / cats_strings, zeros), ZipMap,
//     ArrayFeatureExtractor.
//   ai.onnx: Gemm (alpha, beta, transA, transB, C broadcast), MatMul (A [..., M, K] times B
//     [K, N]), Add, Sub, Mul, Div (NumPy broadcasting), Relu, Sigmoid, Tanh, Softmax (axis;
//     before opset 13 the input is coerced to 2-D at axis, default 1; from 13 along axis,
//     default -1), Flatten, Reshape (0 copies a dimension unless allowzero, -1 inferred),
//     Identity, Concat, Cast (to FLOAT, INT32, INT64), ArgMax (axis, keepdims,
//     select_last_index).
// Element types: FLOAT, the integers (held as int64) and STRING; DOUBLE tensors are refused at
// load. Where a spec leaves a case open (binary tree classifiers scoring one class) the backend
// does what onnxruntime's CPU kernels do (tree_ensemble.cc); where onnxruntime contradicts the ONNX
// reference evaluator (binary LinearClassifier with one coefficient row) it follows the reference
// (ml_ops.cc).
//
// Load: the file is parsed once; the graph is compiled into a plan (operators checked, attributes
// and initializers decoded into typed structures, tree ensembles into flat node arrays, nodes in
// topological order), so predict() only walks data.
//
// Inputs (metadata: one entry per graph input, datatype FP32 / INT64 / BYTES for FLOAT /
// integer / STRING, shape as declared with -1 for the batch and any symbolic dimension):
//   - request tensors bind to graph inputs by name;
//   - a graph with one input also accepts a request whose tensors do not carry that name: a FLOAT
//     input takes them as tabular servers do (to_feature_matrix in tensor.h: one [rows, features]
//     or [features] tensor, or one [rows] column per feature), an INT64 or STRING input takes a
//     single tensor;
//   - FP16/FP32/FP64, integer and BOOL data convert to float for a FLOAT input; integer and BOOL
//     data to int64 for an integer input; BYTES only for a STRING input. A [features] tensor for a
//     [-1, features] input is one row.
// Outputs (every graph output, in graph order, named as in the graph):
//   - FLOAT tensors -> FP32 with the shape the graph computes (e.g. [rows, 1] for a skl2onnx
//     regressor, [rows, classes] for probabilities with zipmap disabled);
//   - INT64 tensors (class labels) -> INT64, STRING tensors -> BYTES, shape [rows];
//   - ZipMap's seq(map(label, float)) -> FP32 [rows, classes]: column j is the probability of the
//     j-th label of the ZipMap's classlabels_int64s / classlabels_strings attribute, which for
//     skl2onnx is the estimator's classes_ order, the same order as the label output's values.
//     Metadata reports it as FP32 [-1, classes].
//
// Thread-safety: predict() is const and keeps every intermediate value in per-call storage; any
// number of threads may call it at once without locks. metadata() is immutable.
//
// Errors: load_onnx returns invalid-input naming the file for a missing or unreadable file, a
// file that is not an ONNX ModelProto, an unsupported operator (naming the operator, its domain
// and node), or attributes the evaluator cannot use. predict() returns invalid-input for a request
// that does not fit (missing input, wrong feature count, wrong datatype, shapes an operator
// cannot take) and never throws.

#include <memory>
#include <string>

#include "runtime/backend.h"

namespace kiln::runtime {

// Loads and compiles the ONNX model file at `path`. Thread-safe.
Result<std::unique_ptr<ModelBackend>> load_onnx(const std::string& path);

}  // namespace kiln::runtime
