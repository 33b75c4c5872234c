#pragma once

// A step's spec with its {{...}} references resolved against the pipeline's parameters and the
// run's earlier outputs (expr.h). Pure; thread-safe.

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "controllers/datapipeline/expr.h"

namespace kiln::controllers::datapipeline {

// The spec of step `name` (spec.steps[] or spec.onExit), or nullptr.
const nlohmann::json* step_spec(const nlohmann::json& pipeline, const std::string& name);

// parameters.NAME -> value of spec.parameters, as a JSON object (for the cache key).
nlohmann::json pipeline_parameters(const nlohmann::json& pipeline);

// The variables a step of `run` sees: parameters.*, steps.*.outputs.* and steps.*.phase of the
// run, run.name and run.phase (`run_phase`, for onExit).
Variables run_variables(const nlohmann::json& pipeline, const nlohmann::json& run,
                        const std::string& run_phase);

// `step` with command, args, env[].value and inputs.parameters[].value substituted; the step's
// inputs.parameters become {{inputs.parameters.NAME}} first. `vars` gains them. Errors
// (invalid-input): an unknown reference, naming it and the field.
Result<nlohmann::json> resolve_step(const nlohmann::json& step, Variables& vars);

}  // namespace kiln::controllers::datapipeline
