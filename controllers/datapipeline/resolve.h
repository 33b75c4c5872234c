#pragma once

// A step's spec with its {{...}} references resolved against the pipeline's parameters and the
// run's earlier outputs (expr.h). Pure; thread-safe.

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "controllers/api/v1alpha1.h"
#include "controllers/datapipeline/expr.h"

namespace kiln::controllers::datapipeline {

namespace api = kiln::api::v1alpha1;

// The step named `name` of `spec` (spec.steps[] or spec.onExit), or nullptr. Points into `spec`.
const api::PipelineStep* step_spec(const api::DataPipelineSpec& spec, const std::string& name);

// NAME -> value of spec.parameters (a parameter without a value is ""), as a JSON object (for the
// cache key).
nlohmann::json pipeline_parameters(const api::DataPipelineSpec& spec);

// The variables a step of `run` (an element of status.runs) sees: parameters.*,
// steps.*.outputs.* and steps.*.phase of the run, run.name and run.phase (`run_phase`, for
// onExit).
Variables run_variables(const api::DataPipelineSpec& spec, const nlohmann::json& run,
                        const std::string& run_phase);

// `step` with command, args, env[].value and inputs.parameters[].value substituted; the step's
// inputs.parameters become {{inputs.parameters.NAME}} first (a parameter without a value is "").
// `vars` gains them. Errors (invalid-input): an unknown reference, naming it and the field.
Result<api::PipelineStep> resolve_step(const api::PipelineStep& step, Variables& vars);

}  // namespace kiln::controllers::datapipeline
