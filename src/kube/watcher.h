#pragma once

// The watcher: list, then watch from the list's resourceVersion, as an explicit state machine
// (kube-rs' runtime::watcher; client-go's Reflector). Every transition happens in step():
//
//   Listing ──a page, more to come─▶ Listing{continue}          yields ListPage{objects, first}
//   Listing ──the last page────────▶ Listing{complete}          yields ListPage{objects, first}
//   Listing{complete} ─────────────▶ Watching{rv, no stream}    yields Restarted{rv}
//   Listing ──410 on a continue────▶ Listing{unpaged}           (the snapshot expired: list again,
//                                                                 whole, in one request)
//   Listing ──list failed──────────▶ Backoff{relist}
//   Watching{no stream} ──open ok──▶ Watching{rv, stream}
//   Watching{no stream} ──410──────▶ Listing                    (the version was compacted)
//   Watching{no stream} ──error────▶ Backoff{rv}
//   Watching{stream} ──event───────▶ Watching{event's rv}       yields Applied / Deleted / Bookmark
//   Watching{stream} ──ERROR 410───▶ Listing
//   Watching{stream} ──clean end───▶ Watching{rv, no stream}    (server timeout: reopen at once)
//   Watching{stream} ──broken──────▶ Backoff{rv}                (resume from the last version)
//   Backoff{..} ──delay elapsed────▶ Listing or Watching{rv}
//
// A list is read in pages of `page_size` (limit/continue, one snapshot: the first page's
// resourceVersion) and yielded page by page, as text whose items the consumer decodes one at a
// time, so the list never exists as trees all at once; the first page of every (re)list says so,
// and a consumer drops pages of a list that was abandoned (error, 410) before its Restarted.
//
// Watches ask for bookmarks (allowWatchBookmarks), so the resume version stays fresh even when
// nothing changes. Backoff doubles from `initial_backoff` to `max_backoff` and resets after any
// successful event. Objects are nlohmann::json as the server sent them.
//
// Thread-safety: step() is called by one thread (the informer's); stop() from any thread.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "kube/client.h"
#include "kube/watch_stream.h"

namespace kiln::kube {

struct WatcherOptions {
  std::string ns{};  // "" = all namespaces (or a cluster-scoped resource).
  std::string label_selector{};
  std::string field_selector{};
  int page_size = 500;
  int watch_timeout_seconds = 290;
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{30000};
};

namespace watcher {
// States.
struct Listing {
  std::string continue_token{};    // "" = the first page is next.
  std::string resource_version{};  // The list's snapshot, from its first page.
  bool complete = false;           // Every page yielded: the next step yields Restarted.
  // After a continue token expired: one request for the whole list (client-go's pager,
  // FullListIfExpired), so a list slower than the server's compaction cannot expire again.
  bool unpaged = false;
};
struct Watching {
  std::string resource_version{};
  std::shared_ptr<WatchStream> stream;  // Null until opened.
};
struct Backoff {
  std::string resource_version{};  // Resume from it; "" = list again.
  std::chrono::milliseconds delay;
};
using State = std::variant<Listing, Watching, Backoff>;

// What a step yields.
// One page of a full list, in order, still as the API server's JSON text: for_each_item() decodes
// its items one at a time, so a page never exists as trees all at once.
struct ListPage {
  std::string body{};              // The List response, checked to be a JSON object.
  std::string item_kind{};         // "Pod" for a PodList: a List's items lack kind ...
  std::string item_api_version{};  // ... and apiVersion; for_each_item() fills them in.
  std::string resource_version{};  // The List's metadata.resourceVersion.
  std::string continue_token{};    // metadata.continue; "" on the last page.
  bool first = false;  // The first page of a (re)list: pages yielded before it are void.
};
struct Restarted {  // The list is complete: the cache should become exactly the objects of the
                    // ListPages since the last first one.
  std::string resource_version{};
};
struct Applied {  // Added or modified.
  nlohmann::json object;
};
struct Deleted {
  nlohmann::json object;
};
struct Progress {  // A transition without objects (opened, bookmark, backoff, error).
  std::string what{};
};
using Event = std::variant<ListPage, Restarted, Applied, Deleted, Progress>;

// Reads a List response `body` (JSON text) into a ListPage, skipping its items (nothing of them
// is kept). Errors: retryable when `body` is not a JSON object (as Client::request_json).
Result<ListPage> read_list_page(std::string body, const ResourceRef& resource, bool first);

// Calls f(item) for each of the page's items, in order, each decoded alone and dropped when f
// returns (f may move from it), with kind and apiVersion filled in when absent.
void for_each_item(const ListPage& page, const std::function<void(nlohmann::json&)>& f);
}  // namespace watcher

class Watcher {
 public:
  // `client` must outlive the watcher.
  Watcher(Client& client, ResourceRef resource, WatcherOptions options = {});

  // Makes one transition (see the diagram) and returns what it yields. Blocks for at most one
  // request, one event, or one backoff delay (cut short by stop()).
  watcher::Event step();

  // Ends the current stream and makes later steps return Progress{"stopped"} at once.
  void stop();
  bool stopped() const;

  const watcher::State& state() const { return state_; }
  // The last resourceVersion seen (list, event or bookmark).
  const std::string& resource_version() const { return last_rv_; }
  // Counters for tests and metrics: full lists done, watches opened, stream breaks, 410s.
  int lists() const { return lists_; }
  int watches_opened() const { return watches_; }
  int breaks() const { return breaks_; }
  int gones() const { return gones_; }
  const std::string& last_error() const { return last_error_; }

 private:
  watcher::Event step_listing(watcher::Listing& l);
  watcher::Event step_watching(watcher::Watching& w);
  watcher::Event step_backoff(const watcher::Backoff& b);
  watcher::Event back_off(const std::string& rv, const std::string& why);
  watcher::Event to_listing(const std::string& why);

  Client& client_;
  const ResourceRef resource_;
  const WatcherOptions options_;
  watcher::State state_ = watcher::Listing{};
  std::string last_rv_{};
  std::chrono::milliseconds next_backoff_;
  int lists_ = 0, watches_ = 0, breaks_ = 0, gones_ = 0;
  std::string last_error_{};

  mutable std::mutex mutex_;  // Guards stopped_ and current_ (shared with stop()).
  std::condition_variable stop_cv_;
  bool stopped_ = false;
  std::shared_ptr<WatchStream> current_;
};

}  // namespace kiln::kube
