#include "controllers/datapipeline/run.h"

#include <limits>
#include <optional>
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
using api::RunPhase;
using api::StepPhase;

namespace {

// A step's status.runs[].steps[].phase (nullopt when absent or not one of the schema's).
std::optional<StepPhase> phase_of(const json& st) {
  return api::parse_StepPhase(st.value("phase", ""));
}
void set_phase(json& st, StepPhase phase) { st["phase"] = api::to_string(phase); }

bool phase_ok(std::optional<StepPhase> p) {
  return p == StepPhase::kSucceeded || p == StepPhase::kSkipped || p == StepPhase::kCached;
}
bool phase_bad(std::optional<StepPhase> p) {
  return p == StepPhase::kFailed || p == StepPhase::kError;
}
bool phase_done(std::optional<StepPhase> p) { return phase_ok(p) || phase_bad(p); }

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

void finish_step(json& st, StepPhase phase, const std::string& message, TimePoint now) {
  set_phase(st, phase);
  st["message"] = message;
  st["finishTime"] = format_time(now);
  st.erase("nextAttemptTime");
}

// The input artifacts `spec` downloads before it starts (artifacts.h).
Result<std::vector<InputFetch>> inputs_of(const StepContext& c, const api::PipelineStep& spec) {
  return input_fetches(c.in.spec, spec, c.run,
                       artifact_repository(c.in.spec, c.in.options).has_value());
}

// inputs.artifacts name -> what identifies the downloaded content (for the cache key).
json input_digests(const std::vector<InputFetch>& inputs) {
  json out = json::object();
  for (const InputFetch& in : inputs) out[in.name] = in.digest.empty() ? in.uri : in.digest;
  return out;
}

// Builds the attempt's Job; false (and the step in Error) when the spec cannot be resolved.
bool apply_attempt(StepContext& c, json& st, const api::PipelineStep& spec, int attempt) {
  Variables vars = run_variables(c.in.spec, c.run, c.run_phase);
  auto resolved = resolve_step(spec, vars);
  if (!resolved.ok()) {
    finish_step(st, StepPhase::kError, resolved.error().message(), c.in.now);
    return false;
  }
  auto inputs = inputs_of(c, spec);
  if (!inputs.ok()) {
    finish_step(st, StepPhase::kError, inputs.error().message(), c.in.now);
    return false;
  }
  const auto repository = artifact_repository(c.in.spec, c.in.options);
  c.plan.apply.push_back(desired_step_job(c.in.pipeline, c.in.spec, c.run.value("name", ""),
                                          *resolved, attempt, c.in.options, *inputs,
                                          repository ? repository->storage : nullptr));
  return true;
}

void on_failure(StepContext& c, json& st, const api::PipelineStep& spec,
                const AttemptOutcome& out) {
  const api::PipelineStepRetryStrategy strategy =
      spec.retry_strategy ? *spec.retry_strategy : api::PipelineStepRetryStrategy{};
  const int attempts = st.value("attempts", 0);
  if (should_retry(out.kind, strategy, attempts)) {
    const auto delay = backoff_delay(
        strategy.backoff ? *strategy.backoff : api::PipelineStepRetryStrategyBackoff{}, attempts);
    set_phase(st, StepPhase::kPending);
    st["message"] = "attempt " + std::to_string(attempts) + " failed (" + out.message +
                    "); retrying in " + std::to_string(delay.count()) + "s";
    st["nextAttemptTime"] = format_time(c.in.now + delay);
    c.plan.events.push_back(
        {"Warning", "StepRetrying", spec.name + ": " + st["message"].get<std::string>()});
    c.plan.requeue_in(delay);
    return;
  }
  const StepPhase phase =
      out.kind == AttemptOutcome::Kind::kError ? StepPhase::kError : StepPhase::kFailed;
  finish_step(st, phase, out.message, c.in.now);
  c.plan.events.push_back(
      {"Warning", "Step" + std::string(api::to_string(phase)), spec.name + ": " + out.message});
}

// A succeeded attempt's declared output artifacts (artifacts.h): true once they are known to
// exist (or none are declared); until then the step stays Running while the check Job runs, and a
// missing artifact fails the attempt.
bool outputs_present(StepContext& c, json& st, const api::PipelineStep& spec) {
  if (output_artifact_paths(c.in.spec, spec).empty()) return true;
  const std::string run = c.run.value("name", "");
  if (workspace_claim(c.in.spec, run).empty()) {
    const std::string why = "outputs.artifacts need spec.workspace: there is nowhere to keep them";
    finish_step(st, StepPhase::kError, why, c.in.now);
    c.plan.events.push_back({"Warning", "StepError", spec.name + ": " + why});
    return false;
  }
  const int attempt = st.value("attempts", 1);
  if (const auto repository = artifact_repository(c.in.spec, c.in.options)) {
    const std::string upload_name = artifact_upload_job_name(run, spec.name, attempt);
    const json* upload = find_job(c.in.jobs, upload_name);
    UploadOutcome out =
        read_upload(upload, pods_of_job(c.in.pods, upload_name), c.in.spec, spec);
    switch (out.attempt.kind) {
      case AttemptOutcome::Kind::kRunning:
        st["message"] = "uploading the output artifacts to " + repository->prefix;
        c.plan.apply.push_back(desired_artifact_upload_job(c.in.pipeline, c.in.spec, run, spec,
                                                           attempt, *repository, c.in.options));
        return false;
      case AttemptOutcome::Kind::kSucceeded:
        st["artifacts"] = out.artifacts;
        return true;
      default:
        if (upload != nullptr && out.attempt.stuck) {
          c.plan.remove.push_back(delete_ref_of(*upload));
        }
        on_failure(c, st, spec, out.attempt);
        return false;
    }
  }
  const std::string check_name = artifact_check_job_name(run, spec.name, attempt);
  const json* check = find_job(c.in.jobs, check_name);
  const std::vector<json> pods = pods_of_job(c.in.pods, check_name);
  AttemptOutcome out = read_attempt(check, pods);
  switch (out.kind) {
    case AttemptOutcome::Kind::kRunning:
      st["message"] = "checking the output artifacts";
      c.plan.apply.push_back(desired_artifact_check_job(c.in.pipeline, c.in.spec, run, spec,
                                                        attempt, c.in.options));
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

// A succeeded step records the image digest it ran; a cached step's key is then computed with
// it, so later runs (cache.h known_image_id) find it.
void record_image(StepContext& c, json& st, const api::PipelineStep& spec,
                  const std::vector<json>& pods) {
  const std::string image_id = image_id_of(pods);
  if (image_id.empty()) return;
  st["imageID"] = image_id;
  if (!spec.cache || !spec.cache->enabled) return;
  Variables vars = run_variables(c.in.spec, c.run, c.run_phase);
  auto resolved = resolve_step(spec, vars);
  auto inputs = inputs_of(c, spec);
  if (!resolved.ok() || !inputs.ok()) return;
  st["cacheKey"] = cache_key(*resolved, pipeline_parameters(c.in.spec), input_digests(*inputs),
                             image_id);
}

void observe_running(StepContext& c, json& st, const api::PipelineStep& spec) {
  const std::string job_name = st.value("jobName", "");
  const json* job = find_job(c.in.jobs, job_name);
  const std::vector<json> pods = pods_of_job(c.in.pods, job_name);
  AttemptOutcome out = read_attempt(job, pods);
  if (out.kind != AttemptOutcome::Kind::kSucceeded) {
    // An input that could not be downloaded: the pod never ran the step (OnError).
    if (auto inputs = inputs_of(c, spec); inputs.ok()) {
      if (auto failed = input_fetch_failure(pods, *inputs)) {
        out = {AttemptOutcome::Kind::kError, *failed, out.kind == AttemptOutcome::Kind::kRunning,
               {}};
      }
    }
  }
  switch (out.kind) {
    case AttemptOutcome::Kind::kRunning:
      // Not in the cache yet, or running: applying the same Job again is a no-op.
      apply_attempt(c, st, spec, st.value("attempts", 1));
      return;
    case AttemptOutcome::Kind::kSucceeded:
      if (!st.contains("imageID")) record_image(c, st, spec, pods);
      if (!outputs_present(c, st, spec)) return;
      finish_step(st, StepPhase::kSucceeded, "", c.in.now);
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
bool settle_without_running(StepContext& c, json& st, const api::PipelineStep& spec) {
  Variables vars = run_variables(c.in.spec, c.run, c.run_phase);
  if (spec.when_) {
    auto go = evaluate_when(*spec.when_, vars);
    if (!go.ok()) {
      finish_step(st, StepPhase::kError, go.error().message(), c.in.now);
      return true;
    }
    if (!*go) {
      finish_step(st, StepPhase::kSkipped, "when \"" + *spec.when_ + "\" is false", c.in.now);
      return true;
    }
  }
  if (!spec.cache || !spec.cache->enabled) return false;
  auto resolved = resolve_step(spec, vars);
  auto inputs = inputs_of(c, spec);
  if (!resolved.ok() || !inputs.ok()) return false;  // apply_attempt reports it.
  const std::string key = cache_key(*resolved, pipeline_parameters(c.in.spec),
                                    input_digests(*inputs), known_image_id(c.in.history, spec.name));
  st["cacheKey"] = key;
  auto hit = find_cache_hit(c.in.history, key, spec.cache->max_age, c.in.now);
  if (!hit) return false;
  if (artifact_repository(c.in.spec, c.in.options) && spec.outputs &&
      !spec.outputs->artifacts.empty()) {
    // The hit's outputs are in the repository: any run can download them, whatever its claim.
    std::set<std::string> stored;
    for (const json& a : hit->artifacts) stored.insert(a.value("name", ""));
    for (const auto& a : spec.outputs->artifacts) {
      if (!stored.contains(a.name)) {
        st["message"] = "cache hit from run " + hit->run + " refused: it stored no artifact " +
                        a.name + "; running the step";
        return false;
      }
    }
    finish_step(st, StepPhase::kCached, "cache hit from run " + hit->run, c.in.now);
    st["outputs"] = hit->outputs;
    st["artifacts"] = hit->artifacts;
    return true;
  }
  // Without a repository a step's files live only in its run's workspace.
  const std::string theirs = workspace_claim(c.in.spec, hit->run);
  if (theirs != workspace_claim(c.in.spec, c.run.value("name", ""))) {
    st["message"] = "cache hit from run " + hit->run + " refused: its files are in that run's " +
                    "workspace claim " + theirs +
                    " (spec.workspace.volumeClaimTemplate), not this run's; running the step";
    return false;
  }
  finish_step(st, StepPhase::kCached, "cache hit from run " + hit->run, c.in.now);
  st["outputs"] = hit->outputs;
  return true;
}

// A Pending step whose dependencies are done. `slots` counts free parallelism.
void consider_ready(StepContext& c, json& st, const api::PipelineStep& spec, int& slots) {
  if (st.value("attempts", 0) == 0 && settle_without_running(c, st, spec)) return;
  if (auto next = parse_time(st.value("nextAttemptTime", "")); next && *next > c.in.now) {
    c.plan.requeue_in(std::chrono::duration_cast<Seconds>(*next - c.in.now));
    return;
  }
  if (slots <= 0) return;
  const int attempt = st.value("attempts", 0) + 1;
  st["attempts"] = attempt;
  st["jobName"] = step_job_name(c.run.value("name", ""), spec.name, attempt);
  set_phase(st, StepPhase::kRunning);
  if (attempt > 1) st["message"] = "";  // The first keeps why a cache hit was refused.
  st.erase("nextAttemptTime");
  if (!st.contains("startTime")) st["startTime"] = format_time(c.in.now);
  if (apply_attempt(c, st, spec, attempt)) --slots;
}

std::vector<std::size_t> dag_order(const api::DataPipelineSpec& spec) {
  std::vector<DagNode> nodes;
  for (const api::PipelineStep& s : spec.steps) nodes.push_back({s.name, s.depends_on});
  auto order = topological_order(nodes);
  if (order) return *order;
  std::vector<std::size_t> fallback(nodes.size());  // Admission rejects cycles; never wedge.
  for (std::size_t i = 0; i < nodes.size(); ++i) fallback[i] = i;
  return fallback;
}

// Steps whose phase the step's `when` reads ({{steps.X.phase}}).
std::set<std::string> phases_read(const api::PipelineStep& spec) {
  std::set<std::string> out;
  if (!spec.when_) return out;
  auto refs = when_references(*spec.when_);
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
  for (const json& s : run["steps"]) n += phase_of(s) == StepPhase::kRunning;
  return n;
}

// Whether a Pending step may start: every dependency Succeeded, Skipped or Cached (or finished
// at all, when the step's `when` reads its phase). A dependency in `blocked` blocks the step too.
bool dependencies_ready(StepContext& c, json& st, const api::PipelineStep& spec,
                        std::set<std::string>& blocked) {
  bool ready = true;
  const std::set<std::string> watched = phases_read(spec);
  for (const std::string& dep : spec.depends_on) {
    const json* d = find_step(c.run, dep);
    static const json kAbsent = json::object();  // A dependency not in the run: no phase.
    const std::optional<StepPhase> dep_phase = phase_of(d == nullptr ? kAbsent : *d);
    // A `when` reading the dependency's phase wants it finished, however it finished.
    const bool settled = watched.contains(dep) && phase_done(dep_phase);
    if (blocked.contains(dep) && !settled) {
      blocked.insert(spec.name);
      st["message"] = "upstream step " + dep + " did not succeed";
      return false;
    }
    ready &= phase_ok(dep_phase) || settled;
  }
  return ready;
}

// Advances the DAG steps; true while any of them can still move.
bool advance_dag(StepContext& c) {
  const std::vector<api::PipelineStep>& steps = c.in.spec.steps;
  const int parallelism = c.in.spec.parallelism ? *c.in.spec.parallelism  // Default: unbounded.
                                                : std::numeric_limits<int>::max();
  int slots = parallelism - count_running(c.run);
  std::set<std::string> blocked;
  bool active = false;
  for (std::size_t i : dag_order(c.in.spec)) {
    const api::PipelineStep& spec = steps[i];
    json* st = find_step(c.run, spec.name);
    if (st == nullptr) continue;
    if (phase_of(*st) == StepPhase::kRunning) {
      observe_running(c, *st, spec);
      if (phase_of(*st) != StepPhase::kRunning) ++slots;
    }
    if (const auto phase = phase_of(*st); phase != StepPhase::kPending) {
      if (phase_bad(phase)) blocked.insert(spec.name);
      active |= phase == StepPhase::kRunning;
      continue;
    }
    const bool ready = dependencies_ready(c, *st, spec, blocked);
    if (blocked.contains(spec.name)) continue;
    active = true;
    if (ready) consider_ready(c, *st, spec, slots);
  }
  return active;
}

RunPhase main_phase(const api::DataPipelineSpec& spec, json& run) {
  for (const api::PipelineStep& step : spec.steps) {
    const json* st = find_step(run, step.name);
    if (st == nullptr || !phase_ok(phase_of(*st))) return RunPhase::kFailed;
  }
  return RunPhase::kSucceeded;
}

// Runs spec.onExit after the DAG; true while it still runs.
bool advance_on_exit(StepContext& c) {
  if (!c.in.spec.on_exit) return false;
  const api::PipelineStep& exit = *c.in.spec.on_exit;
  json* st = find_step(c.run, exit.name);
  if (st == nullptr) {
    c.run["steps"].push_back({{"name", exit.name}, {"attempts", 0}});
    st = &c.run["steps"].back();
    set_phase(*st, StepPhase::kPending);
  }
  int slots = 1;
  if (phase_of(*st) == StepPhase::kRunning) observe_running(c, *st, exit);
  if (phase_of(*st) == StepPhase::kPending) consider_ready(c, *st, exit, slots);
  return !phase_done(phase_of(*st));
}

void enforce_deadline(StepContext& c) {
  const auto start = parse_time(c.run.value("startTime", ""));
  if (!c.in.spec.active_deadline_seconds || !start) return;
  const TimePoint end = *start + Seconds(*c.in.spec.active_deadline_seconds);
  if (c.in.now < end) {
    c.plan.requeue_in(std::chrono::duration_cast<Seconds>(end - c.in.now));
    return;
  }
  for (json& st : c.run["steps"]) {
    const auto phase = phase_of(st);
    if (phase != StepPhase::kRunning && phase != StepPhase::kPending) continue;
    if (const json* job = find_job(c.in.jobs, st.value("jobName", ""));
        job && phase == StepPhase::kRunning) {
      c.plan.remove.push_back(delete_ref_of(*job));
    }
    finish_step(st, StepPhase::kFailed, "run deadline (activeDeadlineSeconds) exceeded", c.in.now);
  }
}

}  // namespace

json new_run(const api::DataPipelineSpec& spec, const std::string& name, TimePoint now) {
  json steps = json::array();
  for (const api::PipelineStep& s : spec.steps) {
    steps.push_back(
        {{"name", s.name}, {"phase", api::to_string(StepPhase::kPending)}, {"attempts", 0}});
  }
  return {{"name", name},
          {"phase", api::to_string(RunPhase::kRunning)},
          {"startTime", format_time(now)},
          {"steps", steps}};
}

json rerun_of(const api::DataPipelineSpec& spec, const json& source, const std::string& from_step,
              const std::string& name, TimePoint now) {
  json run = new_run(spec, name, now);
  // Downstream of from_step, in topological order.
  std::set<std::string> redo = {from_step};
  for (std::size_t i : dag_order(spec)) {
    for (const std::string& dep : spec.steps[i].depends_on) {
      if (redo.contains(dep)) redo.insert(spec.steps[i].name);
    }
  }
  json source_copy = source;
  for (json& st : run["steps"]) {
    const std::string step = st.value("name", "");
    const json* old = find_step(source_copy, step);
    if (redo.contains(step) || old == nullptr || !phase_ok(phase_of(*old))) continue;
    st = *old;
    set_phase(st, phase_of(*old) == StepPhase::kSkipped ? StepPhase::kSkipped : StepPhase::kCached);
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
  const RunPhase phase = main_phase(in.spec, run);
  c.run_phase = api::to_string(phase);
  if (advance_on_exit(c)) return;
  run["phase"] = c.run_phase;
  run["completionTime"] = format_time(in.now);
  const bool ok = phase == RunPhase::kSucceeded;
  plan.events.push_back({ok ? "Normal" : "Warning", ok ? "RunSucceeded" : "RunFailed",
                         "run " + run.value("name", "") + " " + c.run_phase});
}

bool run_active(const json& run) {
  const auto phase = api::parse_RunPhase(run.value("phase", ""));
  return phase == RunPhase::kPending || phase == RunPhase::kRunning;
}

std::string run_progress(const api::DataPipelineSpec& spec, const json& run) {
  int done = 0, total = 0;
  json copy = run;
  for (const api::PipelineStep& step : spec.steps) {
    ++total;
    const json* st = find_step(copy, step.name);
    done += st != nullptr && phase_ok(phase_of(*st));
  }
  return std::to_string(done) + "/" + std::to_string(total);
}

}  // namespace kiln::controllers::datapipeline
