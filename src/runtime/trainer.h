#pragma once

// The built-in XGBoost trainer behind `kiln-runtime train` (TrainingJob spec.builtin.xgboost).
//
// From a CSV file with a header (read by drift::read_csv): the label column and as features the
// columns named in `features`, in that order, or every other column when it is empty; a
// categorical feature is refused (encode it first), a column left out is never read. Rows are
// shuffled with `seed` and the last `test_fraction` of them held out. Training runs XGBoost's own
// booster (XGBoosterUpdateOneIter) for `rounds` rounds; held-out metrics are XGBoost's own
// evaluation metrics (XGBoosterEvalOneIter), so they match what xgboost.train reports:
//   binary:*   auc, logloss
//   multi:*    mlogloss, merror
//   otherwise  rmse
//
// Writes to `output_dir` (created when missing):
//   model.json     the booster (XGBoost JSON format, loadable by `kiln-runtime serve`)
//   metrics.json   {"objective", "rounds", "train_rows", "test_rows", "features", <metrics>}
//   profile.json   the baseline profile of the training rows' features (drift::Profile JSON,
//                  the format served profiles use)
//
// Thread-compatible: one call at a time per output directory.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace kiln::runtime {

struct TrainOptions {
  std::string data;   // CSV path.
  std::string label;  // Label column name.
  std::string objective = "binary:logistic";
  int rounds = 100;
  double test_fraction = 0.2;  // In [0, 1); 0 skips evaluation.
  unsigned seed = 0;
  std::map<std::string, std::string> params;  // Other XGBoost parameters (max_depth, eta, ...).
  std::string output_dir;
  std::vector<std::string> features;  // Feature columns; empty = every column but the label.
};

struct TrainResult {
  std::string model_path;
  std::string model_digest;  // "sha256:<hex>" of model.json.
  nlohmann::json metrics;    // The contents of metrics.json.

  // One line under 4 KiB, for a Kubernetes termination message:
  // {"model": {"uri", "format": "xgboost", "digest"}, "metrics": {...}}.
  std::string summary() const;
};

// Trains and writes the outputs. Errors: invalid-input for a bad CSV, a missing label, a listed
// feature that is not a column, is the label or is listed twice, a categorical feature, bad
// parameters (XGBoost's message); terminal for write failures.
Result<TrainResult> train_xgboost(const TrainOptions& options);

}  // namespace kiln::runtime
