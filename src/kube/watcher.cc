#include "kube/watcher.h"

#include "common/log.h"
#include "kube/api_error.h"

namespace kiln::kube {

using namespace watcher;

Watcher::Watcher(Client& client, ResourceRef resource, WatcherOptions options)
    : client_(client),
      resource_(std::move(resource)),
      options_(std::move(options)),
      next_backoff_(options_.initial_backoff) {}

Event Watcher::step() {
  if (stopped()) return Progress{"stopped"};
  return std::visit(
      [this](auto& state) -> Event {
        using S = std::decay_t<decltype(state)>;
        if constexpr (std::is_same_v<S, Listing>) {
          return step_listing();
        } else if constexpr (std::is_same_v<S, Watching>) {
          return step_watching(state);
        } else {
          Backoff copy = state;
          return step_backoff(copy);
        }
      },
      state_);
}

Event Watcher::step_listing() {
  ListOptions list{.label_selector = options_.label_selector,
                   .field_selector = options_.field_selector,
                   .limit = options_.page_size};
  auto result = client_.list_all(resource_, options_.ns, list);
  if (!result.ok()) return back_off("", result.error().message());
  ++lists_;
  Restarted restarted;
  restarted.resource_version = (*result)["metadata"].value("resourceVersion", "");
  auto& items = (*result)["items"];
  restarted.objects.reserve(items.size());
  // A List's items lack apiVersion/kind; fill them in so cached objects are self-describing.
  std::string kind = (*result).value("kind", "");
  if (kind.size() > 4 && kind.ends_with("List")) kind.resize(kind.size() - 4);
  for (auto& item : items) {
    if (!item.contains("kind")) item["kind"] = kind;
    if (!item.contains("apiVersion")) item["apiVersion"] = resource_.api_version();
    restarted.objects.push_back(std::move(item));
  }
  last_rv_ = restarted.resource_version;
  state_ = Watching{last_rv_, nullptr};
  next_backoff_ = options_.initial_backoff;
  return restarted;
}

Event Watcher::step_watching(Watching& w) {
  if (!w.stream) {
    WatchOptions watch{.resource_version = w.resource_version,
                       .label_selector = options_.label_selector,
                       .field_selector = options_.field_selector,
                       .timeout_seconds = options_.watch_timeout_seconds,
                       .allow_bookmarks = true};
    auto opened = client_.watch(resource_, options_.ns, watch);
    if (!opened.ok()) {
      if (is_gone(opened.error())) return to_listing(opened.error().message());
      return back_off(w.resource_version, opened.error().message());
    }
    std::shared_ptr<WatchStream> stream = std::move(opened).value();
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return Progress{"stopped"};
      current_ = stream;
    }
    ++watches_;
    w.stream = std::move(stream);
    return Progress{"watch opened at " + w.resource_version};
  }
  auto next = w.stream->next();
  if (!next.ok()) {
    ++breaks_;
    return back_off(w.resource_version, next.error().message());
  }
  if (!next->has_value()) {  // The server's timeout: reopen from where we are, no backoff.
    w.stream.reset();
    return Progress{"watch ended"};
  }
  auto& event = **next;
  std::string type = event.value("type", "");
  auto& object = event["object"];
  if (type == "ERROR") {
    int code = object.value("code", 0);
    std::string message = object.value("message", "");
    if (code == 410) return to_listing("watch: " + message);
    return back_off(w.resource_version, "watch ERROR event: " + object.dump());
  }
  if (object.contains("metadata")) {
    std::string rv = object["metadata"].value("resourceVersion", "");
    if (!rv.empty()) w.resource_version = last_rv_ = rv;
  }
  next_backoff_ = options_.initial_backoff;
  if (type == "ADDED" || type == "MODIFIED") return Applied{std::move(object)};
  if (type == "DELETED") return Deleted{std::move(object)};
  return Progress{type == "BOOKMARK" ? "bookmark" : "event " + type};
}

Event Watcher::step_backoff(const Backoff& b) {
  {
    std::unique_lock lock(mutex_);
    stop_cv_.wait_for(lock, b.delay, [&] { return stopped_; });
    if (stopped_) return Progress{"stopped"};
  }
  if (b.resource_version.empty()) {
    state_ = Listing{};
  } else {
    state_ = Watching{b.resource_version, nullptr};
  }
  return Progress{"backoff elapsed"};
}

Event Watcher::back_off(const std::string& rv, const std::string& why) {
  last_error_ = why;
  auto delay = next_backoff_;
  next_backoff_ = std::min(next_backoff_ * 2, options_.max_backoff);
  {
    std::lock_guard lock(mutex_);
    current_.reset();
  }
  state_ = Backoff{rv, delay};
  log::debug("watcher backing off",
             {{"resource", resource_.resource}, {"delay_ms", delay.count()}, {"error", why}});
  return Progress{"backoff: " + why};
}

Event Watcher::to_listing(const std::string& why) {
  ++gones_;
  last_error_ = why;
  {
    std::lock_guard lock(mutex_);
    current_.reset();
  }
  state_ = Listing{};
  return Progress{"gone, re-listing: " + why};
}

void Watcher::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  if (current_) current_->cancel();
  stop_cv_.notify_all();
}

bool Watcher::stopped() const {
  std::lock_guard lock(mutex_);
  return stopped_;
}

}  // namespace kiln::kube
