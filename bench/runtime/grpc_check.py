"""One OIP v2 gRPC ModelInfer through KServe's generated stubs (package inference, the same
service every server in bench/runtime/compare.sh speaks); exits 1 unless the answer carries an
output with one value. Run with the KServe peer's venv (grpcio, kserve).

    python grpc_check.py HOST:PORT MODEL BODY.json      (BODY: the OIP REST JSON request)
"""
import json
import sys

import grpc
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

target, model, body_path = sys.argv[1:4]
body = json.load(open(body_path))
request = pb.ModelInferRequest(model_name=model)
for t in body["inputs"]:
    tensor = request.inputs.add(name=t["name"], datatype=t["datatype"], shape=t["shape"])
    tensor.contents.fp32_contents.extend(t["data"])
with grpc.insecure_channel(target) as channel:
    reply = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
values = len(reply.raw_output_contents[0]) // 4 if reply.raw_output_contents else (
    len(reply.outputs[0].contents.fp32_contents) if reply.outputs else 0)
if not reply.outputs or values != 1:
    sys.exit(f"grpc_check: {target} answered without one output value: {reply}")
