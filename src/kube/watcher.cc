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
          return step_listing(state);
        } else if constexpr (std::is_same_v<S, Watching>) {
          return step_watching(state);
        } else {
          Backoff copy = state;
          return step_backoff(copy);
        }
      },
      state_);
}

Result<ListPage> watcher::read_list_page(std::string body, const ResourceRef& resource,
                                         bool first) {
  // Depth 1 is the List's own fields; "items" is dropped unbuilt (the callback says no to its key).
  nlohmann::json list = nlohmann::json::parse(
      body,
      [](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        return !(depth == 1 && event == nlohmann::json::parse_event_t::key && parsed == "items");
      },
      /*allow_exceptions=*/false);
  if (list.is_discarded() || !list.is_object()) {
    return Error::retryable("list " + resource.resource + ": response is not a JSON object");
  }
  ListPage page{.body = std::move(body), .first = first};
  page.item_kind = list.value("kind", "");
  if (page.item_kind.size() > 4 && page.item_kind.ends_with("List")) {
    page.item_kind.resize(page.item_kind.size() - 4);
  }
  page.item_api_version = resource.api_version();
  if (auto meta = list.find("metadata"); meta != list.end() && meta->is_object()) {
    page.resource_version = meta->value("resourceVersion", "");
    page.continue_token = meta->value("continue", "");
  }
  return page;
}

void watcher::for_each_item(const ListPage& page, const std::function<void(nlohmann::json&)>& f) {
  bool in_items = false;
  // Each item is handed over as soon as it is complete, then discarded (the callback says no to
  // keeping it), so the parser's tree never holds more than one item; what is left is the List
  // without its items.
  const nlohmann::json rest = nlohmann::json::parse(
      page.body,
      [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        using E = nlohmann::json::parse_event_t;
        if (depth == 1 && event == E::key) in_items = parsed == "items";
        if (depth != 2 || event != E::object_end || !in_items) return true;
        if (!parsed.contains("kind")) parsed["kind"] = page.item_kind;
        if (!parsed.contains("apiVersion")) parsed["apiVersion"] = page.item_api_version;
        f(parsed);
        return false;
      },
      /*allow_exceptions=*/false);  // read_list_page() checked the text.
  static_cast<void>(rest);
}

Event Watcher::step_listing(Listing& l) {
  if (l.complete) {
    ++lists_;
    last_rv_ = l.resource_version;
    next_backoff_ = options_.initial_backoff;
    state_ = Watching{last_rv_, nullptr};  // `l` is gone from here on.
    return Restarted{last_rv_};
  }
  const std::string path =
      resource_.path(options_.ns) +
      query_string({{"labelSelector", options_.label_selector},
                    {"fieldSelector", options_.field_selector},
                    {"limit", options_.page_size > 0 && !l.unpaged
                                  ? std::to_string(options_.page_size)
                                  : ""},
                    {"continue", l.continue_token}});
  auto response = client_.request("GET", path);
  if (!response.ok()) return back_off("", response.error().message());
  if (response->code < 200 || response->code > 299) {
    Error error = ApiStatus::from_response(response->code, response->body).to_error();
    // An expired continue token (410): the snapshot is gone; list again from the start.
    if (!l.continue_token.empty() && is_gone(error)) {
      Event event = to_listing(error.message());
      std::get<Listing>(state_).unpaged = true;
      return event;
    }
    return back_off("", error.with_context("GET " + path).message());
  }
  const bool first = l.continue_token.empty();
  auto page = read_list_page(std::move(response->body), resource_, first);
  if (!page.ok()) return back_off("", page.error().message());
  if (first) l.resource_version = page->resource_version;
  l.continue_token = page->continue_token;
  l.complete = l.continue_token.empty();
  return std::move(page).value();
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
