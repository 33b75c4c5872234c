"""Real OIP v2 REST clients, unchanged, through `kiln-runtime route` in front of `kiln-runtime
serve`s: tritonclient.http and KServe's InferenceRESTClient run the same checks as against serve
(rest_clients_test.py: live, ready, model ready, metadata, infer with binary and JSON inputs and
outputs, predictions equal to the xgboost package's to 1e-5), with a canary at weight 50 and a
shadow mirrored at 100%, all three serving the same model.

    rest_clients_through_route_test.py KILN_RUNTIME

The router's /metrics then shows requests routed to both variants and canary and shadow
comparisons that agree with no mismatch: answers with binary outputs (tritonclient's default asks
for them) are compared as their JSON would be, not counted as unreadable. Exits 0 when every
check passes.
"""
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rest_clients_test as clients  # noqa: E402


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def start_route(runtime, config, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen([runtime, "route", "--config", config, "--host", "127.0.0.1",
                             "--port", "0", "--grpc-port", "-1", "--drain-delay-seconds", "0"],
                            stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, KILN_LOG_FORMAT="json"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        for line in open(log_path):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "routing" and "port" in entry:
                return proc, int(entry["port"])
        time.sleep(0.05)
    proc.kill()
    sys.exit("FAIL: route did not log its port:\n" + open(log_path).read())


def main():
    runtime = sys.argv[1]
    with tempfile.TemporaryDirectory() as directory:
        model_path, rows, want = clients.train(directory)
        processes, logs, config = [], [], {}
        try:
            for name in ("stable", "canary", "shadow"):
                log_path = os.path.join(directory, f"{name}.log")
                proc, port = clients.start_serve(runtime, model_path, log_path)
                processes.append(proc)
                logs.append(log_path)
                config[name] = {"url": f"http://127.0.0.1:{port}"}
            config["canary"]["weight"] = 50
            config["shadow"]["mirrorPercent"] = 100
            config["stickyHeader"] = "x-request-key"
            config_path = os.path.join(directory, "router.json")
            with open(config_path, "w") as f:
                json.dump(config, f)
            route_log = os.path.join(directory, "route.log")
            route, port = start_route(runtime, config_path, route_log)
            processes.append(route)
            logs.append(route_log)

            clients.run_triton(port, rows, want)
            asyncio.run(clients.run_kserve(port, rows, want))

            time.sleep(1)  # Background comparisons are local calls; they end well within it.
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                          timeout=10).read().decode()
            routed = {v: metric(text, f'kiln_router_requests_total{{variant="{v}",code="200"}}')
                      for v in ("stable", "canary")}
            assert routed["stable"] > 0 and routed["canary"] > 0, routed
            for v in ("canary", "shadow"):
                counts = {r: metric(text, f'kiln_router_comparisons_total{{variant="{v}",'
                                          f'result="{r}"}}')
                          for r in ("agree", "disagree", "mismatch", "error")}
                assert counts["agree"] > 0, (v, counts)
                assert counts["mismatch"] == 0 and counts["error"] == 0, (v, counts)
                assert counts["disagree"] == 0, (v, counts)  # The same model on every side.
            print(f"ok route: requests to stable and canary {routed}, every comparison agrees")
        except BaseException:
            for log_path in logs:
                print(f"--- {os.path.basename(log_path)}\n{open(log_path).read()}", file=sys.stderr)
            raise
        finally:
            for proc in processes:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in processes:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print("PASS: tritonclient.http and KServe's REST client through kiln-runtime route")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main()
