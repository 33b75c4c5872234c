"""Trains the small models the runtime's tests and benchmarks serve, from datasets scikit-learn
ships, and writes reference predictions computed by the Python libraries themselves.

    make_models.py OUT_DIR

Writes to OUT_DIR:
  binary.json, binary.ubj      XGBoost binary:logistic, 100 trees, 20 features (breast cancer)
  multiclass.json              XGBoost multi:softprob, 3 classes, 4 features (iris)
  regression.json              XGBoost reg:squarederror, 10 features (diabetes)
  breast_cancer.csv            the 20 features plus a "label" column, with a header
  diabetes.csv                 the 10 features plus a "target" column
  reference.json               {"<model>": {"rows": [[...]], "predict": [...]}} from xgboost
"""
import json
import os
import sys

import numpy as np
import xgboost as xgb
from sklearn import datasets


def write_csv(path, X, y, label):
    header = ",".join([f"f{i}" for i in range(X.shape[1])] + [label])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="",
               fmt="%.10g")


def main(out):
    os.makedirs(out, exist_ok=True)
    reference = {}

    X, y = datasets.load_breast_cancer(return_X_y=True)
    X = X[:, :20].astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "seed": 7},
                        xgb.DMatrix(X, label=y), num_boost_round=100)
    booster.save_model(os.path.join(out, "binary.json"))
    booster.save_model(os.path.join(out, "binary.ubj"))
    rows = X[:40].copy()
    rows[3, 5] = np.nan  # one missing value: follows each tree's default branch
    reference["binary"] = {"rows": np.nan_to_num(rows, nan=-1e30).tolist(),
                           "missing": [[3, 5]],
                           "predict": booster.inplace_predict(rows).tolist()}
    write_csv(os.path.join(out, "breast_cancer.csv"), X, y, "label")

    X, y = datasets.load_iris(return_X_y=True)
    X = X.astype(np.float32)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3,
                         "seed": 7}, xgb.DMatrix(X, label=y), num_boost_round=10)
    booster.save_model(os.path.join(out, "multiclass.json"))
    reference["multiclass"] = {"rows": X[::10].tolist(), "missing": [],
                               "predict": booster.inplace_predict(X[::10]).tolist()}

    X, y = datasets.load_diabetes(return_X_y=True)
    X = X.astype(np.float32)
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 3, "seed": 7},
                        xgb.DMatrix(X, label=y), num_boost_round=30)
    booster.save_model(os.path.join(out, "regression.json"))
    reference["regression"] = {"rows": X[:25].tolist(), "missing": [],
                               "predict": booster.inplace_predict(X[:25]).tolist()}
    write_csv(os.path.join(out, "diabetes.csv"), X, y, "target")

    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    main(sys.argv[1])
