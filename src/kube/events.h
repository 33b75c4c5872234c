#pragma once

// An Event recorder (client-go's record.EventRecorder, with its aggregation): writes core/v1
// Events about objects. A repeat of the same (object, type, reason, message) does not create a
// new Event: it bumps `count` and `lastTimestamp` of the one already written, as `kubectl describe`
// shows ("x5 over 2m").
//
// Two ways in, both thread-safe:
//   post()    queues the Event and returns at once; the recorder's own thread writes it, as
//             client-go's broadcaster does (a queue of 1,000 by default; when it is full, the new
//             Event is dropped and counted). Reconcile workers use this: they never wait on the
//             Events client's rate limit. Write failures are logged by that thread.
//   record()  writes now and returns the result; failures are returned, never thrown.
// An Event is best-effort either way.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
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
  // Waits up to kShutdownFlush for queued Events, then drops the rest (counted) and stops the
  // thread. A write already in flight finishes first: up to two requests (a count bump, then a
  // create when the Event expired), each with the client's timeout and retries.
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // The queue behind post(): at most `max_queued` Events wait; `dropped`, when given, counts the
  // Events dropped because the queue was full (or the recorder was stopping).
  void set_queue(size_t max_queued, metrics::Counter* dropped = nullptr);

  // Queues the Event (arguments as for record(); only `regarding`'s reference, the Event's
  // involvedObject, is kept) and returns without waiting. Never blocks on the API server.
  void post(const nlohmann::json& regarding, const std::string& type, const std::string& reason,
            const std::string& message);

  // Waits until every posted Event has been written (or failed), up to `timeout`; true when the
  // queue is empty and no write is in flight.
  bool flush(std::chrono::milliseconds timeout);

  // `regarding` needs apiVersion, kind, metadata.name/namespace/uid. `type` is "Normal" or
  // "Warning"; `reason` is CamelCase. Returns the Event as written.
  Result<nlohmann::json> record(const nlohmann::json& regarding, const std::string& type,
                                const std::string& reason, const std::string& message);

  // Repeats remembered at most (older entries are forgotten, and then create a new Event).
  static constexpr size_t kMaxRemembered = 4096;
  // client-go's maxQueuedEvents.
  static constexpr size_t kDefaultMaxQueued = 1000;
  static constexpr std::chrono::milliseconds kShutdownFlush{2000};

 private:
  struct Posted {
    nlohmann::json involved;  // object_reference() of the regarding object.
    std::string type;
    std::string reason;
    std::string message;
  };
  void drain();
  // record() of an object already reduced to its reference (the Event's involvedObject).
  Result<nlohmann::json> write(const nlohmann::json& involved, const std::string& type,
                               const std::string& reason, const std::string& message);

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

  std::mutex queue_mutex_;
  std::condition_variable queue_changed_;
  std::deque<Posted> queue_;  // Guarded by queue_mutex_.
  bool writing_ = false;      // Guarded by queue_mutex_: the thread is writing one it took.
  bool stopping_ = false;     // Guarded by queue_mutex_.
  size_t max_queued_ = kDefaultMaxQueued;
  metrics::Counter* dropped_ = nullptr;
  std::thread thread_;  // Started by the first post().
};

}  // namespace kiln::kube
