#pragma once

// Admission checks of Kiln's four kinds that the CRDs' OpenAPI schemas and CEL rules cannot make:
// graph properties of a DataPipeline (cycles, with the cycle named), references between steps'
// outputs and parameters, rollout weights that only grow, test/type pairs of a DriftMonitor, and
// every storage URI (parse_storage_uri, common/uri.h: traversal, buckets, claims, schemes) with
// the field that holds it.
// What the schema already guarantees (types, enums, ranges) is not checked again.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controllers/common/uri.h"

namespace kiln::controllers {

// A rejected field: `field` is the JSON path (spec.steps[2].dependsOn), as API errors name it.
struct FieldError {
  std::string field;
  std::string message;
};

// What the checks take besides the object.
struct ValidationOptions {
  // Which storage URIs a spec may name; allow_http is the chart value storage.allowHttp.
  UriPolicy uri_policy;
};

// Checks `object` (a whole resource: apiVersion, kind, metadata, spec) by its kind. Unknown kinds
// and objects without a spec pass (the schema rejects those). Pure and thread-safe.
std::vector<FieldError> validate_object(const nlohmann::json& object,
                                        const ValidationOptions& options = {});

// The checks of one kind's spec. URI fields: a model, profile, training table or baseline names a
// file (not a bucket, claim or prefix ending in '/'); spec.output.modelUri is a directory on
// pvc://, file://, s3:// or gs://; a storage.endpoint is an http:// or https:// URL (http is
// allowed there whatever the policy: in-cluster S3 servers often speak it).
std::vector<FieldError> validate_datapipeline(const nlohmann::json& spec,
                                              const ValidationOptions& options = {});
std::vector<FieldError> validate_trainingjob(const nlohmann::json& spec,
                                             const ValidationOptions& options = {});
std::vector<FieldError> validate_modeldeployment(const nlohmann::json& spec,
                                                 const ValidationOptions& options = {});
std::vector<FieldError> validate_driftmonitor(const nlohmann::json& spec,
                                              const ValidationOptions& options = {});

// "field: message; field: message" — the text of an admission denial.
std::string to_message(const std::vector<FieldError>& errors);

}  // namespace kiln::controllers
