#pragma once

// Model and data URIs of Kiln's specs and where they appear inside a pod:
//   pvc://<claim>/<path> -> a PersistentVolumeClaim volume named <claim>, mounted at
//                           /mnt/kiln/<claim>; the file is /mnt/kiln/<claim>/<path>.
//   file://<path>        -> the path inside the image; no volume.
// Pure functions; thread-safe.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln::controllers {

inline constexpr const char* kMountRoot = "/mnt/kiln";

struct StorageUri {
  std::string claim;       // Empty for file://.
  std::string path;        // Path inside the claim (no leading '/'), or the absolute file path.
  std::string local_path;  // The path a container sees.

  bool on_claim() const { return !claim.empty(); }
};

// Parses `uri`. Errors (invalid-input): another scheme, an empty claim or path.
Result<StorageUri> parse_storage_uri(std::string_view uri);

// The inverse for paths under /mnt/kiln/<claim>/...: "pvc://<claim>/<rest>"; other absolute paths
// become "file://<path>".
std::string uri_for_local_path(std::string_view local_path);

// Pod volume {name: <claim>, persistentVolumeClaim: {claimName, readOnly}}.
nlohmann::json claim_volume(const std::string& claim, bool read_only);

// Container volumeMount {name: <claim>, mountPath: /mnt/kiln/<claim>, readOnly}.
nlohmann::json claim_mount(const std::string& claim, bool read_only);

}  // namespace kiln::controllers
