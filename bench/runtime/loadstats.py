"""Reads the load generators' and the servers' figures for bench/runtime/compare*.sh.

    loadstats.py wrk OUTPUT                 -> "rps p50_ms p99_ms non_2xx"
    loadstats.py ghz REPORT.json            -> "rps p50_ms p99_ms non_ok"
    loadstats.py histogram BEFORE AFTER NAME Q
                                            -> the upper bound (ms) of the bucket holding quantile Q
                                               of histogram NAME over the window AFTER - BEFORE
                                               (every series of the family summed), or "-" when
                                               the window saw no observation
    loadstats.py request OIP_JSON_BODY MODEL
                                            -> the same request as a ModelInferRequest in
                                               protobuf's JSON mapping (ghz -D)

wrk's latencies are printed with units (us, ms, s); they come back in ms. ghz counts requests it
cut off itself at the deadline (Unavailable, "use of closed network connection" / canceled) as
errors; they are not the server's, so non_ok leaves them out and rps counts OK answers only.
"""
import json
import re
import sys


def wrk(path):
    text = open(path).read()

    def ms(value):
        m = re.fullmatch(r"([0-9.]+)(us|ms|s)", value)
        if not m:
            raise SystemExit(f"loadstats: wrk latency {value!r} has no unit")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (rps and p50 and p99):
        raise SystemExit(f"loadstats: {path} is not wrk --latency output")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    non2xx = int(bad.group(1)) if bad else 0
    if errors:
        non2xx += sum(int(n) for n in re.findall(r"\d+", errors.group(0)))
    print(f"{float(rps.group(1)):.0f} {ms(p50.group(1)):.3f} {ms(p99.group(1)):.3f} {non2xx}")


def ghz(path):
    report = json.load(open(path))
    codes = report.get("statusCodeDistribution") or {}
    cut_off = 0
    for message, n in (report.get("errorDistribution") or {}).items():
        if "use of closed network connection" in message or "context canceled" in message:
            cut_off += n
    ok = codes.get("OK", 0)
    non_ok = sum(codes.values()) - ok - cut_off
    seconds = report["total"] / 1e9
    lat = {d["percentage"]: d["latency"] / 1e6 for d in report.get("latencyDistribution") or []}
    if 50 not in lat or 99 not in lat:
        raise SystemExit(f"loadstats: {path} has no latency distribution (no answer?)")
    print(f"{ok / seconds:.0f} {lat[50]:.3f} {lat[99]:.3f} {non_ok}")


def buckets(path, name):
    out = {}
    pattern = re.compile(rf'^{re.escape(name)}_bucket\{{(.*)\}} (\S+)$')
    for line in open(path):
        m = pattern.match(line.strip())
        if not m:
            continue
        le = re.search(r'le="([^"]+)"', m.group(1)).group(1)
        bound = float("inf") if le == "+Inf" else float(le)
        out[bound] = out.get(bound, 0.0) + float(m.group(2))
    return out


def histogram(before, after, name, q):
    a = buckets(after, name)
    b = buckets(before, name)
    window = sorted((le, count - b.get(le, 0.0)) for le, count in a.items())
    if not window or window[-1][1] <= 0:
        print("-")
        return
    total = window[-1][1]
    le = next(le for le, c in window if c >= float(q) * total)
    print("inf" if le == float("inf") else f"{le * 1e3:g}")


def request(body_path, model):
    body = json.load(open(body_path))
    inputs = []
    for t in body["inputs"]:
        if t["datatype"] != "FP32":
            raise SystemExit("loadstats: only FP32 inputs are mapped")
        inputs.append({"name": t["name"], "datatype": "FP32", "shape": t["shape"],
                       "contents": {"fp32_contents": t["data"]}})
    print(json.dumps({"model_name": model, "inputs": inputs}))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"wrk": wrk, "ghz": ghz, "histogram": histogram, "request": request}[command](*args)
