#pragma once

// The storage containers of the pods Kiln builds: what moves files between object storage
// (s3://, gs://, http(s)://; uri.h) and a pod's emptyDir volumes. They run the kiln/storage image's
// `kiln-storage` (scripts/storage/kiln-storage, on Debian's rclone):
//
//   kiln-storage fetch <uri> <dest-file> <sha256:HEX|-> [...]   before the server or trainer starts
//   kiln-storage upload <src-dir> <uri-prefix>                   after the trainer exits
//
// rclone is configured by environment only, as KServe's storage initializer is: the object's
// spec storage block over the manager's StorageDefaults gives RCLONE_S3_ENDPOINT, _REGION,
// _FORCE_PATH_STYLE, RCLONE_CA_CERT (a ConfigMap's ca.crt), and env auth on, so credentials come
// from the Secret named by storage.secretRef (envFrom: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// GOOGLE_APPLICATION_CREDENTIALS_JSON) or, without one, from the pod's ServiceAccount identity
// (IRSA, GKE workload identity). A Secret that does not exist keeps the pod waiting in
// CreateContainerConfigError, which the controllers report with its message.
// On failure the container's termination message is one line "<uri>: <reason>" (fetch) and on
// success of an upload {"uploaded": {"<relative path>": {"uri", "digest"}}}.
// Pure builders; thread-safe.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controllers/api/v1alpha1.h"
#include "controllers/common/uri.h"

namespace kiln::controllers {


// The chart's storage values (kiln-manager --storage-* flags).
struct StorageDefaults {
  std::string image = "kiln/storage:dev";
  std::string image_pull_policy = "IfNotPresent";
  std::string s3_endpoint;            // "" = AWS S3.
  std::string s3_region;              // "" = rclone's default (us-east-1).
  bool s3_force_path_style = true;    // rclone's own default.
  std::string secret_name;            // Used when the object names none; "" = pod identity.
  std::string ca_config_map;          // ConfigMap with ca.crt; "" = the image's CA bundle.
  UriPolicy uri_policy;               // allow_http.
};

// One file a fetch container downloads.
struct StorageFile {
  std::string uri;     // Remote (StorageUri::remote()).
  std::string dest;    // Absolute path in the pod (inside an emptyDir the container mounts).
  std::string digest;  // "sha256:<hex>" to verify, or "".
};

// The init container `name` running `kiln-storage fetch` for `files`, mounting `mounts` (the
// emptyDir volumes the destinations live in, read-write) and the CA bundle when one is set.
// Restricted security context; small requests.
nlohmann::json fetch_container(const std::string& name, const std::vector<StorageFile>& files,
                               const kiln::api::v1alpha1::StorageConfig* config, const StorageDefaults& defaults,
                               const nlohmann::json& mounts);

// The container `name` uploading every file under `src_dir` to `prefix`. `only_index`: when
// set, pods of an Indexed Job whose JOB_COMPLETION_INDEX differs exit 0 without uploading.
nlohmann::json upload_container(const std::string& name, const std::string& src_dir,
                                const std::string& prefix, const kiln::api::v1alpha1::StorageConfig* config,
                                const StorageDefaults& defaults, const nlohmann::json& mounts,
                                std::optional<int> only_index = std::nullopt);

// A container running the kiln/storage image with `command` (e.g. {"kiln-storage",
// "upload-artifact", path, uri}), configured as fetch_container's, mounting `mounts`.
nlohmann::json storage_tool_container(const std::string& name, const nlohmann::json& command,
                                      const kiln::api::v1alpha1::StorageConfig* config,
                                      const StorageDefaults& defaults, nlohmann::json mounts);

// The pod volumes the storage containers need besides the data: the CA bundle's ConfigMap
// (none when no CA bundle is set), and "kiln-storage-tmp", an emptyDir at /tmp for rclone.
nlohmann::json storage_volumes(const kiln::api::v1alpha1::StorageConfig* config, const StorageDefaults& defaults);

// An emptyDir volume and its mount.
nlohmann::json empty_dir_volume(const std::string& name);
nlohmann::json volume_mount(const std::string& name, const std::string& path, bool read_only);

// The message of a storage container of `pod` that failed (terminated with a non-zero exit
// code, now or as its last state) or cannot start (waiting with reason
// CreateContainerConfigError, CreateContainerError, ErrImagePull, ImagePullBackOff,
// InvalidImageName): "<reason>: <message>" for a waiting one, the termination message (or
// "exit code N") for a terminated one, without trailing newlines or spaces. nullopt when
// container `name` (among init containers and containers) has no such state, or has since
// terminated with exit code 0.
std::optional<std::string> storage_failure(const nlohmann::json& pod, const std::string& name);

}  // namespace kiln::controllers
