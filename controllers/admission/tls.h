#pragma once

// A self-signed certificate authority and a serving certificate it signs, made with OpenSSL, for
// the webhook when cert-manager is not installed. The CA certificate is what the manager patches
// into the ValidatingWebhookConfiguration's caBundle.

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace kiln::controllers {

struct TlsBundle {
  std::string ca_cert_pem;  // The CA (caBundle).
  std::string cert_pem;     // Serving certificate, signed by the CA.
  std::string key_pem;      // Its private key (PKCS#8 PEM).
};

// Makes a fresh CA (EC P-256, CN "kiln-webhook-ca") and a serving certificate for `dns_names`
// and `ip_addresses` (subjectAltName), both valid from now for `validity`. Errors: terminal when
// OpenSSL fails (its error string is in the message). Thread-safe.
Result<TlsBundle> make_self_signed_tls(const std::vector<std::string>& dns_names,
                                       const std::vector<std::string>& ip_addresses,
                                       std::chrono::hours validity = std::chrono::hours(24 * 365));

}  // namespace kiln::controllers
