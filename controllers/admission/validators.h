#pragma once

// Admission checks of Kiln's four kinds that the CRDs' OpenAPI schemas and CEL rules cannot make:
// graph properties of a DataPipeline (cycles, with the cycle named), references between steps'
// outputs and parameters, rollout weights that only grow, test/type pairs of a DriftMonitor.
// What the schema already guarantees (types, enums, ranges) is not checked again.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::controllers {

// A rejected field: `field` is the JSON path (spec.steps[2].dependsOn), as API errors name it.
struct FieldError {
  std::string field;
  std::string message;
};

// Checks `object` (a whole resource: apiVersion, kind, metadata, spec) by its kind. Unknown kinds
// and objects without a spec pass (the schema rejects those). Pure and thread-safe.
std::vector<FieldError> validate_object(const nlohmann::json& object);

std::vector<FieldError> validate_datapipeline(const nlohmann::json& spec);
std::vector<FieldError> validate_trainingjob(const nlohmann::json& spec);
std::vector<FieldError> validate_modeldeployment(const nlohmann::json& spec);
std::vector<FieldError> validate_driftmonitor(const nlohmann::json& spec);

// "field: message; field: message" — the text of an admission denial.
std::string to_message(const std::vector<FieldError>& errors);

}  // namespace kiln::controllers
