#include "controllers/datapipeline/cache.h"

#include "controllers/common/names.h"

namespace kiln::controllers::datapipeline {

using nlohmann::json;

std::string cache_key(const api::PipelineStep& step, const json& parameters,
                      const json& input_digests, const std::string& image_id) {
  const json written = step;
  json material = json::object();
  for (const char* field : {"image", "command", "args", "template", "inputs", "env"}) {
    if (written.contains(field)) material[field] = written[field];
  }
  material["parameters"] = parameters;
  if (input_digests.is_object() && !input_digests.empty()) {
    material["inputArtifacts"] = input_digests;
  }
  if (!image_id.empty()) material["imageID"] = image_id;
  return sha256_hex(material.dump());
}

std::string known_image_id(const json& runs, const std::string& step) {
  for (const json& run : runs) {
    for (const json& st : run.value("steps", json::array())) {
      if (st.value("name", "") != step) continue;
      if (const std::string id = st.value("imageID", ""); !id.empty()) return id;
    }
  }
  return "";
}

std::optional<CacheHit> find_cache_hit(const json& runs, const std::string& key,
                                       const std::optional<std::string>& max_age, TimePoint now) {
  const auto age = max_age ? parse_duration(*max_age) : std::nullopt;
  std::optional<CacheHit> best;
  std::optional<TimePoint> best_time;
  for (const json& run : runs) {
    for (const json& step : run.value("steps", json::array())) {
      if (step.value("phase", "") != "Succeeded" || step.value("cacheKey", "") != key) continue;
      const auto finished = parse_time(step.value("finishTime", ""));
      if (!finished) continue;
      if (age && *finished + *age < now) continue;
      if (best_time && *finished <= *best_time) continue;
      best = CacheHit{run.value("name", ""), step.value("outputs", json::object()),
                      step.value("artifacts", json::array())};
      best_time = finished;
    }
  }
  return best;
}

}  // namespace kiln::controllers::datapipeline
