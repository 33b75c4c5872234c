// Bad credentials against the real API server: an error naming the cause, never a crash.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kube/api_error.h"
#include "kube/client.h"
#include "test_cluster.h"

namespace kiln::kube {
namespace {

TEST(BadInput, WrongCaFailsTheTlsHandshakeWithAnErrorNamingTheCa) {
  auto dir = std::filesystem::temp_directory_path() / ("kiln-wrong-ca-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  testing::run("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + (dir / "ca.key").string() +
               " -out " + (dir / "ca.crt").string() + " -days 1 -subj /CN=other-ca 2>/dev/null");
  auto config = testing::cluster_config();
  std::ifstream in(dir / "ca.crt");
  config.ca_pem.assign(std::istreambuf_iterator<char>(in), {});
  std::filesystem::remove_all(dir);
  auto client = Client::create(config);
  ASSERT_TRUE(client.ok());
  auto got = (*client)->get(resources::kNamespaces, "", "default");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message().find("certificate-authority"), std::string::npos)
      << got.error().message();
  // Known from OpenSSL's error code: a certificate that does not verify will not next time.
  EXPECT_EQ(got.error().category(), ErrorCategory::kTerminal) << got.error().message();
  EXPECT_EQ(got.error().code(), 0);
}

TEST(BadInput, InvalidTokenIsUnauthorized) {
  auto config = testing::cluster_config();
  config.client_cert_pem.clear();
  config.client_key_pem.clear();
  config.token = "not-a-valid-token";
  auto client = Client::create(config);
  ASSERT_TRUE(client.ok());
  auto got = (*client)->get(resources::kNamespaces, "", "default");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), 401) << got.error().message();
  EXPECT_TRUE(is_unauthorized(got.error()));
  EXPECT_NE(got.error().message().find("Unauthorized"), std::string::npos);
  EXPECT_EQ(got.error().category(), ErrorCategory::kTerminal);
}

TEST(BadInput, NothingListeningIsARetryableErrorNamingTheServer) {
  auto config = testing::cluster_config();
  config.server = "https://127.0.0.1:1";
  auto client = Client::create(config);
  ASSERT_TRUE(client.ok());
  (*client)->max_retries = 0;
  auto got = (*client)->get(resources::kNamespaces, "", "default");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().category(), ErrorCategory::kRetryable);
  EXPECT_NE(got.error().message().find("https://127.0.0.1:1"), std::string::npos);
  // Known from the error code (cpprestsdk's text says only "Failed to connect").
  EXPECT_NE(got.error().message().find("nothing listens there"), std::string::npos)
      << got.error().message();
}

}  // namespace
}  // namespace kiln::kube
