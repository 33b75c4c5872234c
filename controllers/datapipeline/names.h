#pragma once

// Names and labels of a DataPipeline's children. A run is one execution of the DAG, named
// `<pipeline>-<id>` where the id is 8 hex characters of the SHA-256 of the pipeline's uid and the
// trigger (creation, a schedule tick, a kiln.dev/run value, a rerun), so the same trigger always
// names the same run and planning twice never starts two runs.

#include <nlohmann/json.hpp>
#include <string>

namespace kiln::controllers::datapipeline {

inline constexpr const char* kPipelineLabel = "kiln.dev/pipeline";
inline constexpr const char* kRunLabel = "kiln.dev/run";
inline constexpr const char* kStepLabel = "kiln.dev/step";
inline constexpr const char* kJobNameLabel = "batch.kubernetes.io/job-name";
inline constexpr const char* kRunAnnotation = "kiln.dev/run";
inline constexpr const char* kRerunAnnotation = "kiln.dev/rerun-from";

// `<pipeline>-<8 hex of sha256(uid + "/" + trigger)>`, a DNS label (hashed when long).
std::string run_name(const nlohmann::json& pipeline, const std::string& trigger);

// The Job of one attempt (1-based) of a step: `<run>-<step>-<attempt>`, hashed when long.
std::string step_job_name(const std::string& run, const std::string& step, int attempt);

// The per-run workspace claim (spec.workspace.volumeClaimTemplate): `<run>-workspace`.
std::string workspace_claim_name(const std::string& run);

// {kiln.dev/pipeline, kiln.dev/run[, kiln.dev/step]} (step omitted when empty).
nlohmann::json labels(const std::string& pipeline, const std::string& run,
                      const std::string& step = "");

}  // namespace kiln::controllers::datapipeline
