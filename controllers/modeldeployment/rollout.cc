#include "controllers/modeldeployment/rollout.h"

#include <utility>

namespace kiln::controllers::modeldeployment {
namespace {

using std::chrono::milliseconds;

const std::vector<api::RolloutStep>& steps_of(const api::RolloutSpec* rollout) {
  static const std::vector<api::RolloutStep> kEmpty;
  return rollout == nullptr ? kEmpty : rollout->steps;
}

// spec.rollout.analysis, or its defaults when absent.
const api::AnalysisSpec& analysis_of(const api::RolloutSpec* rollout) {
  static const api::AnalysisSpec kDefaults;
  return rollout != nullptr && rollout->analysis ? *rollout->analysis : kDefaults;
}

bool metrics_configured(const api::RolloutSpec* rollout) {
  return !analysis_of(rollout).metrics.empty();
}

bool step_runs_analysis(const api::RolloutSpec* rollout, int step) {
  const auto& steps = steps_of(rollout);
  if (!metrics_configured(rollout) || step < 0 || step >= static_cast<int>(steps.size())) {
    return false;
  }
  return steps[step].analysis;
}

int failure_limit(const api::RolloutSpec* rollout) { return analysis_of(rollout).failure_limit; }

// A duration the CRD's pattern admitted; `fallback` should the text still not parse.
milliseconds duration_of(std::string_view text, milliseconds fallback) {
  auto d = support::parse_duration(text);
  return d.ok() ? *d : fallback;
}

milliseconds interval_of(const api::RolloutSpec* rollout) {
  return duration_of(analysis_of(rollout).interval, milliseconds(30'000));
}

// Whether step `i` is complete; when it waits on a timer, the time left goes to `wait`.
// `passing` says a passing measurement taken in this call is still unused; the analysis step it
// completes uses it up.
bool step_complete(const api::RolloutSpec* rollout, int i, const RolloutInput& in,
                   TimePoint start, bool& passing, std::optional<milliseconds>& wait) {
  const api::RolloutStep& step = steps_of(rollout)[i];
  if (step.pause) {
    if (!step.pause->duration) return in.promote == "true" || in.promote == std::to_string(i);
    const auto end = start + duration_of(*step.pause->duration, milliseconds(0));
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
  d.state.phase = RolloutPhase::kRolledBack;
  d.rolled_back = true;
  d.reason = RolloutReason::kRolledBack;
  d.message = std::move(message);
  d.events.push_back({"Warning", "RolledBack", d.message});
}

// Holds a rollout halted by failed analysis (autoRollback off) at its step's weight.
void hold_halted(RolloutDecision& d, const api::RolloutSpec* rollout, int initial_weight) {
  d.canary_weight = weight_at(rollout, d.state.step, initial_weight);
  d.reason = RolloutReason::kAnalysisFailed;
  d.message = "analysis failed " + std::to_string(d.state.failed_analyses) +
              " times; autoRollback is off: the canary holds at its weight until the spec " +
              "changes (a new canary, autoRollback, or a higher failureLimit)";
}

bool waits_for_promote(const api::RolloutSpec* rollout, int i) {
  const auto& steps = steps_of(rollout);
  if (i >= static_cast<int>(steps.size())) return false;
  return steps[i].pause && !steps[i].pause->duration;
}

}  // namespace

std::string_view to_string(RolloutReason reason) noexcept {
  switch (reason) {
    case RolloutReason::kNoRollout: return "NoRollout";
    case RolloutReason::kWaitingForCanary: return "WaitingForCanary";
    case RolloutReason::kRolloutInProgress: return "RolloutInProgress";
    case RolloutReason::kWaitingForPromotion: return "WaitingForPromotion";
    case RolloutReason::kAnalysisFailed: return "AnalysisFailed";
    case RolloutReason::kRolloutPromoted: return "RolloutPromoted";
    case RolloutReason::kRolledBack: return "RolledBack";
  }
  return "";
}

RolloutState RolloutState::from_status(const std::optional<api::RolloutStatus>& rollout) {
  RolloutState s;
  if (!rollout) return s;
  if (rollout->step) s.step = *rollout->step;
  if (rollout->phase) s.phase = *rollout->phase;
  if (rollout->failed_analyses) s.failed_analyses = *rollout->failed_analyses;
  s.halted = rollout->halted == true;
  if (rollout->step_start_time) {
    auto start = support::parse_time(*rollout->step_start_time);
    if (start.ok()) s.step_start = *start;
  }
  return s;
}

api::RolloutStatus RolloutState::to_status() const {
  api::RolloutStatus out;
  out.step = step;
  out.phase = phase;
  out.failed_analyses = failed_analyses;
  if (step_start) out.step_start_time = support::format_time(*step_start);
  if (halted) out.halted = true;
  return out;
}

int weight_at(const api::RolloutSpec* rollout, int step, int initial_weight) {
  const auto& steps = steps_of(rollout);
  int weight = initial_weight;
  const int last = std::min(step, static_cast<int>(steps.size()) - 1);
  for (int i = 0; i <= last; ++i) {
    if (steps[i].set_weight) weight = *steps[i].set_weight;
  }
  return weight;
}

bool analysis_due(const api::RolloutSpec* rollout, const RolloutState& state,
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
  const api::RolloutSpec* rollout = in.rollout;
  if (s.terminal()) {
    d.reason = s.phase == RolloutPhase::kPromoted ? RolloutReason::kRolloutPromoted
                                                  : RolloutReason::kRolledBack;
    d.message = "rollout finished: " + std::string(api::to_string(s.phase));
    return d;
  }
  if (rollout == nullptr) {
    s = RolloutState{0, RolloutPhase::kIdle, std::nullopt, 0};
    d.canary_weight = in.canary_ready ? in.initial_weight : 0;
    d.reason = RolloutReason::kNoRollout;
    d.message = "the canary takes spec.canary.trafficPercent without a rollout";
    return d;
  }
  if (s.halted) {
    // Halted by failed analysis with autoRollback off: holds at its weight, without
    // measurements, until the spec decides (no annotation: one left from an earlier pause would
    // promote a failing canary). autoRollback turned on rolls back; a failureLimit raised above
    // the failures resumes the step with its clock started again; a new canary starts over.
    if (rollout->auto_rollback) {
      s.halted = false;
      roll_back(d, "autoRollback turned on after failed analysis: all traffic back to stable");
      return d;
    }
    if (s.failed_analyses > failure_limit(rollout)) {
      hold_halted(d, rollout, in.initial_weight);
      return d;
    }
    s.halted = false;
    s.phase = RolloutPhase::kProgressing;
    s.step_start = in.now;
    d.events.push_back({"Normal", "RolloutResumed",
                        "failureLimit raised above the failed measurements: step " +
                            std::to_string(s.step) + " starts again"});
  }
  if (!s.step_start) {
    if (!in.canary_ready) {
      d.reason = RolloutReason::kWaitingForCanary;
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
      if (rollout->auto_rollback) {
        roll_back(d, "analysis failed " + std::to_string(s.failed_analyses) +
                         " times: all traffic back to stable");
        return d;
      }
      s.phase = RolloutPhase::kPaused;
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
    s.phase = RolloutPhase::kProgressing;
    d.reason = RolloutReason::kWaitingForCanary;
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
    if (rollout->auto_promote || in.promote == "true") {
      s.phase = RolloutPhase::kPromoted;
      d.promote = true;
      d.reason = RolloutReason::kRolloutPromoted;
      d.message = "the canary's model is now stable";
      d.events.push_back({"Normal", "Promoted", d.message});
      return d;
    }
    s.phase = RolloutPhase::kPaused;
    d.canary_weight = weight_at(rollout, n - 1, in.initial_weight);
    d.reason = RolloutReason::kWaitingForPromotion;
    d.message = "all steps done; set kiln.dev/promote: \"true\" to promote";
    return d;
  }
  d.canary_weight = weight_at(rollout, s.step, in.initial_weight);
  const bool paused = waits_for_promote(rollout, s.step);
  s.phase = paused ? RolloutPhase::kPaused : RolloutPhase::kProgressing;
  d.reason = paused ? RolloutReason::kWaitingForPromotion : RolloutReason::kRolloutInProgress;
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
