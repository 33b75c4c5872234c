#pragma once

// The canary rollout state machine (spec.rollout), pure: one call moves status.rollout as far as
// (status, spec, observation, now) allows, and says what weight the canary gets.
//
// States (status.rollout.phase):
//   Idle         a canary without spec.rollout: it takes spec.canary.trafficPercent and stays.
//   Progressing  walking the steps.
//   Paused       at a pause without duration (waits for the annotation kiln.dev/promote), at the
//                end without autoPromote (waits for kiln.dev/promote: "true"), both with reason
//                WaitingForPromotion, or after failed analysis without autoRollback (then also
//                halted, below; reason AnalysisFailed).
//   Promoted     terminal: the canary's model became stable (plan.h, "Promotion").
//   RolledBack   terminal: all traffic back to stable; the canary stays up for inspection.
// A terminal state lasts until the canary changes (another model uri or version), which starts a
// new rollout at step 0.
//
// Steps (spec.rollout.steps[i]): the canary's weight is the last setWeight at or before the
// current step (spec.canary.trafficPercent before any). The canary gets weight 0 until its
// Deployment is ready; the first step's clock starts then (status.rollout.stepStartTime). A step
// is complete when:
//   pause {duration}   duration has passed since stepStartTime;
//   pause {}           the annotation kiln.dev/promote is "true" or equals the step's index;
//   no pause           with analysis on (step.analysis, default true, and metrics configured):
//                      one counted, passing measurement taken during the step (in the call that
//                      completes it, while this step was already the current one: a measurement
//                      taken as a pause ends does not count for the analysis step after it);
//                      otherwise at once.
// Several steps may complete in one call. After the last step: promotion when autoPromote
// (default true) or kiln.dev/promote is "true"; else Paused.
//
// Analysis (spec.rollout.analysis {interval 30s, failureLimit 1, minRequests 50, metrics}): while
// a step with analysis on is active, one measurement every interval (analysis_due). The first
// measurement after another canary's (status.lastAnalysis.canary) only starts the window
// (lastAnalysis.baseline; plan.cc), so a rollout never counts the previous canary's traffic. A counted
// failing measurement increments failedAnalyses; more failures than failureLimit (the number
// tolerated, as in Argo Rollouts) ends the rollout: RolledBack with autoRollback (default true),
// else Paused and halted (status.rollout.halted) at the current weight, with no more
// measurements, until the spec decides: autoRollback turned on rolls back, a failureLimit raised
// above the failures resumes the step (its clock started again), a new canary starts a new
// rollout. The kiln.dev/promote annotation does not end a halt: one left from an earlier pause
// would promote a failing canary.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controllers/api/v1alpha1.h"
#include "controllers/modeldeployment/analysis.h"
#include "controllers/modeldeployment/support.h"

namespace kiln::controllers::modeldeployment {

namespace api = kiln::api::v1alpha1;
using support::TimePoint;
using RolloutPhase = api::RolloutPhase;

// The reasons of the Progressing condition (CamelCase, as metav1.Condition wants).
enum class RolloutReason {
  kNoRollout,            // A canary without spec.rollout.
  kWaitingForCanary,     // The canary (or the router) has no ready pod.
  kRolloutInProgress,    // Walking the steps.
  kWaitingForPromotion,  // At a pause {} step, or done without autoPromote: kiln.dev/promote.
  kAnalysisFailed,       // Halted by failed analysis (autoRollback off).
  kRolloutPromoted,      // Terminal.
  kRolledBack,           // Terminal.
};
// The CamelCase spelling of `reason` (static storage).
std::string_view to_string(RolloutReason reason) noexcept;

// status.rollout, parsed.
struct RolloutState {
  int step = 0;
  RolloutPhase phase = RolloutPhase::kProgressing;
  std::optional<TimePoint> step_start;
  int failed_analyses = 0;
  bool halted = false;  // status.rollout.halted: Paused by failed analysis (autoRollback off).

  // From the decoded status.rollout (nullopt: a new rollout).
  static RolloutState from_status(const std::optional<api::RolloutStatus>& rollout);
  api::RolloutStatus to_status() const;
  bool terminal() const {
    return phase == RolloutPhase::kPromoted || phase == RolloutPhase::kRolledBack;
  }
};

struct RolloutInput {
  const api::RolloutSpec* rollout = nullptr;  // spec.rollout; nullptr when absent.
  int initial_weight = 10;                    // spec.canary.trafficPercent.
  bool canary_ready = false;
  std::string promote;  // The kiln.dev/promote annotation ("" when absent).
  // A measurement taken now (only when analysis_due said so); a passing one completes the
  // current analysis step, and only that one.
  std::optional<AnalysisResult> analysis;
  TimePoint now;
};

struct RolloutDecision {
  RolloutState state;
  int canary_weight = 0;
  bool promote = false;      // The canary's model becomes stable now.
  bool rolled_back = false;  // Rolled back now.
  RolloutReason reason = RolloutReason::kRolloutInProgress;  // Of the Progressing condition.
  std::string message;
  std::optional<std::chrono::milliseconds> requeue_after;
  std::vector<support::Event> events;
};

// One move of the state machine from `current`.
RolloutDecision step_rollout(const RolloutState& current, const RolloutInput& input);

// Whether a measurement is due now: the rollout is active (not terminal, started), the current
// step runs analysis, metrics are configured, and `interval` has passed since `last_analysis`
// (or there was none). The reconciler scrapes the router only then.
bool analysis_due(const api::RolloutSpec* rollout, const RolloutState& state,
                  std::optional<TimePoint> last_analysis, TimePoint now);

// The canary weight at `step` (clamped to the steps), as described above.
int weight_at(const api::RolloutSpec* rollout, int step, int initial_weight);

}  // namespace kiln::controllers::modeldeployment
