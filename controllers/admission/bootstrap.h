#pragma once

// Serving the webhook without cert-manager: every manager replica must present a certificate the
// API server trusts, so the first replica makes a CA and serving certificate and stores them in a
// Secret; the others read that Secret. The CA is then written into the webhook configuration's
// caBundle (the one object outside its namespace the manager may patch).

#include <string>

#include "common/result.h"
#include "controllers/admission/tls.h"
#include "kube/client.h"

namespace kiln::controllers {

struct WebhookTlsOptions {
  std::string ns;            // The manager's namespace.
  std::string secret_name;   // e.g. "kiln-webhook-tls"
  std::string service_name;  // The webhook Service: names the certificate is for.
};

// Reads the Secret, or creates it with a fresh bundle when it does not exist (a replica that
// loses the creation race reads the winner's). Secret data: ca.crt, tls.crt, tls.key (the
// kubernetes.io/tls layout plus the CA). Errors: the API's, with context.
Result<TlsBundle> ensure_webhook_tls(kube::Client& client, const WebhookTlsOptions& options);

// Sets clientConfig.caBundle of every webhook in the ValidatingWebhookConfiguration `name` to
// `ca_pem`; no write when it already holds it. Retries on conflict. Errors: the API's.
Result<void> inject_ca_bundle(kube::Client& client, const std::string& name,
                              const std::string& ca_pem);

}  // namespace kiln::controllers
