"""Real OIP v2 REST clients, unchanged, against a real `kiln-runtime serve`: NVIDIA's
tritonclient.http and KServe's InferenceRESTClient (v2 protocol).

    rest_clients_test.py KILN_RUNTIME

Trains an XGBoost binary:logistic model with the xgboost Python package into a temporary
directory, starts serve on a free port (--port 0, read from its JSON log; gRPC off), and checks:
  tritonclient.http  live, ready, model ready, server metadata (with the binary_tensor_data
                     extension), model metadata; infer with inputs as binary data (the default of
                     set_data_from_numpy) and as JSON (NaN written as the bare token NaN, which
                     serve reads as Python's json does), each with outputs not named (the client asks for
                     binary_data_output), named as binary, and named as JSON; an input of the
                     wrong width is refused with the feature count named.
  KServe REST        live, ready, model ready; infer with binary and JSON inputs, binary and JSON
                     outputs. (Its REST client has no metadata calls.)
Every prediction equals xgboost's own (Booster.inplace_predict) to 1e-5, NaN rows included.
Exits 0 when every check passes.
"""
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

MODEL = "cancer"
FEATURES = 8
TOLERANCE = 1e-5


def train(directory):
    """A model trained here, its rows (some values missing) and xgboost's predictions."""
    import xgboost as xgb

    rng = np.random.RandomState(7)
    x = rng.normal(size=(400, FEATURES)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] * x[:, 3] > 0).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "seed": 7},
                        xgb.DMatrix(x, label=y), num_boost_round=30)
    path = os.path.join(directory, "model.json")
    booster.save_model(path)
    rows = rng.normal(size=(17, FEATURES)).astype(np.float32)
    rows[2, 1] = np.nan
    rows[5, :] = np.nan
    return path, rows, booster.inplace_predict(rows)


def start_serve(runtime, model_path, log_path):
    env = dict(os.environ, KILN_LOG_FORMAT="json")
    log = open(log_path, "w")
    proc = subprocess.Popen([runtime, "serve", "--model-name", MODEL, "--model-uri", model_path,
                             "--format", "xgboost", "--model-version", "1", "--host", "127.0.0.1",
                             "--port", "0", "--grpc-port", "-1"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        for line in open(log_path):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "serving" and "port" in entry:
                return proc, int(entry["port"])
        time.sleep(0.05)
    proc.kill()
    sys.exit("FAIL: serve did not log its port:\n" + open(log_path).read())


def check_close(got, want, what):
    got = np.asarray(got, dtype=np.float64).ravel()
    want = np.asarray(want, dtype=np.float64).ravel()
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    worst = float(np.max(np.abs(got - want)))
    assert worst <= TOLERANCE, f"{what}: differs from xgboost by {worst}"
    print(f"ok {what}: {got.size} predictions within {worst:.2g} of xgboost")


def run_triton(port, rows, want):
    import tritonclient.http as th
    from tritonclient.utils import InferenceServerException

    client = th.InferenceServerClient(f"127.0.0.1:{port}")
    assert client.is_server_live(), "tritonclient: not live"
    assert client.is_server_ready(), "tritonclient: not ready"
    assert client.is_model_ready(MODEL), "tritonclient: model not ready"
    server = client.get_server_metadata()
    assert server["name"] == "kiln-runtime", server
    assert "binary_tensor_data" in server["extensions"], server
    model = client.get_model_metadata(MODEL)
    assert model["name"] == MODEL and model["platform"] == "xgboost", model
    assert model["inputs"][0]["shape"] == [-1, FEATURES], model
    print("ok tritonclient.http: live, ready, model ready, server and model metadata")

    # tritonclient writes a NaN of a JSON input as the bare token NaN (Python's json), which
    # serve reads as a missing value, as xgboost does.
    for binary_input in (True, False):
        infer_input = th.InferInput("input", list(rows.shape), "FP32")
        infer_input.set_data_from_numpy(rows, binary_data=binary_input)
        for outputs, what in ((None, "outputs not named (binary_data_output)"),
                              ([th.InferRequestedOutput("predict", binary_data=True)],
                               "output named as binary"),
                              ([th.InferRequestedOutput("predict", binary_data=False)],
                               "output named as JSON")):
            result = client.infer(MODEL, [infer_input], outputs=outputs, request_id="t-1")
            assert result.get_response()["id"] == "t-1", result.get_response()
            check_close(result.as_numpy("predict"), want,
                        f"tritonclient.http, input {'binary' if binary_input else 'JSON'}, {what}")

    narrow = th.InferInput("input", [1, FEATURES - 1], "FP32")
    narrow.set_data_from_numpy(rows[:1, : FEATURES - 1])
    try:
        client.infer(MODEL, [narrow])
        raise AssertionError("tritonclient.http: a row of the wrong width was answered")
    except InferenceServerException as e:
        assert f"{FEATURES} features" in str(e), str(e)
        print(f"ok tritonclient.http: the wrong width is refused ({e})")
    client.close()


async def run_kserve(port, rows, want):
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
    from kserve.protocol.infer_type import RequestedOutput

    base = f"http://127.0.0.1:{port}"
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    assert await client.is_server_live(base), "kserve: not live"
    assert await client.is_server_ready(base), "kserve: not ready"
    assert await client.is_model_ready(base, MODEL), "kserve: model not ready"
    print("ok kserve InferenceRESTClient: live, ready, model ready")
    for binary_input in (True, False):
        for binary_output in (True, False):
            infer_input = InferInput("input", list(rows.shape), "FP32")
            infer_input.set_data_from_numpy(rows, binary_data=binary_input)
            request = InferRequest(
                MODEL, [infer_input], request_id="k-1",
                request_outputs=[RequestedOutput("predict", {"binary_data": binary_output})])
            response = await client.infer(base, request, model_name=MODEL)
            assert response.id == "k-1", response.id
            check_close(response.outputs[0].as_numpy(), want,
                        f"kserve InferenceRESTClient, input {'binary' if binary_input else 'JSON'}"
                        f", output {'binary' if binary_output else 'JSON'}")
    await client.close()


def main():
    runtime = sys.argv[1]
    with tempfile.TemporaryDirectory() as directory:
        model_path, rows, want = train(directory)
        log_path = os.path.join(directory, "serve.log")
        proc, port = start_serve(runtime, model_path, log_path)
        try:
            run_triton(port, rows, want)
            asyncio.run(run_kserve(port, rows, want))
        except BaseException:
            print(open(log_path).read(), file=sys.stderr)
            raise
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print("PASS: tritonclient.http and KServe's REST client agree with xgboost")


if __name__ == "__main__":
    main()
