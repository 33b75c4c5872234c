"""Trains scikit-learn models on datasets scikit-learn ships (offline), converts them to ONNX with
skl2onnx and writes onnxruntime's outputs on test rows, for the ONNX backend's tests.

    make_onnx_models.py OUT_DIR

Writes to OUT_DIR:
  <model>.onnx        one file per entry of MODELS below
  <graph>.onnx        one file per entry of operator_graphs.GRAPHS (hand-built operator tests,
                      run through onnxruntime) and REFERENCE_GRAPHS (run through the ONNX
                      reference evaluator, onnx.reference)
  unsupported.onnx    a one-node Conv graph (an operator the backend does not evaluate)
  malformed_<name>.onnx  graphs the backend must refuse (operator_graphs.malformed)
  reference.json      {"<model>": {"file", "rows"?: [[...]], "inputs": {"<name>": T},
                      "outputs": {"<name>": T}}} where T is {"type": "float" | "int64" | "string",
                      "shape", "data"} with data flat row-major and NaN written as null; a ZipMap
                      output (a list of {class: probability} maps) is written as [rows, classes]
                      in map order, with "type": "zipmap" and its "keys"
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx.reference import ReferenceEvaluator
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn import datasets
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

sys.dont_write_bytecode = True  # No __pycache__ in the source tree for the import below.
from operator_graphs import GRAPHS, REFERENCE_GRAPHS, malformed  # noqa: E402


def ints_not_bools():
    """skl2onnx 1.17 writes nodes_missing_value_tracks_true as Python bools, which protobuf >= 5
    refuses in a repeated int field; hand onnx.helper ints instead."""
    make_attribute = helper.make_attribute

    def patched(key, value, *args, **kwargs):
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, (bool, np.bool_)) for v in value):
            value = [int(v) for v in value]
        return make_attribute(key, value, *args, **kwargs)

    helper.make_attribute = patched


def cancer():
    X, y = datasets.load_breast_cancer(return_X_y=True)
    return X.astype(np.float32), y


def iris():
    X, y = datasets.load_iris(return_X_y=True)
    return X.astype(np.float32), y


def iris_named():
    X, y = iris()
    return X, np.array(datasets.load_iris().target_names)[y]


def diabetes():
    X, y = datasets.load_diabetes(return_X_y=True)
    return X.astype(np.float32), y


# name: (dataset, estimator factory, skl2onnx options)
MODELS = {
    "logreg_cancer": (cancer, lambda: make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000)), None),
    "logreg_cancer_nozipmap": (cancer, lambda: make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000)), {"zipmap": False}),
    "logreg_iris": (iris, lambda: LogisticRegression(max_iter=1000), None),
    "forest_cancer": (cancer, lambda: RandomForestClassifier(
        n_estimators=30, max_depth=6, random_state=7), None),
    "forest_iris_nozipmap": (iris, lambda: RandomForestClassifier(
        n_estimators=20, max_depth=5, random_state=7), {"zipmap": False}),
    "gboost_cancer": (cancer, lambda: GradientBoostingClassifier(
        n_estimators=40, max_depth=3, random_state=7), None),
    "gboost_iris_nozipmap": (iris, lambda: GradientBoostingClassifier(
        n_estimators=20, max_depth=3, random_state=7), {"zipmap": False}),
    "mlp_cancer": (cancer, lambda: make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(16, 8), max_iter=500, random_state=7)), None),
    "mlp_iris_nozipmap": (iris, lambda: make_pipeline(Normalizer(), MLPClassifier(
        hidden_layer_sizes=(10,), activation="tanh", max_iter=2000, random_state=7)),
        {"zipmap": False}),
    "logreg_iris_labels": (iris_named, lambda: LogisticRegression(max_iter=1000), None),
    "forest_iris_labels_nozipmap": (iris_named, lambda: RandomForestClassifier(
        n_estimators=10, max_depth=4, random_state=7), {"zipmap": False}),
    "linear_diabetes": (diabetes, lambda: LinearRegression(), None),
    "forest_diabetes": (diabetes, lambda: RandomForestRegressor(
        n_estimators=20, max_depth=6, random_state=7), None),
    "gboost_diabetes": (diabetes, lambda: GradientBoostingRegressor(
        n_estimators=40, max_depth=3, random_state=7), None),
}


def encode(value):
    value = np.asarray(value)
    kind = "string" if value.dtype.kind in "OU" else (
        "int64" if value.dtype.kind in "iu" else "float")
    data = value.reshape(-1).tolist()
    if kind == "float":
        data = [None if np.isnan(v) else v for v in data]
    return {"type": kind, "shape": list(value.shape), "data": data}


def reference_outputs(session, feeds):
    names = [o.name for o in session.get_outputs()]
    out = {}
    for name, value in zip(names, session.run(None, feeds)):
        if isinstance(value, list):  # ZipMap: a list of {label: probability}
            keys = list(value[0].keys())
            data = [float(m[k]) for m in value for k in keys]
            out[name] = {"type": "zipmap", "shape": [len(value), len(keys)], "data": data,
                         "keys": [k if isinstance(k, str) else int(k) for k in keys]}
        else:
            out[name] = encode(value)
    return out


def run_case(out, name, model_bytes, feeds):
    path = os.path.join(out, name + ".onnx")
    with open(path, "wb") as f:
        f.write(model_bytes)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return {"file": name + ".onnx", "inputs": {k: encode(v) for k, v in feeds.items()},
            "outputs": reference_outputs(session, feeds)}


def unsupported_model(path):
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 1, 3, 3])
    w = helper.make_tensor("W", TensorProto.FLOAT, [1, 1, 2, 2], [1.0, 0.0, 0.0, 1.0])
    node = helper.make_node("Conv", ["X", "W"], ["Y"], name="conv_1")
    graph = helper.make_graph([node], "conv", [x], [y], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def main(out):
    os.makedirs(out, exist_ok=True)
    ints_not_bools()
    reference = {}
    for name, (dataset, make, options) in MODELS.items():
        X, y = dataset()
        model = make().fit(X, y)
        onx = to_onnx(model, X[:1], options=options, target_opset={"": 15, "ai.onnx.ml": 3})
        rows = X[::max(1, len(X) // 40)][:40]
        reference[name] = run_case(out, name, onx.SerializeToString(), {"X": rows})
        reference[name]["rows"] = rows.tolist()
    for name, build in GRAPHS.items():
        model, feeds = build(np.random.default_rng(7))
        onnx.checker.check_model(model)
        reference[name] = run_case(out, name, model.SerializeToString(), feeds)
    for name, build in REFERENCE_GRAPHS.items():
        model, feeds = build(np.random.default_rng(7))
        onnx.checker.check_model(model)
        with open(os.path.join(out, name + ".onnx"), "wb") as f:
            f.write(model.SerializeToString())
        values = ReferenceEvaluator(model).run(None, feeds)
        reference[name] = {"file": name + ".onnx",
                           "inputs": {k: encode(v) for k, v in feeds.items()},
                           "outputs": {o.name: encode(v)
                                       for o, v in zip(model.graph.output, values)}}
    unsupported_model(os.path.join(out, "unsupported.onnx"))
    for name, model in malformed().items():
        with open(os.path.join(out, "malformed_" + name + ".onnx"), "wb") as f:
            f.write(model.SerializeToString())
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    main(sys.argv[1])
