// Costs of the metrics hot paths, quoted in src/common/metrics.h: ours (kiln::metrics, a thin
// layer over prometheus-cpp) against theirs (prometheus-cpp's core called directly) in the same
// run, so the figures show what our layer adds. Run:
//   build/bench/kiln-bench-metrics
// Each pair is Kiln<Operation> and PrometheusCpp<Operation>. Multi-threaded variants share one
// child, so they measure contention on its cache line (and, for a lookup, on the family's mutex).

#include <benchmark/benchmark.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <cstddef>
#include <string>

#include "common/metrics.h"

namespace kiln::metrics {
namespace {

// Values spread over the default buckets so the bucket search is not always the same.
constexpr std::array<double, 8> kObservations = {0.001, 0.02, 0.07, 0.3, 0.9, 2, 7, 30};

// ---- Ours ----

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

void BM_KilnCounterIncHeldChild(benchmark::State& state) {
  Counter& counter = requests().with({"GET", "200"});
  for (auto _ : state) counter.inc();
}
BENCHMARK(BM_KilnCounterIncHeldChild)->ThreadRange(1, 2);

void BM_KilnWithLookupAndInc(benchmark::State& state) {
  Family<Counter>& family = requests();
  for (auto _ : state) family.with({"GET", "200"}).inc();
}
BENCHMARK(BM_KilnWithLookupAndInc)->ThreadRange(1, 2);

void BM_KilnHistogramObserve(benchmark::State& state) {
  static Histogram& histogram =
      registry().histogram("kiln_bench_duration_seconds", "Durations.").with({});
  std::size_t i = 0;
  for (auto _ : state) histogram.observe(kObservations[i++ % kObservations.size()]);
}
BENCHMARK(BM_KilnHistogramObserve)->ThreadRange(1, 2);

void BM_KilnExpose100Children(benchmark::State& state) {
  Registry local;
  auto& family = local.counter("kiln_bench_calls_total", "Calls.", {"verb", "code"});
  for (int i = 0; i < 100; ++i) family.with({"GET", std::to_string(i)}).inc(i);
  for (auto _ : state) benchmark::DoNotOptimize(local.expose());
}
BENCHMARK(BM_KilnExpose100Children);

// ---- Theirs: the same operations on prometheus-cpp directly ----

prometheus::Registry& raw_registry() {
  static prometheus::Registry instance;
  return instance;
}

prometheus::Family<prometheus::Counter>& raw_requests() {
  static prometheus::Family<prometheus::Counter>& family = prometheus::BuildCounter()
                                                               .Name("kiln_bench_requests_total")
                                                               .Help("Requests.")
                                                               .Register(raw_registry());
  return family;
}

void BM_PrometheusCppCounterIncHeldChild(benchmark::State& state) {
  prometheus::Counter& counter = raw_requests().Add({{"method", "GET"}, {"code", "200"}});
  for (auto _ : state) counter.Increment(1);
}
BENCHMARK(BM_PrometheusCppCounterIncHeldChild)->ThreadRange(1, 2);

void BM_PrometheusCppWithLookupAndInc(benchmark::State& state) {
  prometheus::Family<prometheus::Counter>& family = raw_requests();
  for (auto _ : state) family.Add({{"method", "GET"}, {"code", "200"}}).Increment(1);
}
BENCHMARK(BM_PrometheusCppWithLookupAndInc)->ThreadRange(1, 2);

void BM_PrometheusCppHistogramObserve(benchmark::State& state) {
  static prometheus::Histogram& histogram = prometheus::BuildHistogram()
                                                .Name("kiln_bench_duration_seconds")
                                                .Help("Durations.")
                                                .Register(raw_registry())
                                                .Add({}, default_buckets());
  std::size_t i = 0;
  for (auto _ : state) histogram.Observe(kObservations[i++ % kObservations.size()]);
}
BENCHMARK(BM_PrometheusCppHistogramObserve)->ThreadRange(1, 2);

void BM_PrometheusCppExpose100Children(benchmark::State& state) {
  prometheus::Registry local;
  auto& family =
      prometheus::BuildCounter().Name("kiln_bench_calls_total").Help("Calls.").Register(local);
  for (int i = 0; i < 100; ++i) {
    family.Add({{"verb", "GET"}, {"code", std::to_string(i)}}).Increment(i);
  }
  const prometheus::TextSerializer serializer;
  for (auto _ : state) benchmark::DoNotOptimize(serializer.Serialize(local.Collect()));
}
BENCHMARK(BM_PrometheusCppExpose100Children);

}  // namespace
}  // namespace kiln::metrics
