// Kubeconfig and in-cluster config loading: malformed input is an error naming the cause.

#include "kube/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace kiln::kube {
namespace {

namespace fs = std::filesystem;

// A throwaway CA, client certificate and key made by the openssl CLI.
class ConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("kiln-config-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    std::string d = dir_.string();
    std::string cmd =
        "cd " + d +
        " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt "
        "-days 1 -subj /CN=test-ca 2>/dev/null && openssl req -newkey rsa:2048 -nodes "
        "-keyout client.key -out client.csr -subj /CN=client 2>/dev/null && openssl x509 -req "
        "-in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 1 "
        "2>/dev/null && openssl genrsa -out other.key 2048 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string kubeconfig(const std::string& cluster_extra, const std::string& user) {
    return "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
           "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
           "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:1\n" +
           cluster_extra + "users:\n- name: u\n  user:\n" + user;
  }
  static inline fs::path dir_;
};

TEST_F(ConfigTest, LoadsClientCertificatesAndCaFromFiles) {
  auto config = parse_kubeconfig(kubeconfig("    certificate-authority: ca.crt\n",
                                            "    client-certificate: client.crt\n"
                                            "    client-key: client.key\n"),
                                 dir_);
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->server, "https://127.0.0.1:1");
  EXPECT_NE(config->ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(config->client_key_pem.find("PRIVATE KEY"), std::string::npos);
}

TEST_F(ConfigTest, LoadsCaDataAndBearerToken) {
  std::string b64 =
      "cat " + (dir_ / "ca.crt").string() + " | base64 -w0 > " + (dir_ / "ca.b64").string();
  ASSERT_EQ(std::system(b64.c_str()), 0);
  std::ifstream in(dir_ / "ca.b64");
  std::string data((std::istreambuf_iterator<char>(in)), {});
  auto config = parse_kubeconfig(
      kubeconfig("    certificate-authority-data: " + data + "\n", "    token: abc\n"), dir_);
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(*config->bearer_token(), "abc");
  EXPECT_NE(config->ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
}

TEST_F(ConfigTest, MalformedKubeconfigsNameTheCause) {
  const std::map<std::string, std::string> cases = {
      {"not: [valid", "not valid YAML"},
      {"just a string", "not a YAML map"},
      {"apiVersion: v1\ncontexts: []\n", "no current-context"},
      {kubeconfig("    certificate-authority: missing.crt\n", "    token: t\n"),
       "certificate-authority: cannot read"},
      {kubeconfig("    certificate-authority: client.key\n", "    token: t\n"),
       "certificate-authority holds no PEM certificate"},
      {kubeconfig("    certificate-authority-data: '%%%'\n", "    token: t\n"), "invalid base64"},
      {kubeconfig("    certificate-authority: ca.crt\n    insecure-skip-tls-verify: true\n",
                  "    token: t\n"),
       "insecure-skip-tls-verify is not supported"},
      {kubeconfig("    certificate-authority: ca.crt\n",
                  "    client-certificate: client.crt\n    client-key: other.key\n"),
       "client key does not match"},
      {kubeconfig("    certificate-authority: ca.crt\n", "    client-certificate: client.crt\n"),
       "both client-certificate and client-key"},
      {kubeconfig("    certificate-authority: ca.crt\n", "    tokenFile: nope\n"), "token file"},
  };
  for (const auto& [text, cause] : cases) {
    auto config = parse_kubeconfig(text, dir_);
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.error().category(), ErrorCategory::kInvalidInput);
    EXPECT_NE(config.error().message().find(cause), std::string::npos)
        << "want '" << cause << "' in: " << config.error().message();
  }
}

TEST_F(ConfigTest, UnknownContextIsNamed) {
  auto config = parse_kubeconfig(
      kubeconfig("    certificate-authority: ca.crt\n", "    token: t\n"), dir_, "elsewhere");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message().find("no contexts entry named 'elsewhere'"),
            std::string::npos);
}

TEST_F(ConfigTest, MissingFileIsNamed) {
  auto config = load_kubeconfig(dir_ / "nope.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message().find("nope.yaml"), std::string::npos);
}

TEST_F(ConfigTest, InClusterConfigReReadsTheTokenWhenItRotates) {
  fs::path sa = dir_ / "sa";
  fs::create_directories(sa);
  fs::copy_file(dir_ / "ca.crt", sa / "ca.crt", fs::copy_options::overwrite_existing);
  std::ofstream(sa / "token") << "first\n";
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}};
  auto lookup = [&](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto config = in_cluster_config(lookup, sa);
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(*config->bearer_token(), "first");

  std::ofstream(sa / "token") << "second\n";
  // Make the modification visible even on coarse-grained file-system timestamps.
  fs::last_write_time(sa / "token", fs::last_write_time(sa / "token") + std::chrono::seconds(1));
  EXPECT_EQ(*config->bearer_token(), "second");

  env.clear();
  auto outside = in_cluster_config(lookup, sa);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message().find("KUBERNETES_SERVICE_HOST"), std::string::npos);
}

TEST(Base64, DecodesStandardAlphabetAndRejectsOthers) {
  EXPECT_EQ(*base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(*base64_decode("aGVs\nbG8h"), "hello!");
  EXPECT_FALSE(base64_decode("a$b").ok());
}

TEST(Base64, DecodesWithOrWithoutPaddingAndAroundWhitespace) {
  struct Case {
    std::string text;
    std::string decoded;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"====", ""},
      {"QQ==", "A"},
      {"QQ", "A"},  // Padding is optional ...
      {"QUI", "AB"},
      {"QUI====", "AB"},  // ... and its count is not checked.
      {"QUJD", "ABC"},
      {" QU\tJD\r\nRA==\n", "ABCD"},
      {"AP8A", std::string("\0\xff\0", 3)},
  };
  for (const Case& c : cases) {
    auto decoded = base64_decode(c.text);
    ASSERT_TRUE(decoded.ok()) << c.text << ": " << decoded.error().to_string();
    EXPECT_EQ(*decoded, c.decoded) << c.text;
  }
}

TEST(Base64, RejectsMalformedInputAsInvalidInput) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"aGVs*G8h", "invalid base64 character '*'"},
      {"aGVsbG8-", "invalid base64 character '-'"},  // The URL-safe alphabet is not accepted.
      {"aGV=bG8h", "invalid base64 character '=' before the end"},
      {"aGVsbG8=x", "invalid base64 character '=' before the end"},
      {"aGVsb", "truncated group"},
      {"Q", "truncated group"},
      {std::string("QQ\0=", 4), "invalid base64 character"},
  };
  for (const Case& c : cases) {
    auto decoded = base64_decode(c.text);
    ASSERT_FALSE(decoded.ok()) << c.text;
    EXPECT_EQ(decoded.error().category(), ErrorCategory::kInvalidInput) << c.text;
    EXPECT_NE(decoded.error().message().find(c.message), std::string::npos)
        << c.text << ": " << decoded.error().message();
  }
}

}  // namespace
}  // namespace kiln::kube
