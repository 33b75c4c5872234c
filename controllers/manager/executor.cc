#include "controllers/manager/executor.h"

#include <array>
#include <map>
#include <optional>

#include "common/log.h"
#include "controllers/common/conditions.h"
#include "controllers/common/names.h"
#include "kube/api_error.h"
#include "kube/object_helpers.h"

namespace kiln::controllers::manager {

using nlohmann::json;

nlohmann::json stamp_applied_hash(json desired) {
  json& annotations = desired["metadata"]["annotations"];
  if (!annotations.is_object()) annotations = json::object();
  annotations.erase(kAppliedHashAnnotation);
  if (annotations.empty()) desired["metadata"].erase("annotations");
  // 16 hex characters (64 bits) of the SHA-256 of the object as applied.
  desired["metadata"]["annotations"][kAppliedHashAnnotation] =
      controllers::sha256_hex(desired.dump()).substr(0, 16);
  return desired;
}

namespace {

// Fields the API server replaces whole on apply (x-kubernetes-map-type / list-type atomic) among
// those Kiln's children send: their cached value must equal the sent one, since an extra key or
// element there (say a selector key added by hand) is something an apply would remove.
bool atomic_field(const std::string& key) {
  return key == "selector" || key == "nodeSelector" || key == "tolerations" || key == "metrics";
}

// `key` as a JSON pointer token (RFC 6901: "~" → "~0", "/" → "~1").
std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// Nullopt when `observed` holds `desired`; otherwise the JSON pointer, relative to this node, of
// the first field missing or different ("" for the node itself). The pointer is built only for
// the difference found, on the way back up: an unchanged child costs no strings.
std::optional<std::string> difference(const json& observed, const json& desired, bool top) {
  if (desired.is_object()) {
    if (!observed.is_object()) return "";
    for (auto it = desired.begin(); it != desired.end(); ++it) {
      if (top && (it.key() == "apiVersion" || it.key() == "kind")) continue;
      auto seen = observed.find(it.key());
      if (seen == observed.end()) {
        // The server omits an empty list or map (omitempty): absent is what it keeps of [] or {}.
        if ((it->is_array() || it->is_object()) && it->empty()) continue;
        return "/" + pointer_token(it.key());
      }
      if (!top && atomic_field(it.key())) {
        if (*seen != it.value()) return "/" + pointer_token(it.key());
        continue;
      }
      if (auto d = difference(*seen, it.value(), false)) return "/" + pointer_token(it.key()) + *d;
    }
    return std::nullopt;
  }
  if (desired.is_array()) {
    if (!observed.is_array() || observed.size() != desired.size()) return "";
    for (std::size_t i = 0; i < desired.size(); ++i) {
      if (auto d = difference(observed[i], desired[i], false)) return "/" + std::to_string(i) + *d;
    }
    return std::nullopt;
  }
  if (observed == desired) return std::nullopt;
  return "";
}

}  // namespace

std::string applied_difference(const json& observed, const json& desired) {
  const auto d = difference(observed, desired, true);
  if (!d) return "";
  return d->empty() ? "/" : *d;
}

bool already_applied(const json& observed, const json& desired) {
  return desired.is_object() && applied_difference(observed, desired).empty();
}

namespace {

constexpr std::size_t kMaxConditionMessage = 4096;  // The CRDs allow 32768 characters.

// `message` cut to at most kMaxConditionMessage bytes on a UTF-8 character boundary.
std::string condition_message(const std::string& message) {
  if (message.size() <= kMaxConditionMessage) return message;
  std::size_t end = kMaxConditionMessage - 3;
  while (end > 0 && (static_cast<unsigned char>(message[end]) & 0xC0) == 0x80) --end;
  return message.substr(0, end) + "...";
}

long long generation_of(const json& object) {
  const json& meta = object.at("metadata");
  auto it = meta.find("generation");
  return it != meta.end() && it->is_number_integer() ? it->get<long long>() : 0;
}

// Marks a Synced condition left by an earlier failure True again; adds none.
void mark_synced(json& status, const json& parent) {
  const json* synced = find_condition(status, kSyncedCondition);
  if (synced == nullptr || synced->value("status", "") == "True") return;
  set_condition(status, kSyncedCondition, true, kReconcileSuccess, "", generation_of(parent),
                std::chrono::system_clock::now());
}

}  // namespace

namespace {

std::string write_key(const json& parent) {
  const json& meta = parent.at("metadata");
  return parent.value("apiVersion", "") + "/" + parent.value("kind", "") + "/" +
         meta.value("namespace", "") + "/" + meta.value("name", "");
}

}  // namespace

bool Executor::awaiting_own_write(const json& parent) {
  const std::string version = parent["metadata"].value("resourceVersion", "");
  std::lock_guard lock(own_writes_mu_);
  auto it = own_writes_.find(write_key(parent));
  if (it == own_writes_.end()) return false;
  if (version == it->second.replaced_version &&
      std::chrono::steady_clock::now() - it->second.at < kAwaitOwnWriteLimit) {
    return true;
  }
  own_writes_.erase(it);
  return false;
}

Result<kube::Requeue> Executor::execute(const json& parent,
                                        const kube::ResourceRef& parent_resource,
                                        const Actions& actions) {
  if (awaiting_own_write(parent)) return kube::Requeue::after(kAwaitOwnWrite);
  auto done = carry_out(parent, parent_resource, actions);
  if (!done.ok()) report_failure(parent, parent_resource, done.error());
  return done;
}

void Executor::report_failure(const json& parent, const kube::ResourceRef& r, const Error& error) {
  if (kube::is_conflict(error)) return;  // A stale copy: the write would conflict as well.
  const json observed = parent.value("status", json::object());
  json status = observed;
  set_condition(status, kSyncedCondition, false, kReconcileError,
                condition_message(error.message()), generation_of(parent),
                std::chrono::system_clock::now());
  if (status == observed) return;  // Already reported.
  auto written = update_status(parent, r, status, /*expect=*/false);
  if (!written.ok() && !kube::is_not_found(written.error())) {
    log::warn("reconcile error not reported on the object",
              {{"kind", parent.value("kind", "")},
               {"name", parent["metadata"].value("name", "")},
               {"error", written.error().to_string()}});
  }
}

Result<kube::Requeue> Executor::carry_out(const json& parent,
                                          const kube::ResourceRef& parent_resource,
                                          const Actions& actions) {
  for (const auto& plain : actions.apply) {
    KILN_TRY(auto r, resource_for(plain.value("apiVersion", ""), plain.value("kind", "")));
    const json object = stamp_applied_hash(plain);
    // The skip relies on every kind in the lookup being watched by its owner's controller: an
    // apply whose watch event has not reached the cache yet re-queues the parent when it does.
    const bool stamped = object["metadata"].contains("annotations") &&
                         object["metadata"]["annotations"].contains(kAppliedHashAnnotation);
    if (observed_ && stamped) {
      const auto& meta = object["metadata"];
      auto seen = observed_(r, meta.value("namespace", ""), meta.value("name", ""));
      const std::string differs = seen ? applied_difference(*seen, object) : "not cached";
      if (differs.empty()) continue;
      log::debug("applying child", {{"kind", object.value("kind", "")},
                                    {"name", meta.value("name", "")},
                                    {"differs", differs}});
    }
    auto applied = kube::apply_desired(client_, r, object, kFieldManager);
    if (!applied.ok()) {
      return applied.error().with_context("apply " + object.value("kind", "") + " " +
                                          object["metadata"].value("name", ""));
    }
  }
  for (const auto& d : actions.remove) {
    KILN_TRY(auto r, resource_for(d.api_version, d.kind));
    auto removed = client_.remove(r, d.ns, d.name, {.propagation_policy = d.propagation});
    if (!removed.ok() && !kube::is_not_found(removed.error())) {
      return removed.error().with_context("delete " + d.kind + " " + d.name);
    }
  }
  for (const auto& p : actions.patches) {
    KILN_TRY(auto r, resource_for(p.target.api_version, p.target.kind));
    auto patched = client_.merge_patch(r, p.target.ns, p.target.name, p.patch);
    if (!patched.ok()) {
      return patched.error().with_context("patch " + p.target.kind + " " + p.target.name);
    }
  }
  const json observed_status = parent.value("status", json::object());
  json status = actions.status.is_null() ? observed_status : actions.status;
  mark_synced(status, parent);
  if (status != observed_status) {
    auto updated = update_status(parent, parent_resource, status);
    if (!updated.ok()) return updated.error();
  }
  // Queued for the recorder's thread: the reconcile does not wait on the Events client's rate
  // limit, and an Event lost is not worth a retry of the whole reconcile.
  for (const auto& e : actions.events) events_.post(parent, e.type, e.reason, e.message);
  if (actions.requeue_after) return kube::Requeue::after(*actions.requeue_after);
  return kube::Requeue{};
}

Result<void> Executor::update_status(const json& parent, const kube::ResourceRef& r,
                                     const json& status, bool expect) {
  json object = {{"apiVersion", parent["apiVersion"]},
                 {"kind", parent["kind"]},
                 {"metadata",
                  {{"name", parent["metadata"]["name"]},
                   {"namespace", parent["metadata"].value("namespace", "")},
                   {"resourceVersion", parent["metadata"].value("resourceVersion", "")}}},
                 {"status", status}};
  auto updated = client_.update_status(r, parent["metadata"].value("namespace", ""), object);
  if (!updated.ok()) return updated.error().with_context("update status");
  const std::string replaced = parent["metadata"].value("resourceVersion", "");
  const std::string written = updated->contains("metadata")
                                  ? (*updated)["metadata"].value("resourceVersion", "")
                                  : "";
  // A write the server made a no-op (same resourceVersion) brings no watch event to wait for.
  if (!expect || replaced.empty() || written == replaced) return Ok();
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(own_writes_mu_);
  std::erase_if(own_writes_,
                [&](const auto& w) { return now - w.second.at >= kAwaitOwnWriteLimit; });
  own_writes_[write_key(parent)] = {replaced, now};
  return Ok();
}

}  // namespace kiln::controllers::manager
