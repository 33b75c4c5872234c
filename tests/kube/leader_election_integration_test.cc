// Leader election between two manager processes on a real Lease: kill -9 the leader, the other
// takes over within the lease duration; SIGTERM releases the lease at once.

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <thread>

#include "kube/client.h"
#include "test_cluster.h"

extern char** environ;

namespace kiln::kube {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

pid_t spawn_candidate(const std::string& ns, const std::string& identity) {
  std::vector<std::string> args = {KILN_LEASE_CANDIDATE, std::getenv("KUBECONFIG"), ns, "kiln-test",
                                   identity};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  return pid;
}

std::string holder(Client& client, const std::string& ns) {
  auto lease = client.get(resources::kLeases, ns, "kiln-test");
  if (!lease.ok()) return "";
  return (*lease)["spec"].value("holderIdentity", "");
}

// Polls the Lease every 20 ms until `done(holder)`; returns the time it took, or nullopt.
std::optional<double> seconds_until(Client& client, const std::string& ns,
                                    const std::function<bool(const std::string&)>& done,
                                    std::chrono::seconds timeout) {
  auto start = Clock::now();
  while (Clock::now() - start < timeout) {
    if (done(holder(client, ns)))
      return std::chrono::duration<double>(Clock::now() - start).count();
    std::this_thread::sleep_for(milliseconds(20));
  }
  return std::nullopt;
}

TEST(LeaderElection, TheOtherManagerTakesOverWithinTheLeaseWhenTheLeaderDies) {
  auto client = testing::cluster_client();
  std::string ns = testing::make_namespace(*client, "election");
  std::map<std::string, pid_t> pids = {{"candidate-a", spawn_candidate(ns, "candidate-a")},
                                       {"candidate-b", spawn_candidate(ns, "candidate-b")}};
  auto elected = seconds_until(
      *client, ns, [](const std::string& h) { return !h.empty(); }, std::chrono::seconds(30));
  ASSERT_TRUE(elected) << "nobody became leader";
  std::string leader = holder(*client, ns);
  std::string other = leader == "candidate-a" ? "candidate-b" : "candidate-a";

  ASSERT_EQ(kill(pids[leader], SIGKILL), 0);  // A crash: no release.
  waitpid(pids[leader], nullptr, 0);
  auto failover = seconds_until(
      *client, ns, [&](const std::string& h) { return h == other; }, std::chrono::seconds(40));
  ASSERT_TRUE(failover) << other << " never took over";
  std::cout << "leader failover after kill -9: " << *failover << " s (lease 15 s, retry 2 s)\n";
  // The survivor times the lease on its own clock from when it saw the last renewal (up to one
  // retry period after it happened), then acquires at its next retry: lease + 2 retries at most.
  EXPECT_LE(*failover, 15.0 + 2 * 2.0 + 1.0);

  // A graceful stop releases the lease at once.
  ASSERT_EQ(kill(pids[other], SIGTERM), 0);
  auto released = seconds_until(
      *client, ns, [](const std::string& h) { return h.empty(); }, std::chrono::seconds(10));
  int status = 0;
  waitpid(pids[other], &status, 0);
  ASSERT_TRUE(released) << "the lease was not released on shutdown";
  std::cout << "lease released " << *released << " s after SIGTERM\n";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace kiln::kube
