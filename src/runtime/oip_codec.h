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
// NaN: JSON has no NaN literal, so the tokens NaN and Infinity make the body malformed (400).
// A null element in FP16/FP32/FP64 data decodes to NaN, which tabular backends treat as a missing
// value (XGBoost routes it down each tree's default branch). Non-finite outputs encode as null.
//
// Every function here is pure and thread-safe; nothing throws.

#include <nlohmann/json.hpp>
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
};

struct InferenceRequest {
  std::string id;             // Empty when absent; echoed in the response.
  nlohmann::json parameters;  // Null when absent.
  std::vector<Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // Empty: return every output.
};

struct InferenceResponse {
  std::string model_name;
  std::string model_version;  // Omitted from JSON when empty.
  std::string id;             // Omitted when empty.
  nlohmann::json parameters;  // Omitted when null.
  std::vector<Tensor> outputs;
};

// Decodes an infer request body. Checks the structure, the datatype of every element (numbers for
// FP*, integers in range for INT*/UINT*, true/false for BOOL, strings for BYTES) and that each
// input's data holds exactly product(shape) elements. Errors are invalid-input with a message
// naming the field, e.g. "inputs[0].data[3]: expected an integer for INT32, got 1.5".
Result<InferenceRequest> decode_infer_request(std::string_view body);

// Renders a response. Floats use the shortest text that reads back to the same value.
std::string encode_infer_response(const InferenceResponse& response);

// Keeps the outputs `requested` names, in that order; all of them when `requested` is empty.
// Errors (invalid-input) name an output the model does not produce.
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
