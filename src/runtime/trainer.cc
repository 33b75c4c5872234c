#include "runtime/trainer.h"

#include <openssl/evp.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "drift/csv.h"
#include "drift/profile.h"

namespace kiln::runtime {
namespace {

using json = nlohmann::json;

std::string xgb_error() {
  const char* e = XGBGetLastError();
  return e != nullptr ? e : "unknown XGBoost error";
}

// Owns XGBoost handles.
struct Handles {
  DMatrixHandle train = nullptr;
  DMatrixHandle test = nullptr;
  BoosterHandle booster = nullptr;
  ~Handles() {
    if (booster != nullptr) XGBoosterFree(booster);
    if (train != nullptr) XGDMatrixFree(train);
    if (test != nullptr) XGDMatrixFree(test);
  }
};

Result<std::string> sha256_of_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::terminal("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string bytes = text.str();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex = "sha256:";
  char buf[3];
  for (unsigned i = 0; i < length; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

// Builds a DMatrix of `rows` (indices into the table) with the feature columns and label.
Result<DMatrixHandle> make_dmatrix(const std::vector<const drift::Column*>& features,
                                   const drift::Column& label, const std::vector<std::size_t>& rows,
                                   const std::vector<const char*>& names) {
  std::vector<float> values(rows.size() * features.size());
  std::vector<float> labels(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < features.size(); ++c) {
      values[r * features.size() + c] = static_cast<float>(features[c]->values[rows[r]]);
    }
    labels[r] = static_cast<float>(label.values[rows[r]]);
  }
  DMatrixHandle m = nullptr;
  if (XGDMatrixCreateFromMat(values.data(), rows.size(), features.size(), NAN, &m) != 0 ||
      XGDMatrixSetFloatInfo(m, "label", labels.data(), labels.size()) != 0 ||
      XGDMatrixSetStrFeatureInfo(m, "feature_name", const_cast<const char**>(names.data()),
                                 names.size()) != 0) {
    if (m != nullptr) XGDMatrixFree(m);
    return Error::invalid_input("cannot build the training matrix: " + xgb_error());
  }
  return m;
}

std::vector<std::string> metrics_for(const std::string& objective) {
  if (objective.starts_with("binary:")) return {"auc", "logloss"};
  if (objective.starts_with("multi:")) return {"mlogloss", "merror"};
  return {"rmse"};
}

// Parses XGBoost's "[0]\ttest-auc:0.98\ttest-logloss:0.12" into {"auc": 0.98, ...}.
json parse_eval(std::string_view text) {
  json out = json::object();
  std::istringstream in{std::string(text)};
  std::string field;
  while (std::getline(in, field, '\t')) {
    const auto dash = field.find('-');
    const auto colon = field.rfind(':');
    if (dash == std::string::npos || colon == std::string::npos || colon < dash) continue;
    out[field.substr(dash + 1, colon - dash - 1)] = std::stod(field.substr(colon + 1));
  }
  return out;
}

Result<void> write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text << '\n';
  if (!out) return Error::terminal("cannot write " + path.string());
  return Ok();
}

// The feature columns: options.features in order, or every column but the label.
Result<drift::Table> select_features(const drift::Table& table, const TrainOptions& options) {
  std::vector<const drift::Column*> chosen;
  if (options.features.empty()) {
    for (const auto& column : table.columns) {
      if (column.name != options.label) chosen.push_back(&column);
    }
  }
  std::set<std::string> seen;
  for (const std::string& name : options.features) {
    const drift::Column* column = table.find(name);
    if (column == nullptr) return Error::invalid_input("no feature column '" + name + "'");
    if (name == options.label) {
      return Error::invalid_input("feature column '" + name + "' is the label");
    }
    if (!seen.insert(name).second) {
      return Error::invalid_input("feature column '" + name + "' is listed twice");
    }
    chosen.push_back(column);
  }
  drift::Table out;
  for (const drift::Column* column : chosen) {
    if (column->type != drift::ColumnType::kNumerical) {
      return Error::invalid_input("feature column '" + column->name +
                                  "' is categorical; encode it as numbers first");
    }
    out.columns.push_back(*column);
  }
  return out;
}

}  // namespace

std::string TrainResult::summary() const {
  json line = {{"model", {{"uri", model_path}, {"format", "xgboost"}, {"digest", model_digest}}},
               {"metrics", metrics}};
  std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() >= 4096) {
    line["metrics"] = json::object({{"truncated", true}});
    text = line.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return text;
}

Result<TrainResult> train_xgboost(const TrainOptions& options) {
  if (options.rounds < 1) return Error::invalid_input("rounds must be at least 1");
  if (options.test_fraction < 0 || options.test_fraction >= 1) {
    return Error::invalid_input("test fraction must be in [0, 1)");
  }
  KILN_TRY(drift::Table table, drift::read_csv(options.data));
  const drift::Column* label = table.find(options.label);
  if (label == nullptr) return Error::invalid_input("no label column '" + options.label + "'");
  if (label->type != drift::ColumnType::kNumerical) {
    return Error::invalid_input("label column '" + options.label + "' is not numerical");
  }
  KILN_TRY(drift::Table feature_table, select_features(table, options));
  if (feature_table.columns.empty()) return Error::invalid_input("the data has no features");
  std::vector<const drift::Column*> features;
  std::vector<const char*> names;
  for (const auto& c : feature_table.columns) {
    features.push_back(&c);
    names.push_back(c.name.c_str());
  }

  std::vector<std::size_t> order(table.rows());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(options.seed);
  std::shuffle(order.begin(), order.end(), rng);
  const auto test_rows = static_cast<std::size_t>(std::floor(options.test_fraction * order.size()));
  std::vector<std::size_t> train_idx(order.begin(), order.end() - test_rows);
  std::vector<std::size_t> test_idx(order.end() - test_rows, order.end());
  if (train_idx.empty()) return Error::invalid_input("no training rows");

  Handles h;
  KILN_TRY(h.train, make_dmatrix(features, *label, train_idx, names));
  if (!test_idx.empty()) {
    KILN_TRY(h.test, make_dmatrix(features, *label, test_idx, names));
  }
  if (XGBoosterCreate(&h.train, 1, &h.booster) != 0) {
    return Error::terminal("XGBoosterCreate: " + xgb_error());
  }
  XGBoosterSetParam(h.booster, "objective", options.objective.c_str());
  XGBoosterSetParam(h.booster, "seed", std::to_string(options.seed).c_str());
  for (const auto& m : metrics_for(options.objective)) {
    XGBoosterSetParam(h.booster, "eval_metric", m.c_str());
  }
  for (const auto& [key, value] : options.params) {
    XGBoosterSetParam(h.booster, key.c_str(), value.c_str());
  }
  for (int i = 0; i < options.rounds; ++i) {
    if (XGBoosterUpdateOneIter(h.booster, i, h.train) != 0) {
      return Error::invalid_input("XGBoost training failed: " + xgb_error());
    }
  }
  json metrics = {{"objective", options.objective},
                  {"rounds", options.rounds},
                  {"train_rows", train_idx.size()},
                  {"test_rows", test_idx.size()},
                  {"features", features.size()}};
  if (h.test != nullptr) {
    const char* eval = nullptr;
    const char* eval_names[] = {"test"};
    if (XGBoosterEvalOneIter(h.booster, options.rounds - 1, &h.test, eval_names, 1, &eval) != 0) {
      return Error::invalid_input("XGBoost evaluation failed: " + xgb_error());
    }
    metrics.update(parse_eval(eval));
  }

  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.output_dir, ec);
  TrainResult result;
  result.model_path = (fs::path(options.output_dir) / "model.json").string();
  if (XGBoosterSaveModel(h.booster, result.model_path.c_str()) != 0) {
    return Error::terminal("cannot save the model: " + xgb_error());
  }
  KILN_TRY(result.model_digest, sha256_of_file(result.model_path));
  result.metrics = metrics;
  if (auto w = write_file(fs::path(options.output_dir) / "metrics.json", metrics.dump(2)); !w) {
    return std::move(w).error();
  }
  // The baseline profile: the features of the training rows.
  for (auto& column : feature_table.columns) {
    std::vector<double> kept;
    kept.reserve(train_idx.size());
    for (auto r : train_idx) kept.push_back(column.values[r]);
    column.values = std::move(kept);
  }
  KILN_TRY(drift::Profile profile, drift::Profile::from_table(feature_table));
  if (auto w = write_file(fs::path(options.output_dir) / "profile.json", profile.to_json().dump());
      !w) {
    return std::move(w).error();
  }
  return result;
}

}  // namespace kiln::runtime
