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

constexpr const char* kInvalidSpec = "InvalidSpec";

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

// status.phase, or nullopt when it is absent or not a phase.
std::optional<api::TrainingPhase> phase_of(const json& status) {
  return api::parse_TrainingPhase(status.value("phase", ""));
}

bool is_finished(std::optional<api::TrainingPhase> phase) {
  return phase == api::TrainingPhase::kSucceeded || phase == api::TrainingPhase::kFailed;
}

// A failure a new gang may fix: not the deadline, not an exit code the ExitCode policy rejects.
bool retryable(const std::string& reason) {
  return reason != "DeadlineExceeded" && reason != "PodFailurePolicy";
}

// status.phase and the conditions: Created is True from the first Job on; the condition named
// after `phase` is True with `reason`, the others False with the same reason.
void set_phase(json& status, api::TrainingPhase phase, const std::string& reason,
               const std::string& message, long long gen, TimePoint now) {
  using P = api::TrainingPhase;
  status["phase"] = phase;
  set_condition(status, "Created", true, "JobCreated", "workers' Job applied", gen, now);
  set_condition(status, "Running", phase == P::kRunning, reason, message, gen, now);
  set_condition(status, "Restarting", phase == P::kRestarting, reason, message, gen, now);
  set_condition(status, "Succeeded", phase == P::kSucceeded, reason, message, gen, now);
  set_condition(status, "Failed", phase == P::kFailed, reason, message, gen, now);
}

// A spec Kiln cannot act on (see plan.h): the status as it was, with Created=False, reason
// InvalidSpec, and a Warning Event when that is news. No child is applied or removed.
Plan invalid_spec(const json& before, long long gen, const std::string& message, TimePoint now) {
  Plan plan;
  plan.status = before;
  plan.status["observedGeneration"] = gen;
  if (set_condition(plan.status, "Created", false, kInvalidSpec, message, gen, now)) {
    plan.events.push_back({"Warning", kInvalidSpec, message});
  }
  return plan;
}

json replica_statuses(const json* job) {
  const json s = job == nullptr ? json::object() : job->value("status", json::object());
  return {{"active", s.value("active", 0)},
          {"succeeded", s.value("succeeded", 0)},
          {"failed", s.value("failed", 0)}};
}

std::optional<json> worker0_model(const api::TrainingJobSpec& spec, const Observed& observed,
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
    if (auto model = model_from_pod(pod, spec.output.model_uri)) return model;
  }
  return std::nullopt;
}

// Pods to delete once finished, by cleanPodPolicy.
void clean_pods(const api::RunPolicy& run_policy, const Observed& observed, Plan& plan) {
  const api::CleanPodPolicy policy = run_policy.clean_pod_policy;
  if (policy == api::CleanPodPolicy::kNone) return;
  for (const json& pod : observed.pods) {
    if (pod.contains(json::json_pointer("/metadata/deletionTimestamp"))) continue;
    const std::string phase = string_at(pod, "/status/phase");
    const bool running = phase != "Succeeded" && phase != "Failed";
    if (policy == api::CleanPodPolicy::kAll || running) plan.remove.push_back(delete_ref_of(pod));
  }
}

// A finished TrainingJob: clean pods, and the Service after the TTL.
void plan_finished(const api::RunPolicy& run_policy, const Observed& observed, TimePoint now,
                   Plan& plan) {
  clean_pods(run_policy, observed, plan);
  const auto ttl = run_policy.ttl_seconds_after_finished;
  const auto done = parse_time(string_at(plan.status, "/completionTime"));
  if (!ttl || !done) return;
  const TimePoint expiry = *done + Seconds(*ttl);
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
std::optional<long long> remaining_seconds(const api::RunPolicy& run_policy, const json* job,
                                           TimePoint start, TimePoint now) {
  const auto deadline = run_policy.active_deadline_seconds;
  if (!deadline) return std::nullopt;
  const TimePoint end = start + Seconds(*deadline);
  if (now >= end) return 0;
  if (job != nullptr) {
    if (const long long set = int_at(*job, "/spec/activeDeadlineSeconds", -1); set > 0) return set;
  }
  const auto left = std::chrono::ceil<Seconds>(end - now).count();
  return std::max<long long>(left, 1);
}

// The deadline is spent: unfinished Jobs go, the TrainingJob fails with DeadlineExceeded.
void fail_deadline(long long deadline, long long gen, const Observed& observed, TimePoint now,
                   Plan& plan) {
  for (const json& j : observed.jobs) {
    const auto kind = outcome_of(&j).kind;
    if (kind != JobOutcome::Kind::kComplete && kind != JobOutcome::Kind::kFailed) {
      plan.remove.push_back(delete_ref_of(j));
    }
  }
  plan.status["completionTime"] = format_time(now);
  set_phase(plan.status, api::TrainingPhase::kFailed, "DeadlineExceeded",
            "runPolicy.activeDeadlineSeconds (" + std::to_string(deadline) +
                " s) passed since startTime " + plan.status.value("startTime", ""),
            gen, now);
}

void set_outcome_phase(const api::TrainingJobSpec& spec, long long gen, const Observed& observed,
                       const JobOutcome& outcome, const std::string& job, long long restarts,
                       TimePoint now, Plan& plan) {
  using P = api::TrainingPhase;
  switch (outcome.kind) {
    case JobOutcome::Kind::kMissing:
    case JobOutcome::Kind::kWaiting:
      if (restarts > 0) {
        set_phase(plan.status, P::kRestarting, "GangRestart",
                  "restart " + std::to_string(restarts) + ": waiting for the new workers", gen,
                  now);
      } else {
        set_phase(plan.status, P::kCreated, "JobCreated", "waiting for workers to start", gen, now);
      }
      break;
    case JobOutcome::Kind::kActive:
      set_phase(plan.status, P::kRunning, "WorkersRunning", "workers are running", gen, now);
      break;
    case JobOutcome::Kind::kComplete:
      if (auto model = worker0_model(spec, observed, job)) plan.status["model"] = *model;
      plan.status["completionTime"] = format_time(now);
      set_phase(plan.status, P::kSucceeded, "JobComplete", "every worker finished", gen, now);
      break;
    case JobOutcome::Kind::kFailed:
      plan.status["completionTime"] = format_time(now);
      set_phase(plan.status, P::kFailed, outcome.reason, outcome.message, gen, now);
      break;
  }
}

}  // namespace

Plan plan_trainingjob(const json& tj, const Observed& observed, TimePoint now,
                      const BuildOptions& options) {
  const json before = tj.value("status", json::object());
  const long long gen = int_at(tj, "/metadata/generation", 0);
  auto parsed = api::parse_training_job_spec(tj);
  if (!parsed.ok()) return invalid_spec(before, gen, parsed.error().message(), now);
  const api::TrainingJobSpec& spec = *parsed;
  const api::RunPolicy& run_policy = run_policy_of(spec);

  Plan plan;
  plan.status = before;
  plan.status["observedGeneration"] = gen;
  if (is_finished(phase_of(before))) {
    // A spec fixed after the TrainingJob finished: its Job had been created.
    if (const json* c = find_condition(plan.status, "Created");
        c != nullptr && c->value("reason", "") == kInvalidSpec) {
      set_condition(plan.status, "Created", true, "JobCreated", "workers' Job applied", gen, now);
    }
    plan_finished(run_policy, observed, now, plan);
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

  const auto remaining = remaining_seconds(run_policy, find_named(observed.jobs, job), start, now);
  if (remaining == 0 && outcome.kind != JobOutcome::Kind::kComplete) {
    fail_deadline(*run_policy.active_deadline_seconds, gen, observed, now, plan);
    transition(before, plan);
    plan_finished(run_policy, observed, now, plan);
    return plan;
  }
  if (outcome.kind == JobOutcome::Kind::kFailed && run_policy.gang_restart &&
      retryable(outcome.reason) && restarts < run_policy.backoff_limit) {
    ++restarts;
    job = job_name(tj_name, restarts);
    plan.status["restarts"] = restarts;
    detail = "a worker failed (" + outcome.reason + ": " + outcome.message +
             "); restarting every worker, restart " + std::to_string(restarts);
    outcome = {};
  }

  const json* current = find_named(observed.jobs, job);
  const auto job_deadline = remaining_seconds(run_policy, current, start, now);
  auto desired = desired_job(tj, spec, restarts, options, job_deadline);
  if (!desired.ok()) return invalid_spec(before, gen, desired.error().message(), now);
  for (const json& old : observed.jobs) {
    if (string_at(old, "/metadata/name") != job) plan.remove.push_back(delete_ref_of(old));
  }
  plan.status["jobName"] = job;
  if (outcome.kind != JobOutcome::Kind::kComplete && outcome.kind != JobOutcome::Kind::kFailed) {
    plan.apply.push_back(desired_service(tj, job));
    plan.apply.push_back(std::move(desired).value());
    if (job_deadline) {
      const TimePoint end = start + Seconds(*run_policy.active_deadline_seconds);
      plan.requeue_in(std::chrono::ceil<Seconds>(end - now));
    }
  }
  set_outcome_phase(spec, gen, observed, outcome, job, restarts, now, plan);
  transition(before, plan, detail);
  if (is_finished(phase_of(plan.status))) plan_finished(run_policy, observed, now, plan);
  return plan;
}

}  // namespace kiln::controllers::trainingjob
