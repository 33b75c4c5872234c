#!/usr/bin/env python3
"""Writes the seed corpora of the binary-extension, router-answer and gRPC-request fuzz targets.

    python3 make_seeds.py        # from this folder; rewrites corpus/fuzz_oip_binary,
                                 # corpus/fuzz_router_answer and corpus/fuzz_grpc_request (the
                                 # committed seeds; the gRPC ones need the test virtualenv's
                                 # tritonclient, whose service_pb2 holds the same inference.*
                                 # messages, and are skipped without it)

A binary seed is 4 bytes (little-endian: the JSON part's length) and then the body, as
fuzz_oip_binary.cc reads it. The regression inputs the fuzzers found are committed beside the
seeds (named regress-*) and are not written here.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def binary_seed(header, binary):
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<I", len(text)) + text + binary


def strings(values):
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def binary_seeds():
    row = struct.pack("<4f", 1.0, 2.5, -3.0, float("nan"))
    yield "fp32", binary_seed({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32",
                                           "parameters": {"binary_data_size": 16}}]}, row)
    yield "fp16", binary_seed({"inputs": [{"name": "h", "shape": [3], "datatype": "FP16",
                                           "parameters": {"binary_data_size": 6}}]},
                              struct.pack("<3H", 0x3C00, 0x7BFF, 0x0001))
    yield "fp64_int8", binary_seed(
        {"inputs": [{"name": "d", "shape": [2], "datatype": "FP64",
                     "parameters": {"binary_data_size": 16}},
                    {"name": "i", "shape": [2, 2], "datatype": "INT8",
                     "parameters": {"binary_data_size": 4}}]},
        struct.pack("<2d", 0.1, -1e300) + bytes([0x80, 0x7F, 0, 1]))
    yield "ints", binary_seed(
        {"inputs": [{"name": n, "shape": [2], "datatype": t,
                     "parameters": {"binary_data_size": 2 * s}}
                    for n, t, s in [("a", "UINT16", 2), ("b", "INT32", 4), ("c", "UINT32", 4),
                                    ("d", "INT64", 8), ("e", "UINT64", 8)]]},
        b"\xff\xff\x01\x00" + struct.pack("<2i", -1, 7) + struct.pack("<2I", 2**32 - 1, 0)
        + struct.pack("<2q", -2**63, 2**63 - 1) + struct.pack("<2Q", 2**63 - 1, 0))
    yield "bool_bytes", binary_seed(
        {"inputs": [{"name": "b", "shape": [3], "datatype": "BOOL",
                     "parameters": {"binary_data_size": 3}},
                    {"name": "s", "shape": [3], "datatype": "BYTES",
                     "parameters": {"binary_data_size": 4 * 3 + 6}}]},
        bytes([1, 0, 2]) + strings([b"ab", b"", b"\x00zzz"]))
    yield "mixed_json", binary_seed(
        {"parameters": {"binary_data_output": True},
         "inputs": [{"name": "j", "shape": [2], "datatype": "FP32", "data": [1, 2]},
                    {"name": "x", "shape": [2], "datatype": "FP32",
                     "parameters": {"binary_data_size": 8}}],
         "outputs": [{"name": "x", "parameters": {"binary_data": True}},
                     {"name": "j", "parameters": {"binary_data": False}}]},
        struct.pack("<2f", 5, 6))
    yield "short", binary_seed({"inputs": [{"name": "x", "shape": [4], "datatype": "FP32",
                                            "parameters": {"binary_data_size": 16}}]}, row[:12])
    yield "long", binary_seed({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32",
                                           "parameters": {"binary_data_size": 8}}]}, row)
    yield "both", binary_seed({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32",
                                           "data": [1], "parameters": {"binary_data_size": 4}}]},
                              row[:4])
    yield "huge_shape", binary_seed({"inputs": [{"name": "s", "shape": [2**40], "datatype": "BYTES",
                                                 "parameters": {"binary_data_size": 8}}]},
                                    bytes(8))


def router_seeds():
    yield "probabilities", {"model_name": "m", "outputs": [
        {"name": "predict", "datatype": "FP32", "shape": [3], "data": [0.1, 0.7, None]}]}
    yield "classes", {"outputs": [{"name": "p", "datatype": "FP64", "shape": [2, 3],
                                   "data": [[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]]}]}
    yield "regression", {"outputs": [{"name": "y", "datatype": "FP32", "shape": [2, 1],
                                      "data": [-3.5, 1e30]}]}
    yield "labels", {"outputs": [{"name": "label", "datatype": "BYTES", "shape": [2],
                                  "data": ["cat", "a-very-long-label-that-is-cut-at-32-bytes"]}]}
    yield "ints", {"outputs": [{"name": "c", "datatype": "INT64", "shape": [3], "data": [1, 2, 3]}]}
    yield "no_shape", {"outputs": [{"name": "p", "data": [0.2, 0.9]}]}
    yield "scalar", {"outputs": [{"name": "p", "datatype": "FP32", "shape": [], "data": [0.5]}]}
    yield "empty", {"outputs": [{"name": "p", "datatype": "FP32", "shape": [0], "data": []}]}
    yield "string_output", {"outputs": ["x"]}
    yield "mismatch", {"outputs": [{"name": "p", "shape": [3], "data": [1]}]}


def grpc_seeds():
    try:
        from tritonclient.grpc import service_pb2 as pb
    except ImportError:
        return
    typed = pb.ModelInferRequest(model_name="m")
    t = typed.inputs.add(name="x", datatype="FP32", shape=[2, 3])
    t.contents.fp32_contents.extend([1.0, 2.5, -3.0, 0.0, 7.25, 1e-7])
    typed.outputs.add(name="predict")
    yield "typed_fp32", typed.SerializeToString()
    raw = pb.ModelInferRequest(model_name="m")
    raw.inputs.add(name="x", datatype="FP32", shape=[1, 4])
    raw.raw_input_contents.append(struct.pack("<4f", 1.0, 2.5, -3.0, float("nan")))
    yield "raw_fp32", raw.SerializeToString()
    mixed = pb.ModelInferRequest(model_name="m")
    mixed.inputs.add(name="h", datatype="FP16", shape=[3])
    mixed.inputs.add(name="s", datatype="BYTES", shape=[2])
    mixed.inputs.add(name="b", datatype="BOOL", shape=[2])
    mixed.raw_input_contents.extend([struct.pack("<3H", 0x3C00, 0x7BFF, 0x0001),
                                     strings([b"ab", b""]), bytes([1, 0])])
    yield "raw_mixed", mixed.SerializeToString()
    ints = pb.ModelInferRequest(model_name="m")
    i8 = ints.inputs.add(name="i8", datatype="INT8", shape=[2])
    i8.contents.int_contents.extend([-128, 127])
    u32 = ints.inputs.add(name="u32", datatype="UINT32", shape=[1])
    u32.contents.uint_contents.append(4294967295)
    i64 = ints.inputs.add(name="i64", datatype="INT64", shape=[])
    i64.contents.int64_contents.append(-(2**63))
    by = ints.inputs.add(name="by", datatype="BYTES", shape=[1, 1])
    by.contents.bytes_contents.append(b"label")
    ints.parameters["binary_data_output"].bool_param = True
    yield "typed_ints", ints.SerializeToString()


def main():
    for name, seed in binary_seeds():
        folder = os.path.join(HERE, "corpus", "fuzz_oip_binary")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name + ".bin"), "wb") as f:
            f.write(seed)
    for name, answer in router_seeds():
        folder = os.path.join(HERE, "corpus", "fuzz_router_answer")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name + ".json"), "w") as f:
            f.write(json.dumps(answer, separators=(",", ":")))
    for name, seed in grpc_seeds():
        folder = os.path.join(HERE, "corpus", "fuzz_grpc_request")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name + ".pb"), "wb") as f:
            f.write(seed)


if __name__ == "__main__":
    main()
