#!/usr/bin/env python3
"""Times Evidently's data-drift report (DataDriftPreset, automatic tests) on the dataset that
kiln-bench-drift dumped (KILN_DRIFT_BENCH_DUMP), restricted to the first ROWS rows of each side.
Prints one JSON line: {"rows", "features", "seconds", "drifted_features"}.

Usage: evidently_bench.py DUMP_DIR ROWS
"""
import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
from evidently.legacy.metric_preset import DataDriftPreset  # noqa: E402
from evidently.legacy.pipeline.column_mapping import ColumnMapping  # noqa: E402
from evidently.legacy.report import Report  # noqa: E402


def load(d, side, meta, rows):
    cols = {}
    names = np.array([f"v{k}" for k in range(meta["categories"])], dtype=object)
    for j in range(meta["numerical"]):
        cols[f"num{j}"] = np.fromfile(os.path.join(d, f"{side}_num{j}.bin"), np.float64,
                                      count=rows)
    for j in range(meta["categorical"]):
        codes = np.fromfile(os.path.join(d, f"{side}_cat{j}.bin"), np.int32, count=rows)
        cols[f"cat{j}"] = names[codes]
    return pd.DataFrame(cols)


def main(d, rows):
    meta = json.load(open(os.path.join(d, "meta.json")))
    ref, cur = load(d, "reference", meta, rows), load(d, "current", meta, rows)
    mapping = ColumnMapping(
        numerical_features=[f"num{j}" for j in range(meta["numerical"])],
        categorical_features=[f"cat{j}" for j in range(meta["categorical"])],
        target=None, prediction=None)
    start = time.perf_counter()
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=ref, current_data=cur, column_mapping=mapping)
    result = report.as_dict()
    seconds = time.perf_counter() - start
    drifted = result["metrics"][0]["result"]["number_of_drifted_columns"]
    print(json.dumps({"rows": rows, "features": ref.shape[1], "seconds": seconds,
                      "drifted_features": drifted}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
