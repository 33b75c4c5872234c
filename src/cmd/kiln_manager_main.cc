// kiln-manager: the operator binary. Reconciles DataPipeline, TrainingJob, ModelDeployment and
// DriftMonitor (group kiln.dev), serves the validating admission webhook, and exposes /healthz,
// /readyz and /metrics on one port. With --leader-elect only the holder of the Lease reconciles;
// every replica keeps warm caches and serves the webhook.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "common/log.h"
#include "common/version.h"
#include "controllers/admission/bootstrap.h"
#include "controllers/admission/server.h"
#include "controllers/common/uri.h"
#include "controllers/manager/reconcilers.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/manager.h"

namespace {

using namespace kiln;

struct Flags {
  std::string kubeconfig;
  int metrics_port = 8080;
  bool leader_elect = false;
  std::string leader_election_namespace;
  std::string leader_election_id = "kiln-manager";
  std::string runtime_image = "kiln/runtime:dev";
  std::string image_pull_policy = "IfNotPresent";
  controllers::StorageDefaults storage;  // --storage-*: the chart's storage values.
  std::string artifact_repository;       // s3:// or gs:// prefix of DataPipeline artifacts.
  int webhook_port = 0;  // 0: no webhook server.
  std::string webhook_service = "kiln-webhook";
  std::string webhook_configuration;
  std::string webhook_secret;
  std::string webhook_cert_dir;
  int workers = 2;
  double kube_api_qps = 20;  // client-go's defaults; <= 0 lifts the limit.
  int kube_api_burst = 30;
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

Result<kube::Config> load_config(const Flags& flags) {
  std::string path = flags.kubeconfig.empty() ? env_or("KUBECONFIG", "") : flags.kubeconfig;
  if (!path.empty()) return kube::load_kubeconfig(path);
  return kube::in_cluster_config();
}

std::string identity() {
  std::random_device rd;
  std::stringstream s;
  s << env_or("POD_NAME", "kiln-manager") << "_" << std::hex << rd();
  return s.str();
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::invalid_input("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The webhook's certificate: from cert-manager's mounted secret, or shared by the replicas
// through a Secret of our own; its CA goes into the webhook configuration.
Result<controllers::TlsBundle> webhook_tls(kube::Client& client, const Flags& flags,
                                           const std::string& ns) {
  if (!flags.webhook_cert_dir.empty()) {
    KILN_TRY(std::string cert, read_file(flags.webhook_cert_dir + "/tls.crt"));
    KILN_TRY(std::string key, read_file(flags.webhook_cert_dir + "/tls.key"));
    return controllers::TlsBundle{"", cert, key};
  }
  KILN_TRY(auto bundle, controllers::ensure_webhook_tls(
                            client, {ns, flags.webhook_secret, flags.webhook_service}));
  if (!flags.webhook_configuration.empty()) {
    auto injected =
        controllers::inject_ca_bundle(client, flags.webhook_configuration, bundle.ca_cert_pem);
    if (!injected.ok()) return injected.error();
  }
  return bundle;
}

int run(const Flags& flags) {
  auto log_options = log_options_from_env();
  if (!log_options.ok() || !init_logging(*log_options).ok()) {
    std::fprintf(stderr, "kiln-manager: %s\n",
                 log_options.ok() ? "cannot start logging" : log_options.error().message().c_str());
    return 2;
  }
  if (!flags.artifact_repository.empty()) {
    auto repo = controllers::parse_storage_uri(flags.artifact_repository);
    if (!repo.ok() || (repo->scheme != controllers::UriScheme::kS3 &&
                       repo->scheme != controllers::UriScheme::kGs)) {
      log::error("kiln-manager: --artifact-repository must be an s3:// or gs:// prefix",
                 {{"error", repo.ok() ? flags.artifact_repository : repo.error().message()}});
      return 2;
    }
  }
  auto config = load_config(flags);
  if (!config.ok()) {
    log::error("cannot load the cluster configuration", {{"error", config.error().message()}});
    return 2;
  }
  config->qps = flags.kube_api_qps;
  config->burst = flags.kube_api_burst;
  // The client's metrics (requests, latency, rate-limiter waits) join the manager's /metrics.
  metrics::Registry client_registry;
  const auto client_metrics = std::make_shared<kube::ClientMetrics>(client_registry);
  auto client = kube::Client::create(*config, client_metrics);
  // Events go through a second client with a rate limit of its own (the same QPS and burst), as
  // controller-runtime's recorder does: best-effort Events never hold up a reconcile's writes.
  // Its requests count in the same metrics; kiln_kube_event_writes_total tells them apart, and
  // its rate-limiter waits carry client="events".
  kube::Config events_config = *config;
  events_config.client_name = "events";
  auto events_client = kube::Client::create(events_config, client_metrics);
  if (!client.ok() || !events_client.ok()) {
    log::error("cannot create the API client",
               {{"error", (client.ok() ? events_client : client).error().message()}});
    return 2;
  }
  const std::string ns = flags.leader_election_namespace.empty()
                             ? env_or("POD_NAMESPACE", "kiln-system")
                             : flags.leader_election_namespace;

  std::unique_ptr<controllers::AdmissionServer> webhook;
  if (flags.webhook_port > 0) {
    auto tls = webhook_tls(**client, flags, ns);
    if (!tls.ok()) {
      log::error("cannot set up the webhook certificate", {{"error", tls.error().message()}});
      return 1;
    }
    auto server = controllers::AdmissionServer::start(
        {"0.0.0.0", static_cast<std::uint16_t>(flags.webhook_port), *tls,
         {.uri_policy = flags.storage.uri_policy}});
    if (!server.ok()) {
      log::error("cannot serve the webhook", {{"error", server.error().message()}});
      return 1;
    }
    webhook = std::move(*server);
  }

  kube::ManagerOptions options{.port = flags.metrics_port};
  if (flags.leader_elect) {
    options.leader_election = kube::LeaderElectionOptions{
        .lease_namespace = ns, .lease_name = flags.leader_election_id, .identity = identity()};
  }
  kube::Manager manager(**client, options);
  manager.expose_registry(client_registry);
  const auto caches = controllers::manager::make_caches(manager);

  kube::EventRecorder events(
      **events_client, "kiln-manager",
      &client_registry
           .counter("kiln_kube_event_writes_total",
                    "Event writes sent by the Event recorder's own client (creates, and count "
                    "bumps of a repeated Event; failed ones included).",
                    {})
           .with({}));
  events.set_queue(kube::EventRecorder::kDefaultMaxQueued,
                   &client_registry
                        .counter("kiln_kube_events_dropped_total",
                                 "Events dropped because the recorder's queue was full "
                                 "(client-go's broadcaster drops them the same way).",
                                 {})
                        .with({}));
  // Children are looked up in the caches, so an apply that would change nothing is not sent.
  controllers::manager::Executor executor(**client, events,
                                          controllers::manager::child_lookup(caches));
  const kube::ControllerOptions workers{.workers = flags.workers};

  // Each reconciler declares its own sources (controllers/manager/setup.cc).
  controllers::StorageDefaults storage = flags.storage;
  storage.image_pull_policy = flags.image_pull_policy;
  controllers::manager::TrainingJobReconciler trainingjobs(
      caches, executor, {flags.runtime_image, flags.image_pull_policy, storage});
  trainingjobs.setup(manager, workers);
  controllers::manager::DataPipelineReconciler datapipelines(
      caches, executor,
      {flags.image_pull_policy, flags.runtime_image, flags.artifact_repository, storage});
  datapipelines.setup(manager, workers);
  controllers::manager::ModelDeploymentReconciler modeldeployments(
      caches, executor, {flags.runtime_image, flags.image_pull_policy, storage});
  modeldeployments.setup(manager, workers);
  controllers::manager::DriftMonitorReconciler driftmonitors(caches, executor, manager.registry());
  driftmonitors.setup(manager, workers);

  log::info("kiln-manager starting", {{"version", kVersion},
                                      {"commit", kGitCommit},
                                      {"leaderElection", flags.leader_elect},
                                      {"metricsPort", flags.metrics_port},
                                      {"webhookPort", flags.webhook_port}});
  auto result = manager.run();
  if (!result.ok()) {
    log::error("kiln-manager stopped", {{"error", result.error().message()}});
    return 1;
  }
  log::info("kiln-manager stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kiln-manager: reconciles DataPipeline, TrainingJob, ModelDeployment and "
      "DriftMonitor resources (group kiln.dev)",
      "kiln-manager"};
  app.set_version_flag(
      "--version", std::string("kiln-manager ") + kiln::kVersion + " (" + kiln::kGitCommit + ")");
  Flags f;
  app.add_option("--kubeconfig", f.kubeconfig,
                 "Kubeconfig (default: $KUBECONFIG, else in-cluster)");
  app.add_option("--metrics-port", f.metrics_port, "Port of /healthz, /readyz and /metrics");
  app.add_option("--leader-elect", f.leader_elect, "Reconcile only while holding the Lease");
  app.add_option("--leader-election-namespace", f.leader_election_namespace,
                 "Namespace of the Lease and the webhook Secret (default: $POD_NAMESPACE)");
  app.add_option("--leader-election-id", f.leader_election_id, "Name of the Lease");
  app.add_option("--runtime-image", f.runtime_image, "kiln-runtime image of the pods Kiln makes");
  app.add_option("--image-pull-policy", f.image_pull_policy, "Pull policy of those pods");
  app.add_option("--storage-image", f.storage.image,
                 "Image of the storage containers that fetch and upload s3://, gs://, https:// "
                 "files (kiln-storage on rclone)");
  app.add_option("--storage-s3-endpoint", f.storage.s3_endpoint,
                 "S3 endpoint URL when an object names none (default: AWS)");
  app.add_option("--storage-s3-region", f.storage.s3_region, "S3 region when an object names none");
  app.add_option("--storage-s3-force-path-style", f.storage.s3_force_path_style,
                 "Address S3 buckets by path (<endpoint>/<bucket>) when an object does not say");
  app.add_option("--storage-secret", f.storage.secret_name,
                 "Secret (in each object's namespace) with the storage credentials when an object "
                 "names none (default: the pod's ServiceAccount identity)");
  app.add_option("--storage-ca-configmap", f.storage.ca_config_map,
                 "ConfigMap (in each object's namespace) whose ca.crt verifies the endpoint");
  app.add_option("--storage-allow-http", f.storage.uri_policy.allow_http,
                 "Admit http:// model and data URIs (https:// only by default)");
  app.add_option("--artifact-repository", f.artifact_repository,
                 "s3:// or gs:// prefix where DataPipeline steps' output artifacts are stored "
                 "when a pipeline names no spec.artifactRepository (default: none; artifacts "
                 "stay in the run's workspace)");
  app.add_option("--webhook-port", f.webhook_port, "HTTPS port of the admission webhook (0: off)");
  app.add_option("--webhook-service", f.webhook_service, "Service name in the certificate");
  app.add_option("--webhook-configuration", f.webhook_configuration,
                 "ValidatingWebhookConfiguration whose caBundle is set");
  app.add_option("--webhook-secret", f.webhook_secret, "Secret holding the shared certificate");
  app.add_option("--webhook-cert-dir", f.webhook_cert_dir,
                 "Directory with tls.crt and tls.key (cert-manager) instead of the Secret");
  app.add_option("--workers", f.workers, "Reconcile workers per controller");
  app.add_option("--kube-api-qps", f.kube_api_qps,
                 "Requests per second to the API server, as client-go's (<= 0: no limit)");
  app.add_option("--kube-api-burst", f.kube_api_burst, "Burst of that rate limit");
  CLI11_PARSE(app, argc, argv);
  return run(f);
}
