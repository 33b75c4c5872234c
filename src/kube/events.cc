#include "kube/events.h"

#include <cstdio>

#include "common/log.h"
#include "kube/api_error.h"
#include "kube/conditions.h"

namespace kiln::kube {
namespace {

// The Event's involvedObject: what it keeps of `regarding` (throws when metadata is missing).
nlohmann::json object_reference(const nlohmann::json& regarding) {
  const auto& meta = regarding.at("metadata");
  return {{"apiVersion", regarding.value("apiVersion", "")},
          {"kind", regarding.value("kind", "")},
          {"name", meta.value("name", "")},
          {"namespace", meta.value("namespace", "")},
          {"uid", meta.value("uid", "")},
          {"resourceVersion", meta.value("resourceVersion", "")}};
}

}  // namespace

EventRecorder::EventRecorder(Client& client, std::string component, metrics::Counter* writes)
    : client_(client), component_(std::move(component)), writes_(writes) {}

EventRecorder::~EventRecorder() {
  flush(kShutdownFlush);
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
    if (dropped_) dropped_->inc(static_cast<double>(queue_.size()));
    queue_.clear();
  }
  queue_changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventRecorder::set_queue(size_t max_queued, metrics::Counter* dropped) {
  std::lock_guard lock(queue_mutex_);
  max_queued_ = max_queued;
  dropped_ = dropped;
}

void EventRecorder::post(const nlohmann::json& regarding, const std::string& type,
                         const std::string& reason, const std::string& message) {
  nlohmann::json involved = object_reference(regarding);
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_ || queue_.size() >= max_queued_) {
      if (dropped_) dropped_->inc();
      return;
    }
    queue_.push_back({std::move(involved), type, reason, message});
    if (!thread_.joinable()) thread_ = std::thread([this] { drain(); });
  }
  queue_changed_.notify_all();
}

bool EventRecorder::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(queue_mutex_);
  return queue_changed_.wait_for(lock, timeout, [&] { return queue_.empty() && !writing_; });
}

void EventRecorder::drain() {
  std::unique_lock lock(queue_mutex_);
  while (true) {
    queue_changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Posted next = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    try {  // Nothing may escape the thread (std::terminate).
      auto recorded = write(next.involved, next.type, next.reason, next.message);
      if (!recorded.ok()) {
        log::warn("event not recorded",
                  {{"kind", next.involved.value("kind", "")},
                   {"name", next.involved.value("name", "")},
                   {"reason", next.reason},
                   {"error", recorded.error().message()}});
      }
    } catch (const std::exception& e) {
      log::warn("event not recorded", {{"reason", next.reason}, {"error", e.what()}});
    } catch (...) {
      log::warn("event not recorded", {{"reason", next.reason}, {"error", "unknown exception"}});
    }
    lock.lock();
    writing_ = false;
    queue_changed_.notify_all();
  }
}

Result<nlohmann::json> EventRecorder::record(const nlohmann::json& regarding,
                                             const std::string& type, const std::string& reason,
                                             const std::string& message) {
  return write(object_reference(regarding), type, reason, message);
}

Result<nlohmann::json> EventRecorder::write(const nlohmann::json& involved,
                                            const std::string& type, const std::string& reason,
                                            const std::string& message) {
  const std::string& ns_of_object = involved["namespace"].get_ref<const std::string&>();
  const std::string ns = ns_of_object.empty() ? "default" : ns_of_object;
  const std::string& uid = involved["uid"].get_ref<const std::string&>();
  std::string key = uid + "\x1f" + type + "\x1f" + reason + "\x1f" + message;
  std::string now = rfc3339(std::chrono::system_clock::now());

  Seen seen;
  {
    std::lock_guard lock(mutex_);
    auto it = seen_.find(key);
    if (it != seen_.end()) {
      seen = it->second;
      ++it->second.count;
    }
  }
  if (seen.count > 0) {  // A repeat: bump the existing Event.
    if (writes_) writes_->inc();
    auto patched = client_.merge_patch(resources::kEvents, seen.ns, seen.name,
                                       {{"count", seen.count + 1}, {"lastTimestamp", now}});
    if (patched.ok() || !is_not_found(patched.error())) return patched;
    // The Event expired (events have a TTL): write a new one.
  }

  char suffix[17];
  {
    std::lock_guard lock(mutex_);
    auto nanos = std::chrono::system_clock::now().time_since_epoch().count();
    std::snprintf(suffix, sizeof suffix, "%016llx",
                  static_cast<unsigned long long>(nanos) + (++sequence_));
  }
  const std::string& object = involved["name"].get_ref<const std::string&>();
  std::string name = (object.empty() ? std::string("object") : object) + "." + suffix;
  nlohmann::json event = {{"apiVersion", "v1"},
                          {"kind", "Event"},
                          {"metadata", {{"name", name}, {"namespace", ns}}},
                          {"involvedObject", involved},
                          {"type", type},
                          {"reason", reason},
                          {"message", message},
                          {"source", {{"component", component_}}},
                          {"reportingComponent", component_},
                          {"reportingInstance", component_},
                          {"firstTimestamp", now},
                          {"lastTimestamp", now},
                          {"count", 1}};
  if (writes_) writes_->inc();
  auto created = client_.create(resources::kEvents, ns, event);
  if (!created.ok()) return created;
  std::lock_guard lock(mutex_);
  if (seen_.size() >= kMaxRemembered) seen_.clear();
  seen_[key] = Seen{ns, name, 1};
  return created;
}

}  // namespace kiln::kube
