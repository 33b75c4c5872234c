#pragma once

// The JSON codec of the Open Inference Protocol (v2) REST API:
// https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
//
// Request  {"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "parameters"?,
//           "data"}], "outputs"?: [{"name", "parameters"?}]}
// Response {"model_name", "model_version"?, "id"?, "parameters"?, "outputs": [{"name", "shape",
//           "datatype", "data"}]}
// Error    {"error": "<message>"}
//
// `data` is row-major: a flat array, or nested arrays that flatten to one (both are in the spec).
//
// NaN: JSON has no NaN literal, but Python's json module (tritonclient.http's JSON inputs) and
// Triton write the bare tokens NaN, Infinity and -Infinity, so a body that is not JSON only for
// them is read as Python reads it: outside strings, NaN is a missing value (as null is) and
// Infinity / -Infinity are ±infinity; anywhere a number may not stand they stay malformed (400),
// and other spellings (nan, inf) are malformed too. (A body with a bare token that also holds
// the string "\u0000kiln:+Infinity" or "\u0000kiln:-Infinity" reads that string as ±infinity:
// it is the marker the tokens are rewritten to.) A null element in FP16/FP32/FP64 data decodes
// to NaN, which tabular backends treat as a missing value (XGBoost routes it down each tree's
// default branch). Non-finite outputs encode as null.
//
// BINARY TENSOR EXTENSION (Triton's docs/protocol/extension_binary_data.md; KServe's "Binary
// Tensor Data Extension"), so tritonclient's and KServe's default calls work:
//   request   the header Inference-Header-Content-Length: N says the first N bytes of the body are
//             the JSON; the rest is binary tensor data. An input with "parameters":
//             {"binary_data_size": S} and no "data" takes the next S bytes, in input order, in the
//             raw form of tensor.h (S = product(shape) x element size; BYTES: 4-byte lengths).
//   response  a requested output with "parameters": {"binary_data": true} (or, for outputs without
//             that parameter, the request's "parameters": {"binary_data_output": true}) goes after
//             the JSON in the raw form, with "parameters": {"binary_data_size": S} instead of
//             "data"; the transport sends Inference-Header-Content-Length and
//             application/octet-stream (as Triton does).
//
// MEMORY. A body of B bytes decodes into O(B) memory: the JSON document (nlohmann's DOM, about
// 16 bytes a value) and tensors whose element count is checked against the bytes that can carry
// it before anything is reserved — a JSON element takes at least 2 bytes (a digit and a
// separator), a binary one its element size, a BYTES one 4 — so a shape never sizes a buffer.
//
// Every function here is pure and thread-safe; nothing throws.

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "runtime/backend.h"
#include "runtime/tensor.h"

namespace kiln::runtime {

struct RequestedOutput {
  std::string name;
  nlohmann::json parameters;  // Null when absent.
  // parameters.binary_data: true to get this output as binary data; nullopt when absent (then
  // InferenceRequest::binary_data_output decides).
  std::optional<bool> binary_data = std::nullopt;
};

struct InferenceRequest {
  std::string id;             // Empty when absent; echoed in the response.
  nlohmann::json parameters;  // Null when absent.
  std::vector<Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // Empty: return every output. Names are distinct.
  // parameters.binary_data_output: the outputs without their own binary_data go as binary data.
  bool binary_data_output = false;
};

struct InferenceResponse {
  std::string model_name;
  std::string model_version;  // Omitted from JSON when empty.
  std::string id;             // Omitted when empty.
  nlohmann::json parameters;  // Omitted when null.
  std::vector<Tensor> outputs;
};

// The value of an Inference-Header-Content-Length header: nullopt when `header` is empty (the
// whole body is JSON), else the JSON part's length in bytes. Errors (invalid-input, naming the
// header): not a decimal number, or more than `body_bytes`.
Result<std::optional<std::size_t>> parse_inference_header_length(std::string_view header,
                                                                 std::size_t body_bytes);

// Decodes an infer request body: the first `json_bytes` bytes are the JSON (all of it when
// nullopt), the rest binary tensor data (see the top of this file). Checks the structure, the
// datatype of every element (numbers for FP*, integers in range for INT*/UINT*, true/false for
// BOOL, strings for BYTES), that each input's data holds exactly product(shape) elements, that
// no input has both data and binary_data_size, that binary_data_size is product(shape) x the
// element size (BYTES: its elements exactly fill it), that the binary sizes add up to the binary
// part exactly, and that requested outputs are named once each. Errors are invalid-input with a
// message naming the field, e.g. "inputs[0].data[3]: expected an integer for INT32, got 1.5".
// Requires json_bytes <= body.size() (parse_inference_header_length checks it).
Result<InferenceRequest> decode_infer_request(std::string_view body,
                                              std::optional<std::size_t> json_bytes = std::nullopt);

// Renders a response as JSON. Floats use the shortest text that reads back to the same value.
std::string encode_infer_response(const InferenceResponse& response);

// A response with binary outputs: `body` is `json_bytes` of JSON, then the raw data of each binary
// output in output order. json_bytes == body.size() when no output is binary.
struct EncodedInferResponse {
  std::string body;
  std::size_t json_bytes = 0;
};

// Renders a response, output i as binary data when binary[i] (missing entries: JSON).
EncodedInferResponse encode_infer_response(const InferenceResponse& response,
                                           const std::vector<bool>& binary);

// Which of the outputs select_outputs(outputs, requested) returns go as binary data, in its
// order: requested[i].binary_data when set, else `binary_data_output`; `count` entries (the
// number of outputs returned).
std::vector<bool> binary_outputs(std::span<const RequestedOutput> requested,
                                 bool binary_data_output, std::size_t count);

// Keeps the outputs `requested` names, in that order (each moved, not copied); all of them when
// `requested` is empty. Errors (invalid-input) name an output the model does not produce, or
// one requested twice.
Result<std::vector<Tensor>> select_outputs(std::vector<Tensor> outputs,
                                           std::span<const RequestedOutput> requested);

// {"error": message}.
std::string encode_error(std::string_view message);

// Model metadata (OIP "$metadata_model_response"). A model that failed to load has empty inputs
// and outputs, plus the non-standard members "state": "UNAVAILABLE" and "reason".
nlohmann::json model_metadata_json(std::string_view name, std::string_view version,
                                   const ModelMetadata* metadata,
                                   std::string_view not_ready_reason);

}  // namespace kiln::runtime
