"""Real OIP v2 gRPC clients, unchanged, through `kiln-runtime route` in front of two
`kiln-runtime serve`s: tritonclient.grpc and KServe's InferenceGRPCClient run the same checks as
against serve (grpc_clients_test.py: live, ready, model ready, server and model metadata, raw and
typed infer equal to the XGBoost Python package's predictions to 1e-5, NOT_FOUND,
INVALID_ARGUMENT), with the canary at weight 50 and a shadow mirrored at 100%.

    grpc_clients_through_route_test.py KILN_RUNTIME

Stable serves binary.json, canary and shadow binary.ubj (the same trees). The router's /metrics
then shows gRPC calls routed to both variants, canary and shadow comparisons that agree, and no
mismatch; grpc.health.v1 turns NOT_SERVING when SIGTERM starts the router's drain, and every
process exits 0. Exits 0 when every check passes.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import grpc_clients_test as clients  # noqa: E402


def port_of(log_path, process, message, timeout=60):
    """The port a JSON log line with msg `message` names."""
    pattern = re.compile(r'"msg":"' + re.escape(message) + r'"[,}].*?"port":(\d+)')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with open(log_path) as f:
            m = pattern.search(f.read())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    sys.exit(f"FAIL: no '{message}' port in the log:\n{open(log_path).read()}")


def start(runtime, args, log_path):
    with open(log_path, "w") as log:
        return subprocess.Popen([runtime, *args], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "KILN_LOG_FORMAT": "json"})


def serve(runtime, work, models, name, model_file):
    log_path = os.path.join(work, f"{name}.log")
    process = start(runtime, ["serve", "--model-name", clients.MODEL, "--model-uri",
                              os.path.join(models, model_file), "--host", "127.0.0.1",
                              "--port", "0", "--grpc-port", "0", "--drain-delay-seconds", "0"],
                    log_path)
    rest = port_of(log_path, process, "serving")
    grpc = port_of(log_path, process, "serving grpc")
    return process, rest, grpc


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def main(runtime):
    import make_models

    with tempfile.TemporaryDirectory() as work:
        models = os.path.join(work, "models")
        make_models.main(models)
        processes = []
        try:
            variants = {}
            for name, model in (("stable", "binary.json"), ("canary", "binary.ubj"),
                                ("shadow", "binary.ubj")):
                process, rest, grpc = serve(runtime, work, models, name, model)
                processes.append(process)
                variants[name] = {"url": f"http://127.0.0.1:{rest}",
                                  "grpcUrl": f"127.0.0.1:{grpc}"}
            variants["canary"]["weight"] = 50
            variants["shadow"]["mirrorPercent"] = 100
            config = os.path.join(work, "router.json")
            with open(config, "w") as f:
                json.dump({**variants, "stickyHeader": "x-request-key"}, f)
            route_log = os.path.join(work, "route.log")
            route = start(runtime, ["route", "--config", config, "--host", "127.0.0.1",
                                    "--port", "0", "--grpc-port", "0",
                                    "--drain-delay-seconds", "3"], route_log)
            processes.append(route)
            rest = port_of(route_log, route, "routing")
            url = f"127.0.0.1:{port_of(route_log, route, 'serving grpc')}"

            failed = []
            for client in ("triton", "kserve"):
                rc = subprocess.call([sys.executable, clients.__file__, "--client", client, url,
                                      models])
                if rc != 0:
                    failed.append(client)
            if failed:
                sys.exit(f"FAIL through route: {', '.join(failed)}")

            time.sleep(1)  # Background comparisons end well within it (they are local calls).
            text = urllib.request.urlopen(f"http://127.0.0.1:{rest}/metrics", timeout=10).read()
            text = text.decode()
            routed = {v: metric(text, f'kiln_router_grpc_requests_total{{variant="{v}",code="OK"}}')
                      for v in ("stable", "canary")}
            assert routed["stable"] > 0 and routed["canary"] > 0, routed
            for v in ("canary", "shadow"):
                agree = metric(text, f'kiln_router_comparisons_total{{variant="{v}",result="agree"}}')
                mismatch = metric(
                    text, f'kiln_router_comparisons_total{{variant="{v}",result="mismatch"}}')
                assert agree > 0 and mismatch == 0, (v, agree, mismatch)
            print(f"ok route: gRPC calls to stable and canary {routed}, comparisons agree")

            clients.check_drain(url, route)
            rc = route.wait(timeout=60)
            assert rc == 0, f"route exited {rc}:\n{open(route_log).read()}"
        finally:
            for p in processes:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in processes:
                p.wait(timeout=60)
    print("PASS: tritonclient.grpc and KServe's InferenceGRPCClient through kiln-runtime route")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
