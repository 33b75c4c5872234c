#pragma once

// Conversion between the Open Inference Protocol (v2) gRPC messages (proto/grpc_predict_v2.proto)
// and the runtime's typed request and response (oip_codec.h, tensor.h). The gRPC counterpart of
// oip_codec's JSON decoder: one place that checks what a client sent before anything is sized
// from it.
//
// Pure functions; thread-safe.

#include "common/result.h"
#include "grpc_predict_v2.pb.h"
#include "runtime/oip_codec.h"

namespace kiln::runtime {

// A decoded ModelInferRequest and the form its inputs came in.
struct GrpcInferRequest {
  InferenceRequest request;
  bool raw = false;  // The inputs were in raw_input_contents (answer in raw_output_contents).
};

// Decodes `message` (model_name and model_version are the caller's). For each input: a known
// datatype, dimensions >= 0, and data of exactly product(shape) elements — typed in the
// `contents` field of its datatype (BOOL bool_contents; INT8/16/32 int_contents, in range;
// INT64 int64_contents; UINT8/16/32 uint_contents, in range; UINT64 uint64_contents, at most
// INT64_MAX; FP32 fp32_contents; FP64 fp64_contents; BYTES bytes_contents; FP16 raw only), or
// no other typed field may hold elements; or
// raw (tensor.h's raw form) when raw_input_contents is set, which then needs one entry per input and no
// input with `contents`. Sizes are checked against the data received before anything is
// allocated, so memory stays within a small multiple of the message. Parameters become JSON
// values (bool, integer, string, double). Requested outputs must have distinct names.
// Errors: invalid-input naming the input, e.g. "inputs[1] 'x': expected 6 fp32_contents for
// shape [2,3], got 5".
Result<GrpcInferRequest> decode_grpc_infer_request(const inference::ModelInferRequest& message);

// Writes `response` into `out`: its outputs in raw_output_contents when `raw` (or when an output
// is FP16, which has no typed field), else in each output's typed `contents`. JSON parameters of
// bool, integer, double or string type become InferParameters; others are rendered as JSON text
// in string_param.
void encode_grpc_infer_response(InferenceResponse response, bool raw,
                                inference::ModelInferResponse& out);

}  // namespace kiln::runtime
