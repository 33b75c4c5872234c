"""Times onnxruntime's InferenceSession.run (one intra-op thread, CPU) on the models and rows of
the ONNX backend's benchmark, and prints each next to kiln's time from the Google Benchmark JSON.

    onnxruntime_predict.py MODEL_DIR KILN_BENCH_JSON

MODEL_DIR holds the files and reference.json that tests/runtime/onnx/make_onnx_models.py wrote.
onnxruntime's time is the median over 5 repeats of the mean of a timed loop, measured in this
process (so it includes the Python binding's per-call cost, and for ZipMap outputs building the
Python dicts); kiln's is the median of its repetitions (real time).
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

MODELS = ["logreg_cancer", "forest_cancer", "gboost_cancer", "mlp_cancer", "forest_diabetes"]


def time_run(session, feeds, seconds=0.3):
    for _ in range(50):
        session.run(None, feeds)
    means = []
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5:
            for _ in range(20):
                session.run(None, feeds)
            n += 20
        means.append((time.perf_counter() - start) / n)
    return statistics.median(means)


def kiln_times(path):
    with open(path) as f:
        doc = json.load(f)
    out = {}
    for b in doc["benchmarks"]:
        if b.get("aggregate_name", "median") != "median":
            continue
        name = b["run_name"] if "run_name" in b else b["name"]
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3}[b["time_unit"]]
        out[name] = b["real_time"] * scale
    return out


def main(model_dir, bench_json):
    with open(os.path.join(model_dir, "reference.json")) as f:
        reference = json.load(f)
    kiln = kiln_times(bench_json)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    print(f"{'model':<18}{'rows':>5}{'kiln':>12}{'onnxruntime':>14}{'ratio':>8}")
    for model in MODELS:
        session = ort.InferenceSession(os.path.join(model_dir, reference[model]["file"]),
                                       options, providers=["CPUExecutionProvider"])
        rows = np.asarray(reference[model]["rows"], dtype=np.float32)
        for n in (1, 100):
            batch = np.resize(rows, (n, rows.shape[1])).astype(np.float32)
            theirs = time_run(session, {"X": batch})
            ours = kiln.get(f"BM_OnnxPredict/{model}/{n}")
            if ours is None:
                continue
            print(f"{model:<18}{n:>5}{ours * 1e6:>10.2f}us{theirs * 1e6:>12.2f}us"
                  f"{theirs / ours:>7.1f}x")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
