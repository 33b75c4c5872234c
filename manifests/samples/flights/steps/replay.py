"""replay: sends one month of flights (features/month-MM.csv, label dropped) to a ModelDeployment
as Open Inference Protocol v2 requests of BATCH rows, the way live traffic would arrive, and
reports how many rows were answered and the share predicted delayed."""
import csv
import json
import os
import sys
import urllib.error
import urllib.request

from common import WORKSPACE, write_outputs

LABEL = "arr_delayed"


def batches(path, size):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        features = [c for c in reader.fieldnames if c != LABEL]
        rows = []
        for record in reader:
            # Missing weather readings travel as NaN, which the model treats as missing.
            rows.append([float(record[c]) if record[c] != "" else float("nan") for c in features])
            if len(rows) == size:
                yield features, rows
                rows = []
        if rows:
            yield features, rows


def infer(url, features, rows):
    body = {"inputs": [{"name": "input-0", "shape": [len(rows), len(features)],
                        "datatype": "FP32", "data": [v for row in rows for v in row]}]}
    data = json.dumps(body).replace("NaN", "null").encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["outputs"][0]["data"]


def main():
    month = int(os.environ.get("MONTH", "7"))
    limit = int(os.environ.get("ROWS", "5000"))
    size = int(os.environ.get("BATCH", "100"))
    url = os.environ["MODEL_URL"].rstrip("/") + "/infer"
    answered = delayed = failed = 0
    for features, rows in batches(WORKSPACE / "features" / f"month-{month:02d}.csv", size):
        if answered + failed >= limit:
            break
        try:
            scores = infer(url, features, rows)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as e:
            print("request failed:", e, file=sys.stderr)
            failed += len(rows)
            continue
        answered += len(scores)
        delayed += sum(1 for s in scores if s > 0.5)
    if answered == 0:
        sys.exit("no request was answered")
    write_outputs(answered=answered, failed=failed, predictedDelayedShare=round(delayed / answered, 4))


if __name__ == "__main__":
    main()
