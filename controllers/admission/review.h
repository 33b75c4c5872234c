#pragma once

// AdmissionReview (admission.k8s.io/v1) requests and responses of a validating webhook
// (https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/).

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace kiln::controllers {

struct AdmissionRequest {
  std::string uid;        // Echoed in the response.
  std::string operation;  // CREATE, UPDATE, DELETE, CONNECT.
  std::string kind;       // request.kind.kind
  nlohmann::json object;  // request.object (null for DELETE)
};

// Decodes an AdmissionReview body. Errors (invalid-input): not JSON, not an
// admission.k8s.io/v1 AdmissionReview, or no request.uid.
Result<AdmissionRequest> parse_admission_review(const std::string& body);

// The AdmissionReview answering `uid`: allowed, or denied with `message` and HTTP-like code 422
// (Invalid), which the API server passes to the client.
nlohmann::json admission_response(const std::string& uid, bool allowed,
                                  const std::string& message = "");

}  // namespace kiln::controllers
