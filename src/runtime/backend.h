#pragma once

// The model backend contract: every model format (XGBoost, ONNX, TorchScript) is loaded into a
// ModelBackend, and everything above it (the OIP server, the router's comparisons, the profiler)
// sees only this interface.
//
// Contract, after Triton's backend API and KServe's model server:
//   - Loading happens once, in the factory (load_backend); a backend object exists only when its
//     model loaded, so there is no "half-loaded" state to check on the request path.
//   - predict() is thread-safe: the server calls it from many threads at once on one object,
//     without locking. A backend that needs per-thread state keeps it itself.
//   - Every predict() call returns exactly one Result: the outputs, or an Error. It never throws,
//     never blocks on another request, and keeps no reference to its inputs after returning.
//   - metadata() is immutable after load and may be read from any thread.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "runtime/tensor.h"

namespace kiln::runtime {

// The shape of one input or output as OIP model metadata reports it; -1 marks a dimension that
// varies per request (the batch dimension).
struct TensorSpec {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<std::int64_t> shape;
};

// What a loaded model tells about itself.
struct ModelMetadata {
  std::string platform;  // OIP "platform", e.g. "xgboost", "onnx", "pytorch_torchscript".
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<std::string> feature_names;  // One per input feature when the model knows them.
};

class ModelBackend {
 public:
  virtual ~ModelBackend() = default;

  // The model's metadata, fixed at load. Thread-safe.
  virtual const ModelMetadata& metadata() const noexcept = 0;

  // Runs the model on one batch. `inputs` follow the OIP request (names, datatypes, shapes as the
  // client sent them, already checked for shape/data agreement by the codec). Returns the
  // outputs, each with a name, datatype, shape whose first dimension is the batch size, and
  // row-major data. Errors: invalid-input when the inputs do not fit the model (wrong number of
  // features, unsupported datatype), terminal when the model library fails. Thread-safe; see the
  // contract at the top of this file.
  virtual Result<std::vector<Tensor>> predict(std::span<const Tensor> inputs) const = 0;
};

enum class ModelFormat { kXgboost, kOnnx, kTorchscript };

// "xgboost", "onnx" or "torchscript".
std::string_view to_string(ModelFormat format) noexcept;
// Parses the names above; invalid-input otherwise.
Result<ModelFormat> parse_model_format(std::string_view name);

// Loads the model file at `path` in `format`. Errors: invalid-input when the file is missing,
// unreadable or not a model of that format (the message names the file and the library's
// reason); terminal when the format was not compiled into this build, or when its backend
// module (TorchScript: libkiln-torch.so, see backend_module.h) is not installed or is refused.
// Thread-safe.
Result<std::unique_ptr<ModelBackend>> load_backend(ModelFormat format, const std::string& path);

}  // namespace kiln::runtime
