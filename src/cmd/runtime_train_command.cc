// kiln-runtime train: trains an XGBoost model from a CSV file (TrainingJob spec.builtin.xgboost)
// and prints a one-line JSON summary for the pod's termination message.
//
//   kiln-runtime train --data train.csv --label label --objective binary:logistic
//       --param max_depth=4 --param eta=0.1 --rounds 100 --output /out
//       [--feature f0 --feature f1 ...]
//       [--termination-log /dev/termination-log]
//
// With --termination-log the summary (or {"error": "..."} on failure) is also written to that
// file, so a pod reports it as its termination message without a shell in the image.

#include <cstdio>
#include <memory>

#include "cmd/runtime_command.h"
#include "runtime/trainer.h"

namespace kiln::cmd {
namespace {

struct TrainFlags {
  runtime::TrainOptions options;
  std::vector<std::string> params;  // key=value
  std::string termination_log;      // "" : none.
};

void write_termination_log(const std::string& path, const std::string& text) {
  if (path.empty()) return;
  if (FILE* f = std::fopen(path.c_str(), "w")) {
    std::fputs(text.c_str(), f);
    std::fclose(f);
  } else {
    std::fprintf(stderr, "train: cannot write %s\n", path.c_str());
  }
}

int run_train(TrainFlags flags) {
  for (const auto& p : flags.params) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "--param expects key=value, got '%s'\n", p.c_str());
      return 2;
    }
    flags.options.params[p.substr(0, eq)] = p.substr(eq + 1);
  }
  auto result = runtime::train_xgboost(flags.options);
  if (!result.ok()) {
    std::fprintf(stderr, "train: %s\n", result.error().to_string().c_str());
    write_termination_log(flags.termination_log,
                          nlohmann::json{{"error", result.error().to_string()}}.dump());
    return 1;
  }
  std::printf("%s\n", result->summary().c_str());
  write_termination_log(flags.termination_log, result->summary());
  return 0;
}

const bool kRegistered = register_runtime_command(
    "train", "Train an XGBoost model from CSV; write model, metrics and baseline profile",
    [](CLI::App& sub) {
      auto flags = std::make_shared<TrainFlags>();
      auto& o = flags->options;
      sub.add_option("--data", o.data, "CSV file with a header")->required();
      sub.add_option("--label", o.label, "Label column")->required();
      sub.add_option("--objective", o.objective, "XGBoost objective");
      sub.add_option("--rounds", o.rounds, "Boosting rounds");
      sub.add_option("--test-fraction", o.test_fraction, "Held-out share of rows for metrics");
      sub.add_option("--seed", o.seed, "Seed of the split and of XGBoost");
      sub.add_option("--param", flags->params, "XGBoost parameter key=value (repeatable)");
      sub.add_option("--feature", o.features,
                     "Feature column (repeatable, in order; default: every column but the label)");
      sub.add_option("--output", o.output_dir, "Output directory")->required();
      sub.add_option("--termination-log", flags->termination_log,
                     "Also write the summary (or the error) to this file");
      return [flags] { return run_train(*flags); };
    });

}  // namespace
}  // namespace kiln::cmd
