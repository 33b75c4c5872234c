#include "kube/discovery.h"

#include <algorithm>
#include <cstdint>

#include "kube/api_error.h"

namespace kiln::kube {
namespace {

bool all_of_chars(const std::string& s, bool allow_dots_and_dashes) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (allow_dots_and_dashes && (c == '.' || c == '-'));
  });
}

// The discovery document's path: /api/<v> for the core group, /apis/<g>/<v> otherwise.
std::string discovery_path(const std::string& group, const std::string& version) {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

}  // namespace

Result<std::pair<std::string, std::string>> split_api_version(const std::string& api_version) {
  auto invalid = [&](const std::string& why) {
    return Error::invalid_input("apiVersion \"" + api_version + "\" " + why);
  };
  if (api_version.empty()) return invalid("is empty");
  auto slash = api_version.find('/');
  std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  std::string version = slash == std::string::npos ? api_version : api_version.substr(slash + 1);
  if (slash != std::string::npos && group.empty()) return invalid("has an empty group");
  if (version.empty()) return invalid("has an empty version");
  if (version.find('/') != std::string::npos) return invalid("has more than one '/'");
  // Groups are DNS subdomains and versions DNS labels: lower-case letters, digits, '.', '-'.
  if (!all_of_chars(group, true) || !all_of_chars(version, false)) {
    return invalid("is not <group>/<version> of lower-case letters, digits, '.' and '-'");
  }
  return std::pair{group, version};
}

Result<std::vector<DiscoveredResource>> parse_api_resource_list(const nlohmann::json& document) {
  if (!document.is_object()) return Error::invalid_input("discovery document is not an object");
  auto group_version = document.find("groupVersion");
  if (group_version == document.end() || !group_version->is_string()) {
    return Error::invalid_input("discovery document has no string groupVersion");
  }
  KILN_TRY(auto parts, split_api_version(group_version->get<std::string>()));
  auto resources = document.find("resources");
  if (resources == document.end() || !resources->is_array()) {
    return Error::invalid_input("discovery document has no resources array");
  }
  std::vector<DiscoveredResource> out;
  for (const auto& r : *resources) {
    if (!r.is_object()) continue;
    auto name = r.find("name");
    auto kind = r.find("kind");
    if (name == r.end() || !name->is_string() || kind == r.end() || !kind->is_string()) continue;
    auto plural = name->get<std::string>();
    if (plural.empty() || plural.find('/') != std::string::npos) continue;  // A subresource.
    auto namespaced = r.find("namespaced");
    bool is_namespaced =
        namespaced != r.end() && namespaced->is_boolean() && namespaced->get<bool>();
    out.push_back({kind->get<std::string>(), {parts.first, parts.second, plural, is_namespaced}});
  }
  return out;
}

// One group/version's cached document.
struct Discovery::GroupVersion {
  std::string group;
  std::string version;
  // Held for the whole of a fetch, so one fetch of this group/version runs at a time.
  std::mutex fetching;
  // The rest is guarded by Discovery::mutex_.
  std::unordered_map<std::string, ResourceRef> kinds;  // kind -> resource; empty until fetched.
  bool fetched = false;                                // A fetch has completed (any outcome).
  Clock::time_point fetched_at{};                      // When the last fetch completed.
  std::optional<Error> error;                          // The last fetch's error, if it failed.
  std::uint64_t generation = 0;                        // Fetches completed.
};

Discovery::Discovery(Client& client, DiscoveryOptions options)
    : client_(client), options_(options) {}

Discovery::~Discovery() = default;

std::shared_ptr<Discovery::GroupVersion> Discovery::entry(const std::string& api_version) {
  std::lock_guard lock(mutex_);
  auto& gv = entries_[api_version];
  if (!gv) gv = std::make_shared<GroupVersion>();
  return gv;
}

Result<ResourceRef> Discovery::resolve(const std::string& api_version, const std::string& kind) {
  if (kind.empty()) return Error::invalid_input("kind is empty (apiVersion " + api_version + ")");
  KILN_TRY(auto parts, split_api_version(api_version));
  auto gv = entry(api_version);
  std::uint64_t seen;
  {
    std::lock_guard lock(mutex_);
    if (auto it = gv->kinds.find(kind); it != gv->kinds.end()) return it->second;
    seen = gv->generation;
    gv->group = parts.first;
    gv->version = parts.second;
  }
  std::lock_guard fetching(gv->fetching);
  {
    std::lock_guard lock(mutex_);
    bool fetched_meanwhile = gv->generation != seen;  // Use that fetch rather than another.
    bool refresh_allowed =
        !gv->fetched || options_.clock->now() - gv->fetched_at >= options_.min_refresh_interval;
    if (fetched_meanwhile || !refresh_allowed) return lookup(*gv, api_version, kind);
  }
  fetch(*gv, api_version);
  std::lock_guard lock(mutex_);
  return lookup(*gv, api_version, kind);
}

Result<ResourceRef> Discovery::resolve(const nlohmann::json& object) {
  if (!object.is_object()) return Error::invalid_input("object is not a JSON object");
  auto api_version = object.find("apiVersion");
  auto kind = object.find("kind");
  if (api_version == object.end() || !api_version->is_string()) {
    return Error::invalid_input("object has no string apiVersion");
  }
  if (kind == object.end() || !kind->is_string()) {
    return Error::invalid_input("object has no string kind");
  }
  return resolve(api_version->get<std::string>(), kind->get<std::string>());
}

Result<ResourceRef> Discovery::lookup(const GroupVersion& gv, const std::string& api_version,
                                      const std::string& kind) const {
  if (auto it = gv.kinds.find(kind); it != gv.kinds.end()) return it->second;
  if (gv.error) return *gv.error;
  return Error::invalid_input("unknown kind \"" + kind + "\" in " + api_version +
                              " (not in the API server's discovery)");
}

void Discovery::fetch(GroupVersion& gv, const std::string& api_version) {
  // Called with gv.fetching held and mutex_ not held: the GET may take a while.
  std::string group, version;
  {
    std::lock_guard lock(mutex_);
    group = gv.group;
    version = gv.version;
  }
  auto context = "discovery of " + api_version;
  auto response = client_.request_json("GET", discovery_path(group, version));
  std::unordered_map<std::string, ResourceRef> kinds;
  std::optional<Error> error;
  if (!response.ok()) {
    // 404: the server does not serve this group/version (yet): no kinds, not a failure.
    if (!is_not_found(response.error())) error = response.error().with_context(context);
  } else if (auto parsed = parse_api_resource_list(*response); !parsed.ok()) {
    error = Error::retryable(context + ": " + parsed.error().message());
  } else {
    for (auto& r : *parsed) {
      if (r.ref.group != group || r.ref.version != version) {
        error = Error::terminal(context + ": the server answered for " + r.ref.api_version());
        break;
      }
      kinds.emplace(r.kind, std::move(r.ref));  // The first resource of a kind wins.
    }
  }
  std::lock_guard lock(mutex_);
  ++fetches_;
  gv.fetched = true;
  gv.fetched_at = options_.clock->now();
  ++gv.generation;
  gv.error = error;
  if (!error) gv.kinds = std::move(kinds);  // A failed fetch keeps what we knew.
}

void Discovery::invalidate() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

int Discovery::fetches() const {
  std::lock_guard lock(mutex_);
  return fetches_;
}

}  // namespace kiln::kube
