#include "kube/leader_election.h"

#include "common/log.h"
#include "kube/api_error.h"
#include "kube/conditions.h"

namespace kiln::kube {
namespace {

int whole_seconds(std::chrono::milliseconds d) {
  return static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

std::string now_micro() { return rfc3339_micro(std::chrono::system_clock::now()); }

}  // namespace

LeaderElector::LeaderElector(Client& client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {}

bool LeaderElector::wait(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_for(lock, d, [&] { return stopping_; });
}

void LeaderElector::run(const std::function<void()>& on_started_leading,
                        const std::function<void()>& on_stopped_leading) {
  Clock::time_point last_renew{};
  for (;;) {
    bool held = try_acquire_or_renew();
    auto now = options_.clock->now();
    if (held) {
      last_renew = now;
      if (!leader_.exchange(true)) {
        log::info("became leader",
                  {{"lease", options_.lease_name}, {"identity", options_.identity}});
        if (on_started_leading) on_started_leading();
      }
    } else if (leader_.load() && now - last_renew >= options_.renew_deadline) {
      leader_ = false;
      log::warn("lost leadership", {{"lease", options_.lease_name}});
      if (on_stopped_leading) on_stopped_leading();
    }
    if (!wait(options_.retry_period)) break;
  }
  bool release;
  {
    std::lock_guard lock(mutex_);
    release = release_on_stop_;
  }
  if (leader_.exchange(false)) {
    if (release) this->release();
    if (on_stopped_leading) on_stopped_leading();
  }
}

bool LeaderElector::try_acquire_or_renew() {
  const auto& ns = options_.lease_namespace;
  auto now = options_.clock->now();
  auto current = client_.get(resources::kLeases, ns, options_.lease_name);
  nlohmann::json spec = {{"holderIdentity", options_.identity},
                         {"leaseDurationSeconds", whole_seconds(options_.lease_duration)},
                         {"acquireTime", now_micro()},
                         {"renewTime", now_micro()},
                         {"leaseTransitions", 0}};
  if (!current.ok()) {
    if (!is_not_found(current.error())) return false;
    nlohmann::json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                            {"kind", "Lease"},
                            {"metadata", {{"name", options_.lease_name}, {"namespace", ns}}},
                            {"spec", spec}};
    auto created = client_.create(resources::kLeases, ns, lease);
    if (!created.ok()) return false;
    lease_ = *created;
    observed_record_ = options_.identity + "|" + spec["renewTime"].get<std::string>();
    observed_time_ = now;
    return true;
  }
  nlohmann::json lease = std::move(current).value();
  const auto& old = lease["spec"];
  std::string holder = old.value("holderIdentity", "");
  std::string record = holder + "|" + old.value("renewTime", "");
  if (record != observed_record_) {
    observed_record_ = record;
    observed_time_ = now;
  }
  auto duration = std::chrono::seconds(old.value("leaseDurationSeconds", 15));
  bool ours = holder == options_.identity;
  if (!holder.empty() && !ours && now < observed_time_ + duration) return false;

  if (ours) {
    spec["acquireTime"] = old.value("acquireTime", spec["acquireTime"].get<std::string>());
    spec["leaseTransitions"] = old.value("leaseTransitions", 0);
  } else {
    spec["leaseTransitions"] = old.value("leaseTransitions", 0) + 1;
  }
  lease["spec"] = spec;  // metadata.resourceVersion stays: the update is conditional.
  auto updated = client_.update(resources::kLeases, ns, lease);
  if (!updated.ok()) return false;
  lease_ = *updated;
  observed_record_ = options_.identity + "|" + spec["renewTime"].get<std::string>();
  observed_time_ = now;
  return true;
}

void LeaderElector::release() {
  if (!lease_.is_object()) return;
  nlohmann::json lease = lease_;
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = now_micro();
  auto released = client_.update(resources::kLeases, options_.lease_namespace, lease);
  if (!released.ok()) {
    log::warn("releasing the lease failed", {{"error", released.error().to_string()}});
  }
}

void LeaderElector::stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  cv_.notify_all();
}

void LeaderElector::abandon() {
  std::lock_guard lock(mutex_);
  release_on_stop_ = false;
  stopping_ = true;
  cv_.notify_all();
}

}  // namespace kiln::kube
