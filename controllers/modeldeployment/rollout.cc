#include "controllers/modeldeployment/rollout.h"

#include <utility>

namespace kiln::controllers::modeldeployment {
namespace {

using std::chrono::milliseconds;
using support::value_or;

const json& steps_of(const json* rollout) {
  static const json kEmpty = json::array();
  if (rollout == nullptr || !rollout->contains("steps") || !(*rollout)["steps"].is_array()) {
    return kEmpty;
  }
  return (*rollout)["steps"];
}

bool metrics_configured(const json* rollout) {
  if (rollout == nullptr || !rollout->contains("analysis")) return false;
  const json& a = (*rollout)["analysis"];
  return a.contains("metrics") && a["metrics"].is_array() && !a["metrics"].empty();
}

bool step_runs_analysis(const json* rollout, int step) {
  const json& steps = steps_of(rollout);
  if (!metrics_configured(rollout) || step < 0 || step >= static_cast<int>(steps.size())) {
    return false;
  }
  return value_or<bool>(steps[step], "analysis", true);
}

int failure_limit(const json* rollout) {
  return value_or<int>(rollout->value("analysis", json::object()), "failureLimit", 1);
}

milliseconds interval_of(const json* rollout) {
  return support::duration_or((*rollout)["analysis"], "interval", milliseconds(30'000));
}

// Whether step `i` is complete; when it waits on a timer, the time left goes to `wait`.
// `passing` says a passing measurement taken in this call is still unused; the analysis step it
// completes uses it up.
bool step_complete(const json* rollout, int i, const RolloutInput& in, TimePoint start,
                   bool& passing, std::optional<milliseconds>& wait) {
  const json& step = steps_of(rollout)[i];
  if (step.contains("pause") && step["pause"].is_object()) {
    const json& pause = step["pause"];
    if (!pause.contains("duration")) return in.promote == "true" || in.promote == std::to_string(i);
    const auto end = start + support::duration_or(pause, "duration", milliseconds(0));
    if (in.now >= end) return true;
    wait = std::chrono::duration_cast<milliseconds>(end - in.now);
    return false;
  }
  if (!step_runs_analysis(rollout, i)) return true;
  // Only a measurement taken in this call: one is taken only while a step is active, so it falls
  // within the current step. A time kept in status (RFC 3339 seconds) cannot tell a measurement
  // from the step that just ended, or from the previous rollout, within the same second.
  return std::exchange(passing, false);
}

// Ends the rollout as RolledBack: all traffic back to stable, the canary kept for inspection.
void roll_back(RolloutDecision& d, std::string message) {
  d.state.phase = "RolledBack";
  d.rolled_back = true;
  d.reason = "RolledBack";
  d.message = std::move(message);
  d.events.push_back({"Warning", "RolledBack", d.message});
}

// Holds a rollout halted by failed analysis (autoRollback off) at its step's weight.
void hold_halted(RolloutDecision& d, const json* rollout, int initial_weight) {
  d.canary_weight = weight_at(rollout, d.state.step, initial_weight);
  d.reason = "AnalysisFailed";
  d.message = "analysis failed " + std::to_string(d.state.failed_analyses) +
              " times; autoRollback is off: the canary holds at its weight until the spec " +
              "changes (a new canary, autoRollback, or a higher failureLimit)";
}

bool waits_for_promote(const json* rollout, int i) {
  const json& steps = steps_of(rollout);
  if (i >= static_cast<int>(steps.size())) return false;
  const json& step = steps[i];
  return step.contains("pause") && step["pause"].is_object() && !step["pause"].contains("duration");
}

}  // namespace

RolloutState RolloutState::from_status(const json& rollout) {
  RolloutState s;
  if (!rollout.is_object()) return s;
  s.step = value_or<int>(rollout, "step", 0);
  s.phase = value_or<std::string>(rollout, "phase", "Progressing");
  s.failed_analyses = value_or<int>(rollout, "failedAnalyses", 0);
  s.halted = value_or<bool>(rollout, "halted", false);
  auto start = support::parse_time(value_or<std::string>(rollout, "stepStartTime", ""));
  if (start.ok()) s.step_start = *start;
  return s;
}

json RolloutState::to_status() const {
  json out = {{"step", step}, {"phase", phase}, {"failedAnalyses", failed_analyses}};
  if (step_start) out["stepStartTime"] = support::format_time(*step_start);
  if (halted) out["halted"] = true;
  return out;
}

int weight_at(const json* rollout, int step, int initial_weight) {
  const json& steps = steps_of(rollout);
  int weight = initial_weight;
  const int last = std::min(step, static_cast<int>(steps.size()) - 1);
  for (int i = 0; i <= last; ++i) weight = value_or<int>(steps[i], "setWeight", weight);
  return weight;
}

bool analysis_due(const json* rollout, const RolloutState& state,
                  std::optional<TimePoint> last_analysis, TimePoint now) {
  if (state.terminal() || !state.step_start || !step_runs_analysis(rollout, state.step) ||
      state.halted) {
    return false;
  }
  return !last_analysis || now >= *last_analysis + interval_of(rollout);
}

RolloutDecision step_rollout(const RolloutState& current, const RolloutInput& in) {
  RolloutDecision d;
  d.state = current;
  RolloutState& s = d.state;
  const json* rollout = in.rollout;
  if (s.terminal()) {
    d.reason = s.phase == "Promoted" ? "RolloutPromoted" : "RolledBack";
    d.message = "rollout finished: " + s.phase;
    return d;
  }
  if (rollout == nullptr) {
    s = RolloutState{0, "Idle", std::nullopt, 0};
    d.canary_weight = in.canary_ready ? in.initial_weight : 0;
    d.reason = "NoRollout";
    d.message = "the canary takes spec.canary.trafficPercent without a rollout";
    return d;
  }
  if (s.halted) {
    // Halted by failed analysis with autoRollback off: holds at its weight, without
    // measurements, until the spec decides (no annotation: one left from an earlier pause would
    // promote a failing canary). autoRollback turned on rolls back; a failureLimit raised above
    // the failures resumes the step with its clock started again; a new canary starts over.
    if (value_or<bool>(*rollout, "autoRollback", true)) {
      s.halted = false;
      roll_back(d, "autoRollback turned on after failed analysis: all traffic back to stable");
      return d;
    }
    if (s.failed_analyses > failure_limit(rollout)) {
      hold_halted(d, rollout, in.initial_weight);
      return d;
    }
    s.halted = false;
    s.phase = "Progressing";
    s.step_start = in.now;
    d.events.push_back({"Normal", "RolloutResumed",
                        "failureLimit raised above the failed measurements: step " +
                            std::to_string(s.step) + " starts again"});
  }
  if (!s.step_start) {
    if (!in.canary_ready) {
      d.reason = "WaitingForCanary";
      d.message = "waiting for the canary Deployment to be ready";
      return d;
    }
    s.step = 0;
    s.step_start = in.now;
    d.events.push_back({"Normal", "RolloutStarted", "canary rollout started"});
  }
  if (in.analysis && in.analysis->counted && !in.analysis->passed &&
      step_runs_analysis(rollout, s.step)) {
    ++s.failed_analyses;
    d.events.push_back({"Warning", "AnalysisFailed",
                        "canary analysis failed (" + std::to_string(s.failed_analyses) + ")"});
    if (s.failed_analyses > failure_limit(rollout)) {
      if (value_or<bool>(*rollout, "autoRollback", true)) {
        roll_back(d, "analysis failed " + std::to_string(s.failed_analyses) +
                         " times: all traffic back to stable");
        return d;
      }
      s.phase = "Paused";
      s.halted = true;
      hold_halted(d, rollout, in.initial_weight);
      d.events.push_back({"Warning", "RolloutHalted", d.message});
      return d;
    }
  }
  const int n = static_cast<int>(steps_of(rollout).size());
  if (!in.canary_ready) {
    // Started, but the canary or the router lost its ready pods: hold the step, and start its
    // pause again from when they are back, so the pause is served with traffic in full. The
    // router keeps the step's weight.
    d.canary_weight = weight_at(rollout, s.step, in.initial_weight);
    s.step_start = in.now;
    s.phase = "Progressing";
    d.reason = "WaitingForCanary";
    d.message = "step " + std::to_string(s.step) + " holds until the canary's Deployment and the " +
                "router have a ready pod; its pause starts again then";
    return d;
  }
  std::optional<milliseconds> wait;
  bool passing = in.analysis && in.analysis->passed;
  while (s.step < n && step_complete(rollout, s.step, in, *s.step_start, passing, wait)) {
    ++s.step;
    s.step_start = in.now;
    passing = false;  // The measurement was taken in the step that was active when it was due.
    if (s.step < n) {
      d.events.push_back({"Normal", "RolloutStep",
                          "step " + std::to_string(s.step) + ": canary weight " +
                              std::to_string(weight_at(rollout, s.step, in.initial_weight))});
    }
  }
  if (s.step >= n) {
    s.step = n;
    if (value_or<bool>(*rollout, "autoPromote", true) || in.promote == "true") {
      s.phase = "Promoted";
      d.promote = true;
      d.reason = "RolloutPromoted";
      d.message = "the canary's model is now stable";
      d.events.push_back({"Normal", "Promoted", d.message});
      return d;
    }
    s.phase = "Paused";
    d.canary_weight = weight_at(rollout, n - 1, in.initial_weight);
    d.reason = "WaitingForPromotion";
    d.message = "all steps done; set kiln.dev/promote: \"true\" to promote";
    return d;
  }
  d.canary_weight = weight_at(rollout, s.step, in.initial_weight);
  s.phase = waits_for_promote(rollout, s.step) ? "Paused" : "Progressing";
  d.reason = s.phase == "Paused" ? "WaitingForPromote" : "RolloutInProgress";
  d.message = "step " + std::to_string(s.step) + " of " + std::to_string(n) + ", canary weight " +
              std::to_string(d.canary_weight);
  if (wait) d.requeue_after = *wait;
  if (step_runs_analysis(rollout, s.step)) {
    const auto interval = interval_of(rollout);
    if (!d.requeue_after || interval < *d.requeue_after) d.requeue_after = interval;
  }
  return d;
}

}  // namespace kiln::controllers::modeldeployment
