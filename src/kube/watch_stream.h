#pragma once

// One open watch
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes): a
// long HTTP response, chunked, one JSON event per line, decoded as it arrives.

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/result.h"
#include "kube/config.h"

namespace kiln::kube {

class WatchStream {
 public:
  // Sends the GET and waits for the response headers. `path_and_query` includes watch=true.
  // `idle_timeout` bounds how long next() may wait for a byte. Errors: transport failures
  // (retryable) and non-200 codes as ApiStatus errors (410 Gone when the version is too old).
  static Result<std::unique_ptr<WatchStream>> open(const Config& config,
                                                   const std::string& path_and_query,
                                                   std::chrono::seconds idle_timeout);
  ~WatchStream();  // Cancels the request.
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // Blocks for the next event, {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}}.
  // nullopt when the server ended the stream cleanly (its timeoutSeconds). Errors (retryable): a
  // broken connection, idle timeout, cancel(), or a line that is not an event. An ERROR event is
  // returned as an event; its object is a Status (code 410 = resource version too old).
  // Called by one thread at a time.
  Result<std::optional<nlohmann::json>> next();

  // Aborts the stream: a blocked or later next() returns an error. Thread-safe.
  void cancel();

 private:
  struct Impl;
  explicit WatchStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::kube
