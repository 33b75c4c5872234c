// The admission webhook on a real kube-apiserver: the API server calls our HTTPS endpoint (CA from
// make_self_signed_tls in caBundle) for kiln.dev objects; a cyclic DataPipeline is rejected with
// the field and the cycle named, a valid one is stored.

#include <cpprest/asyncrt_utils.h>
#include <gtest/gtest.h>

#include "../kube/test_cluster.h"
#include "controllers/admission/bootstrap.h"
#include "controllers/admission/server.h"
#include "controllers/admission/tls.h"
#include "kube/client.h"

namespace kiln::controllers {
namespace {

using nlohmann::json;
namespace kt = kube::testing;

const kube::ResourceRef kPipelines{"kiln.dev", "v1alpha1", "datapipelines", true};
const kube::ResourceRef kWebhooks{"admissionregistration.k8s.io", "v1",
                                  "validatingwebhookconfigurations", false};

json pipeline(const std::string& name, json steps) {
  return {{"apiVersion", "kiln.dev/v1alpha1"},
          {"kind", "DataPipeline"},
          {"metadata", {{"name", name}}},
          {"spec", {{"steps", steps}}}};
}

class AdmissionWebhook : public ::testing::Test {
 protected:
  void SetUp() override {
    kt::kubectl(std::string("apply --server-side -f ") + KILN_CRDS_DIR);
    kt::kubectl("wait --for=condition=Established crd/datapipelines.kiln.dev --timeout=60s");
    client_ = kt::cluster_client();
    ns_ = kt::make_namespace(*client_, "admission");
    auto tls = make_self_signed_tls({"localhost"}, {"127.0.0.1"});
    ASSERT_TRUE(tls.ok()) << tls.error().message();
    auto server = AdmissionServer::start({"127.0.0.1", 0, *tls});  // Any free port.
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_ = std::move(*server);
    const std::vector<unsigned char> ca(tls->ca_cert_pem.begin(), tls->ca_cert_pem.end());
    json config = {
        {"apiVersion", "admissionregistration.k8s.io/v1"},
        {"kind", "ValidatingWebhookConfiguration"},
        {"metadata", {{"name", webhook_name_}}},
        {"webhooks",
         {{{"name", "validate.kiln.dev"},
           {"admissionReviewVersions", {"v1"}},
           {"sideEffects", "None"},
           {"failurePolicy", "Fail"},
           {"clientConfig",
            {{"url", "https://127.0.0.1:" + std::to_string(server_->port()) + "/validate"},
             {"caBundle", utility::conversions::to_base64(ca)}}},
           {"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", ns_}}}}},
           {"rules",
            {{{"apiGroups", {"kiln.dev"}},
              {"apiVersions", {"v1alpha1"}},
              {"operations", {"CREATE", "UPDATE"}},
              {"resources",
               {"datapipelines", "trainingjobs", "modeldeployments", "driftmonitors"}}}}}}}}};
    auto created = client_->create(kWebhooks, "", config);
    ASSERT_TRUE(created.ok()) << created.error().message();
  }

  void TearDown() override {
    if (client_) {
      (void)client_->remove(kWebhooks, "", webhook_name_);
      (void)client_->remove(kube::resources::kNamespaces, "", ns_);
    }
  }

  // The webhook configuration takes effect once the API server's informer has it: retry a create
  // that must be denied until it is (bounded).
  Result<json> create_when_webhook_active(const json& object) {
    Result<json> result = Error::retryable("not tried");
    for (int i = 0; i < 100; ++i) {
      result = client_->create(kPipelines, ns_, object);
      if (!result.ok() || server_->reviews() > 0) return result;
      (void)client_->remove(kPipelines, ns_, object["metadata"]["name"].get<std::string>());
      ::usleep(100 * 1000);
    }
    return result;
  }

  std::unique_ptr<kube::Client> client_;
  std::unique_ptr<AdmissionServer> server_;
  std::string ns_;
  std::string webhook_name_ = "kiln-admission-test";
};

TEST_F(AdmissionWebhook, RejectsACycleNamingTheFieldAndStoresAValidPipeline) {
  auto rejected = create_when_webhook_active(
      pipeline("cyclic", {{{"name", "a"}, {"image", "x"}, {"dependsOn", {"b"}}},
                          {{"name", "b"}, {"image", "x"}, {"dependsOn", {"a"}}}}));
  ASSERT_FALSE(rejected.ok()) << "a cyclic pipeline was stored";
  EXPECT_NE(
      rejected.error().message().find("spec.steps[1].dependsOn: dependency cycle: a -> b -> a"),
      std::string::npos)
      << rejected.error().message();
  EXPECT_NE(rejected.error().message().find("denied the request"), std::string::npos)
      << rejected.error().message();

  auto stored =
      client_->create(kPipelines, ns_,
                      pipeline("valid", {{{"name", "a"}, {"image", "x"}},
                                         {{"name", "b"}, {"image", "x"}, {"dependsOn", {"a"}}}}));
  ASSERT_TRUE(stored.ok()) << stored.error().message();
  EXPECT_GE(server_->reviews(), 2u);
}

TEST_F(AdmissionWebhook, ReplicasShareOneCertificateThroughASecret) {
  WebhookTlsOptions options{ns_, "kiln-webhook-tls", "kiln-webhook"};
  auto first = ensure_webhook_tls(*client_, options);
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto second = ensure_webhook_tls(*client_, options);  // Another replica, later.
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(first->ca_cert_pem, second->ca_cert_pem);
  EXPECT_EQ(first->key_pem, second->key_pem);
  auto secret = client_->get(kube::resources::kSecrets, ns_, "kiln-webhook-tls");
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ((*secret)["type"], "kubernetes.io/tls");
}

TEST_F(AdmissionWebhook, CaBundleIsInjectedIntoEveryWebhook) {
  auto tls = make_self_signed_tls({"kiln-webhook.kiln-system.svc"}, {});
  ASSERT_TRUE(tls.ok());
  ASSERT_TRUE(inject_ca_bundle(*client_, webhook_name_, tls->ca_cert_pem).ok());
  auto config = client_->get(kWebhooks, "", webhook_name_);
  ASSERT_TRUE(config.ok());
  const std::vector<unsigned char> ca(tls->ca_cert_pem.begin(), tls->ca_cert_pem.end());
  EXPECT_EQ((*config)["webhooks"][0]["clientConfig"]["caBundle"],
            utility::conversions::to_base64(ca));
  // Idempotent: a second call finds nothing to change.
  const auto version = (*config)["metadata"]["resourceVersion"];
  ASSERT_TRUE(inject_ca_bundle(*client_, webhook_name_, tls->ca_cert_pem).ok());
  EXPECT_EQ((*client_->get(kWebhooks, "", webhook_name_))["metadata"]["resourceVersion"], version);
}

}  // namespace
}  // namespace kiln::controllers
