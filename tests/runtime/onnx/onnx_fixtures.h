#pragma once

// ONNX models for the ONNX backend's tests, converted by skl2onnx and run through onnxruntime by
// make_onnx_models.py (through the test virtualenv's Python) once per build tree.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace kiln::runtime::testing {

struct OnnxFixtures {
  std::string dir;           // Holds the .onnx files and reference.json.
  nlohmann::json reference;  // reference.json: {"<model>": {"file", "inputs", "outputs"}}.

  std::string path(const std::string& file) const { return dir + "/" + file; }
  // The model's test rows as one FP32 tensor [rows, features] named `name`.
  Tensor rows(const std::string& model, const std::string& name = "X") const;
  // The model's reference inputs, one tensor per graph input (FP32 with null as NaN, INT64,
  // BYTES).
  std::vector<Tensor> inputs(const std::string& model) const;
};

// Converts the models on first use (a few seconds) and returns them; later calls return the same
// files. Fails the current test (ADD_FAILURE) and returns an empty dir when Python fails.
const OnnxFixtures& onnx_fixtures();

}  // namespace kiln::runtime::testing
