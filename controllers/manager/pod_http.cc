#include "controllers/manager/pod_http.h"

#include <cpprest/http_client.h>

namespace kiln::controllers::manager {

Result<std::string> http_get(const std::string& host, int port, const std::string& path,
                             std::chrono::milliseconds timeout) {
  const std::string url = "http://" + host + ":" + std::to_string(port) + path;
  try {
    web::http::client::http_client_config config;
    config.set_timeout(timeout);
    web::http::client::http_client client(utility::conversions::to_string_t(url), config);
    auto response = client.request(web::http::methods::GET).get();
    const auto code = response.status_code();
    std::string body = response.extract_utf8string(true).get();
    if (code < 200 || code >= 300) {
      return Error::retryable("GET " + url + ": HTTP " + std::to_string(code) + ": " +
                              body.substr(0, 200));
    }
    return body;
  } catch (const std::exception& e) {
    return Error::retryable("GET " + url + ": " + e.what());
  }
}

std::vector<std::string> ready_pod_ips(const std::vector<nlohmann::json>& pods) {
  std::vector<std::string> ips;
  for (const auto& pod : pods) {
    const auto status = pod.value("status", nlohmann::json::object());
    if (status.value("phase", "") != "Running" || status.value("podIP", "").empty()) continue;
    if (pod["metadata"].contains("deletionTimestamp")) continue;
    bool ready = false;
    for (const auto& c : status.value("conditions", nlohmann::json::array())) {
      if (c.value("type", "") == "Ready") ready = c.value("status", "") == "True";
    }
    if (ready) ips.push_back(status["podIP"].get<std::string>());
  }
  return ips;
}

PodAnswers get_from_pods(const std::vector<std::string>& pod_ips, int port, const std::string& path,
                         std::chrono::milliseconds timeout) {
  PodAnswers answers;
  for (const auto& ip : pod_ips) {
    auto body = http_get(ip, port, path, timeout);
    if (body.ok()) {
      answers.bodies.push_back(std::move(body).value());
    } else {
      answers.failures.push_back(body.error().message());
    }
  }
  return answers;
}

}  // namespace kiln::controllers::manager
