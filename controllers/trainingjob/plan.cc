#include "controllers/trainingjob/plan.h"

#include "controllers/common/conditions.h"
#include "controllers/common/names.h"
#include "controllers/trainingjob/model.h"
#include "controllers/trainingjob/names.h"

namespace kiln::controllers::trainingjob {

using nlohmann::json;

namespace {

// What the current Job says.
struct JobOutcome {
  enum class Kind { kMissing, kWaiting, kActive, kComplete, kFailed } kind = Kind::kMissing;
  std::string reason;
  std::string message;
};

JobOutcome outcome_of(const json* job) {
  if (job == nullptr) return {};
  const json status = job->value("status", json::object());
  for (const json& c : status.value("conditions", json::array())) {
    if (c.value("status", "") != "True") continue;
    const std::string type = c.value("type", "");
    if (type == "Complete") return {JobOutcome::Kind::kComplete, "", ""};
    if (type == "Failed") {
      return {JobOutcome::Kind::kFailed, c.value("reason", "Failed"), c.value("message", "")};
    }
  }
  // Workers that already finished count as running until the Job's Complete condition lands: with
  // finalizer-based tracking the Job shows active 0 and succeeded > 0 (or pods not yet counted)
  // for a moment, and "Created" there would flap the phase back.
  const json uncounted = status.value("uncountedTerminatedPods", json::object());
  const bool started = status.value("active", 0) > 0 || status.value("ready", 0) > 0 ||
                       status.value("succeeded", 0) > 0 ||
                       !uncounted.value("succeeded", json::array()).empty();
  return {started ? JobOutcome::Kind::kActive : JobOutcome::Kind::kWaiting, "", ""};
}

const json* find_named(const std::vector<json>& objects, const std::string& name) {
  for (const json& o : objects) {
    if (string_at(o, "/metadata/name") == name) return &o;
  }
  return nullptr;
}

bool is_finished(const std::string& phase) { return phase == "Succeeded" || phase == "Failed"; }

// A failure a new gang may fix: not the deadline, not an exit code the ExitCode policy rejects.
bool retryable(const std::string& reason) {
  return reason != "DeadlineExceeded" && reason != "PodFailurePolicy";
}

void set_phase(json& status, const std::string& phase, const std::string& reason,
               const std::string& message, long long gen, TimePoint now) {
  status["phase"] = phase;
  set_condition(status, "Created", true, "JobCreated", "workers' Job applied", gen, now);
  set_condition(status, "Running", phase == "Running", reason, message, gen, now);
  set_condition(status, "Restarting", phase == "Restarting", reason, message, gen, now);
  set_condition(status, "Succeeded", phase == "Succeeded", reason, message, gen, now);
  set_condition(status, "Failed", phase == "Failed", reason, message, gen, now);
}

json replica_statuses(const json* job) {
  const json s = job == nullptr ? json::object() : job->value("status", json::object());
  return {{"active", s.value("active", 0)},
          {"succeeded", s.value("succeeded", 0)},
          {"failed", s.value("failed", 0)}};
}

std::optional<json> worker0_model(const json& tj, const Observed& observed,
                                  const std::string& job) {
  for (const json& pod : observed.pods) {
    const json meta = pod.value("metadata", json::object());
    const json labels = meta.value("labels", json::object());
    const json annotations = meta.value("annotations", json::object());
    if (labels.value(kJobNameLabel, "") != job) continue;
    if (annotations.value(kCompletionIndexAnnotation, labels.value(kCompletionIndexLabel, "")) !=
        "0") {
      continue;
    }
    const std::string message = termination_message(pod);
    if (!message.empty())
      return model_from_summary(message, string_at(tj, "/spec/output/modelUri"));
  }
  return std::nullopt;
}

// Pods to delete once finished, by cleanPodPolicy.
void clean_pods(const json& tj, const Observed& observed, Plan& plan) {
  const std::string policy = string_at(tj, "/spec/runPolicy/cleanPodPolicy", "Running");
  if (policy == "None") return;
  for (const json& pod : observed.pods) {
    if (pod.contains(json::json_pointer("/metadata/deletionTimestamp"))) continue;
    const std::string phase = string_at(pod, "/status/phase");
    const bool running = phase != "Succeeded" && phase != "Failed";
    if (policy == "All" || running) plan.remove.push_back(delete_ref_of(pod));
  }
}

// A finished TrainingJob: clean pods, and the Service after the TTL.
void plan_finished(const json& tj, const Observed& observed, TimePoint now, Plan& plan) {
  clean_pods(tj, observed, plan);
  const long long ttl = int_at(tj, "/spec/runPolicy/ttlSecondsAfterFinished", -1);
  const auto done = parse_time(string_at(plan.status, "/completionTime"));
  if (ttl < 0 || !done) return;
  const TimePoint expiry = *done + Seconds(ttl);
  if (now >= expiry) {
    for (const json& s : observed.services) plan.remove.push_back(delete_ref_of(s));
  } else {
    plan.requeue_in(std::chrono::duration_cast<Seconds>(expiry - now));
  }
}

// An Event when the phase changed; `detail` (when set) replaces the condition's message.
void transition(const json& before, Plan& plan, const std::string& detail = "") {
  const std::string from = before.value("phase", "");
  const std::string to = plan.status.value("phase", "");
  if (from == to) return;
  const bool bad = to == "Failed" || to == "Restarting";
  std::string message = "phase " + (from.empty() ? std::string("none") : from) + " -> " + to;
  if (!detail.empty()) {
    message += ": " + detail;
  } else if (const json* c = find_condition(plan.status, to); c != nullptr) {
    message += ": " + c->value("message", "");
  }
  plan.events.push_back({bad ? "Warning" : "Normal", to, message});
}

}  // namespace

Plan plan_trainingjob(const json& tj, const Observed& observed, TimePoint now,
                      const BuildOptions& options) {
  Plan plan;
  const json before = tj.value("status", json::object());
  plan.status = before;
  const long long gen = int_at(tj, "/metadata/generation", 0);
  plan.status["observedGeneration"] = gen;
  if (is_finished(before.value("phase", ""))) {
    plan_finished(tj, observed, now, plan);
    return plan;
  }
  long long restarts = before.value("restarts", 0LL);
  const std::string tj_name = string_at(tj, "/metadata/name");
  std::string job = job_name(tj_name, restarts);
  JobOutcome outcome = outcome_of(find_named(observed.jobs, job));
  std::string detail;
  plan.status["replicaStatuses"] = replica_statuses(find_named(observed.jobs, job));

  const json run_policy = tj.at("spec").value("runPolicy", json::object());
  if (outcome.kind == JobOutcome::Kind::kFailed && run_policy.value("gangRestart", true) &&
      retryable(outcome.reason) && restarts < run_policy.value("backoffLimit", 3LL)) {
    ++restarts;
    job = job_name(tj_name, restarts);
    plan.status["restarts"] = restarts;
    detail = "a worker failed (" + outcome.reason + ": " + outcome.message +
             "); restarting every worker, restart " + std::to_string(restarts);
    outcome = {};
  }
  for (const json& old : observed.jobs) {
    if (string_at(old, "/metadata/name") != job) plan.remove.push_back(delete_ref_of(old));
  }

  auto desired = desired_job(tj, restarts, options);
  if (!desired.ok()) {
    set_phase(plan.status, "Failed", "InvalidSpec", desired.error().message(), gen, now);
    plan.status["completionTime"] = format_time(now);
    transition(before, plan);
    return plan;
  }
  plan.status["jobName"] = job;
  if (outcome.kind != JobOutcome::Kind::kComplete && outcome.kind != JobOutcome::Kind::kFailed) {
    plan.apply.push_back(desired_service(tj, job));
    plan.apply.push_back(std::move(desired).value());
  }

  switch (outcome.kind) {
    case JobOutcome::Kind::kMissing:
    case JobOutcome::Kind::kWaiting:
      if (restarts > 0) {
        set_phase(plan.status, "Restarting", "GangRestart",
                  "restart " + std::to_string(restarts) + ": waiting for the new workers", gen,
                  now);
      } else {
        set_phase(plan.status, "Created", "JobCreated", "waiting for workers to start", gen, now);
      }
      break;
    case JobOutcome::Kind::kActive:
      if (!plan.status.contains("startTime")) plan.status["startTime"] = format_time(now);
      set_phase(plan.status, "Running", "WorkersRunning", "workers are running", gen, now);
      break;
    case JobOutcome::Kind::kComplete:
      if (auto model = worker0_model(tj, observed, job)) plan.status["model"] = *model;
      plan.status["completionTime"] = format_time(now);
      set_phase(plan.status, "Succeeded", "JobComplete", "every worker finished", gen, now);
      break;
    case JobOutcome::Kind::kFailed:
      plan.status["completionTime"] = format_time(now);
      set_phase(plan.status, "Failed", outcome.reason, outcome.message, gen, now);
      break;
  }
  transition(before, plan, detail);
  if (is_finished(plan.status.value("phase", ""))) plan_finished(tj, observed, now, plan);
  return plan;
}

}  // namespace kiln::controllers::trainingjob
