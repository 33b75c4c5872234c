#pragma once

// The HTTPS endpoint of the validating admission webhook: POST /validate takes an AdmissionReview
// and answers with the verdict of validate_object(). Runs on cpprestsdk's http_listener with the
// certificate and key given as PEM.
//
// Every request gets exactly one response: a body that is not an AdmissionReview gets 400 with
// {"error": ...}; a check that throws (it should not: the schema validated the object first)
// denies the request naming the failure rather than letting it through.

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "controllers/admission/tls.h"

namespace kiln::controllers {

struct AdmissionServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 9443;
  TlsBundle tls;  // cert_pem and key_pem serve; ca_cert_pem is not used here.
};

class AdmissionServer {
 public:
  // Starts serving. Errors: retryable when the port cannot be bound, invalid-input when the
  // certificate or key does not load.
  static Result<std::unique_ptr<AdmissionServer>> start(AdmissionServerOptions options);
  ~AdmissionServer();  // Stops.
  AdmissionServer(const AdmissionServer&) = delete;
  AdmissionServer& operator=(const AdmissionServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  // Requests answered so far (allowed + denied), for tests and metrics.
  std::uint64_t reviews() const noexcept;

 private:
  struct Impl;
  AdmissionServer(std::unique_ptr<Impl> impl, std::uint16_t port);
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_;
};

}  // namespace kiln::controllers
