// Throughput of a trivial controller: for every ConfigMap labelled bench=throughput it writes
// one annotation (one merge patch), through an informer, a work queue and 4 workers, with the
// client limited to QPS 20 / burst 30 (client-go's default) and unthrottled. Prints objects/s and
// the share of the QPS budget spent on useful writes (target >= 90%). Anchor: Argo Workflows'
// 270 workflows/min (4.5/s) at QPS 20.
//
// Needs a cluster: KUBECONFIG=... build-*/bench/kiln-bench-controller-throughput
// Objects: 10,000 unthrottled; the throttled run uses 2,000 (100 s at 20/s; the budget-bound
// rate does not depend on the count). KILN_BENCH_OBJECTS overrides both. Each count has a
// namespace of its own (kiln-bench-throughput-<n>), so a run writes exactly the objects it waits
// for: with one shared namespace, a throttled run after an unthrottled one saw 10,000 objects,
// stopped counting at 2,000, and then spent 400 s draining the other 8,000 patches in stop().
// A run whose writes stop progressing for kStallTimeout ends with an error instead of waiting.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "kube/controller.h"

namespace {

using namespace kiln::kube;
using nlohmann::json;

constexpr auto kStallTimeout = std::chrono::seconds(60);

std::string namespace_for(int n) { return "kiln-bench-throughput-" + std::to_string(n); }

std::unique_ptr<Client> make_client(double qps, int burst) {
  const char* path = std::getenv("KUBECONFIG");
  auto config = load_kubeconfig(path ? path : "");
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.error().to_string().c_str());
    std::exit(1);
  }
  config->qps = qps;
  config->burst = burst;
  return std::move(Client::create(*config)).value();
}

// Creates, in namespace_for(n), objects bench-0..n-1 that do not exist yet (4 writers,
// unthrottled; AlreadyExists is fine).
void ensure_objects(int n) {
  auto client = make_client(0, 1);
  const std::string ns = namespace_for(n);
  (void)client->create(resources::kNamespaces, "",
                       {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  auto existing =
      client->list_all(resources::kConfigMaps, ns, {.label_selector = "bench=throughput"});
  size_t have = existing.ok() ? (*existing)["items"].size() : 0;
  if (have >= static_cast<size_t>(n)) return;
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = w; i < n; i += 4) {
        (void)client->create(
            resources::kConfigMaps, ns,
            {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata",
              {{"name", "bench-" + std::to_string(i)}, {"labels", {{"bench", "throughput"}}}}},
             {"data", {{"k", "v"}}}});
      }
    });
  }
  for (auto& t : writers) t.join();
}

// Writes annotation kiln.dev/run=<run> on each object that lacks it: one patch per object.
class AnnotateReconciler : public Reconciler {
 public:
  AnnotateReconciler(Client& client, Informer& informer, std::string run)
      : client_(client), informer_(informer), run_(std::move(run)) {}
  kiln::Result<Requeue> reconcile(const ObjectKey& key) override {
    auto object = informer_.store().get(key.str());
    if (!object) return Requeue{};
    const auto& meta = (*object)["metadata"];
    if (meta.contains("annotations") && meta["annotations"].value("kiln.dev/run", "") == run_) {
      return Requeue{};
    }
    auto patched = client_.merge_patch(resources::kConfigMaps, key.ns, key.name,
                                       {{"metadata", {{"annotations", {{"kiln.dev/run", run_}}}}}});
    if (!patched.ok()) return std::move(patched).error();
    ++writes;
    return Requeue{};
  }
  std::atomic<int> writes{0};

 private:
  Client& client_;
  Informer& informer_;
  std::string run_;
};

double total_requests(Client& client) {
  double total = 0;
  for (const char* verb : {"GET", "PATCH"}) {
    for (const char* code : {"200", "201", "404", "409", "429", "500"}) {
      total += client.metrics().requests.with({verb, code}).value();
    }
  }
  return total + client.metrics().requests.with({"WATCH", "opened"}).value();
}

// Waits until `target` writes are done or none happened for kStallTimeout. Returns the writes
// at that moment and whether it gave up.
std::pair<int, bool> wait_for_writes(const AnnotateReconciler& reconciler, int target) {
  int last = reconciler.writes.load();
  auto last_progress = std::chrono::steady_clock::now();
  while (true) {
    int now = reconciler.writes.load();
    if (now >= target) return {now, false};
    if (now != last) {
      last = now;
      last_progress = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_progress > kStallTimeout) {
      return {now, true};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void BM_ControllerThroughput(benchmark::State& state) {
  double qps = static_cast<double>(state.range(0));
  int burst = qps > 0 ? 30 : 1;
  const char* env = std::getenv("KILN_BENCH_OBJECTS");
  int n = env ? std::atoi(env) : (qps > 0 ? 2000 : 10000);
  if (n <= 0) return state.SkipWithError("KILN_BENCH_OBJECTS must be a positive count");
  ensure_objects(n);
  for (auto _ : state) {
    auto client = make_client(qps, burst);
    std::string run = std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    Informer informer(*client, resources::kConfigMaps,
                      {.ns = namespace_for(n), .label_selector = "bench=throughput"},
                      {.transform = strip_managed_fields});
    AnnotateReconciler reconciler(*client, informer, run);
    Controller controller("throughput", reconciler, {.workers = 4});
    controller.watch_primary(informer);
    auto start = std::chrono::steady_clock::now();
    informer.start();
    if (!informer.wait_for_sync(std::chrono::minutes(5))) {
      return state.SkipWithError("the informer did not sync within 5 minutes");
    }
    controller.start();
    // Every object in the namespace needs exactly one write.
    int target = static_cast<int>(informer.store().size());
    auto [written, stalled] = wait_for_writes(reconciler, target);
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double requests = total_requests(*client);
    controller.stop();
    informer.stop();
    if (stalled) {
      std::printf("stalled: %d of %d objects written, none for %lld s\n", written, target,
                  static_cast<long long>(kStallTimeout.count()));
      return state.SkipWithError("writes stopped progressing");
    }
    double rate = written / elapsed;
    state.counters["objects_per_s"] = rate;
    if (qps > 0) {
      std::printf(
          "QPS %.0f/%d: %d objects in %.1f s = %.1f objects/s; useful writes %.0f%% of the "
          "QPS budget, %.0f%% of requests\n",
          qps, burst, written, elapsed, rate, 100 * rate / qps, 100 * written / requests);
    } else {
      std::printf(
          "unthrottled: %d objects in %.1f s = %.1f objects/s; useful writes %.0f%% of "
          "requests\n",
          written, elapsed, rate, 100 * written / requests);
    }
  }
}
BENCHMARK(BM_ControllerThroughput)
    ->Arg(20)
    ->Arg(0)
    ->ArgName("qps")
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace
