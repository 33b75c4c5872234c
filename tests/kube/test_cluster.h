#pragma once

// Helpers for the integration tests: the fixture's cluster (KUBECONFIG set by CTest), fresh
// namespaces, and the faults the watch tests inject (restarting the API server, compaction).

#include <memory>
#include <string>

#include "kube/client.h"
#include "kube/config.h"

namespace kiln::kube::testing {

// The fixture's kubeconfig ($KUBECONFIG). Fails the test (fatal) when unusable.
Config cluster_config();
// A client of the fixture's cluster; qps <= 0 lifts the client-side rate limit.
std::unique_ptr<Client> cluster_client(double qps = 0, int burst = 30);
// Creates a namespace "<prefix>-<random>" and returns its name.
std::string make_namespace(Client& client, const std::string& prefix);
// Runs a shell command, returns its stdout; fails the test when it exits non-zero.
std::string run(const std::string& command);
// kubectl against the fixture's cluster.
std::string kubectl(const std::string& args);
// Stops the fixture's kube-apiserver (SIGTERM, waits for exit) and starts it again, waiting until
// it serves; etcd keeps running, so the data survives.
void restart_apiserver();
// Compacts etcd at its current revision (so older resourceVersions are Gone).
void compact_etcd();
// A ConfigMap object.
nlohmann::json config_map(const std::string& name, const nlohmann::json& data = {},
                          const nlohmann::json& labels = {});

}  // namespace kiln::kube::testing
