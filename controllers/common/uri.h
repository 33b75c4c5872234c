#pragma once

// Model and data URIs of Kiln's specs, and where they appear inside a pod:
//   pvc://<claim>/<path>  -> a PersistentVolumeClaim volume named <claim>, mounted at
//                            /mnt/kiln/<claim>; the file is /mnt/kiln/<claim>/<path>.
//   file://<path>         -> the path inside the image; no volume.
//   s3://<bucket>/<key>   -> an object in S3 (or an S3-compatible server), fetched into the pod by
//   gs://<bucket>/<key>      the storage init container (storage.h); gs:// is Google Cloud Storage.
//   https://<host>/<path> -> a file over HTTPS; http:// only when UriPolicy::allow_http.
// Parsed with liburiparser (RFC 3986). Rejected (invalid-input, the message names the problem):
// another scheme, a `..` or `.` path segment (before or after percent-decoding), an empty claim,
// bucket or host, a claim that is not a DNS label, a bucket that is not an S3/GCS bucket name
// (3-63 of [a-z0-9.-], starting and ending with a letter or digit), user info in the authority,
// a query or fragment on anything but http(s).
// Pure functions; thread-safe.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln::controllers {

inline constexpr const char* kMountRoot = "/mnt/kiln";

enum class UriScheme { kPvc, kFile, kS3, kGs, kHttps, kHttp };

struct StorageUri {
  UriScheme scheme = UriScheme::kFile;
  std::string claim;       // pvc:// only.
  std::string bucket;      // s3:// and gs:// only.
  std::string host;        // http(s):// only: host[:port].
  // pvc://: the path inside the claim (no leading or trailing '/', may be empty);
  // file://: the absolute path; s3:// gs://: the key (no leading '/', may be empty: the bucket);
  // http(s)://: the path with its query, from the leading '/'.
  std::string path;
  // pvc:// and file://: the path a container sees; "" for remote URIs.
  std::string local_path;

  bool on_claim() const { return scheme == UriScheme::kPvc; }
  // s3://, gs://, http(s)://: fetched or uploaded by the storage container.
  bool remote() const {
    return scheme == UriScheme::kS3 || scheme == UriScheme::kGs || scheme == UriScheme::kHttps ||
           scheme == UriScheme::kHttp;
  }
  // The last non-empty segment of the path ("" when there is none).
  std::string basename() const;
};

struct UriPolicy {
  bool allow_http = false;  // Chart value storage.allowHttp (kiln-manager --storage-allow-http).
};

// Parses and validates `uri` (see above). Errors: invalid-input naming the uri and the problem.
Result<StorageUri> parse_storage_uri(std::string_view uri, const UriPolicy& policy = {});

// `prefix` + "/" + `name` with exactly one '/' between them (prefix's trailing '/' dropped).
std::string join_uri(std::string_view prefix, std::string_view name);

// The inverse for paths under /mnt/kiln/<claim>/...: "pvc://<claim>/<rest>"; other absolute paths
// become "file://<path>".
std::string uri_for_local_path(std::string_view local_path);

// Pod volume {name: <claim>, persistentVolumeClaim: {claimName, readOnly}}.
nlohmann::json claim_volume(const std::string& claim, bool read_only);

// Container volumeMount {name: <claim>, mountPath: /mnt/kiln/<claim>, readOnly}.
nlohmann::json claim_mount(const std::string& claim, bool read_only);

}  // namespace kiln::controllers
