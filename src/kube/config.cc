#include "kube/config.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <limits>
#include <sstream>

namespace kiln::kube {
namespace {

Result<std::string> read_text(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::invalid_input(what + ": cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string trim(std::string s) {
  const auto* ws = " \t\r\n";
  s.erase(s.find_last_not_of(ws) + 1);
  s.erase(0, s.find_first_not_of(ws));
  return s;
}

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no PEM data";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
BioPtr memory_bio(const std::string& pem) {
  return {BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free};
}

// Checks the key parses and matches the certificate.
Result<void> check_key_pair(const std::string& cert_pem, const std::string& key_pem) {
  auto cert_bio = memory_bio(cert_pem);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!cert) return Error::invalid_input("client certificate is not PEM: " + openssl_error());
  auto key_bio = memory_bio(key_pem);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!key) return Error::invalid_input("client key is not a PEM private key: " + openssl_error());
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Error::invalid_input("client key does not match the client certificate");
  }
  return Ok();
}

// Reads `<field>-data` (base64) or `<field>` (a file path) from `node`; empty when neither is set.
Result<std::string> data_or_file(const YAML::Node& node, const std::string& field,
                                 const std::filesystem::path& base_dir) {
  if (auto data = node[field + "-data"]) {
    auto decoded = base64_decode(data.as<std::string>());
    if (!decoded.ok()) return decoded.error().with_context(field + "-data");
    return decoded;
  }
  if (auto file = node[field]) {
    std::filesystem::path path = file.as<std::string>();
    if (path.is_relative()) path = base_dir / path;
    return read_text(path, field);
  }
  return std::string();
}

// Finds the entry named `name` in a kubeconfig list (clusters, users, contexts) and returns its
// inner map (under `inner`).
Result<YAML::Node> find_named(const YAML::Node& root, const std::string& list,
                              const std::string& inner, const std::string& name) {
  for (const auto& entry : root[list]) {
    if (entry["name"] && entry["name"].as<std::string>() == name) {
      if (!entry[inner] || !entry[inner].IsMap()) {
        return Error::invalid_input(list + " entry '" + name + "' has no '" + inner + "' map");
      }
      return entry[inner];
    }
  }
  return Error::invalid_input("kubeconfig has no " + list + " entry named '" + name + "'");
}

Result<Config> parse_yaml(const YAML::Node& root, const std::filesystem::path& base_dir,
                          const std::string& wanted_context) {
  if (!root.IsMap()) return Error::invalid_input("kubeconfig is not a YAML map");
  std::string context = wanted_context;
  if (context.empty() && root["current-context"])
    context = root["current-context"].as<std::string>();
  if (context.empty()) return Error::invalid_input("kubeconfig has no current-context");
  KILN_TRY(YAML::Node ctx, find_named(root, "contexts", "context", context));
  if (!ctx["cluster"] || !ctx["user"]) {
    return Error::invalid_input("context '" + context + "' needs a cluster and a user");
  }
  KILN_TRY(YAML::Node cluster,
           find_named(root, "clusters", "cluster", ctx["cluster"].as<std::string>()));
  KILN_TRY(YAML::Node user, find_named(root, "users", "user", ctx["user"].as<std::string>()));

  Config config;
  if (!cluster["server"]) return Error::invalid_input("cluster has no server");
  config.server = cluster["server"].as<std::string>();
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  if (config.server.rfind("https://", 0) != 0) {
    return Error::invalid_input("server '" + config.server + "' is not an https:// URL");
  }
  if (cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>()) {
    return Error::invalid_input(
        "insecure-skip-tls-verify is not supported: TLS is always verified");
  }
  KILN_TRY(config.ca_pem, data_or_file(cluster, "certificate-authority", base_dir));
  if (config.ca_pem.empty()) {
    return Error::invalid_input("cluster has no certificate-authority(-data)");
  }
  auto ca = check_certificates_pem(config.ca_pem, "certificate-authority");
  if (!ca.ok()) return std::move(ca).error();
  KILN_TRY(config.client_cert_pem, data_or_file(user, "client-certificate", base_dir));
  KILN_TRY(config.client_key_pem, data_or_file(user, "client-key", base_dir));
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return Error::invalid_input("user needs both client-certificate and client-key, or neither");
  }
  if (!config.client_cert_pem.empty()) {
    auto pair = check_key_pair(config.client_cert_pem, config.client_key_pem);
    if (!pair.ok()) return std::move(pair).error();
  }
  if (user["token"]) config.token = user["token"].as<std::string>();
  if (user["tokenFile"]) {
    std::filesystem::path path = user["tokenFile"].as<std::string>();
    if (path.is_relative()) path = base_dir / path;
    config.token_file = std::make_shared<TokenFile>(path);
    auto token = config.token_file->token();
    if (!token.ok()) return std::move(token).error();
  }
  return config;
}

}  // namespace

Result<std::string> TokenFile::token() const {
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(path_, ec);
  if (ec) return Error::invalid_input("token file " + path_.string() + ": " + ec.message());
  std::lock_guard lock(mutex_);
  if (mtime_ && *mtime_ == mtime && !cached_.empty()) return cached_;
  KILN_TRY(std::string text, read_text(path_, "token file"));
  text = trim(std::move(text));
  if (text.empty()) return Error::invalid_input("token file " + path_.string() + " is empty");
  cached_ = std::move(text);
  mtime_ = mtime;
  return cached_;
}

Result<std::string> Config::bearer_token() const {
  if (token_file) return token_file->token();
  return token;
}

Result<void> check_certificates_pem(const std::string& pem, const std::string& what) {
  auto bio = memory_bio(pem);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!cert) return Error::invalid_input(what + " holds no PEM certificate: " + openssl_error());
  return Ok();
}

// OpenSSL's EVP_DecodeBlock decodes whole groups of 4 characters and reads '=' anywhere as zero
// bits, so the text is normalized first: whitespace dropped, the trailing '=' padding (optional,
// any count, as before) set aside and no '=' allowed before it, then re-padded to a whole group.
Result<std::string> base64_decode(const std::string& text) {
  std::string data = text;
  std::erase_if(data, [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; });
  data.erase(data.find_last_not_of('=') + 1);  // npos + 1 == 0: all padding.
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (const auto bad = data.find_first_not_of(kAlphabet); bad != std::string::npos) {
    return Error::invalid_input("invalid base64 character '" + std::string(1, data[bad]) + "'" +
                                (data[bad] == '=' ? " before the end" : ""));
  }
  if (data.size() % 4 == 1) {
    return Error::invalid_input("invalid base64: " + std::to_string(data.size()) +
                                " characters end in a truncated group");
  }
  if (data.size() > static_cast<std::size_t>(std::numeric_limits<int>::max() / 2)) {
    return Error::invalid_input("base64 text too long");
  }
  const std::size_t decoded_size = data.size() * 3 / 4;  // 6 bits a character, whole bytes.
  data.append((4 - data.size() % 4) % 4, '=');
  std::string out(data.size() / 4 * 3, '\0');
  const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(data.data()),
                                      static_cast<int>(data.size()));
  if (written < 0) return Error::invalid_input("invalid base64");  // Unreachable after the checks.
  out.resize(decoded_size);
  return out;
}

Result<Config> parse_kubeconfig(const std::string& text, const std::filesystem::path& base_dir,
                                const std::string& context) {
  try {
    auto config = parse_yaml(YAML::Load(text), base_dir, context);
    if (!config.ok()) return std::move(config).error().with_context("kubeconfig");
    return config;
  } catch (const YAML::Exception& e) {
    return Error::invalid_input(std::string("kubeconfig is not valid YAML: ") + e.what());
  }
}

Result<Config> load_kubeconfig(const std::filesystem::path& path, const std::string& context) {
  KILN_TRY(std::string text, read_text(path, "kubeconfig"));
  auto config = parse_kubeconfig(text, path.parent_path(), context);
  if (!config.ok()) return std::move(config).error().with_context(path.string());
  return config;
}

Result<Config> in_cluster_config(const EnvLookup& env, const std::filesystem::path& sa_dir) {
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port || host->empty() || port->empty()) {
    return Error::invalid_input(
        "not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
  }
  Config config;
  bool ipv6 = host->find(':') != std::string::npos;
  config.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
  KILN_TRY(config.ca_pem, read_text(sa_dir / "ca.crt", "service-account CA"));
  auto ca = check_certificates_pem(config.ca_pem, "service-account CA");
  if (!ca.ok()) return std::move(ca).error();
  config.token_file = std::make_shared<TokenFile>(sa_dir / "token");
  auto token = config.token_file->token();
  if (!token.ok()) return std::move(token).error();
  return config;
}

}  // namespace kiln::kube
