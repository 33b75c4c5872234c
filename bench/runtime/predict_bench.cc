// Predict floor (DESIGN.md §6): our XGBoost backend against the bare XGBoost C API call on the same
// rows and the same booster configuration. Target: within 2x of the bare call.
//
//   BM_BareCApi/<rows>         XGBoosterPredictFromDense with a prepared config string
//   BM_Backend/<rows>          XgboostBackend::predict (tensor -> rows, call, copy out)
//   BM_DecodePredictEncode/1   + OIP JSON decode and encode (what a request costs without HTTP)

#include <benchmark/benchmark.h>
#include <xgboost/c_api.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/oip_codec.h"
#include "runtime/xgboost_backend.h"

namespace {

using kiln::runtime::DataType;
using kiln::runtime::Tensor;

struct Data {
  std::string model;
  std::vector<std::vector<float>> rows;
};

const Data& data() {
  static const Data d = [] {
    const std::string dir = KILN_BENCH_MODEL_DIR;
    if (!std::filesystem::exists(dir + "/reference.json")) {
      const std::string cmd =
          std::string("'") + KILN_PYTHON + "' '" + KILN_MAKE_MODELS + "' '" + dir + "'";
      if (std::system(cmd.c_str()) != 0) {
        std::fprintf(stderr, "cannot train the bench model: %s\n", cmd.c_str());
        std::exit(1);
      }
    }
    Data out;
    out.model = dir + "/binary.json";
    std::ifstream in(dir + "/reference.json");
    auto ref = nlohmann::json::parse(in);
    out.rows = ref["binary"]["rows"].get<std::vector<std::vector<float>>>();
    return out;
  }();
  return d;
}

std::vector<float> batch(std::size_t rows, std::size_t offset) {
  std::vector<float> flat;
  for (std::size_t r = 0; r < rows; ++r) {
    const auto& row = data().rows[(offset + r) % data().rows.size()];
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return flat;
}

void BM_BareCApi(benchmark::State& state) {
  BoosterHandle booster;
  XGBoosterCreate(nullptr, 0, &booster);
  if (XGBoosterLoadModel(booster, data().model.c_str()) != 0) state.SkipWithError("load failed");
  XGBoosterSetParam(booster, "nthread", "1");
  const char* config = R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,)"
                       R"("strict_shape":false,"missing":NaN,"cache_id":0})";
  const auto rows = static_cast<std::size_t>(state.range(0));
  std::vector<std::vector<float>> batches;
  for (std::size_t i = 0; i < 16; ++i) batches.push_back(batch(rows, i * rows));
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& b = batches[i++ % batches.size()];
    char header[160];
    std::snprintf(header, sizeof header,
                  R"({"data":[%)" PRIuPTR R"(,true],"shape":[%zu,20],"typestr":"<f4","version":3})",
                  reinterpret_cast<std::uintptr_t>(b.data()), rows);
    const bst_ulong* shape;
    bst_ulong dims;
    const float* result;
    XGBoosterPredictFromDense(booster, header, config, nullptr, &shape, &dims, &result);
    benchmark::DoNotOptimize(result[0]);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(rows));
  XGBoosterFree(booster);
}

void BM_Backend(benchmark::State& state) {
  auto backend = kiln::runtime::load_xgboost(data().model);
  if (!backend.ok()) {
    state.SkipWithError(backend.error().message().c_str());
    return;
  }
  const auto rows = static_cast<std::int64_t>(state.range(0));
  std::vector<Tensor> inputs;
  for (std::size_t i = 0; i < 16; ++i) {
    inputs.push_back({"input",
                      DataType::kFp32,
                      {rows, 20},
                      batch(static_cast<std::size_t>(rows), i * static_cast<std::size_t>(rows))});
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto out = (*backend)->predict(std::span(&inputs[i++ % inputs.size()], 1));
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * rows);
}

void BM_DecodePredictEncode(benchmark::State& state) {
  auto backend = kiln::runtime::load_xgboost(data().model);
  if (!backend.ok()) {
    state.SkipWithError(backend.error().message().c_str());
    return;
  }
  std::vector<std::string> bodies;
  for (const auto& row : data().rows) {
    bodies.push_back(nlohmann::json{
        {"inputs", {{{"name", "input"}, {"shape", {1, 20}}, {"datatype", "FP32"}, {"data", row}}}}}
                         .dump());
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto request = kiln::runtime::decode_infer_request(bodies[i++ % bodies.size()]);
    auto out = (*backend)->predict(request->inputs);
    auto body = kiln::runtime::encode_infer_response({"m", "1", "", {}, std::move(out).value()});
    benchmark::DoNotOptimize(body);
  }
}

BENCHMARK(BM_BareCApi)->Arg(1)->Arg(100);
BENCHMARK(BM_Backend)->Arg(1)->Arg(100);
BENCHMARK(BM_DecodePredictEncode);

}  // namespace

BENCHMARK_MAIN();
