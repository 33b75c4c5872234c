#include "controllers/datapipeline/plan.h"

#include <set>

#include "controllers/common/conditions.h"
#include "controllers/common/names.h"
#include "controllers/datapipeline/names.h"
#include "controllers/datapipeline/resolve.h"
#include "controllers/datapipeline/run.h"
#include "controllers/datapipeline/schedule.h"

namespace kiln::controllers::datapipeline {

using nlohmann::json;

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

// State shared by the steps of one plan.
struct Planning {
  const json& pipeline;
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
    if (!has_run(p.runs, name)) start_run(p, new_run(p.pipeline, name, p.now), "kiln.dev/run");
  }
  const std::string rerun = annotation(p.pipeline, kRerunAnnotation);
  if (rerun.empty()) return;
  const std::string name = run_name(p.pipeline, "rerun:" + rerun);
  p.pinned.insert(name);
  if (has_run(p.runs, name)) return;
  const std::string step = rerun.substr(0, rerun.find('#'));
  if (p.runs.empty() || step_spec(p.pipeline, step) == nullptr) {
    p.plan.events.push_back(
        {"Warning", "RerunIgnored", "kiln.dev/rerun-from: no run or no step \"" + step + "\""});
    return;
  }
  const json source = p.runs.front();
  start_run(p, rerun_of(p.pipeline, source, step, name, p.now), "rerun from " + step);
}

void replace_active(Planning& p) {
  for (json& r : p.runs) {
    if (!run_active(r)) continue;
    r["phase"] = "Failed";
    r["message"] = "replaced by a newer scheduled run";
    r["completionTime"] = format_time(p.now);
    for (const json& job : p.observed.jobs) {
      if (run_label(job) == r.value("name", "")) p.plan.remove.push_back(delete_ref_of(job));
    }
  }
}

void schedule_trigger(Planning& p) {
  const std::string schedule = string_at(p.pipeline, "/spec/schedule");
  if (schedule.empty() || p.pipeline.at("spec").value("suspend", false)) return;
  auto cron = parse_cron(schedule);
  if (!cron.ok()) {
    p.plan.events.push_back({"Warning", "InvalidSchedule", cron.error().message()});
    return;
  }
  const auto last =
      parse_time(string_at(p.plan.status, "/lastScheduleTime"))
          .value_or(
              parse_time(string_at(p.pipeline, "/metadata/creationTimestamp")).value_or(p.now));
  if (auto next = next_tick(*cron, p.now)) {
    p.plan.requeue_in(std::chrono::duration_cast<Seconds>(*next - p.now) + Seconds(1));
  }
  const auto tick = latest_tick(*cron, last, p.now);
  if (!tick) return;
  const std::string policy = p.pipeline.at("spec").value("concurrencyPolicy", "Forbid");
  if (policy == "Forbid" && any_active(p.runs)) return;  // The tick stays due.
  if (policy == "Replace") replace_active(p);
  p.plan.status["lastScheduleTime"] = format_time(*tick);
  const std::string name = run_name(p.pipeline, "schedule:" + format_time(*tick));
  if (!has_run(p.runs, name)) start_run(p, new_run(p.pipeline, name, p.now), "schedule");
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
    if (json claim = desired_workspace_claim(p.pipeline, name); !claim.is_null()) {
      p.plan.apply.push_back(std::move(claim));
    }
    const std::vector<json> jobs = labelled(p.observed.jobs, name);
    const std::vector<json> pods = labelled(p.observed.pods, name);
    advance_run(run, RunInputs{p.pipeline, jobs, pods, history, p.now, p.options}, p.plan);
  }
}

// Drops finished runs beyond the history limits (the newest run and pinned runs stay).
void prune_history(Planning& p) {
  const json& spec = p.pipeline.at("spec");
  long long ok_left = spec.value("successfulRunsHistoryLimit", 3LL);
  long long failed_left = spec.value("failedRunsHistoryLimit", 1LL);
  json kept = json::array();
  for (std::size_t i = 0; i < p.runs.size(); ++i) {
    json& r = p.runs[i];
    if (!run_active(r)) {
      long long& left = r.value("phase", "") == "Succeeded" ? ok_left : failed_left;
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
  const long long ttl = int_at(p.pipeline, "/spec/ttlSecondsAfterFinished", -1);
  std::set<std::string> expired;
  std::set<std::string> known;
  for (const json& r : p.runs) {
    known.insert(r.value("name", ""));
    const auto done = parse_time(r.value("completionTime", ""));
    if (ttl < 0 || run_active(r) || !done) continue;
    const TimePoint at = *done + Seconds(ttl);
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
  const std::string phase = latest.value("phase", "Pending");
  status["phase"] = phase;
  status["progress"] = p.runs.empty()
                           ? "0/" + std::to_string(p.pipeline.at("spec").at("steps").size())
                           : run_progress(p.pipeline, latest);
  const std::string run = latest.value("name", "");
  set_condition(status, "Running", phase == "Running",
                phase == "Running" ? "RunRunning" : "NoActiveRun",
                run.empty() ? "no run yet" : "run " + run + " is " + phase, gen, p.now);
  set_condition(status, "Succeeded", phase == "Succeeded",
                phase == "Succeeded" ? "RunSucceeded" : "NotSucceeded",
                run.empty() ? "no run yet" : "run " + run + " is " + phase, gen, p.now);
  set_condition(status, "Failed", phase == "Failed", phase == "Failed" ? "RunFailed" : "NotFailed",
                latest.value("message", run.empty() ? "no run yet" : "run " + run + " is " + phase),
                gen, p.now);
}

}  // namespace

Plan plan_datapipeline(const json& pipeline, const Observed& observed, TimePoint now,
                       const BuildOptions& options) {
  Planning p{pipeline, observed, now, options, {}, json::array(), {}};
  p.plan.status = pipeline.value("status", json::object());
  p.runs = p.plan.status.value("runs", json::array());
  if (string_at(pipeline, "/spec/schedule").empty() && p.runs.empty()) {
    start_run(p, new_run(pipeline, run_name(pipeline, "create"), now), "created");
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
