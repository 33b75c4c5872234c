#pragma once

// The TrainingJob controller's plan: a pure function of the TrainingJob, its observed children and
// the time. Level-based and idempotent: planning again on the result changes nothing.
//
// Phases: Created (Job applied, no worker active yet) -> Running -> Succeeded | Failed, with
// Restarting while a gang restart replaces the Job. Conditions Created, Running, Restarting,
// Succeeded, Failed (metav1.Condition), observedGeneration, an Event on every phase change.
//
// Gang restart (runPolicy.gangRestart, default true): the Job runs with backoffLimit 0, so one
// failed worker fails the Job; while status.restarts < runPolicy.backoffLimit and the failure is
// retryable (not DeadlineExceeded, not an exit code the ExitCode policy fails on), the plan
// deletes that Job and applies the next one (`<tj>-r<N>`), counting status.restarts. The current
// attempt N is the highest one among the Jobs observed (never below status.restarts), so a plan
// that runs before its own status write reaches the cache never brings back an older Job.
// runPolicy.activeDeadlineSeconds bounds the whole TrainingJob from status.startTime (the
// creation of its first Job): each Job gets what is left of it, and once it is spent the
// unfinished Job is deleted and the phase is Failed with reason DeadlineExceeded.
// When finished: cleanPodPolicy (None | Running | All) deletes the matching pods; the headless
// Service is deleted ttlSecondsAfterFinished after completion (the Job's own TTL removes the Job).
//
// The spec is decoded once (api::parse_training_job_spec); defaults are the generated structs'.
// A spec Kiln cannot act on — it does not decode (the API server validated the schema, so this is
// one it let through that Kiln cannot read), or a data or output URI that is neither pvc:// nor
// file:// — is reported as Created=False, reason InvalidSpec, with the error (naming the field)
// as message and a Warning Event InvalidSpec when the condition changes; nothing else in the
// status changes (phase included) and no child is applied or removed. Not Failed=True: Failed is
// terminal (a finished TrainingJob is never planned again), while this clears by itself once the
// spec is fixed — the next plan applies the Job and sets Created=True (on a TrainingJob that had
// already finished, Created goes back to True, JobCreated). A Job already running when its spec
// was broken keeps running untouched, and no deadline, restart or clean-up acts on it until then.

#include <nlohmann/json.hpp>
#include <vector>

#include "controllers/common/plan.h"
#include "controllers/common/time.h"
#include "controllers/trainingjob/job.h"

namespace kiln::controllers::trainingjob {

// Children in the informer cache labelled kiln.dev/trainingjob=<name> (whole objects).
struct Observed {
  std::vector<nlohmann::json> jobs;
  std::vector<nlohmann::json> pods;
  std::vector<nlohmann::json> services;
};

// `tj`: the whole TrainingJob (metadata.name and generation, spec, status). Never writes spec;
// returns the full new status. Pure; thread-safe.
Plan plan_trainingjob(const nlohmann::json& tj, const Observed& observed, TimePoint now,
                      const BuildOptions& options);

}  // namespace kiln::controllers::trainingjob
