#include "runtime/xgboost_backend.h"

#include <xgboost/c_api.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

namespace kiln::runtime {
namespace {

std::string last_xgboost_error() {
  const char* message = XGBGetLastError();
  return message != nullptr ? message : "unknown XGBoost error";
}

// Owns a BoosterHandle.
class Booster {
 public:
  Booster() = default;
  ~Booster() {
    if (handle_ != nullptr) XGBoosterFree(handle_);
  }
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;

  BoosterHandle* out() { return &handle_; }
  BoosterHandle get() const { return handle_; }

 private:
  BoosterHandle handle_ = nullptr;
};

class XgboostBackend final : public ModelBackend {
 public:
  XgboostBackend(std::unique_ptr<Booster> booster, ModelMetadata metadata, std::int64_t features)
      : booster_(std::move(booster)), metadata_(std::move(metadata)), features_(features) {}

  const ModelMetadata& metadata() const noexcept override { return metadata_; }

  Result<std::vector<Tensor>> predict(std::span<const Tensor> inputs) const override {
    KILN_TRY(FeatureMatrix rows, to_feature_matrix(inputs));
    if (rows.cols != features_) {
      return Error::invalid_input("the model takes " + std::to_string(features_) +
                                  " features; the request has " + std::to_string(rows.cols));
    }
    if (rows.rows == 0) return Error::invalid_input("the request has no rows");
    // The array interface (NumPy's __array_interface__ protocol, version 3) of the rows.
    char header[160];
    std::snprintf(header, sizeof header,
                  R"({"data":[%)" PRIuPTR R"(,true],"shape":[%)" PRId64 ",%" PRId64
                  R"(],"typestr":"<f4","version":3})",
                  reinterpret_cast<std::uintptr_t>(rows.values.data()), rows.rows, rows.cols);
    const bst_ulong* shape = nullptr;
    bst_ulong dims = 0;
    const float* result = nullptr;
    if (XGBoosterPredictFromDense(booster_->get(), header, kPredictConfig, nullptr, &shape, &dims,
                                  &result) != 0) {
      return Error::terminal("XGBoost prediction failed: " + last_xgboost_error());
    }
    Tensor out{.name = "predict", .datatype = DataType::kFp32, .shape = {}, .data = {}};
    std::size_t count = 1;
    for (bst_ulong d = 0; d < dims; ++d) {
      out.shape.push_back(static_cast<std::int64_t>(shape[d]));
      count *= shape[d];
    }
    // A single-output model reports [rows, 1]; OIP clients expect [rows].
    if (out.shape.size() == 2 && out.shape[1] == 1) out.shape.pop_back();
    out.data = std::vector<float>(result, result + count);
    std::vector<Tensor> outputs;
    outputs.push_back(std::move(out));
    return outputs;
  }

 private:
  // Prepared once: normal prediction over every tree, NaN as missing (XGBoost's JSON reader
  // accepts NaN).
  static constexpr const char* kPredictConfig =
      R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,)"
      R"("strict_shape":false,"missing":NaN,"cache_id":0})";

  std::unique_ptr<Booster> booster_;
  ModelMetadata metadata_;
  std::int64_t features_;
};

// The number of classes from the booster's saved configuration (0 or 1 for single-output).
int num_class(BoosterHandle booster) {
  bst_ulong length = 0;
  const char* config = nullptr;
  if (XGBoosterSaveJsonConfig(booster, &length, &config) != 0) return 0;
  auto json = nlohmann::json::parse(config, config + length, nullptr, false);
  if (json.is_discarded()) return 0;
  const auto* value = &json;
  for (const char* key : {"learner", "learner_model_param", "num_class"}) {
    if (!value->is_object() || !value->contains(key)) return 0;
    value = &(*value)[key];
  }
  return value->is_string() ? std::atoi(value->get<std::string>().c_str()) : 0;
}

std::vector<std::string> feature_names(BoosterHandle booster) {
  bst_ulong count = 0;
  const char** names = nullptr;
  std::vector<std::string> out;
  if (XGBoosterGetStrFeatureInfo(booster, "feature_name", &count, &names) == 0) {
    for (bst_ulong i = 0; i < count; ++i) out.emplace_back(names[i]);
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<ModelBackend>> load_xgboost(const std::string& path,
                                                   const XgboostOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Error::invalid_input("model file '" + path + "' does not exist or is not a file");
  }
  auto booster = std::make_unique<Booster>();
  if (XGBoosterCreate(nullptr, 0, booster->out()) != 0) {
    return Error::terminal("XGBoosterCreate failed: " + last_xgboost_error());
  }
  if (XGBoosterLoadModel(booster->get(), path.c_str()) != 0) {
    return Error::invalid_input("cannot load XGBoost model '" + path +
                                "': " + last_xgboost_error());
  }
  if (options.threads_per_call > 0) {
    XGBoosterSetParam(booster->get(), "nthread", std::to_string(options.threads_per_call).c_str());
  }
  bst_ulong features = 0;
  if (XGBoosterGetNumFeature(booster->get(), &features) != 0 || features == 0) {
    return Error::invalid_input("XGBoost model '" + path + "' reports no features");
  }
  const auto n = static_cast<std::int64_t>(features);
  const int classes = num_class(booster->get());
  ModelMetadata metadata;
  metadata.platform = "xgboost";
  metadata.inputs.push_back({"input", DataType::kFp32, {-1, n}});
  metadata.outputs.push_back(
      {"predict", DataType::kFp32,
       classes > 1 ? std::vector<std::int64_t>{-1, classes} : std::vector<std::int64_t>{-1}});
  metadata.feature_names = feature_names(booster->get());
  return std::unique_ptr<ModelBackend>(
      std::make_unique<XgboostBackend>(std::move(booster), std::move(metadata), n));
}

}  // namespace kiln::runtime
