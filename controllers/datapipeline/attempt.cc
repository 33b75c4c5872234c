#include "controllers/datapipeline/attempt.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "controllers/common/time.h"

namespace kiln::controllers::datapipeline {

using nlohmann::json;
using Kind = AttemptOutcome::Kind;

namespace {

const std::set<std::string>& image_errors() {
  static const std::set<std::string> kReasons = {"ErrImagePull", "ImagePullBackOff",
                                                 "InvalidImageName", "CreateContainerConfigError",
                                                 "CreateContainerError"};
  return kReasons;
}

json container_statuses(const json& pod) {
  return pod.value("status", json::object()).value("containerStatuses", json::array());
}

std::map<std::string, std::string> parse_outputs(const std::string& message) {
  std::map<std::string, std::string> out;
  const json parsed = json::parse(message, nullptr, false);
  if (!parsed.is_object()) return out;
  for (const auto& [key, value] : parsed.items()) {
    out[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return out;
}

// The first terminated container of any pod: {exitCode, reason, message}, or null.
json terminated_of(const std::vector<json>& pods) {
  for (const json& pod : pods) {
    for (const json& s : container_statuses(pod)) {
      const json t = s.value("state", json::object()).value("terminated", json());
      if (t.is_object()) return t;
    }
  }
  return nullptr;
}

std::optional<AttemptOutcome> stuck_pod(const std::vector<json>& pods) {
  for (const json& pod : pods) {
    for (const json& s : container_statuses(pod)) {
      const json w = s.value("state", json::object()).value("waiting", json::object());
      const std::string reason = w.value("reason", "");
      if (image_errors().contains(reason)) {
        return AttemptOutcome{Kind::kError, reason + ": " + w.value("message", ""), true, {}};
      }
    }
  }
  return std::nullopt;
}

AttemptOutcome failed_outcome(const json& condition, const std::vector<json>& pods) {
  const std::string reason = condition.value("reason", "");
  if (reason == "DeadlineExceeded") {
    return {Kind::kError, "timed out: " + condition.value("message", ""), false, {}};
  }
  const json t = terminated_of(pods);
  if (t.is_object() && t.value("exitCode", 0) != 0) {
    return {
        Kind::kFailed,
        "exit code " + std::to_string(t.value("exitCode", 0)) + " (" + t.value("reason", "") + ")",
        false,
        {}};
  }
  return {
      Kind::kError, "pod did not run: " + reason + " " + condition.value("message", ""), false, {}};
}

}  // namespace

AttemptOutcome read_attempt(const json* job, const std::vector<json>& pods) {
  if (job == nullptr) return {};
  for (const json& c : job->value("status", json::object()).value("conditions", json::array())) {
    if (c.value("status", "") != "True") continue;
    const std::string type = c.value("type", "");
    if (type == "Complete") {
      const json t = terminated_of(pods);
      AttemptOutcome out{Kind::kSucceeded, "", false, {}};
      if (t.is_object()) out.outputs = parse_outputs(t.value("message", ""));
      return out;
    }
    if (type == "Failed") return failed_outcome(c, pods);
  }
  if (auto stuck = stuck_pod(pods)) return *stuck;
  return {};
}

std::string termination_message(const std::vector<json>& pods) {
  const json t = terminated_of(pods);
  return t.is_object() ? t.value("message", "") : "";
}

bool should_retry(Kind kind, const api::PipelineStepRetryStrategy& strategy, int attempts) {
  if (attempts > strategy.limit) return false;
  switch (strategy.retry_policy) {
    case api::PipelineStepRetryStrategyRetryPolicy::kAlways:
      return kind == Kind::kFailed || kind == Kind::kError;
    case api::PipelineStepRetryStrategyRetryPolicy::kOnError:
      return kind == Kind::kError;
    case api::PipelineStepRetryStrategyRetryPolicy::kOnFailure:
      return kind == Kind::kFailed;
  }
  return false;
}

std::chrono::seconds backoff_delay(const api::PipelineStepRetryStrategyBackoff& backoff,
                                   int attempts) {
  static const api::PipelineStepRetryStrategyBackoff kDefaults;
  const auto duration = [](const std::string& text, const std::string& fallback) {
    const auto parsed = parse_duration(text);
    return parsed ? *parsed : *parse_duration(fallback);
  };
  const auto base = duration(backoff.duration, kDefaults.duration);
  const auto cap = duration(backoff.max_duration, kDefaults.max_duration);
  const double ms =
      static_cast<double>(base.count()) * std::pow(backoff.factor, std::max(0, attempts - 1));
  const double capped = std::min(ms, static_cast<double>(cap.count()));
  return std::chrono::seconds(static_cast<long long>(std::ceil(capped / 1000.0)));
}

}  // namespace kiln::controllers::datapipeline
