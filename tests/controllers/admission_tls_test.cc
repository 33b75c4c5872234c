#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "controllers/admission/tls.h"

namespace kiln::controllers {
namespace {

X509* parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

TEST(Tls, ServingCertificateVerifiesAgainstTheCaForItsNames) {
  auto bundle = make_self_signed_tls({"kiln-webhook.kiln-system.svc"}, {"127.0.0.1"});
  ASSERT_TRUE(bundle.ok()) << bundle.error().message();
  std::unique_ptr<X509, decltype(&X509_free)> ca(parse(bundle->ca_cert_pem), X509_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(parse(bundle->cert_pem), X509_free);
  ASSERT_TRUE(ca && cert);

  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca.get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert.get(), nullptr);
  EXPECT_EQ(X509_verify_cert(ctx), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);

  EXPECT_EQ(X509_check_host(cert.get(), "kiln-webhook.kiln-system.svc", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_NE(X509_check_host(cert.get(), "other.svc", 0, 0, nullptr), 1);
  EXPECT_NE(bundle->key_pem.find("PRIVATE KEY"), std::string::npos);
}

TEST(Tls, EachCallMakesANewAuthority) {
  auto a = make_self_signed_tls({"x"}, {});
  auto b = make_self_signed_tls({"x"}, {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->ca_cert_pem, b->ca_cert_pem);
}

TEST(Tls, ACertificateWithoutNamesIsRefused) {
  auto bundle = make_self_signed_tls({}, {});
  ASSERT_FALSE(bundle.ok());
  EXPECT_EQ(bundle.error().category(), ErrorCategory::kInvalidInput);
}

}  // namespace
}  // namespace kiln::controllers
