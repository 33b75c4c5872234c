#include "test_cluster.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace kiln::kube::testing {
namespace {

const std::string kClusterEnv = std::string("KILN_CLUSTER_DIR=") + KILN_KUBE_CLUSTER_DIR +
                                " KILN_ETCD_PORT=24790 KILN_ETCD_PEER_PORT=24800"
                                " KILN_APISERVER_PORT=27443";

}  // namespace

Config cluster_config() {
  const char* path = std::getenv("KUBECONFIG");
  if (path == nullptr) ADD_FAILURE() << "KUBECONFIG is not set (run through ctest)";
  auto config = load_kubeconfig(path ? path : "");
  if (!config.ok()) {
    ADD_FAILURE() << config.error().to_string();
    return {};
  }
  return *config;
}

std::unique_ptr<Client> cluster_client(double qps, int burst) {
  auto config = cluster_config();
  config.qps = qps;
  config.burst = burst;
  auto client = Client::create(config);
  if (!client.ok()) {
    ADD_FAILURE() << client.error().to_string();
    return nullptr;
  }
  return std::move(client).value();
}

std::string make_namespace(Client& client, const std::string& prefix) {
  static std::mt19937 rng(std::random_device{}());
  std::string name = prefix + "-" + std::to_string(rng() % 1000000);
  nlohmann::json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
  auto created = client.create(resources::kNamespaces, "", ns);
  EXPECT_TRUE(created.ok()) << created.error().to_string();
  return name;
}

std::string run(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen failed: " << command;
    return output;
  }
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  int status = pclose(pipe);
  EXPECT_EQ(status, 0) << command << "\n" << output;
  return output;
}

std::string kubectl(const std::string& args) {
  return run(std::string(KILN_KUBECTL) + " --kubeconfig " + std::getenv("KUBECONFIG") + " " + args);
}

void restart_apiserver() {
  std::string pid_file = std::string(KILN_KUBE_CLUSTER_DIR) + "/run/kube-apiserver.pid";
  run("pid=$(cat " + pid_file +
      ") && kill -TERM $pid && while kill -0 $pid 2>/dev/null; do "
      "sleep 0.1; done");
  run(kClusterEnv + " " + KILN_SOURCE_DIR + "/scripts/local-cluster up --tier control-plane >&2");
}

void compact_etcd() {
  std::string endpoint = "--endpoints http://127.0.0.1:24790";
  std::string rev =
      run("ETCDCTL_API=3 etcdctl " + endpoint +
          " endpoint status -w json | sed -n 's/.*\"revision\":\\([0-9]*\\).*/\\1/p'");
  while (!rev.empty() && (rev.back() == '\n' || rev.back() == ' ')) rev.pop_back();
  ASSERT_FALSE(rev.empty());
  run("ETCDCTL_API=3 etcdctl " + endpoint + " compact " + rev + " >&2");
}

nlohmann::json config_map(const std::string& name, const nlohmann::json& data,
                          const nlohmann::json& labels) {
  nlohmann::json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}};
  if (!data.is_null()) cm["data"] = data;
  if (!labels.is_null()) cm["metadata"]["labels"] = labels;
  return cm;
}

}  // namespace kiln::kube::testing
