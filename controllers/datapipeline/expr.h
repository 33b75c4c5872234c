#pragma once

// Template substitution and `when` conditions of DataPipeline steps (Argo Workflows' simple
// expression form). Pure; thread-safe.
//
//   {{parameters.NAME}}            a pipeline parameter (spec.parameters[].value)
//   {{inputs.parameters.NAME}}     a step input (spec.steps[].inputs.parameters[].value)
//   {{steps.STEP.outputs.NAME}}    an output of an earlier step of the run
//   {{run.phase}}, {{run.name}}    in onExit
// A `when` is `A op B` with op one of == != < <= > >=, after substitution; when both sides parse
// as numbers they compare numerically, otherwise as strings (quotes around a side are dropped).
// "true"/"false" alone are accepted too.

#include <map>
#include <string>

#include "common/result.h"

namespace kiln::controllers::datapipeline {

// Variable name (without braces, e.g. "steps.validate.outputs.rows") -> value.
using Variables = std::map<std::string, std::string>;

// Replaces every {{name}} (spaces inside the braces allowed) by its value. Errors
// (invalid-input): a reference to an unknown variable, naming it.
Result<std::string> substitute(const std::string& text, const Variables& vars);

// Evaluates `expr` after substitution. Errors (invalid-input): unknown variable, no operator,
// an empty side.
Result<bool> evaluate_when(const std::string& expr, const Variables& vars);

}  // namespace kiln::controllers::datapipeline
