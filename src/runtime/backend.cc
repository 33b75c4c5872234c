#include "runtime/backend.h"

#include "runtime/backend_module.h"
#include "runtime/xgboost_backend.h"
#ifdef KILN_WITH_ONNX
#include "runtime/onnx/onnx_backend.h"
#endif

namespace kiln::runtime {

std::string_view to_string(ModelFormat format) noexcept {
  switch (format) {
    case ModelFormat::kXgboost:
      return "xgboost";
    case ModelFormat::kOnnx:
      return "onnx";
    case ModelFormat::kTorchscript:
      return "torchscript";
  }
  return "unknown";
}

Result<ModelFormat> parse_model_format(std::string_view name) {
  for (auto format : {ModelFormat::kXgboost, ModelFormat::kOnnx, ModelFormat::kTorchscript}) {
    if (to_string(format) == name) return format;
  }
  return Error::invalid_input("unknown model format '" + std::string(name) +
                              "' (expected xgboost, onnx or torchscript)");
}

Result<std::unique_ptr<ModelBackend>> load_backend(ModelFormat format, const std::string& path) {
  switch (format) {
    case ModelFormat::kXgboost:
      return load_xgboost(path);
    case ModelFormat::kOnnx:
#ifdef KILN_WITH_ONNX
      return load_onnx(path);
#else
      break;
#endif
    case ModelFormat::kTorchscript:
      // A separately built module (src/runtime/torch), so that kiln-runtime does not link libtorch.
      return load_from_backend_module("torch", format, "TorchScript", path);
  }
  return Error::terminal("model format '" + std::string(to_string(format)) +
                         "' is not compiled into this build of kiln-runtime");
}

}  // namespace kiln::runtime
