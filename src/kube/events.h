#pragma once

// An Event recorder (client-go's record.EventRecorder, with its aggregation): writes core/v1
// Events about objects. A repeat of the same (object, type, reason, message) does not create a
// new Event: it bumps `count` and `lastTimestamp` of the one already written, as `kubectl describe`
// shows ("x5 over 2m").
//
// Thread-safe. Failures are returned, never thrown; callers usually log and go on (an Event is
// best-effort).

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "common/result.h"
#include "kube/client.h"

namespace kiln::kube {

class EventRecorder {
 public:
  // `client` must outlive the recorder. `component` goes to source.component and
  // reportingComponent (e.g. "kiln-manager"). `writes`, when given, counts every Event written
  // (created or bumped).
  EventRecorder(Client& client, std::string component, metrics::Counter* writes = nullptr);

  // `regarding` needs apiVersion, kind, metadata.name/namespace/uid. `type` is "Normal" or
  // "Warning"; `reason` is CamelCase. Returns the Event as written.
  Result<nlohmann::json> record(const nlohmann::json& regarding, const std::string& type,
                                const std::string& reason, const std::string& message);

  // Repeats remembered at most (older entries are forgotten, and then create a new Event).
  static constexpr size_t kMaxRemembered = 4096;

 private:
  struct Seen {
    std::string ns;
    std::string name;
    int count = 0;
  };
  Client& client_;
  const std::string component_;
  metrics::Counter* writes_;
  std::mutex mutex_;
  std::unordered_map<std::string, Seen> seen_;  // Guarded by mutex_.
  uint64_t sequence_ = 0;                       // Guarded by mutex_.
};

}  // namespace kiln::kube
