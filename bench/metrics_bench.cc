// Costs of the metrics hot paths, quoted in src/common/metrics.h. Run:
//   build/bench/kiln-bench-metrics
// Multi-threaded variants share one child, so they measure contention on its cache line (and, for
// with(), on the family mutex).

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <string>

#include "common/metrics.h"

namespace kiln::metrics {
namespace {

// Shared by all benchmark threads; function-local statics are initialized once, thread-safely.
Registry& registry() {
  static Registry instance;
  return instance;
}

Family<Counter>& requests() {
  static Family<Counter>& family =
      registry().counter("kiln_bench_requests_total", "Requests.", {"method", "code"});
  return family;
}

void BM_CounterIncHeldChild(benchmark::State& state) {
  Counter& counter = requests().with({"GET", "200"});
  for (auto _ : state) counter.inc();
}
BENCHMARK(BM_CounterIncHeldChild)->ThreadRange(1, 2);

void BM_FamilyWithLookupAndInc(benchmark::State& state) {
  Family<Counter>& family = requests();
  for (auto _ : state) family.with({"GET", "200"}).inc();
}
BENCHMARK(BM_FamilyWithLookupAndInc)->ThreadRange(1, 2);

void BM_HistogramObserve(benchmark::State& state) {
  static Histogram& histogram =
      registry().histogram("kiln_bench_duration_seconds", "Durations.").with({});
  // Values spread over the default buckets so the bucket search is not always the same.
  constexpr std::array<double, 8> kValues = {0.001, 0.02, 0.07, 0.3, 0.9, 2, 7, 30};
  std::size_t i = 0;
  for (auto _ : state) histogram.observe(kValues[i++ % kValues.size()]);
}
BENCHMARK(BM_HistogramObserve)->ThreadRange(1, 2);

void BM_Expose100Children(benchmark::State& state) {
  Registry local;
  auto& family = local.counter("kiln_bench_calls_total", "Calls.", {"verb", "code"});
  for (int i = 0; i < 100; ++i) family.with({"GET", std::to_string(i)}).inc(i);
  for (auto _ : state) benchmark::DoNotOptimize(local.expose());
}
BENCHMARK(BM_Expose100Children);

}  // namespace
}  // namespace kiln::metrics
