#include "controllers/common/uri.h"

namespace kiln::controllers {

using nlohmann::json;

Result<StorageUri> parse_storage_uri(std::string_view uri) {
  constexpr std::string_view kPvc = "pvc://";
  constexpr std::string_view kFile = "file://";
  StorageUri out;
  if (uri.starts_with(kPvc)) {
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
    out.path = std::string(uri.substr(kFile.size()));
    if (out.path.empty()) return Error::invalid_input("uri " + std::string(uri) + ": no path");
    if (out.path.front() != '/') out.path = "/" + out.path;
    out.local_path = out.path;
    return out;
  }
  return Error::invalid_input("uri " + std::string(uri) + ": expected pvc:// or file://");
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
