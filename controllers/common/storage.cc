#include "controllers/common/storage.h"

namespace kiln::controllers {
namespace {

using nlohmann::json;

constexpr const char* kCaVolume = "kiln-storage-ca";
constexpr const char* kCaPath = "/etc/kiln/storage-ca";
constexpr const char* kTmpVolume = "kiln-storage-tmp";

json env_var(const std::string& name, const std::string& value) {
  return {{"name", name}, {"value", value}};
}

std::string ca_config_map(const kiln::api::v1alpha1::StorageConfig* config, const StorageDefaults& defaults) {
  if (config && config->ca_bundle_config_map_ref) return config->ca_bundle_config_map_ref->name;
  return defaults.ca_config_map;
}

// The container fields both kinds of storage container share.
json storage_container(const std::string& name, const json& command,
                       const kiln::api::v1alpha1::StorageConfig* config, const StorageDefaults& defaults,
                       json mounts) {
  const std::string endpoint =
      config && config->endpoint ? *config->endpoint : defaults.s3_endpoint;
  const std::string region = config && config->region ? *config->region : defaults.s3_region;
  const bool path_style =
      config && config->force_path_style ? *config->force_path_style : defaults.s3_force_path_style;
  json env = json::array({env_var("RCLONE_S3_PROVIDER", endpoint.empty() ? "AWS" : "Other"),
                          env_var("RCLONE_S3_ENV_AUTH", "true"),
                          env_var("RCLONE_S3_FORCE_PATH_STYLE", path_style ? "true" : "false"),
                          env_var("RCLONE_GCS_ENV_AUTH", "true"),
                          env_var("HOME", "/tmp")});
  if (!endpoint.empty()) env.push_back(env_var("RCLONE_S3_ENDPOINT", endpoint));
  if (!region.empty()) env.push_back(env_var("RCLONE_S3_REGION", region));
  mounts.push_back(volume_mount(kTmpVolume, "/tmp", false));
  if (!ca_config_map(config, defaults).empty()) {
    env.push_back(env_var("RCLONE_CA_CERT", std::string(kCaPath) + "/ca.crt"));
    mounts.push_back(volume_mount(kCaVolume, kCaPath, true));
  }
  json container = {
      {"name", name},
      {"image", defaults.image},
      {"imagePullPolicy", defaults.image_pull_policy},
      {"command", command},
      {"env", env},
      {"volumeMounts", mounts},
      {"terminationMessagePolicy", "FallbackToLogsOnError"},
      {"resources",
       {{"requests", {{"cpu", "50m"}, {"memory", "64Mi"}}}, {"limits", {{"memory", "512Mi"}}}}},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", true},
        {"runAsNonRoot", true},
        {"capabilities", {{"drop", {"ALL"}}}}}}};
  const std::string secret =
      config && config->secret_ref ? config->secret_ref->name : defaults.secret_name;
  if (!secret.empty()) container["envFrom"] = json::array({{{"secretRef", {{"name", secret}}}}});
  return container;
}

}  // namespace

json storage_tool_container(const std::string& name, const json& command,
                            const kiln::api::v1alpha1::StorageConfig* config,
                            const StorageDefaults& defaults, json mounts) {
  return storage_container(name, command, config, defaults, std::move(mounts));
}

json empty_dir_volume(const std::string& name) {
  return {{"name", name}, {"emptyDir", json::object()}};
}

json volume_mount(const std::string& name, const std::string& path, bool read_only) {
  return {{"name", name}, {"mountPath", path}, {"readOnly", read_only}};
}

json fetch_container(const std::string& name, const std::vector<StorageFile>& files,
                     const kiln::api::v1alpha1::StorageConfig* config, const StorageDefaults& defaults,
                     const json& mounts) {
  json command = {"kiln-storage", "fetch"};
  for (const auto& f : files) {
    command.push_back(f.uri);
    command.push_back(f.dest);
    command.push_back(f.digest.empty() ? "-" : f.digest);
  }
  return storage_container(name, command, config, defaults, mounts);
}

json upload_container(const std::string& name, const std::string& src_dir,
                      const std::string& prefix, const kiln::api::v1alpha1::StorageConfig* config,
                      const StorageDefaults& defaults, const json& mounts,
                      std::optional<int> only_index) {
  json command = {"kiln-storage", "upload", src_dir, prefix};
  if (only_index) {
    // The index and paths are Kiln's; the prefix is passed as "$1" so no user text is parsed
    // by the shell.
    command = {"sh",
               "-c",
               "[ \"${JOB_COMPLETION_INDEX:-0}\" = " + std::to_string(*only_index) +
                   " ] || exit 0; exec kiln-storage upload \"$1\" \"$2\"",
               "kiln-storage",
               src_dir,
               prefix};
  }
  return storage_container(name, command, config, defaults, mounts);
}

json storage_volumes(const kiln::api::v1alpha1::StorageConfig* config, const StorageDefaults& defaults) {
  json volumes = json::array({empty_dir_volume(kTmpVolume)});
  const std::string ca = ca_config_map(config, defaults);
  if (!ca.empty()) {
    volumes.push_back({{"name", kCaVolume}, {"configMap", {{"name", ca}}}});
  }
  return volumes;
}

namespace {

std::string trim_end(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

std::optional<std::string> storage_failure(const json& pod, const std::string& name) {
  const json status = pod.value("status", json::object());
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    for (const auto& cs : status.value(list, json::array())) {
      if (cs.value("name", "") != name) continue;
      const json state = cs.value("state", json::object());
      if (state.contains("waiting")) {
        const std::string reason = state["waiting"].value("reason", "");
        static const char* kStuck[] = {"CreateContainerConfigError", "CreateContainerError",
                                       "ErrImagePull", "ImagePullBackOff", "InvalidImageName"};
        for (const char* stuck : kStuck) {
          if (reason == stuck) return trim_end(reason + ": " + state["waiting"].value("message", ""));
        }
      }
      // A container that finished well has recovered: its lastState is history. (A running
      // one may be the next try of a crash loop: its last failure still stands.)
      if (state.contains("terminated") && state["terminated"].value("exitCode", 0) == 0) {
        continue;
      }
      for (const char* which : {"state", "lastState"}) {
        const json s = cs.value(which, json::object());
        if (!s.contains("terminated")) continue;
        const json& t = s["terminated"];
        if (t.value("exitCode", 0) == 0) continue;
        const std::string message = trim_end(t.value("message", ""));
        return message.empty() ? "exit code " + std::to_string(t.value("exitCode", 0)) : message;
      }
    }
  }
  return std::nullopt;
}

}  // namespace kiln::controllers
