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

// sha256 (hex) of the canonical JSON {image, command, args, env, template, inputs, parameters,
// inputArtifacts, imageID} of `step` (its spec after substitution, written as the API writes it:
// fields left out or empty are absent), `parameters` (the pipeline's parameter name -> value
// object), `input_digests` (inputs.artifacts name -> the digest of what is downloaded, or its uri
// when no digest is known; absent when empty) and `image_id` (the image digest a run of the step
// resolved, containerStatuses[].imageID; absent when ""). Keys of JSON objects are sorted by
// nlohmann::json, so the text is canonical.
std::string cache_key(const api::PipelineStep& step, const nlohmann::json& parameters,
                      const nlohmann::json& input_digests = nlohmann::json::object(),
                      const std::string& image_id = "");

// The imageID the newest step named `step` in `runs` (status.runs, newest first) recorded, or "".
// A later run's key includes it, so a tag that moved (seen by any run of the step) misses the
// entries made with the old digest.
std::string known_image_id(const nlohmann::json& runs, const std::string& step);

struct CacheHit {
  std::string run;  // The run whose step produced the outputs.
  nlohmann::json outputs;
  nlohmann::json artifacts;  // steps[].artifacts of the hit (stored outputs), an array.
};

// A step in `runs` (status.runs) with phase Succeeded, cacheKey == `key` and a finishTime no
// older than `max_age` (cache.maxAge; nullopt, or a text that is no duration: forever) before
// `now`. The newest such step wins.
std::optional<CacheHit> find_cache_hit(const nlohmann::json& runs, const std::string& key,
                                       const std::optional<std::string>& max_age, TimePoint now);

}  // namespace kiln::controllers::datapipeline
