#pragma once

// Content-addressed memoization of DataPipeline steps (as Argo Workflows' memoize and Kubeflow
// Pipelines' execution cache): a step's key is the SHA-256 of what determines its result, and a
// recent Succeeded step with the same key lends its outputs. Pure; thread-safe.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "controllers/api/v1alpha1.h"
#include "controllers/common/time.h"

namespace kiln::controllers::datapipeline {

namespace api = kiln::api::v1alpha1;

// sha256 (hex) of the canonical JSON {image, command, args, env, template, inputs, parameters} of
// `step` (its spec after substitution, written as the API writes it: fields left out or empty are
// absent) and `parameters` (the pipeline's parameter name -> value object). Keys of JSON objects
// are sorted by nlohmann::json, so the text is canonical.
std::string cache_key(const api::PipelineStep& step, const nlohmann::json& parameters);

struct CacheHit {
  std::string run;  // The run whose step produced the outputs.
  nlohmann::json outputs;
};

// A step in `runs` (status.runs) with phase Succeeded, cacheKey == `key` and a finishTime no
// older than `max_age` (cache.maxAge; nullopt, or a text that is no duration: forever) before
// `now`. The newest such step wins.
std::optional<CacheHit> find_cache_hit(const nlohmann::json& runs, const std::string& key,
                                       const std::optional<std::string>& max_age, TimePoint now);

}  // namespace kiln::controllers::datapipeline
