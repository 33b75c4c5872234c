#pragma once

// Leader election on a coordination.k8s.io/v1 Lease (client-go's leaderelection with the
// LeaseLock). Defaults as client-go and controller-runtime: lease 15 s, renew deadline 10 s,
// retry period 2 s.
//
// Algorithm (client-go tryAcquireOrRenew): every retry period, read the Lease.
//  - Absent: create it naming us holder.
//  - Held by another whose record (holder, renewTime) changed within the last lease duration, as
//    measured on OUR clock from when we saw the change (clocks are never compared across hosts):
//    not ours, wait.
//  - Otherwise (ours, empty, or expired): update it naming us, with its resourceVersion (a
//    concurrent writer makes it a 409 and we lose this round). A new holder bumps
//    leaseTransitions and acquireTime.
// A leader that cannot renew for renew_deadline stops leading (on_stopped_leading) before the
// lease expires for others. stop() releases a held lease (holder "", leaseDurationSeconds 1), so
// a successor takes over within one retry period instead of a lease duration.
//
// Thread-safety: run() blocks its caller's thread; stop() and is_leader() from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "kube/client.h"

namespace kiln::kube {

struct LeaderElectionOptions {
  std::string lease_namespace{};
  std::string lease_name{};
  std::string identity{};  // Unique per candidate, e.g. "<pod name>_<random>".
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  const Clock* clock = &SystemClock::instance();
};

class LeaderElector {
 public:
  // `client` must outlive the elector.
  LeaderElector(Client& client, LeaderElectionOptions options);

  // Campaigns until stop(): calls on_started_leading when it becomes leader (on this thread; it
  // must return promptly, e.g. after starting controllers) and on_stopped_leading when it loses
  // the lease or stops. Returns after stop(), having released the lease if held.
  void run(const std::function<void()>& on_started_leading,
           const std::function<void()>& on_stopped_leading);

  void stop();
  // Stops without releasing: what a crash looks like to the others (for tests and drills).
  void abandon();
  bool is_leader() const { return leader_.load(); }
  const std::string& identity() const { return options_.identity; }

 private:
  // One round; true when we hold the lease afterwards.
  bool try_acquire_or_renew();
  void release();
  bool wait(std::chrono::milliseconds d);  // false when stopped meanwhile.

  Client& client_;
  const LeaderElectionOptions options_;
  std::atomic<bool> leader_{false};
  std::string observed_record_;        // holder + renewTime we last saw.
  Clock::time_point observed_time_{};  // When we saw it change (our clock).
  nlohmann::json lease_;               // Last Lease read or written.
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool release_on_stop_ = true;
};

}  // namespace kiln::kube
