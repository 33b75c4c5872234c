// Drift benchmarks (one core):
//   BM_ProfileAdd*      cost of one profile update, per value (the serving runtime pays it per
//                       request and feature).
//   BM_Observe100       one 100-feature row through Profile::observe.
//   BM_SortFinite*      one million normal doubles: sort_finite (our radix sort) against
//   Boost.Sort's
//                       spreadsort and std::sort, each after the same finite-value copy.
//   BM_Wasserstein*     W1 of two million-value samples: wasserstein_unsorted (bucketed) against
//                       sorting both and walking them; the same distribution and a shifted one.
//   BM_ExactCompare     compare_tables on ROWS x 100 features (50 numerical, 50 categorical),
//                       reference and current of ROWS rows each (ROWS = KILN_DRIFT_BENCH_ROWS,
//                       default 1,000,000), Evidently's automatic tests.
//   BM_SketchCompare    the same data in sketch mode: profile both datasets, then compare.
// With KILN_DRIFT_BENCH_DUMP=DIR the generated data is also written there (raw little-endian
// float64 / int32 columns plus meta.json) for bench/drift/evidently_bench.py.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <boost/sort/spreadsort/float_sort.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "drift/detect.h"
#include "drift/profile.h"
#include "drift/sort.h"
#include "drift/stattests.h"

namespace kiln::drift {
namespace {

constexpr int kNumerical = 50, kCategorical = 50, kCategories = 20;

std::size_t bench_rows() {
  const char* env = std::getenv("KILN_DRIFT_BENCH_ROWS");
  return env ? std::strtoull(env, nullptr, 10) : 1000000;
}

// Column j of a dataset; `shift` moves every third numerical feature and skews every third
// categorical one, so about a third of the features drift.
Table make_dataset(std::size_t rows, uint64_t seed, double shift) {
  std::mt19937_64 rng(seed);
  Table t;
  for (int j = 0; j < kNumerical; ++j) {
    std::normal_distribution<double> d(j % 3 == 0 ? shift : 0.0, 1.0 + j % 5);
    Column c;
    c.name = "num" + std::to_string(j);
    c.values.resize(rows);
    for (double& v : c.values) v = d(rng);
    t.columns.push_back(std::move(c));
  }
  for (int j = 0; j < kCategorical; ++j) {
    std::geometric_distribution<int> d(j % 3 == 0 && shift > 0 ? 0.25 : 0.2);
    Column c;
    c.name = "cat" + std::to_string(j);
    c.type = ColumnType::kCategorical;
    for (int k = 0; k < kCategories; ++k) c.dictionary.push_back("v" + std::to_string(k));
    c.codes.resize(rows);
    for (int32_t& v : c.codes) v = std::min(d(rng), kCategories - 1);
    t.columns.push_back(std::move(c));
  }
  return t;
}

void dump(const Table& t, const std::filesystem::path& dir, const std::string& side) {
  std::filesystem::create_directories(dir);
  for (const Column& c : t.columns) {
    std::ofstream out(dir / (side + "_" + c.name + ".bin"), std::ios::binary);
    if (c.type == ColumnType::kNumerical) {
      out.write(reinterpret_cast<const char*>(c.values.data()),
                static_cast<std::streamsize>(c.values.size() * sizeof(double)));
    } else {
      out.write(reinterpret_cast<const char*>(c.codes.data()),
                static_cast<std::streamsize>(c.codes.size() * sizeof(int32_t)));
    }
  }
  std::ofstream meta(dir / "meta.json");
  meta << "{\"rows\": " << t.rows() << ", \"numerical\": " << kNumerical
       << ", \"categorical\": " << kCategorical << ", \"categories\": " << kCategories << "}\n";
}

struct Data {
  Table reference, current;
};

const Data& data() {
  static const Data d = [] {
    Data out{make_dataset(bench_rows(), 1, 0.0), make_dataset(bench_rows(), 2, 0.1)};
    if (const char* dir = std::getenv("KILN_DRIFT_BENCH_DUMP")) {
      dump(out.reference, dir, "reference");
      dump(out.current, dir, "current");
    }
    return out;
  }();
  return d;
}

void BM_ProfileAddNumerical(benchmark::State& state) {
  auto base = Profile::from_table(Table{{Column::numerical("x", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})}});
  FeatureProfile f = base->feature(0);
  std::mt19937_64 rng(3);
  std::normal_distribution<double> d(4, 3);
  std::vector<double> xs(4096);
  for (double& x : xs) x = d(rng);
  std::size_t i = 0;
  for (auto _ : state) {
    f.add(xs[i++ & 4095]);
  }
  benchmark::DoNotOptimize(f.count());
  state.counters["ns_per_value"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ProfileAddNumerical);

void BM_ProfileAddCategorical(benchmark::State& state) {
  std::vector<std::optional<std::string>> cells;
  for (int k = 0; k < 50; ++k) cells.push_back("category-" + std::to_string(k));
  auto base = Profile::from_table(Table{{Column::categorical("c", cells)}});
  FeatureProfile f = base->feature(0);
  std::vector<std::string> values;
  for (int k = 0; k < 64; ++k) values.push_back("category-" + std::to_string(k));  // 14 unseen
  std::size_t i = 0;
  for (auto _ : state) {
    f.add(std::string_view(values[i++ & 63]));
  }
  benchmark::DoNotOptimize(f.count());
  state.counters["ns_per_value"] =
      benchmark::Counter(static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ProfileAddCategorical);

void BM_Observe100(benchmark::State& state) {
  const Table sample = make_dataset(2000, 4, 0.0);
  auto base = Profile::from_table(sample);
  Profile live = base->empty_like();
  std::vector<std::vector<Cell>> rows(256, std::vector<Cell>(sample.columns.size()));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t j = 0; j < sample.columns.size(); ++j) {
      const Column& c = sample.columns[j];
      rows[r][j] = c.type == ColumnType::kNumerical
                       ? Cell{c.values[r]}
                       : Cell{std::string_view(c.dictionary[c.codes[r]])};
    }
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(live.observe(rows[i++ & 255]).ok());
  }
  state.counters["ns_per_row_per_feature"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(sample.columns.size()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Observe100);

const std::vector<double>& sort_input() {
  static const std::vector<double> values = [] {
    std::mt19937_64 rng(5);
    std::normal_distribution<double> d(0, 3);
    std::vector<double> out(1000000);
    for (double& v : out) v = d(rng);
    return out;
  }();
  return values;
}

void BM_SortFiniteRadix(benchmark::State& state) {
  std::vector<double> out;
  SortScratch scratch;
  for (auto _ : state) {
    sort_finite(sort_input(), out, scratch);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_SortFiniteRadix)->Unit(benchmark::kMillisecond);

template <class Sort>
void sort_copy(benchmark::State& state, Sort sort) {
  std::vector<double> out;
  for (auto _ : state) {
    out.clear();
    for (double v : sort_input()) {
      if (std::isfinite(v)) out.push_back(v);
    }
    sort(out);
    benchmark::DoNotOptimize(out.data());
  }
}
void BM_SortFiniteSpreadsort(benchmark::State& state) {
  sort_copy(state, [](std::vector<double>& v) {
    boost::sort::spreadsort::float_sort(v.begin(), v.end());
  });
}
BENCHMARK(BM_SortFiniteSpreadsort)->Unit(benchmark::kMillisecond);
void BM_SortFiniteStdSort(benchmark::State& state) {
  sort_copy(state, [](std::vector<double>& v) { std::sort(v.begin(), v.end()); });
}
BENCHMARK(BM_SortFiniteStdSort)->Unit(benchmark::kMillisecond);

// W1 of two samples of a million normal doubles, the same distribution (arg 0: the CDFs cross
// often) or the second shifted by 0.1 standard deviations (arg 1): the bucketed form against
// sorting both samples and walking them.
const std::vector<double>& wasserstein_input(bool shifted) {
  static const std::vector<double> same = [] {
    std::mt19937_64 rng(6);
    std::normal_distribution<double> d(0, 3);
    std::vector<double> out(1000000);
    for (double& v : out) v = d(rng);
    return out;
  }();
  static const std::vector<double> moved = [] {
    std::vector<double> out = same;
    for (double& v : out) v += 0.3;
    return out;
  }();
  return shifted ? moved : same;
}

void BM_WassersteinUnsorted(benchmark::State& state) {
  WassersteinScratch scratch;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        wasserstein_unsorted(sort_input(), wasserstein_input(state.range(0) != 0), scratch));
  }
}
BENCHMARK(BM_WassersteinUnsorted)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_WassersteinSortBoth(benchmark::State& state) {
  std::vector<double> a, b;
  SortScratch scratch;
  for (auto _ : state) {
    sort_finite(sort_input(), a, scratch);
    sort_finite(wasserstein_input(state.range(0) != 0), b, scratch);
    benchmark::DoNotOptimize(wasserstein_sorted(a, b));
  }
}
BENCHMARK(BM_WassersteinSortBoth)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_ExactCompare(benchmark::State& state) {
  const Data& d = data();
  for (auto _ : state) {
    auto report = compare_tables(d.reference, d.current);
    benchmark::DoNotOptimize(report->drift_share);
    state.counters["drifted_features"] = static_cast<double>(report->drifted_features);
  }
  state.counters["rows"] = static_cast<double>(d.reference.rows());
}
BENCHMARK(BM_ExactCompare)->Unit(benchmark::kSecond)->Iterations(1);

void BM_SketchCompare(benchmark::State& state) {
  const Data& d = data();
  for (auto _ : state) {
    auto reference = Profile::from_table(d.reference);
    auto current = reference->profile_of(d.current);
    auto report = compare_profiles(*reference, *current);
    benchmark::DoNotOptimize(report->drift_share);
    state.counters["drifted_features"] = static_cast<double>(report->drifted_features);
  }
  state.counters["rows"] = static_cast<double>(d.reference.rows());
}
BENCHMARK(BM_SketchCompare)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace
}  // namespace kiln::drift

BENCHMARK_MAIN();
