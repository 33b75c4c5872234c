#include "controllers/datapipeline/run.h"

#include <set>

#include "controllers/common/names.h"
#include "controllers/datapipeline/artifacts.h"
#include "controllers/datapipeline/attempt.h"
#include "controllers/datapipeline/cache.h"
#include "controllers/datapipeline/dag.h"
#include "controllers/datapipeline/names.h"
#include "controllers/datapipeline/resolve.h"

namespace kiln::controllers::datapipeline {

using nlohmann::json;

namespace {

bool phase_ok(const std::string& p) { return p == "Succeeded" || p == "Skipped" || p == "Cached"; }
bool phase_bad(const std::string& p) { return p == "Failed" || p == "Error"; }
bool phase_done(const std::string& p) { return phase_ok(p) || phase_bad(p); }

json* find_step(json& run, const std::string& name) {
  for (json& s : run["steps"]) {
    if (s.value("name", "") == name) return &s;
  }
  return nullptr;
}

std::vector<json> pods_of_job(const std::vector<json>& pods, const std::string& job) {
  std::vector<json> out;
  for (const json& p : pods) {
    const json meta = p.value("metadata", json::object());
    if (meta.value("labels", json::object()).value(kJobNameLabel, "") == job) {
      out.push_back(p);
    }
  }
  return out;
}

const json* find_job(const std::vector<json>& jobs, const std::string& name) {
  for (const json& j : jobs) {
    if (string_at(j, "/metadata/name") == name) return &j;
  }
  return nullptr;
}

// Everything one step's advance needs besides its own status.
struct StepContext {
  const RunInputs& in;
  json& run;
  Plan& plan;
  std::string run_phase;  // For {{run.phase}} in onExit.
};

void finish_step(json& st, const std::string& phase, const std::string& message, TimePoint now) {
  st["phase"] = phase;
  st["message"] = message;
  st["finishTime"] = format_time(now);
  st.erase("nextAttemptTime");
}

// Builds the attempt's Job; false (and the step in Error) when the spec cannot be resolved.
bool apply_attempt(StepContext& c, json& st, const json& spec, int attempt) {
  Variables vars = run_variables(c.in.pipeline, c.run, c.run_phase);
  auto resolved = resolve_step(spec, vars);
  if (!resolved.ok()) {
    finish_step(st, "Error", resolved.error().message(), c.in.now);
    return false;
  }
  c.plan.apply.push_back(
      desired_step_job(c.in.pipeline, c.run.value("name", ""), *resolved, attempt, c.in.options));
  return true;
}

void on_failure(StepContext& c, json& st, const json& spec, const AttemptOutcome& out) {
  const json strategy = spec.value("retryStrategy", json::object());
  const int attempts = st.value("attempts", 0);
  const std::string name = st.value("name", "");
  if (should_retry(out.kind, strategy.value("retryPolicy", "OnFailure"), attempts,
                   strategy.value("limit", 0))) {
    const auto delay = backoff_delay(strategy, attempts);
    st["phase"] = "Pending";
    st["message"] = "attempt " + std::to_string(attempts) + " failed (" + out.message +
                    "); retrying in " + std::to_string(delay.count()) + "s";
    st["nextAttemptTime"] = format_time(c.in.now + delay);
    c.plan.events.push_back(
        {"Warning", "StepRetrying", name + ": " + st["message"].get<std::string>()});
    c.plan.requeue_in(delay);
    return;
  }
  const std::string phase = out.kind == AttemptOutcome::Kind::kError ? "Error" : "Failed";
  finish_step(st, phase, out.message, c.in.now);
  c.plan.events.push_back({"Warning", "Step" + phase, name + ": " + out.message});
}

// A succeeded attempt's declared output artifacts (artifacts.h): true once they are known to
// exist (or none are declared); until then the step stays Running while the check Job runs, and a
// missing artifact fails the attempt.
bool outputs_present(StepContext& c, json& st, const json& spec) {
  if (output_artifact_paths(c.in.pipeline, spec).empty()) return true;
  const std::string run = c.run.value("name", "");
  const std::string name = st.value("name", "");
  if (workspace_claim(c.in.pipeline, run).empty()) {
    const std::string why = "outputs.artifacts need spec.workspace: there is nowhere to keep them";
    finish_step(st, "Error", why, c.in.now);
    c.plan.events.push_back({"Warning", "StepError", name + ": " + why});
    return false;
  }
  const int attempt = st.value("attempts", 1);
  const std::string check_name = artifact_check_job_name(run, name, attempt);
  const json* check = find_job(c.in.jobs, check_name);
  const std::vector<json> pods = pods_of_job(c.in.pods, check_name);
  AttemptOutcome out = read_attempt(check, pods);
  switch (out.kind) {
    case AttemptOutcome::Kind::kRunning:
      st["message"] = "checking the output artifacts";
      c.plan.apply.push_back(
          desired_artifact_check_job(c.in.pipeline, run, spec, attempt, c.in.options));
      return false;
    case AttemptOutcome::Kind::kSucceeded:
      return true;
    default:
      if (std::string m = termination_message(pods); m.rfind("missing:", 0) == 0) {
        while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
        out = {AttemptOutcome::Kind::kFailed, "output artifacts not found:" + m.substr(8), false,
               {}};
      } else {
        out.message = "the artifact check did not run: " + out.message;
      }
      if (check != nullptr && out.stuck) c.plan.remove.push_back(delete_ref_of(*check));
      on_failure(c, st, spec, out);
      return false;
  }
}

void observe_running(StepContext& c, json& st, const json& spec) {
  const std::string job_name = st.value("jobName", "");
  const json* job = find_job(c.in.jobs, job_name);
  const AttemptOutcome out = read_attempt(job, pods_of_job(c.in.pods, job_name));
  switch (out.kind) {
    case AttemptOutcome::Kind::kRunning:
      // Not in the cache yet, or running: applying the same Job again is a no-op.
      apply_attempt(c, st, spec, st.value("attempts", 1));
      return;
    case AttemptOutcome::Kind::kSucceeded:
      if (!outputs_present(c, st, spec)) return;
      finish_step(st, "Succeeded", "", c.in.now);
      st["outputs"] = out.outputs;
      return;
    default:
      if (job != nullptr && out.stuck) {
        c.plan.remove.push_back(delete_ref_of(*job));  // Stuck pods: stop the attempt.
      }
      on_failure(c, st, spec, out);
  }
}

// The first time a ready step is considered: `when`, then the cache. True when it finished.
bool settle_without_running(StepContext& c, json& st, const json& spec) {
  Variables vars = run_variables(c.in.pipeline, c.run, c.run_phase);
  if (spec.contains("when")) {
    auto go = evaluate_when(spec.value("when", ""), vars);
    if (!go.ok()) {
      finish_step(st, "Error", go.error().message(), c.in.now);
      return true;
    }
    if (!*go) {
      finish_step(st, "Skipped", "when \"" + spec.value("when", "") + "\" is false", c.in.now);
      return true;
    }
  }
  const json cache = spec.value("cache", json::object());
  if (!cache.value("enabled", false)) return false;
  auto resolved = resolve_step(spec, vars);
  if (!resolved.ok()) return false;  // apply_attempt reports it.
  const std::string key = cache_key(*resolved, pipeline_parameters(c.in.pipeline));
  st["cacheKey"] = key;
  auto hit = find_cache_hit(c.in.history, key, cache.value("maxAge", ""), c.in.now);
  if (!hit) return false;
  // Until an artifact repository exists, a step's files live only in its run's workspace.
  const std::string theirs = workspace_claim(c.in.pipeline, hit->run);
  if (theirs != workspace_claim(c.in.pipeline, c.run.value("name", ""))) {
    st["message"] = "cache hit from run " + hit->run + " refused: its files are in that run's " +
                    "workspace claim " + theirs +
                    " (spec.workspace.volumeClaimTemplate), not this run's; running the step";
    return false;
  }
  finish_step(st, "Cached", "cache hit from run " + hit->run, c.in.now);
  st["outputs"] = hit->outputs;
  return true;
}

// A Pending step whose dependencies are done. `slots` counts free parallelism.
void consider_ready(StepContext& c, json& st, const json& spec, int& slots) {
  if (st.value("attempts", 0) == 0 && settle_without_running(c, st, spec)) return;
  if (auto next = parse_time(st.value("nextAttemptTime", "")); next && *next > c.in.now) {
    c.plan.requeue_in(std::chrono::duration_cast<Seconds>(*next - c.in.now));
    return;
  }
  if (slots <= 0) return;
  const int attempt = st.value("attempts", 0) + 1;
  st["attempts"] = attempt;
  st["jobName"] = step_job_name(c.run.value("name", ""), st.value("name", ""), attempt);
  st["phase"] = "Running";
  if (attempt > 1) st["message"] = "";  // The first keeps why a cache hit was refused.
  st.erase("nextAttemptTime");
  if (!st.contains("startTime")) st["startTime"] = format_time(c.in.now);
  if (apply_attempt(c, st, spec, attempt)) --slots;
}

std::vector<std::size_t> dag_order(const json& pipeline) {
  std::vector<DagNode> nodes;
  for (const json& s : pipeline.at("spec").value("steps", json::array())) {
    nodes.push_back({s.value("name", ""), s.value("dependsOn", std::vector<std::string>{})});
  }
  auto order = topological_order(nodes);
  if (order) return *order;
  std::vector<std::size_t> fallback(nodes.size());  // Admission rejects cycles; never wedge.
  for (std::size_t i = 0; i < nodes.size(); ++i) fallback[i] = i;
  return fallback;
}

// Steps whose phase the step's `when` reads ({{steps.X.phase}}).
std::set<std::string> phases_read(const json& spec) {
  std::set<std::string> out;
  if (!spec.contains("when") || !spec["when"].is_string()) return out;
  auto refs = when_references(spec["when"].get<std::string>());
  if (!refs.ok()) return out;  // settle_without_running reports it.
  for (const std::string& r : *refs) {
    constexpr std::string_view kPrefix = "steps.", kSuffix = ".phase";
    if (r.size() > kPrefix.size() + kSuffix.size() && r.starts_with(kPrefix) &&
        r.ends_with(kSuffix)) {
      out.insert(r.substr(kPrefix.size(), r.size() - kPrefix.size() - kSuffix.size()));
    }
  }
  return out;
}

int count_running(const json& run) {
  int n = 0;
  for (const json& s : run["steps"]) n += s.value("phase", "") == "Running";
  return n;
}

// Advances the DAG steps; true while any of them can still move.
bool advance_dag(StepContext& c) {
  const json& steps = c.in.pipeline.at("spec").at("steps");
  const long long parallelism = int_at(c.in.pipeline, "/spec/parallelism", 1 << 30);
  int slots = static_cast<int>(parallelism) - count_running(c.run);
  std::set<std::string> blocked;
  bool active = false;
  for (std::size_t i : dag_order(c.in.pipeline)) {
    const json& spec = steps[i];
    json* st = find_step(c.run, spec.value("name", ""));
    if (st == nullptr) continue;
    if (st->value("phase", "Pending") == "Running") {
      observe_running(c, *st, spec);
      if (st->value("phase", "") != "Running") ++slots;
    }
    if (st->value("phase", "") != "Pending") {
      if (phase_bad(st->value("phase", ""))) blocked.insert(st->value("name", ""));
      active |= st->value("phase", "") == "Running";
      continue;
    }
    bool ready = true;
    const std::set<std::string> watched = phases_read(spec);
    for (const std::string& dep : spec.value("dependsOn", std::vector<std::string>{})) {
      const json* d = find_step(c.run, dep);
      const std::string dep_phase = d == nullptr ? "" : d->value("phase", "");
      // A `when` reading the dependency's phase wants it finished, however it finished.
      const bool settled = watched.contains(dep) && phase_done(dep_phase);
      if (blocked.contains(dep) && !settled) {
        blocked.insert(st->value("name", ""));
        (*st)["message"] = "upstream step " + dep + " did not succeed";
        ready = false;
        break;
      }
      ready &= phase_ok(dep_phase) || settled;
    }
    if (blocked.contains(st->value("name", ""))) continue;
    active = true;
    if (ready) consider_ready(c, *st, spec, slots);
  }
  return active;
}

std::string main_phase(const json& pipeline, json& run) {
  for (const json& spec : pipeline.at("spec").at("steps")) {
    const json* st = find_step(run, spec.value("name", ""));
    if (st == nullptr || !phase_ok(st->value("phase", ""))) return "Failed";
  }
  return "Succeeded";
}

// Runs spec.onExit after the DAG; true while it still runs.
bool advance_on_exit(StepContext& c) {
  const json& spec = c.in.pipeline.at("spec");
  if (!spec.contains("onExit")) return false;
  const json& exit = spec["onExit"];
  json* st = find_step(c.run, exit.value("name", ""));
  if (st == nullptr) {
    c.run["steps"].push_back(
        {{"name", exit.value("name", "")}, {"phase", "Pending"}, {"attempts", 0}});
    st = &c.run["steps"].back();
  }
  int slots = 1;
  if (st->value("phase", "") == "Running") observe_running(c, *st, exit);
  if (st->value("phase", "") == "Pending") consider_ready(c, *st, exit, slots);
  return !phase_done(st->value("phase", ""));
}

void enforce_deadline(StepContext& c) {
  const long long deadline = int_at(c.in.pipeline, "/spec/activeDeadlineSeconds", -1);
  const auto start = parse_time(c.run.value("startTime", ""));
  if (deadline < 0 || !start) return;
  const TimePoint end = *start + Seconds(deadline);
  if (c.in.now < end) {
    c.plan.requeue_in(std::chrono::duration_cast<Seconds>(end - c.in.now));
    return;
  }
  for (json& st : c.run["steps"]) {
    const std::string phase = st.value("phase", "");
    if (phase != "Running" && phase != "Pending") continue;
    if (const json* job = find_job(c.in.jobs, st.value("jobName", "")); job && phase == "Running") {
      c.plan.remove.push_back(delete_ref_of(*job));
    }
    finish_step(st, "Failed", "run deadline (activeDeadlineSeconds) exceeded", c.in.now);
  }
}

}  // namespace

json new_run(const json& pipeline, const std::string& name, TimePoint now) {
  json steps = json::array();
  for (const json& s : pipeline.at("spec").at("steps")) {
    steps.push_back({{"name", s.value("name", "")}, {"phase", "Pending"}, {"attempts", 0}});
  }
  return {{"name", name}, {"phase", "Running"}, {"startTime", format_time(now)}, {"steps", steps}};
}

json rerun_of(const json& pipeline, const json& source, const std::string& from_step,
              const std::string& name, TimePoint now) {
  json run = new_run(pipeline, name, now);
  // Downstream of from_step, in topological order.
  std::set<std::string> redo = {from_step};
  const json& steps = pipeline.at("spec").at("steps");
  for (std::size_t i : dag_order(pipeline)) {
    for (const std::string& dep : steps[i].value("dependsOn", std::vector<std::string>{})) {
      if (redo.contains(dep)) redo.insert(steps[i].value("name", ""));
    }
  }
  json source_copy = source;
  for (json& st : run["steps"]) {
    const std::string step = st.value("name", "");
    const json* old = find_step(source_copy, step);
    if (redo.contains(step) || old == nullptr || !phase_ok(old->value("phase", ""))) continue;
    st = *old;
    st["phase"] = old->value("phase", "") == "Skipped" ? "Skipped" : "Cached";
    st["message"] = "kept from run " + source.value("name", "");
  }
  run["message"] = "rerun of " + source.value("name", "") + " from step " + from_step;
  return run;
}

void advance_run(json& run, const RunInputs& in, Plan& plan) {
  if (!run_active(run)) return;
  StepContext c{in, run, plan, ""};
  enforce_deadline(c);
  if (advance_dag(c)) return;
  c.run_phase = main_phase(in.pipeline, run);
  if (advance_on_exit(c)) return;
  run["phase"] = c.run_phase;
  run["completionTime"] = format_time(in.now);
  const bool ok = c.run_phase == "Succeeded";
  plan.events.push_back({ok ? "Normal" : "Warning", ok ? "RunSucceeded" : "RunFailed",
                         "run " + run.value("name", "") + " " + c.run_phase});
}

bool run_active(const json& run) {
  const std::string phase = run.value("phase", "");
  return phase == "Pending" || phase == "Running";
}

std::string run_progress(const json& pipeline, const json& run) {
  int done = 0, total = 0;
  json copy = run;
  for (const json& spec : pipeline.at("spec").at("steps")) {
    ++total;
    const json* st = find_step(copy, spec.value("name", ""));
    done += st != nullptr && phase_ok(st->value("phase", ""));
  }
  return std::to_string(done) + "/" + std::to_string(total);
}

}  // namespace kiln::controllers::datapipeline
