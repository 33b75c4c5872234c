#include "controllers/common/uri.h"

namespace kiln::controllers {

using nlohmann::json;

std::string StorageUri::basename() const {
  std::string_view p = path;
  if (const auto q = p.find('?'); q != std::string_view::npos) p = p.substr(0, q);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  const auto slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

std::string join_uri(std::string_view prefix, std::string_view name) {
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  return std::string(prefix) + "/" + std::string(name);
}

// (Interim parser: replaced by the liburiparser one.)
Result<StorageUri> parse_storage_uri(std::string_view uri, const UriPolicy& policy) {
  constexpr std::string_view kPvc = "pvc://";
  constexpr std::string_view kFile = "file://";
  StorageUri out;
  for (auto [prefix, scheme] : {std::pair{std::string_view("s3://"), UriScheme::kS3},
                                std::pair{std::string_view("gs://"), UriScheme::kGs},
                                std::pair{std::string_view("https://"), UriScheme::kHttps},
                                std::pair{std::string_view("http://"), UriScheme::kHttp}}) {
    if (!uri.starts_with(prefix)) continue;
    if (scheme == UriScheme::kHttp && !policy.allow_http) {
      return Error::invalid_input("uri " + std::string(uri) + ": http:// is not allowed");
    }
    out.scheme = scheme;
    const std::string_view rest = uri.substr(prefix.size());
    const auto slash = rest.find('/');
    const std::string authority(rest.substr(0, slash));
    if (authority.empty()) return Error::invalid_input("uri " + std::string(uri) + ": no host");
    if (scheme == UriScheme::kS3 || scheme == UriScheme::kGs) {
      out.bucket = authority;
      if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash + 1));
    } else {
      out.host = authority;
      out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    }
    return out;
  }
  if (uri.starts_with(kPvc)) {
    out.scheme = UriScheme::kPvc;
    const std::string_view rest = uri.substr(kPvc.size());
    const auto slash = rest.find('/');
    out.claim = std::string(rest.substr(0, slash));
    if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash + 1));
    while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
    if (out.claim.empty()) return Error::invalid_input("uri " + std::string(uri) + ": no claim");
    out.local_path = std::string(kMountRoot) + "/" + out.claim;
    if (!out.path.empty()) out.local_path += "/" + out.path;
    return out;
  }
  if (uri.starts_with(kFile)) {
    out.scheme = UriScheme::kFile;
    out.path = std::string(uri.substr(kFile.size()));
    if (out.path.empty()) return Error::invalid_input("uri " + std::string(uri) + ": no path");
    if (out.path.front() != '/') out.path = "/" + out.path;
    out.local_path = out.path;
    return out;
  }
  return Error::invalid_input("uri " + std::string(uri) + ": expected s3://, gs://, https://, pvc:// or file://");
}

std::string uri_for_local_path(std::string_view local_path) {
  const std::string root = std::string(kMountRoot) + "/";
  if (local_path.starts_with(root)) return "pvc://" + std::string(local_path.substr(root.size()));
  return "file://" + std::string(local_path);
}

json claim_volume(const std::string& claim, bool read_only) {
  return {{"name", claim},
          {"persistentVolumeClaim", {{"claimName", claim}, {"readOnly", read_only}}}};
}

json claim_mount(const std::string& claim, bool read_only) {
  return {{"name", claim},
          {"mountPath", std::string(kMountRoot) + "/" + claim},
          {"readOnly", read_only}};
}

}  // namespace kiln::controllers
