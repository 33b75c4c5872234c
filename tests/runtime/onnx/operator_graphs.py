"""Small ONNX graphs built with onnx.helper that exercise operator attributes skl2onnx's models
leave at their defaults (Gemm's alpha/beta/transB, Softmax's axis before and after opset 13,
broadcasting, tree modes and aggregates, missing values, Normalizer norms, OneHotEncoder, several
graph inputs). Each entry gives the model and seeded input rows; make_onnx_models.py runs them
through onnxruntime for the reference outputs.
"""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

ML = "ai.onnx.ml"


def _model(nodes, inputs, outputs, initializers=(), opset=13, ml_opset=3):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid(ML, ml_opset)])
    model.ir_version = 8  # What onnxruntime 1.19 reads.
    return model


def _float(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def gemm_softmax_opset11(rng):
    """Gemm (transB, alpha, beta, C [3]) -> Softmax with opset 11's default axis, Flatten."""
    x = rng.normal(size=(7, 4)).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["X", "W", "B"], ["G"], transB=1, alpha=0.5, beta=2.0),
             helper.make_node("Softmax", ["G"], ["P"]),
             helper.make_node("Flatten", ["G"], ["F"], axis=0),
             # transA, no C: A [7, 3] transposed times X [7, 4] gives [3, 4]; a scalar added after.
             helper.make_node("Gemm", ["A", "X"], ["T"], transA=1, beta=0.5, alpha=-1.0),
             helper.make_node("Add", ["T", "C"], ["TC"])]
    inits = [_const("W", rng.normal(size=(3, 4)).astype(np.float32)),
             _const("B", rng.normal(size=(3,)).astype(np.float32)),
             _const("A", rng.normal(size=(7, 3)).astype(np.float32)),
             _const("C", np.array(1.5, np.float32))]
    return _model(nodes, [_float("X", [None, 4])],
                  [_float("P", [None, 3]), _float("F", [1, None]), _float("TC", [3, 4])],
                  inits, opset=11), {"X": x}


def softmax_rank3_opset11(rng):
    """Softmax before opset 13 on a rank-3 input: coerced to 2-D at axis 1 (one softmax over the
    last two dimensions together), then Flatten of the rank-3 result at axis 2."""
    x = rng.normal(size=(4, 2, 3)).astype(np.float32)
    nodes = [helper.make_node("Softmax", ["X"], ["P"], axis=1),
             helper.make_node("Flatten", ["P"], ["F"], axis=2)]
    return _model(nodes, [_float("X", [None, 2, 3])],
                  [_float("P", [None, 2, 3]), _float("F", [None, 3])], opset=11), {"X": x}


def elementwise_opset13(rng):
    """Broadcasting Sub/Mul/Div, Tanh, Sigmoid, Relu, Concat, Softmax along axis 0, ArgMax."""
    x = rng.normal(size=(6, 3)).astype(np.float32)
    nodes = [helper.make_node("Sub", ["X", "Row"], ["A"]),
             helper.make_node("Mul", ["A", "Col"], ["M"]),
             helper.make_node("Div", ["M", "Two"], ["D"]),
             helper.make_node("Tanh", ["D"], ["T"]),
             helper.make_node("Sigmoid", ["X"], ["S"]),
             helper.make_node("Relu", ["X"], ["R"]),
             helper.make_node("Concat", ["T", "S", "R"], ["C"], axis=-1),
             helper.make_node("Softmax", ["X"], ["P"], axis=0),
             helper.make_node("ArgMax", ["X"], ["I"], axis=1, keepdims=0),
             helper.make_node("Reshape", ["C", "Shape"], ["Y"]),
             helper.make_node("Softmax", ["Y"], ["P3"], axis=1)]
    inits = [_const("Row", np.array([[0.5, -1.0, 2.0]], np.float32)),
             _const("Col", np.arange(1, 7, dtype=np.float32).reshape(6, 1)),
             _const("Two", np.array(2.0, np.float32)),
             _const("Shape", np.array([0, 3, -1], np.int64))]
    return _model(nodes, [_float("X", [None, 3])],
                  [_float("Y", [None, 3, 3]), _float("P", [None, 3]), _float("P3", [None, 3, 3]),
                   helper.make_tensor_value_info("I", TensorProto.INT64, [None])],
                  inits), {"X": x}


def _tree_attributes(prefix):
    """Three trees over features 0..2 using every branch mode; NaN follows missing_true."""
    nodes = [  # (tree, node, feature, value, mode, true, false, missing_true)
        (0, 0, 0, 0.5, "BRANCH_LT", 1, 2, 0), (0, 1, 0, 0, "LEAF", 0, 0, 0),
        (0, 2, 1, 0.0, "BRANCH_GTE", 3, 4, 1), (0, 3, 0, 0, "LEAF", 0, 0, 0),
        (0, 4, 0, 0, "LEAF", 0, 0, 0),
        (1, 0, 2, 1.0, "BRANCH_EQ", 1, 2, 0), (1, 1, 0, 0, "LEAF", 0, 0, 0),
        (1, 2, 0, 0.25, "BRANCH_NEQ", 3, 4, 0), (1, 3, 0, 0, "LEAF", 0, 0, 0),
        (1, 4, 0, 0, "LEAF", 0, 0, 0),
        (2, 0, 1, -0.5, "BRANCH_GT", 1, 2, 0), (2, 1, 2, 0.3, "BRANCH_LEQ", 3, 4, 1),
        (2, 2, 0, 0, "LEAF", 0, 0, 0), (2, 3, 0, 0, "LEAF", 0, 0, 0),
        (2, 4, 0, 0, "LEAF", 0, 0, 0)]
    votes = [  # (tree, node, target, weight)
        (0, 1, 0, 1.5), (0, 1, 1, -0.5), (0, 3, 0, 0.25), (0, 4, 1, 2.0),
        (1, 1, 0, -1.0), (1, 3, 1, 0.75), (1, 4, 0, 0.5), (1, 4, 1, 0.5),
        (2, 2, 0, 3.0), (2, 3, 1, -2.0), (2, 4, 0, 0.125)]
    columns = list(zip(*nodes))
    attrs = {"nodes_treeids": list(columns[0]), "nodes_nodeids": list(columns[1]),
             "nodes_featureids": list(columns[2]), "nodes_values": list(columns[3]),
             "nodes_modes": list(columns[4]), "nodes_truenodeids": list(columns[5]),
             "nodes_falsenodeids": list(columns[6]),
             "nodes_missing_value_tracks_true": list(columns[7])}
    vcols = list(zip(*votes))
    attrs.update({prefix + "_treeids": list(vcols[0]), prefix + "_nodeids": list(vcols[1]),
                  prefix + "_ids": list(vcols[2]), prefix + "_weights": list(vcols[3])})
    return attrs


def _tree_rows(rng):
    x = rng.normal(size=(24, 3)).astype(np.float32)
    x[0, 2], x[1, 0], x[2, 0] = 1.0, 0.25, 0.5  # Equal to thresholds (EQ, NEQ, LT).
    x[3, 1], x[4, 2], x[5, 1] = np.nan, np.nan, np.nan  # Missing values.
    return x


def tree_regressor(aggregate, transform):
    def build(rng):
        node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, n_targets=2,
                                aggregate_function=aggregate, post_transform=transform,
                                base_values=[0.5, -0.25], **_tree_attributes("target"))
        return _model([node], [_float("X", [None, 3])], [_float("Y", [None, 2])]), \
            {"X": _tree_rows(rng)}
    return build


def tree_classifier_three_labels(rng):
    """Three string labels, SOFTMAX, base values."""
    node = helper.make_node("TreeEnsembleClassifier", ["X"], ["L", "P"], domain=ML,
                            classlabels_strings=["a", "b", "c"], post_transform="SOFTMAX",
                            base_values=[0.1, 0.2, 0.3], **_tree_attributes("class"))
    return _model([node], [_float("X", [None, 3])],
                  [helper.make_tensor_value_info("L", TensorProto.STRING, [None]),
                   _float("P", [None, 3])]), {"X": _tree_rows(rng)}


def linear_and_normalizers(rng):
    """LinearRegressor with two targets, Normalizer MAX and L2, Scaler with one offset."""
    x = rng.normal(size=(9, 4)).astype(np.float32)
    x[0] = 0.0  # An all-zero row: the norm is zero.
    nodes = [helper.make_node("Scaler", ["X"], ["S"], domain=ML, offset=[0.5], scale=[2.0]),
             helper.make_node("Normalizer", ["S"], ["NMax"], domain=ML, norm="MAX"),
             helper.make_node("Normalizer", ["X"], ["NL2"], domain=ML, norm="L2"),
             helper.make_node("LinearRegressor", ["X"], ["R"], domain=ML, targets=2,
                              coefficients=rng.normal(size=8).astype(float).tolist(),
                              intercepts=[1.0, -2.0])]
    return _model(nodes, [_float("X", [None, 4])],
                  [_float("NMax", [None, 4]), _float("NL2", [None, 4]), _float("R", [None, 2])],
                  ml_opset=1), {"X": x}


def two_inputs_onehot(rng):
    """Two graph inputs (FLOAT and INT64): OneHotEncoder on the codes, concatenated, MatMul."""
    num = rng.normal(size=(5, 2)).astype(np.float32)
    codes = np.array([[1], [3], [5], [7], [3]], np.int64)  # 7 is unknown: all zeros.
    nodes = [helper.make_node("OneHotEncoder", ["Codes"], ["H3"], domain=ML,
                              cats_int64s=[1, 3, 5], zeros=1),
             helper.make_node("Flatten", ["H3"], ["H"], axis=1),
             helper.make_node("Concat", ["Num", "H"], ["C"], axis=1),
             helper.make_node("MatMul", ["C", "W"], ["Y"])]
    inits = [_const("W", rng.normal(size=(5, 2)).astype(np.float32))]
    return _model(nodes, [_float("Num", [None, 2]),
                          helper.make_tensor_value_info("Codes", TensorProto.INT64, [None, 1])],
                  [_float("Y", [None, 2]), _float("H", [None, 3])], inits, ml_opset=1), \
        {"Num": num, "Codes": codes}


def linear_classifier_one_row(rng):
    """Binary LinearClassifier with a single coefficient row and LOGISTIC: checked against the
    ONNX reference evaluator (onnxruntime 1.19 skips the transform for this form)."""
    x = rng.normal(size=(8, 3)).astype(np.float32)
    node = helper.make_node("LinearClassifier", ["X"], ["L", "P"], domain=ML,
                            coefficients=[0.5, -1.0, 2.0], intercepts=[0.25],
                            classlabels_ints=[3, 7], post_transform="LOGISTIC")
    return _model([node], [_float("X", [None, 3])],
                  [helper.make_tensor_value_info("L", TensorProto.INT64, [None]),
                   _float("P", [None, 2])], ml_opset=1), {"X": x}


# Graphs whose expected outputs come from onnx.reference.ReferenceEvaluator instead.
REFERENCE_GRAPHS = {
    "linear_classifier_one_row": linear_classifier_one_row,
}

GRAPHS = {
    "gemm_softmax_opset11": gemm_softmax_opset11,
    "softmax_rank3_opset11": softmax_rank3_opset11,
    "elementwise_opset13": elementwise_opset13,
    "trees_sum": tree_regressor("SUM", "NONE"),
    "trees_average": tree_regressor("AVERAGE", "NONE"),
    "trees_min": tree_regressor("MIN", "NONE"),
    "trees_max_softmax": tree_regressor("MAX", "SOFTMAX"),
    "tree_classifier_three_labels": tree_classifier_three_labels,
    "linear_and_normalizers": linear_and_normalizers,
    "two_inputs_onehot": two_inputs_onehot,
}


def _tree_node(nodes, votes, **extra):
    """A TreeEnsembleRegressor over X [N, 2] from (tree, node, feature, value, mode, true, false)
    tuples and (tree, node, weight) votes."""
    c = list(zip(*nodes))
    v = list(zip(*votes))
    return helper.make_node(
        "TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, n_targets=1,
        nodes_treeids=list(c[0]), nodes_nodeids=list(c[1]), nodes_featureids=list(c[2]),
        nodes_values=list(c[3]), nodes_modes=list(c[4]), nodes_truenodeids=list(c[5]),
        nodes_falsenodeids=list(c[6]), target_treeids=list(v[0]), target_nodeids=list(v[1]),
        target_ids=[0] * len(votes), target_weights=list(v[2]), **extra)


def malformed():
    """Models the backend must refuse at load (or, for the last, at predict), by file name."""
    x, y = _float("X", [None, 2]), _float("Y", [None, 2])
    relu = helper.make_node("Relu", ["X"], ["Y"])
    external = _const("W", np.ones((2, 2), np.float32))
    external.data_location = TensorProto.EXTERNAL
    external.ClearField("raw_data")
    external.external_data.add(key="location", value="weights.bin")
    leaf = (0, 1, 0, 0.0, "LEAF", 0, 0)
    return {
        "undefined_value": _model([helper.make_node("Relu", ["nowhere"], ["Y"])], [x], [y]),
        "cycle": _model([helper.make_node("Add", ["X", "B"], ["A"]),
                         helper.make_node("Relu", ["A"], ["B"]),
                         helper.make_node("Identity", ["B"], ["Y"])], [x], [y]),
        "tree_missing_child": _model([_tree_node(
            [(0, 0, 0, 0.5, "BRANCH_LEQ", 1, 9), leaf], [(0, 1, 1.0)])], [x], [y]),
        "tree_vote_on_branch": _model([_tree_node(
            [(0, 0, 0, 0.5, "BRANCH_LEQ", 1, 1), leaf], [(0, 0, 1.0)])], [x], [y]),
        "double_input": _model([relu], [helper.make_tensor_value_info(
            "X", TensorProto.DOUBLE, [None, 2])], [y]),
        "unknown_domain": _model([helper.make_node("FusedGemm", ["X", "X"], ["Y"],
                                                   domain="com.microsoft")], [x], [y]),
        "two_unsupported": _model([helper.make_node("Conv", ["X", "X"], ["C"], name="conv"),
                                   helper.make_node("LSTM", ["C", "X", "X"], ["Y"],
                                                    name="lstm")], [x], [y]),
        "cast_to_string": _model([helper.make_node("Cast", ["X"], ["Y"], to=TensorProto.STRING)],
                                 [x], [y]),
        "empty_middle_input": _model([helper.make_node("Add", ["", "X"], ["Y"])], [x], [y]),
        "external_data": _model([helper.make_node("MatMul", ["X", "W"], ["Y"])], [x], [y],
                                [external]),
        # Loads; a request with 3 features fails inside MatMul (the input declares no width).
        "matmul_unknown_width": _model([helper.make_node("MatMul", ["X", "W"], ["Y"])],
                                       [_float("X", [None, None])], [y],
                                       [_const("W", np.ones((4, 2), np.float32))]),
    }
