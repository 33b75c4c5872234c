#include "controllers/admission/bootstrap.h"

#include <cpprest/asyncrt_utils.h>

#include "kube/api_error.h"

namespace kiln::controllers {
namespace {

using nlohmann::json;

const kube::ResourceRef kWebhookConfigurations{"admissionregistration.k8s.io", "v1",
                                               "validatingwebhookconfigurations", false};

std::string base64(const std::string& text) {
  return utility::conversions::to_base64(std::vector<unsigned char>(text.begin(), text.end()));
}

Result<std::string> unbase64(const json& data, const char* key) {
  if (!data.contains(key) || !data[key].is_string()) {
    return Error::invalid_input(std::string("webhook secret: data.") + key + " is missing");
  }
  try {
    auto bytes = utility::conversions::from_base64(data[key].get<std::string>());
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    return Error::invalid_input(std::string("webhook secret: data.") + key + ": " + e.what());
  }
}

Result<TlsBundle> from_secret(const json& secret) {
  const json data = secret.value("data", json::object());
  KILN_TRY(std::string ca, unbase64(data, "ca.crt"));
  KILN_TRY(std::string cert, unbase64(data, "tls.crt"));
  KILN_TRY(std::string key, unbase64(data, "tls.key"));
  return TlsBundle{ca, cert, key};
}

}  // namespace

Result<TlsBundle> ensure_webhook_tls(kube::Client& client, const WebhookTlsOptions& options) {
  auto existing = client.get(kube::resources::kSecrets, options.ns, options.secret_name);
  if (existing.ok()) return from_secret(*existing);
  if (!kube::is_not_found(existing.error())) {
    return existing.error().with_context("webhook secret " + options.secret_name);
  }
  const std::string svc = options.service_name + "." + options.ns + ".svc";
  KILN_TRY(TlsBundle bundle, make_self_signed_tls({svc, svc + ".cluster.local"}, {}));
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"type", "kubernetes.io/tls"},
                 {"metadata",
                  {{"name", options.secret_name},
                   {"namespace", options.ns},
                   {"labels", {{"app.kubernetes.io/part-of", "kiln"}}}}},
                 {"data",
                  {{"ca.crt", base64(bundle.ca_cert_pem)},
                   {"tls.crt", base64(bundle.cert_pem)},
                   {"tls.key", base64(bundle.key_pem)}}}};
  auto created = client.create(kube::resources::kSecrets, options.ns, secret);
  if (created.ok()) return bundle;
  if (kube::api_code(created.error()) == 409) {  // Another replica created it first.
    KILN_TRY(json winner, client.get(kube::resources::kSecrets, options.ns, options.secret_name));
    return from_secret(winner);
  }
  return created.error().with_context("creating webhook secret " + options.secret_name);
}

Result<void> inject_ca_bundle(kube::Client& client, const std::string& name,
                              const std::string& ca_pem) {
  const std::string encoded = base64(ca_pem);
  for (int attempt = 0; attempt < 5; ++attempt) {
    KILN_TRY(json config, client.get(kWebhookConfigurations, "", name));
    bool changed = false;
    for (auto& webhook : config["webhooks"]) {
      auto& cc = webhook["clientConfig"];
      if (cc.value("caBundle", "") != encoded) {
        cc["caBundle"] = encoded;
        changed = true;
      }
    }
    if (!changed) return Ok();
    auto updated = client.update(kWebhookConfigurations, "", config);
    if (updated.ok()) return Ok();
    if (!kube::is_conflict(updated.error())) {
      return updated.error().with_context("injecting caBundle into " + name);
    }
  }
  return Error::retryable("injecting caBundle into " + name + ": conflicts kept happening");
}

}  // namespace kiln::controllers
