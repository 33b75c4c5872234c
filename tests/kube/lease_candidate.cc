// A manager that campaigns for a Lease and does nothing else: the leader-election test runs two
// of these as separate processes and kills one. Usage:
//   kube_lease_candidate <kubeconfig> <namespace> <lease> <identity>
// Prints "leading <identity>" when it becomes leader; exits 0 on SIGTERM (releasing the lease).

#include <cstdio>

#include "kube/manager.h"

int main(int argc, char** argv) {
  using namespace kiln::kube;
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <kubeconfig> <namespace> <lease> <identity>\n", argv[0]);
    return 2;
  }
  auto config = load_kubeconfig(argv[1]);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.error().to_string().c_str());
    return 1;
  }
  auto client = Client::create(*config);
  if (!client.ok()) return 1;
  LeaderElectionOptions election{
      .lease_namespace = argv[2], .lease_name = argv[3], .identity = argv[4]};
  Manager manager(**client, {.bind_address = "127.0.0.1", .port = 0, .leader_election = election});
  auto result = manager.run();
  if (!result.ok()) {
    std::fprintf(stderr, "%s\n", result.error().to_string().c_str());
    return 1;
  }
  return 0;
}
