"""Real OIP v2 gRPC clients, unchanged, against a real `kiln-runtime serve`: NVIDIA's
tritonclient.grpc and KServe's InferenceGRPCClient (with KServe's generated stub for the
metadata calls its client does not wrap).

    grpc_clients_test.py KILN_RUNTIME

Trains the test models (make_models.py), starts serve on free ports (--port 0 --grpc-port 0,
ports read from its JSON log), and runs each client in its own Python process: both packages
register the same `inference.*` protobuf messages, which one descriptor pool cannot hold twice.
Checks live, ready, model ready, server and model metadata, and infer with FP32 inputs (raw
contents, tritonclient's default, and typed contents) whose outputs equal the XGBoost Python
package's predictions to 1e-5; an unknown model is NOT_FOUND and a wrong shape INVALID_ARGUMENT;
grpc.health.v1 turns NOT_SERVING when SIGTERM starts the drain, and serve exits 0.
Exits 0 when every check passes.
"""
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = "cancer"
TOLERANCE = 1e-5


def reference(models):
    """The fixture rows (NaN restored) and the XGBoost Python package's predictions on them."""
    import xgboost as xgb

    ref = json.load(open(os.path.join(models, "reference.json")))["binary"]
    rows = np.array(ref["rows"], dtype=np.float32)
    for r, c in ref["missing"]:
        rows[r, c] = np.nan
    booster = xgb.Booster()
    booster.load_model(os.path.join(models, "binary.json"))
    return rows, booster.inplace_predict(rows)


def check_close(got, want, what):
    got = np.asarray(got, dtype=np.float64).ravel()
    want = np.asarray(want, dtype=np.float64).ravel()
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    worst = float(np.max(np.abs(got - want)))
    assert worst <= TOLERANCE, f"{what}: differs from xgboost by {worst}"
    print(f"ok {what}: {got.size} predictions within {worst:.2g} of xgboost")


def run_triton(url, models):
    import tritonclient.grpc as tg
    from tritonclient.utils import InferenceServerException

    rows, want = reference(models)
    client = tg.InferenceServerClient(url)
    assert client.is_server_live(), "tritonclient: not live"
    assert client.is_server_ready(), "tritonclient: not ready"
    assert client.is_model_ready(MODEL), "tritonclient: model not ready"
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "kiln-runtime", server
    assert server["version"], server
    model = client.get_model_metadata(MODEL, as_json=True)
    assert model["name"] == MODEL and model["platform"] == "xgboost", model
    assert model["inputs"][0]["datatype"] == "FP32", model
    assert [int(d) for d in model["inputs"][0]["shape"]] == [-1, rows.shape[1]], model
    print("ok tritonclient: live, ready, model ready, server and model metadata")

    infer_input = tg.InferInput("input", list(rows.shape), "FP32")
    infer_input.set_data_from_numpy(rows)  # raw_input_contents
    result = client.infer(MODEL, [infer_input], request_id="r-1")
    assert result.get_response().id == "r-1", result.get_response()
    check_close(result.as_numpy("predict"), want, "tritonclient infer (raw)")
    result = client.infer(MODEL, [infer_input], outputs=[tg.InferRequestedOutput("predict")])
    check_close(result.as_numpy("predict"), want, "tritonclient infer (requested output)")

    def status_of(call):
        try:
            call()
        except InferenceServerException as e:
            return e.status(), e.message()
        raise AssertionError("the call succeeded")

    code, _ = status_of(lambda: client.infer("nope", [infer_input]))
    assert code == "StatusCode.NOT_FOUND", code
    bad = tg.InferInput("input", [rows.shape[0], 7], "FP32")
    bad.set_data_from_numpy(rows[:, :7].copy())
    code, message = status_of(lambda: client.infer(MODEL, [bad]))
    assert code == "StatusCode.INVALID_ARGUMENT", (code, message)
    print("ok tritonclient: unknown model NOT_FOUND, wrong feature count INVALID_ARGUMENT")


async def kserve_checks(url, models):
    import grpc
    from kserve import InferenceGRPCClient, InferInput, InferRequest
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

    rows, want = reference(models)
    client = InferenceGRPCClient(url, retries=0)
    assert await client.is_server_live(), "kserve: not live"
    assert await client.is_server_ready(), "kserve: not ready"
    assert await client.is_model_ready(MODEL), "kserve: model not ready"
    async with grpc.aio.insecure_channel(url) as channel:
        stub = GRPCInferenceServiceStub(channel)
        server = await stub.ServerMetadata(pb.ServerMetadataRequest())
        assert server.name == "kiln-runtime", server
        model = await stub.ModelMetadata(pb.ModelMetadataRequest(name=MODEL))
        assert model.platform == "xgboost" and list(model.versions) == ["1"], model
        assert list(model.inputs[0].shape) == [-1, rows.shape[1]], model
    print("ok kserve: live, ready, model ready, server and model metadata")

    for binary in (True, False):
        infer_input = InferInput("input", list(rows.shape), "FP32")
        infer_input.set_data_from_numpy(rows, binary_data=binary)
        response = await client.infer(InferRequest(MODEL, [infer_input], request_id="k-1"))
        assert response.id == "k-1", response.id
        check_close(response.outputs[0].as_numpy(), want,
                    f"kserve infer ({'raw' if binary else 'typed'})")
    try:
        infer_input = InferInput("input", list(rows.shape), "FP32")
        infer_input.set_data_from_numpy(rows)
        await client.infer(InferRequest("nope", [infer_input]))
        raise AssertionError("kserve: an unknown model was answered")
    except grpc.aio.AioRpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()
    await client.close()
    print("ok kserve: unknown model NOT_FOUND")


def health_status(url):
    """grpc.health.v1.Health/Check for "" with grpcio's generic call: the request is an empty
    HealthCheckRequest, the answer's field 1 the status (1 SERVING, 2 NOT_SERVING)."""
    import grpc

    with grpc.insecure_channel(url) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        answer = check(b"", timeout=10)
    return {b"": "UNKNOWN", b"\x08\x01": "SERVING", b"\x08\x02": "NOT_SERVING"}.get(answer, answer)


def check_drain(url, serve):
    """SIGTERM: health turns NOT_SERVING during the drain delay; serve then exits 0."""
    assert health_status(url) == "SERVING", health_status(url)
    serve.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 2.5
    status = None
    while time.monotonic() < deadline:
        status = health_status(url)
        if status == "NOT_SERVING":
            break
        time.sleep(0.05)
    assert status == "NOT_SERVING", f"health during the drain: {status}"
    print("ok health: SERVING, then NOT_SERVING once the drain starts")


def grpc_port_of(log_path, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with open(log_path) as f:
            m = re.search(r'"msg":"serving grpc".*"port":(\d+)', f.read())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    sys.exit(f"FAIL: serve logged no gRPC port:\n{open(log_path).read()}")


def main(runtime):
    sys.path.insert(0, HERE)
    import make_models

    with tempfile.TemporaryDirectory() as work:
        models = os.path.join(work, "models")
        make_models.main(models)
        log_path = os.path.join(work, "serve.log")
        with open(log_path, "w") as log:
            serve = subprocess.Popen(
                [runtime, "serve", "--model-name", MODEL, "--model-uri",
                 os.path.join(models, "binary.json"), "--host", "127.0.0.1", "--port", "0",
                 "--grpc-port", "0", "--drain-delay-seconds", "3"],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "KILN_LOG_FORMAT": "json"})
        try:
            url = f"127.0.0.1:{grpc_port_of(log_path, serve)}"
            failed = []
            for client in ("triton", "kserve"):
                rc = subprocess.call([sys.executable, __file__, "--client", client, url, models])
                if rc != 0:
                    failed.append(client)
            check_drain(url, serve)
        finally:
            serve.send_signal(signal.SIGTERM)
            rc = serve.wait(timeout=60)
        assert rc == 0, f"serve exited {rc}:\n{open(log_path).read()}"
        if failed:
            sys.exit(f"FAIL: {', '.join(failed)}")
    print("PASS: tritonclient.grpc and KServe's InferenceGRPCClient against kiln-runtime serve")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        _, _, which, url, models = sys.argv
        if which == "triton":
            run_triton(url, models)
        else:
            asyncio.run(kserve_checks(url, models))
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__)
