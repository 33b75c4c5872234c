#include "controllers/trainingjob/model.h"

#include "controllers/common/uri.h"

namespace kiln::controllers::trainingjob {

using nlohmann::json;

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

}  // namespace kiln::controllers::trainingjob
