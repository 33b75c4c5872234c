#pragma once

// Model and data URIs of Kiln's specs, and where they appear inside a pod:
//   pvc://<claim>/<path>  -> a PersistentVolumeClaim volume named <claim>, mounted at
//                            /mnt/kiln/<claim>; the file is /mnt/kiln/<claim>/<path>.
//   file://<path>         -> the absolute path inside the image (file:///models/m.json); no volume.
//   s3://<bucket>/<key>   -> an object in S3 (or an S3-compatible server), fetched into the pod by
//   gs://<bucket>/<key>      the storage init container (storage.h); gs:// is Google Cloud Storage.
//   https://<host>/<path> -> a file over HTTPS; http:// only when UriPolicy::allow_http.
// Parsed with liburiparser (RFC 3986); the scheme is matched in lower case. Rejected
// (invalid-input, the message is "<uri>: <problem>", the uri cut to 120 bytes):
//   - an empty string, more than 2048 bytes (the CRDs' maxLength), text that is not a URI;
//   - another scheme, http:// without UriPolicy::allow_http, no "//" authority;
//   - a `.` or `..` path segment, as written or percent-decoded (%2e%2e, also when a decoded %2F
//     cuts one out of a segment), a %00; for all but http(s) an empty segment before the last
//     ("a//b", which would make a key or path absolute);
//   - user info in the authority (credentials come from a Secret), a fragment, a query on anything
//     but http(s), a port on anything but http(s) or one outside 1-65535;
//   - pvc://: an empty claim or one that is not a DNS label (RFC 1123: 1-63 of [a-z0-9-],
//     alphanumeric at both ends; the claim names the pod volume, which must be one);
//   - s3:// gs://: an empty bucket, a bucket name outside 3-63 of [a-z0-9.-] (gs: also '_'),
//     starting and ending with a letter or digit, with no "..", not an IPv4 address;
//   - http(s)://: an empty host, a host that is not a DNS name, an IPv4 or a bracketed IPv6
//     address;
//   - file://: a host (file://x/y), no path (file:/// or file://).
// Paths and keys are kept as written (not percent-decoded).
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
