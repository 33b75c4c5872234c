#include "controllers/trainingjob/model.h"

#include "controllers/common/uri.h"

namespace kiln::controllers::trainingjob {

using nlohmann::json;

namespace {
// job.h's kUploader and kOutputDir (model.h does not depend on the builders).
constexpr const char* kUploaderName = "storage-uploader";
constexpr const char* kOutputDirPath = "/mnt/kiln-output";
}  // namespace

std::optional<json> model_from_summary(const std::string& message, const std::string& output_uri) {
  const json summary = json::parse(message, nullptr, /*allow_exceptions=*/false);
  if (!summary.is_object() || !summary.contains("model") || !summary["model"].is_object()) {
    return std::nullopt;
  }
  const json& m = summary["model"];
  std::string uri = m.value("uri", "");
  if (uri.starts_with("/")) uri = uri_for_local_path(uri);
  json metrics = json::object();
  if (summary.contains("metrics") && summary["metrics"].is_object()) {
    for (const auto& [key, value] : summary["metrics"].items()) {
      if (value.is_number()) metrics[key] = value;
    }
  }
  std::string dir = output_uri;
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  json model = {{"uri", uri},
                {"digest", m.value("digest", "")},
                {"format", m.value("format", "")},
                {"metrics", metrics}};
  if (!dir.empty()) model["profileUri"] = dir + "/profile.json";
  return model;
}

std::string termination_message(const json& pod) {
  const json statuses =
      pod.value("status", json::object()).value("containerStatuses", json::array());
  for (const json& s : statuses) {
    const json terminated = s.value("state", json::object()).value("terminated", json::object());
    if (terminated.contains("message") && terminated["message"].is_string()) {
      return terminated["message"].get<std::string>();
    }
  }
  return "";
}

std::optional<json> model_from_pod(const json& pod, const std::string& output_uri) {
  const json status = pod.value("status", json::object());
  std::optional<json> model;
  json uploaded;
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    for (const json& s : status.value(list, json::array())) {
      const json terminated =
          s.value("state", json::object()).value("terminated", json::object());
      if (!terminated.contains("message") || !terminated["message"].is_string()) continue;
      const std::string message = terminated["message"].get<std::string>();
      if (s.value("name", "") == kUploaderName) {
        const json j = json::parse(message, nullptr, /*allow_exceptions=*/false);
        if (terminated.value("exitCode", 1) == 0 && j.is_object() && j.contains("uploaded") &&
            j["uploaded"].is_object()) {
          uploaded = j["uploaded"];
        }
        continue;
      }
      if (!model) model = model_from_summary(message, output_uri);
    }
  }
  const auto out = parse_storage_uri(output_uri, UriPolicy{.allow_http = true});
  if (!model || !out.ok() || !out->remote()) return model;
  if (uploaded.is_null()) return std::nullopt;  // Not uploaded (yet): no model to serve.
  // The trainer reported a path in its output directory; the upload keeps its relative path.
  std::string local = (*model)["uri"].get<std::string>();
  const std::string root = std::string("file://") + kOutputDirPath + "/";
  if (local.starts_with(root)) local = local.substr(root.size());
  const json entry = uploaded.value(local, json());
  if (!entry.is_object()) return std::nullopt;
  (*model)["uri"] = entry.value("uri", "");
  if (entry.contains("digest")) (*model)["digest"] = entry["digest"];
  const json profile = uploaded.value("profile.json", json());
  if (profile.is_object()) {
    (*model)["profileUri"] = profile.value("uri", "");
  } else {
    model->erase("profileUri");
  }
  return model;
}

}  // namespace kiln::controllers::trainingjob
