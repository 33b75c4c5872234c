#include "controllers/datapipeline/plan.h"

#include <set>

#include "controllers/api/v1alpha1.h"
#include "controllers/common/conditions.h"
#include "controllers/common/names.h"
#include "controllers/datapipeline/names.h"
#include "controllers/datapipeline/resolve.h"
#include "controllers/datapipeline/run.h"
#include "controllers/datapipeline/schedule.h"

namespace kiln::controllers::datapipeline {

using nlohmann::json;
namespace api = kiln::api::v1alpha1;

namespace {

std::string annotation(const json& pipeline, const char* key) {
  return pipeline.value("metadata", json::object())
      .value("annotations", json::object())
      .value(key, "");
}

std::string run_label(const json& object) {
  return object.value("metadata", json::object())
      .value("labels", json::object())
      .value(kRunLabel, "");
}

// The phase of `run` in status.runs; Pending for none (no run yet, or a run without a phase).
api::RunPhase phase_of(const json& run) {
  const auto phase = api::parse_RunPhase(run.value("phase", ""));
  return phase ? *phase : api::RunPhase::kPending;
}

bool has_run(const json& runs, const std::string& name) {
  for (const json& r : runs) {
    if (r.value("name", "") == name) return true;
  }
  return false;
}

bool any_active(const json& runs) {
  for (const json& r : runs) {
    if (run_active(r)) return true;
  }
  return false;
}

// A spec.schedule that names a schedule (an empty one is none).
bool scheduled(const api::DataPipelineSpec& spec) {
  return spec.schedule && !spec.schedule->empty();
}

// State shared by the steps of one plan.
struct Planning {
  const json& pipeline;
  const api::DataPipelineSpec& spec;  // Decoded once, by plan_datapipeline.
  const Observed& observed;
  TimePoint now;
  const BuildOptions& options;
  Plan plan;
  json runs;                     // Newest first.
  std::set<std::string> pinned;  // Runs answering the current annotations: never pruned.
};

void start_run(Planning& p, json run, const std::string& why) {
  p.plan.events.push_back(
      {"Normal", "RunStarted", "run " + run.value("name", "") + " (" + why + ")"});
  p.runs.insert(p.runs.begin(), std::move(run));
}

void annotation_triggers(Planning& p) {
  if (const std::string token = annotation(p.pipeline, kRunAnnotation); !token.empty()) {
    const std::string name = run_name(p.pipeline, "run:" + token);
    p.pinned.insert(name);
    if (!has_run(p.runs, name)) start_run(p, new_run(p.spec, name, p.now), "kiln.dev/run");
  }
  const std::string rerun = annotation(p.pipeline, kRerunAnnotation);
  if (rerun.empty()) return;
  const std::string name = run_name(p.pipeline, "rerun:" + rerun);
  p.pinned.insert(name);
  if (has_run(p.runs, name)) return;
  const std::string step = rerun.substr(0, rerun.find('#'));
  if (p.runs.empty() || step_spec(p.spec, step) == nullptr) {
    p.plan.events.push_back(
        {"Warning", "RerunIgnored", "kiln.dev/rerun-from: no run or no step \"" + step + "\""});
    return;
  }
  const json source = p.runs.front();
  start_run(p, rerun_of(p.spec, source, step, name, p.now), "rerun from " + step);
}

void replace_active(Planning& p) {
  for (json& r : p.runs) {
    if (!run_active(r)) continue;
    r["phase"] = api::to_string(api::RunPhase::kFailed);
    r["message"] = "replaced by a newer scheduled run";
    r["completionTime"] = format_time(p.now);
    for (const json& job : p.observed.jobs) {
      if (run_label(job) == r.value("name", "")) p.plan.remove.push_back(delete_ref_of(job));
    }
  }
}

// Where ticks are counted from: status.lastScheduleTime, else the pipeline's creation, else now.
TimePoint schedule_origin(const Planning& p) {
  if (auto t = parse_time(string_at(p.plan.status, "/lastScheduleTime"))) return *t;
  if (auto t = parse_time(string_at(p.pipeline, "/metadata/creationTimestamp"))) return *t;
  return p.now;
}

void schedule_trigger(Planning& p) {
  if (!scheduled(p.spec) || p.spec.suspend) return;
  auto cron = parse_cron(*p.spec.schedule);
  if (!cron.ok()) {
    p.plan.events.push_back({"Warning", "InvalidSchedule", cron.error().message()});
    return;
  }
  const TimePoint last = schedule_origin(p);
  if (auto next = next_tick(*cron, p.now)) {
    p.plan.requeue_in(std::chrono::duration_cast<Seconds>(*next - p.now) + Seconds(1));
  }
  const auto tick = latest_tick(*cron, last, p.now);
  if (!tick) return;
  const api::ConcurrencyPolicy policy = p.spec.concurrency_policy;
  if (policy == api::ConcurrencyPolicy::kForbid && any_active(p.runs)) return;  // Stays due.
  if (policy == api::ConcurrencyPolicy::kReplace) replace_active(p);
  p.plan.status["lastScheduleTime"] = format_time(*tick);
  const std::string name = run_name(p.pipeline, "schedule:" + format_time(*tick));
  if (!has_run(p.runs, name)) start_run(p, new_run(p.spec, name, p.now), "schedule");
}

std::vector<json> labelled(const std::vector<json>& objects, const std::string& run) {
  std::vector<json> out;
  for (const json& o : objects) {
    if (run_label(o) == run) out.push_back(o);
  }
  return out;
}

void advance_runs(Planning& p) {
  const json history = p.runs;
  for (json& run : p.runs) {
    if (!run_active(run)) continue;
    const std::string name = run.value("name", "");
    if (json claim = desired_workspace_claim(p.pipeline, p.spec, name); !claim.is_null()) {
      p.plan.apply.push_back(std::move(claim));
    }
    const std::vector<json> jobs = labelled(p.observed.jobs, name);
    const std::vector<json> pods = labelled(p.observed.pods, name);
    advance_run(run, RunInputs{p.pipeline, p.spec, jobs, pods, history, p.now, p.options},
                p.plan);
  }
}

// Drops finished runs beyond the history limits (the newest run and pinned runs stay).
void prune_history(Planning& p) {
  int ok_left = p.spec.successful_runs_history_limit;
  int failed_left = p.spec.failed_runs_history_limit;
  json kept = json::array();
  for (std::size_t i = 0; i < p.runs.size(); ++i) {
    json& r = p.runs[i];
    if (!run_active(r)) {
      int& left = phase_of(r) == api::RunPhase::kSucceeded ? ok_left : failed_left;
      const bool pinned = i == 0 || p.pinned.contains(r.value("name", ""));
      if (left > 0) {
        --left;
      } else if (!pinned) {
        continue;
      }
    }
    kept.push_back(std::move(r));
  }
  p.runs = std::move(kept);
}

// Deletes the Jobs and claims of runs no longer in history or past their TTL.
void collect_garbage(Planning& p) {
  const std::optional<int32_t> ttl = p.spec.ttl_seconds_after_finished;
  std::set<std::string> expired;
  std::set<std::string> known;
  for (const json& r : p.runs) {
    known.insert(r.value("name", ""));
    const auto done = parse_time(r.value("completionTime", ""));
    if (!ttl || *ttl < 0 || run_active(r) || !done) continue;
    const TimePoint at = *done + Seconds(*ttl);
    if (at <= p.now) {
      expired.insert(r.value("name", ""));
    } else {
      p.plan.requeue_in(std::chrono::duration_cast<Seconds>(at - p.now));
    }
  }
  for (const auto* list : {&p.observed.jobs, &p.observed.claims}) {
    for (const json& o : *list) {
      const std::string run = run_label(o);
      if (o.contains(json::json_pointer("/metadata/deletionTimestamp"))) continue;
      if (!known.contains(run) || expired.contains(run)) p.plan.remove.push_back(delete_ref_of(o));
    }
  }
}

void write_status(Planning& p) {
  json& status = p.plan.status;
  const long long gen = int_at(p.pipeline, "/metadata/generation", 0);
  status["observedGeneration"] = gen;
  status["runs"] = p.runs;
  const json latest = p.runs.empty() ? json::object() : p.runs.front();
  const api::RunPhase phase = phase_of(latest);
  const std::string phase_text(api::to_string(phase));
  status["phase"] = phase_text;
  status["progress"] = p.runs.empty() ? "0/" + std::to_string(p.spec.steps.size())
                                      : run_progress(p.spec, latest);
  const std::string run = latest.value("name", "");
  const std::string about = run.empty() ? "no run yet" : "run " + run + " is " + phase_text;
  const bool running = phase == api::RunPhase::kRunning;
  const bool succeeded = phase == api::RunPhase::kSucceeded;
  const bool failed = phase == api::RunPhase::kFailed;
  set_condition(status, "Running", running, running ? "RunRunning" : "NoActiveRun", about, gen,
                p.now);
  set_condition(status, "Succeeded", succeeded, succeeded ? "RunSucceeded" : "NotSucceeded", about,
                gen, p.now);
  set_condition(status, "Failed", failed, failed ? "RunFailed" : "NotFailed",
                latest.value("message", about), gen, p.now);
}

// A spec Kiln cannot decode (the API server let it through: an older Kiln than its CRD, or a
// schema it does not enforce): every condition says so, runs and children stay as they are.
void report_invalid_spec(Planning& p, const std::string& message) {
  json& status = p.plan.status;
  const long long gen = int_at(p.pipeline, "/metadata/generation", 0);
  status["observedGeneration"] = gen;
  const std::string why =
      message + " (Kiln cannot read this spec: no run advances until it is fixed)";
  set_condition(status, "Running", false, "InvalidSpec", why, gen, p.now);
  set_condition(status, "Succeeded", false, "InvalidSpec", why, gen, p.now);
  set_condition(status, "Failed", true, "InvalidSpec", why, gen, p.now);
}

}  // namespace

Plan plan_datapipeline(const json& pipeline, const Observed& observed, TimePoint now,
                       const BuildOptions& options) {
  auto parsed = api::parse_data_pipeline_spec(pipeline);
  static const api::DataPipelineSpec kNoSpec;
  Planning p{pipeline, parsed.ok() ? *parsed : kNoSpec, observed, now, options, {},
             json::array(), {}};
  p.plan.status = pipeline.value("status", json::object());
  if (!parsed.ok()) {
    report_invalid_spec(p, parsed.error().message());
    return std::move(p.plan);
  }
  p.runs = p.plan.status.value("runs", json::array());
  if (!scheduled(p.spec) && p.runs.empty()) {
    start_run(p, new_run(p.spec, run_name(pipeline, "create"), now), "created");
  }
  annotation_triggers(p);
  schedule_trigger(p);
  advance_runs(p);
  prune_history(p);
  collect_garbage(p);
  write_status(p);
  return std::move(p.plan);
}

}  // namespace kiln::controllers::datapipeline
