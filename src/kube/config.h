#pragma once

// How to reach and authenticate to a kube-apiserver: from a kubeconfig file (the format of
// https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/) or from
// inside a pod (the service-account token, CA and KUBERNETES_SERVICE_HOST/PORT).
//
// TLS verification is always on: a kubeconfig asking for insecure-skip-tls-verify is rejected.
// Every loader validates what it loads (PEM blocks parse, the key matches the certificate) so a
// bad input fails here with a message naming the field, not later inside a TLS handshake.

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/log.h"
#include "common/result.h"

namespace kiln::kube {

// A bearer token read from a file and re-read when the file changes (the kubelet rotates projected
// service-account tokens about hourly; client-go re-reads them every minute, we re-read on every
// modification-time change). Thread-safe.
class TokenFile {
 public:
  explicit TokenFile(std::filesystem::path path) : path_(std::move(path)) {}
  // The current token, trimmed of surrounding whitespace. Errors: the file is missing, unreadable
  // or empty (invalid-input, naming the path).
  Result<std::string> token() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  mutable std::mutex mutex_;
  mutable std::optional<std::filesystem::file_time_type> mtime_;
  mutable std::string cached_;
};

// Everything a Client needs. A plain value; copies share the TokenFile.
struct Config {
  std::string server;                     // Base URL, "https://host:port" (no trailing slash).
  std::string ca_pem;                     // PEM bundle of CAs that sign the server's certificate.
  std::string client_cert_pem;            // Client certificate (PEM), empty when not used.
  std::string client_key_pem;             // Its private key (PEM), empty when not used.
  std::string token;                      // Static bearer token, empty when not used.
  std::shared_ptr<TokenFile> token_file;  // Rotating bearer token; wins over `token` when set.
  double qps = 20;                        // Client-side rate limit (client-go's default) ...
  int burst = 30;                         // ... and its burst. qps <= 0 disables the limit.
  std::chrono::seconds timeout{30};       // Per request (watches use their own timeout).
  std::string user_agent = "kiln";
  // Names this client in its metrics: the `client` label of kiln_kube_client_rate_limiter_wait_
  // seconds, so a second client with a limit of its own (kiln-manager's Events) is told apart.
  std::string client_name = "main";

  // The bearer token to send now (token_file re-read if it changed), or empty for none.
  Result<std::string> bearer_token() const;
};

// Loads `path` and resolves `context` (empty: the file's current-context). Relative file paths in
// the kubeconfig are relative to its directory. Errors (invalid-input, naming the cause): missing
// or malformed file, unknown context/cluster/user, no server, insecure-skip-tls-verify, unreadable
// or malformed CA/certificate/key, a key that does not match the certificate, bad base64.
Result<Config> load_kubeconfig(const std::filesystem::path& path, const std::string& context = "");

// As above from text; `base_dir` resolves relative paths.
Result<Config> parse_kubeconfig(const std::string& text, const std::filesystem::path& base_dir,
                                const std::string& context = "");

// The in-cluster config: server from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, CA from
// `<sa_dir>/ca.crt`, rotating token from `<sa_dir>/token`. Errors (invalid-input): not in a
// cluster (variables unset), CA or token unreadable.
Result<Config> in_cluster_config(
    const EnvLookup& env = process_env(),
    const std::filesystem::path& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// Checks that `pem` holds at least one X.509 certificate; `what` names it in the error.
Result<void> check_certificates_pem(const std::string& pem, const std::string& what);

// Decodes standard base64 (RFC 4648 §4) with OpenSSL's EVP_DecodeBlock, ignoring whitespace;
// padding is optional. invalid-input, naming the character, for one outside the alphabet or an
// '=' before the end, and for a truncated last group (a single character left over).
Result<std::string> base64_decode(const std::string& text);

}  // namespace kiln::kube
