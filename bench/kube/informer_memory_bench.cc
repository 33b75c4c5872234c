// Informer cache memory: RSS per cached object for 10,000 ConfigMaps and 10,000 pod-shaped
// objects, with and without the managedFields transform, in both store forms (parsed trees,
// compact dictionary-compressed MessagePack; kube/store.h); plus stripped pods that differ as real
// ones do (their own UIDs, container IDs, IPs, times), which compress less. Objects are JSON text
// shaped as the kube-apiserver returns them (managedFields of a client-side apply, a pod's spec
// and status), in List pages of 500, through the informer's own path (watcher::read_list_page,
// then CacheWriter: items decoded one at a time, transform, Store::Builder, swap). Each line gives
// RSS and the allocator's live bytes per object. BM_StoreGet times one read of each form.
// Anchor: controller-runtime caches 3.7-9 KB per pod; our target is <= 2,048 bytes per stripped
// object.
//
// Run: build-*/bench/kiln-bench-informer-memory   (no cluster needed)

#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "kube/informer.h"
#include "kube/store.h"

namespace {

using nlohmann::json;

long rss_bytes() {
  malloc_trim(0);
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

std::string managed_fields(const std::string& fields) {
  return R"([{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"v1",)"
         R"("time":"2026-11-21T15:20:15Z","fieldsType":"FieldsV1","fieldsV1":)" +
         fields + "}]";
}

std::string config_map(int i) {
  std::string n = std::to_string(i);
  return R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"settings-)" + n +
         R"(","namespace":"bench","uid":"8f1c6f2e-3b7a-4c1d-9e2f-)" +
         std::to_string(100000000000 + i) + R"(","resourceVersion":")" +
         std::to_string(100000 + i) +
         R"(","creationTimestamp":"2026-11-21T15:20:15Z","labels":{"app":"web","tier":"frontend"},)"
         R"("annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"data\":{\"LOG_LEVEL\":\"info\",\"MAX_CONNECTIONS\":\"100\",\"MODE\":\"serve\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"labels\":{\"app\":\"web\",\"tier\":\"frontend\"},\"name\":\"settings\",\"namespace\":\"bench\"}}\n"},)"
         R"("managedFields":)" +
         managed_fields(
             R"({"f:data":{".":{},"f:LOG_LEVEL":{},"f:MAX_CONNECTIONS":{},"f:MODE":{}},"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}},"f:labels":{".":{},"f:app":{},"f:tier":{}}}})") +
         R"(},"data":{"LOG_LEVEL":"info","MAX_CONNECTIONS":"100","MODE":"serve"}})";
}

std::string pod(int i) {
  std::string n = std::to_string(i);
  return R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-7d4b9c8f6d-)" + n +
         R"(","generateName":"web-7d4b9c8f6d-","namespace":"bench","uid":"5d0c1a9e-2f3b-4a6c-8d7e-)" +
         std::to_string(100000000000 + i) + R"(","resourceVersion":")" +
         std::to_string(200000 + i) +
         R"(","creationTimestamp":"2026-11-21T15:20:15Z","labels":{"app":"web","pod-template-hash":"7d4b9c8f6d"},)"
         R"("ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d4b9c8f6d","uid":"0b7e2c4d-1a3f-4e5b-9c8d-7f6e5d4c3b2a","controller":true,"blockOwnerDeletion":true}],)"
         R"("managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":"2026-11-21T15:20:15Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"0b7e2c4d-1a3f-4e5b-9c8d-7f6e5d4c3b2a\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},"f:resources":{".":{},"f:limits":{".":{},"f:memory":{}},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}},)"
         R"({"manager":"kubelet","operation":"Update","apiVersion":"v1","time":"2026-11-21T15:20:19Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Initialized\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\"ip\":\"10.244.1.17\"}":{".":{},"f:ip":{}}},"f:startTime":{}}},"subresource":"status"}]},)"
         R"("spec":{"volumes":[{"name":"kube-api-access-x7k2p","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],)"
         R"("containers":[{"name":"web","image":"registry.example.com/web:1.4.2","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"limits":{"memory":"256Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},"volumeMounts":[{"name":"kube-api-access-x7k2p","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],)"
         R"("restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","serviceAccount":"default","nodeName":"node-3","securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},)"
         R"("status":{"phase":"Running","conditions":[{"type":"Initialized","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-21T15:20:15Z"},{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-21T15:20:19Z"},{"type":"ContainersReady","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-21T15:20:19Z"},{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-11-21T15:20:15Z"}],)"
         R"("hostIP":"10.0.0.13","podIP":"10.244.1.17","podIPs":[{"ip":"10.244.1.17"}],"startTime":"2026-11-21T15:20:15Z","containerStatuses":[{"name":"web","state":{"running":{"startedAt":"2026-11-21T15:20:18Z"}},"lastState":{},"ready":true,"restartCount":0,"image":"registry.example.com/web:1.4.2","imageID":"registry.example.com/web@sha256:4f5e6d7c8b9a0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0","containerID":"containerd://9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b","started":true}],"qosClass":"Burstable"}})";
}

// `len` hex digits that look random, a function of (i, salt) (splitmix64's finalizer).
std::string hex_id(int i, int salt, int len) {
  std::uint64_t x = (static_cast<std::uint64_t>(i) << 8 | static_cast<std::uint64_t>(salt)) +
                    0x9E3779B97F4A7C15ULL;
  std::string out;
  while (static_cast<int>(out.size()) < len) {
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
    for (int k = 0; k < 16 && static_cast<int>(out.size()) < len; ++k, x >>= 4) {
      out += "0123456789abcdef"[x & 15];
    }
  }
  return out;
}

// pod(i) with what differs between real pods of one ReplicaSet made per pod: a random name
// suffix, UID, container ID and volume name, its own pod IP, node and start times. These bytes
// do not compress; pod(i)'s few differing numbers do, which flatters the compact form.
std::string pod_with_own_ids(int i) {
  std::string s = pod(i);
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
  };
  const std::string n = std::to_string(i);
  replace_all("web-7d4b9c8f6d-" + n + "\"", "web-7d4b9c8f6d-" + hex_id(i, 1, 4) + n + "\"");
  replace_all("5d0c1a9e-2f3b-4a6c-8d7e-" + std::to_string(100000000000 + i),
              hex_id(i, 2, 8) + "-" + hex_id(i, 3, 4) + "-" + hex_id(i, 4, 4) + "-" +
                  hex_id(i, 5, 4) + "-" + hex_id(i, 6, 12));
  replace_all("9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b", hex_id(i, 7, 64));
  replace_all("x7k2p", hex_id(i, 8, 5));
  replace_all("10.244.1.17",
              "10.244." + std::to_string(i / 250 % 250) + "." + std::to_string(i % 250));
  replace_all("\"node-3\"", "\"node-" + std::to_string(i * 7 % 97) + "\"");
  const std::string day = "2026-11-2" + std::to_string(i % 9) + "T1" + std::to_string(i % 10) + ":";
  replace_all("2026-11-21T15:20:15Z", day + std::to_string(10 + i % 50) + ":15Z");
  replace_all("2026-11-21T15:20:18Z",
              day + std::to_string(10 + i % 50) + ":" + std::to_string(20 + i * 3 % 40) + "Z");
  replace_all("2026-11-21T15:20:19Z",
              day + std::to_string(10 + i % 50) + ":" + std::to_string(20 + i * 7 % 40) + "Z");
  return s;
}

// The JSON text of one page of a List, as the API server sends it (items without kind/apiVersion).
std::string list_text(std::string (*make)(int), const char* kind, int from, int count) {
  std::string text = std::string(R"({"kind":")") + kind +
                     R"(List","apiVersion":"v1","metadata":{"resourceVersion":"300000"},"items":[)";
  for (int i = from; i < from + count; ++i) {
    json item = json::parse(make(i));
    item.erase("kind");
    item.erase("apiVersion");
    text += (i > from ? "," : "") + item.dump();
  }
  return text + "]}";
}

// Fills a Store with `count` objects made by `make`, transformed or not, as an informer's first
// list does: pages of kPage objects as JSON text, read by the watcher's read_list_page and handed
// to a CacheWriter (the informer's; a handler counts the adds, as a controller enqueues them),
// which decodes the items one at a time, transforms each and adds it to the store's builder; then
// Restarted swaps the list in. Returns RSS bytes/object and the allocator's live bytes/object
// (mallinfo2: what the cache really holds; RSS also counts heap pages that decoding left
// fragmented).
struct Measured {
  double rss = 0;     // Bytes per object.
  double in_use = 0;  // Bytes per object.
  size_t codec = 0;   // The store's dictionary and zstd contexts (compact), bytes; in both above.
};

Measured bytes_per_object(std::string (*make)(int), const kiln::kube::ResourceRef& resource,
                          const char* kind, bool strip, bool compact, int count) {
  constexpr int kPage = 500;       // WatcherOptions::page_size's default.
  std::vector<std::string> pages;  // Made before measuring: the API server's side.
  for (int from = 0; from < count; from += kPage) {
    pages.push_back(list_text(make, kind, from, std::min(kPage, count - from)));
  }
  kiln::kube::Store store(kiln::kube::StoreOptions{.compact = compact});
  long before = rss_bytes();
  const auto used_before = static_cast<double>(mallinfo2().uordblks);
  {
    kiln::kube::CacheWriter writer(store, strip ? kiln::kube::strip_managed_fields : nullptr);
    int adds = 0;
    writer.add_handler({.on_add = [&](const kiln::kube::ObjectPtr&) { ++adds; }});
    for (size_t i = 0; i < pages.size(); ++i) {  // A fresh copy: the response body.
      auto page = kiln::kube::watcher::read_list_page(pages[i], resource, i == 0);
      if (!page.ok()) std::abort();
      kiln::kube::watcher::Event event = std::move(page).value();
      writer.apply(event);
    }
    kiln::kube::watcher::Event done = kiln::kube::watcher::Restarted{"300000"};
    writer.apply(done);
    if (adds != count || store.size() != static_cast<size_t>(count)) std::abort();
  }
  long after = rss_bytes();
  return {.rss = static_cast<double>(after - before) / count,
          .in_use = (static_cast<double>(mallinfo2().uordblks) - used_before) / count,
          .codec = store.codec_bytes()};
}

// Objects by the benchmarks' first argument.
struct Kind {
  const char* label;
  std::string (*make)(int);
  const kiln::kube::ResourceRef& resource;
  const char* kind;
};
const Kind kKinds[] = {
    {"10000 ConfigMaps", config_map, kiln::kube::resources::kConfigMaps, "ConfigMap"},
    {"10000 pod-shaped objects", pod, kiln::kube::resources::kPods, "Pod"},
    {"10000 pod-shaped objects with their own IDs", pod_with_own_ids, kiln::kube::resources::kPods,
     "Pod"},
};

void BM_InformerMemory(benchmark::State& state) {
  const Kind& kind = kKinds[state.range(0)];
  bool strip = state.range(1) == 1;
  bool compact = state.range(2) == 1;
  constexpr int kObjects = 10000;
  Measured m;
  for (auto _ : state) {
    m = bytes_per_object(kind.make, kind.resource, kind.kind, strip, compact, kObjects);
  }
  state.counters["bytes_per_object"] = m.rss;
  state.counters["in_use_bytes_per_object"] = m.in_use;
  state.counters["codec_bytes"] = static_cast<double>(m.codec);
  std::printf(
      "%s, %s, %s store: %.0f bytes per cached object (RSS; in use: %.0f; of which the store's "
      "dictionary and zstd contexts: %zu bytes in all)\n",
      kind.label, strip ? "managedFields stripped" : "as served", compact ? "compact" : "parsed",
      m.rss, m.in_use, m.codec);
}
BENCHMARK(BM_InformerMemory)
    ->ArgsProduct({{0, 1}, {0, 1}, {0, 1}})
    ->ArgNames({"kind", "strip", "compact"})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_InformerMemory)  // Pods with their own IDs: stripped, both forms.
    ->ArgsProduct({{2}, {1}, {0, 1}})
    ->ArgNames({"kind", "strip", "compact"})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// What a read costs: Store::get() of one of 10,000 stripped objects, by key, in either form
// (parsed: a shared_ptr copy; compact: zstd decompression and MessagePack decoding of a tree).
void BM_StoreGet(benchmark::State& state) {
  const Kind& kind = kKinds[state.range(0)];
  bool compact = state.range(1) == 1;
  constexpr int kObjects = 10000;
  kiln::kube::Store store(kiln::kube::StoreOptions{.compact = compact});
  std::vector<std::string> keys;
  {
    auto builder = store.builder();
    for (int i = 0; i < kObjects; ++i) {
      json object = json::parse(kind.make(i));
      kiln::kube::strip_managed_fields(object);
      keys.push_back(kiln::kube::object_key(object));
      builder.add(std::make_shared<const json>(std::move(object)));
    }
    store.replace(std::move(builder));
  }
  size_t i = 0;
  for (auto _ : state) {
    auto object = store.get(keys[i++ % keys.size()]);
    benchmark::DoNotOptimize(object);
  }
}
BENCHMARK(BM_StoreGet)
    ->ArgsProduct({{0, 1, 2}, {0, 1}})
    ->ArgNames({"kind", "compact"})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
