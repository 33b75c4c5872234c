#pragma once

// The HTTPS endpoint of the validating admission webhook: POST /validate takes an AdmissionReview
// and answers with the verdict of validate_object(). Runs on the project's HTTP server
// (http/server.h) over TLS with the certificate and key given as PEM, with its limits: 16 KiB of
// headers, bodies up to 8 MiB (an AdmissionReview carries the object and its old version, each up
// to the API server's 3 MiB), a 10 s header deadline.
//
// Every request gets exactly one response: a body that is not an AdmissionReview gets 400 with
// {"error": ...}; a check that throws (it should not: the schema validated the object first)
// denies the request naming the failure rather than letting it through.

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "controllers/admission/tls.h"
#include "controllers/admission/validators.h"

namespace kiln::controllers {

struct AdmissionServerOptions {
  std::string host = "0.0.0.0";  // IPv4 or IPv6 literal.
  std::uint16_t port = 9443;     // 0: any free port (see port()).
  TlsBundle tls;  // cert_pem and key_pem serve; ca_cert_pem is not used here.
  ValidationOptions validation;  // What the validators admit (storage.allowHttp).
};

class AdmissionServer {
 public:
  // Starts serving. Errors: retryable when the port cannot be bound, invalid-input when the
  // address is not an IP literal or the certificate or key does not load.
  static Result<std::unique_ptr<AdmissionServer>> start(AdmissionServerOptions options);
  ~AdmissionServer();  // Stops.
  AdmissionServer(const AdmissionServer&) = delete;
  AdmissionServer& operator=(const AdmissionServer&) = delete;

  // The port being listened on.
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
