#pragma once

// The XGBoost backend: gradient-boosted tree models through XGBoost's C API
// (https://xgboost.readthedocs.io/en/release_1.7.0/c.html), as packaged by Debian (libxgboost 1.7).
//
// Model files: JSON (*.json) and UBJSON (*.ubj), as written by Booster.save_model in XGBoost 1.7
// and by `kiln-runtime train`; the legacy binary format also loads.
//
// Prediction is in-place on dense float rows (XGBoosterPredictFromDense): no DMatrix is built per
// request, and the prediction configuration (output type, iteration range, missing = NaN) is
// rendered to its JSON string once at load, so a call only formats the array-interface header of
// its rows. Missing values are NaN: a tree routes them down its default branch.
//
// Inputs: see to_feature_matrix() in tensor.h; the feature count must equal the model's.
// Output: one FP32 tensor named "predict", shape [rows] (regression, binary:logistic: the
// probability of class 1) or [rows, classes] (multi:softprob).
//
// Thread-safety: predict() is called concurrently without locks. XGBoost 1.7's in-place prediction
// is thread-safe for tree boosters and returns its result in a per-thread buffer that we copy
// before returning (c_api.cc: XGBAPIThreadLocalEntry).

#include <memory>
#include <string>

#include "runtime/backend.h"

namespace kiln::runtime {

struct XgboostOptions {
  // OpenMP threads XGBoost may use inside one predict() call. A server parallelises across
  // requests, so 1 keeps single-row calls from paying OpenMP fork/join; raise it for large
  // offline batches. 0 means XGBoost's default (all cores).
  int threads_per_call = 1;
};

// Loads an XGBoost model file. Errors: invalid-input naming the file and XGBoost's message when
// the file is missing or not a model. Thread-safe.
Result<std::unique_ptr<ModelBackend>> load_xgboost(const std::string& path,
                                                   const XgboostOptions& options = {});

}  // namespace kiln::runtime
