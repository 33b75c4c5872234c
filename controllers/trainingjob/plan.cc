#include "controllers/trainingjob/plan.h"

#include <algorithm>
#include <optional>

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

// The gang attempt an observed Job runs: 0 for `<tj>`, N for `<tj>-r<N>`; nullopt otherwise.
std::optional<long long> attempt_of(const std::string& tj_name, const json& job) {
  const std::string name = string_at(job, "/metadata/name");
  if (name == job_name(tj_name, 0)) return 0;
  const auto r = name.rfind("-r");
  if (r == std::string::npos) return std::nullopt;
  const std::string digits = name.substr(r + 2);
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const long long n = std::stoll(digits);
  if (job_name(tj_name, n) != name) return std::nullopt;
  return n;
}

// The current attempt: the highest attempt among the observed Jobs (a Job an earlier plan created
// is the truth even when the status write that counted it is not in the cache yet), never below
// status.restarts (which only grows, so a stale copy is only ever lower).
long long current_attempt(const std::string& tj_name, const Observed& observed,
                          const json& status) {
  long long attempt = status.value("restarts", 0LL);
  for (const json& j : observed.jobs) {
    if (j.contains(json::json_pointer("/metadata/deletionTimestamp"))) continue;
    attempt = std::max(attempt, attempt_of(tj_name, j).value_or(0));
  }
  return attempt;
}

// When the TrainingJob started: the earliest of status.startTime and the creation of every
// observed Job, else `now` (the first Job is applied now).
TimePoint started_at(const json& status, const Observed& observed, TimePoint now) {
  std::optional<TimePoint> start = parse_time(status.value("startTime", ""));
  for (const json& j : observed.jobs) {
    const auto created = parse_time(string_at(j, "/metadata/creationTimestamp"));
    if (created && (!start || *created < *start)) start = created;
  }
  return start.value_or(now);
}

// runPolicy.activeDeadlineSeconds bounds the whole TrainingJob from `start`, over every gang
// attempt: the seconds the current Job may still run (its observed activeDeadlineSeconds when it
// is in the cache, so re-applying it changes nothing), 0 when spent; nullopt without a deadline.
std::optional<long long> remaining_seconds(const json& tj, const json* job, TimePoint start,
                                           TimePoint now) {
  const long long deadline = int_at(tj, "/spec/runPolicy/activeDeadlineSeconds", -1);
  if (deadline < 0) return std::nullopt;
  const TimePoint end = start + Seconds(deadline);
  if (now >= end) return 0;
  if (job != nullptr) {
    if (const long long set = int_at(*job, "/spec/activeDeadlineSeconds", -1); set > 0) return set;
  }
  const auto left = std::chrono::ceil<Seconds>(end - now).count();
  return std::max<long long>(left, 1);
}

// The deadline is spent: unfinished Jobs go, the TrainingJob fails with DeadlineExceeded.
void fail_deadline(const json& tj, const Observed& observed, TimePoint now, Plan& plan) {
  for (const json& j : observed.jobs) {
    const auto kind = outcome_of(&j).kind;
    if (kind != JobOutcome::Kind::kComplete && kind != JobOutcome::Kind::kFailed) {
      plan.remove.push_back(delete_ref_of(j));
    }
  }
  const long long deadline = int_at(tj, "/spec/runPolicy/activeDeadlineSeconds", -1);
  plan.status["completionTime"] = format_time(now);
  set_phase(plan.status, "Failed", "DeadlineExceeded",
            "runPolicy.activeDeadlineSeconds (" + std::to_string(deadline) +
                " s) passed since startTime " + plan.status.value("startTime", ""),
            int_at(tj, "/metadata/generation", 0), now);
}

void set_outcome_phase(const json& tj, const Observed& observed, const JobOutcome& outcome,
                       const std::string& job, long long restarts, TimePoint now, Plan& plan) {
  const long long gen = int_at(tj, "/metadata/generation", 0);
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
  const std::string tj_name = string_at(tj, "/metadata/name");
  long long restarts = current_attempt(tj_name, observed, before);
  std::string job = job_name(tj_name, restarts);
  JobOutcome outcome = outcome_of(find_named(observed.jobs, job));
  std::string detail;
  plan.status["replicaStatuses"] = replica_statuses(find_named(observed.jobs, job));
  plan.status["restarts"] = restarts;
  const TimePoint start = started_at(before, observed, now);
  plan.status["startTime"] = format_time(start);

  const json run_policy = tj.at("spec").value("runPolicy", json::object());
  const auto remaining = remaining_seconds(tj, find_named(observed.jobs, job), start, now);
  if (remaining == 0 && outcome.kind != JobOutcome::Kind::kComplete) {
    fail_deadline(tj, observed, now, plan);
    transition(before, plan);
    plan_finished(tj, observed, now, plan);
    return plan;
  }
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

  const json* current = find_named(observed.jobs, job);
  const auto job_deadline = remaining_seconds(tj, current, start, now);
  auto desired = desired_job(tj, restarts, options, job_deadline);
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
    if (job_deadline) {
      const TimePoint end = start + Seconds(int_at(tj, "/spec/runPolicy/activeDeadlineSeconds", 0));
      plan.requeue_in(std::chrono::ceil<Seconds>(end - now));
    }
  }
  set_outcome_phase(tj, observed, outcome, job, restarts, now, plan);
  transition(before, plan, detail);
  if (is_finished(plan.status.value("phase", ""))) plan_finished(tj, observed, now, plan);
  return plan;
}

}  // namespace kiln::controllers::trainingjob
