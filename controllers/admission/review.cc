#include "controllers/admission/review.h"

namespace kiln::controllers {

using nlohmann::json;

Result<AdmissionRequest> parse_admission_review(const std::string& body) {
  json review = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (review.is_discarded() || !review.is_object()) {
    return Error::invalid_input("admission review: body is not a JSON object");
  }
  if (review.value("apiVersion", "") != "admission.k8s.io/v1" ||
      review.value("kind", "") != "AdmissionReview") {
    return Error::invalid_input(
        "admission review: expected apiVersion admission.k8s.io/v1, "
        "kind AdmissionReview");
  }
  if (!review.contains("request") || !review["request"].is_object() ||
      !review["request"].contains("uid") || !review["request"]["uid"].is_string()) {
    return Error::invalid_input("admission review: request.uid is missing");
  }
  const auto& request = review["request"];
  AdmissionRequest out;
  out.uid = request["uid"].get<std::string>();
  out.operation = request.value("operation", "");
  if (request.contains("kind") && request["kind"].is_object()) {
    out.kind = request["kind"].value("kind", "");
  }
  if (request.contains("object")) out.object = request["object"];
  return out;
}

json admission_response(const std::string& uid, bool allowed, const std::string& message) {
  json response = {{"uid", uid}, {"allowed", allowed}};
  if (!allowed) {
    response["status"] = {{"code", 422}, {"reason", "Invalid"}, {"message", message}};
  }
  return {
      {"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"response", response}};
}

}  // namespace kiln::controllers
