// Predict floor of the ONNX backend on scikit-learn models converted by skl2onnx
// (tests/runtime/onnx/make_onnx_models.py, run on first use): one OnnxBackend::predict call on
// 1 and 100 rows of the breast cancer data, per model. bench/runtime/compare_onnx.sh runs this
// next to onnxruntime's InferenceSession.run on the same files and rows and prints the ratios.
//
//   BM_OnnxPredict/<model>/<rows>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/onnx/onnx_backend.h"

namespace {

using kiln::runtime::DataType;
using kiln::runtime::Tensor;

const nlohmann::json& reference() {
  static const nlohmann::json ref = [] {
    const std::string dir = KILN_BENCH_ONNX_MODEL_DIR;
    if (!std::filesystem::exists(dir + "/reference.json")) {
      const std::string cmd =
          std::string("'") + KILN_PYTHON + "' '" + KILN_MAKE_ONNX_MODELS + "' '" + dir + "'";
      if (std::system(cmd.c_str()) != 0) {
        std::fprintf(stderr, "cannot convert the bench models: %s\n", cmd.c_str());
        std::exit(1);
      }
    }
    std::ifstream in(dir + "/reference.json");
    return nlohmann::json::parse(in);
  }();
  return ref;
}

// `rows` rows of the model's reference rows (cycled), as one FP32 tensor named X.
Tensor batch(const std::string& model, std::int64_t rows, std::int64_t offset) {
  const auto& all = reference()[model]["rows"];
  const auto n = static_cast<std::int64_t>(all.size());
  std::vector<float> flat;
  std::int64_t cols = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto row = all[static_cast<std::size_t>((offset + r) % n)].get<std::vector<float>>();
    cols = static_cast<std::int64_t>(row.size());
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return {"X", DataType::kFp32, {rows, cols}, std::move(flat)};
}

void BM_OnnxPredict(benchmark::State& state, const std::string& model) {
  auto backend = kiln::runtime::load_onnx(std::string(KILN_BENCH_ONNX_MODEL_DIR) + "/" +
                                          reference()[model]["file"].get<std::string>());
  if (!backend.ok()) {
    state.SkipWithError(backend.error().message().c_str());
    return;
  }
  const std::int64_t rows = state.range(0);
  std::vector<Tensor> inputs;
  for (std::int64_t i = 0; i < 16; ++i) inputs.push_back(batch(model, rows, i * rows));
  std::size_t i = 0;
  for (auto _ : state) {
    auto out = (*backend)->predict(std::span(&inputs[i++ % inputs.size()], 1));
    if (!out.ok()) {
      state.SkipWithError(out.error().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * rows);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (const char* model :
       {"logreg_cancer", "forest_cancer", "gboost_cancer", "mlp_cancer", "forest_diabetes"}) {
    benchmark::RegisterBenchmark(("BM_OnnxPredict/" + std::string(model)).c_str(), BM_OnnxPredict,
                                 std::string(model))
        ->Arg(1)
        ->Arg(100);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
