#pragma once

// Template substitution and `when` conditions of DataPipeline steps (Argo Workflows' `when`).
// Pure; thread-safe.
//
//   {{parameters.NAME}}            a pipeline parameter (spec.parameters[].value)
//   {{inputs.parameters.NAME}}     a step input (spec.steps[].inputs.parameters[].value)
//   {{steps.STEP.outputs.NAME}}    an output of an earlier step of the run
//   {{steps.STEP.phase}}           the phase of a step of the run (Succeeded, Failed, Skipped...)
//   {{run.phase}}, {{run.name}}    in onExit
//
// A `when` is parsed before anything is substituted, so a value containing `==`, `<`, `&&` or a
// parenthesis is only ever a value. Grammar (recursive descent, lowest precedence first):
//
//   or      := and ( "||" and )*
//   and     := unary ( "&&" unary )*
//   unary   := "!" unary | "(" or ")" | compare
//   compare := operand [ ("==" | "!=" | "<" | "<=" | ">" | ">=") operand ]
//   operand := adjacent pieces without spaces: {{reference}}, a bare word, or a quoted
//              '...' / "..." string (references inside quotes are substituted too)
//
// A comparison is numeric when both sides are numbers (strtod, whole text), else a string
// comparison. An operand alone must be `true` or `false` after substitution.

#include <cstddef>
#include <map>
#include <set>
#include <string>

#include "common/result.h"

namespace kiln::controllers::datapipeline {

// Variable name (without braces, e.g. "steps.validate.outputs.rows") -> value.
using Variables = std::map<std::string, std::string>;

// Replaces every {{name}} (spaces inside the braces allowed) by its value. Errors
// (invalid-input): a reference to an unknown variable, naming it.
Result<std::string> substitute(const std::string& text, const Variables& vars);

// Parses `expr` (grammar above) without evaluating it and returns the names it references
// (e.g. "steps.a.phase"). Errors (invalid-input): a syntax error, as
// `when "<expr>": <what> at position <p>` (p is the 0-based byte offset in `expr`).
Result<std::set<std::string>> when_references(const std::string& expr);

// Parses `expr`, then evaluates it with the references taken from `vars` as values. Errors
// (invalid-input): a syntax error (as when_references), an unknown variable, an operand alone
// that is neither true nor false; each names the expression and the position.
Result<bool> evaluate_when(const std::string& expr, const Variables& vars);

}  // namespace kiln::controllers::datapipeline
