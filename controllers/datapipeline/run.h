#pragma once

// One run of a DataPipeline: the per-step state machine, advanced one level at a time.
//
// Step phases: Pending -> Running -> Succeeded | Failed | Error, or Pending -> Skipped (its `when`
// is false) | Cached (a cache hit). A Pending step starts when every dependency is Succeeded,
// Skipped or Cached, no retry backoff is pending, and fewer than spec.parallelism steps of the run
// are Running. A failed attempt goes back to Pending with nextAttemptTime when retryStrategy
// allows, else to Failed (the container failed) or Error (the pod could not run). Steps
// downstream of a Failed/Error step stay Pending ("upstream ... did not succeed"), except that a
// step whose `when` reads a dependency's phase ({{steps.D.phase}} == Failed) is ready once that
// dependency finished in any phase (a failure handler; the run still ends Failed).
// When no step can move, the run's main phase is Succeeded (every step Succeeded, Skipped or
// Cached) or Failed; then spec.onExit (if any) runs with {{run.phase}}, and the run finishes.
// spec.activeDeadlineSeconds fails a run's running steps (their Jobs are deleted) once passed.
// A cache hit is taken only when the hit's files are reachable from this run: the workspace is a
// named claim (spec.workspace.persistentVolumeClaim) or there is none. With a volumeClaimTemplate
// each run has its own claim, so a hit from another run is refused (the step runs, and its
// message says why) until Kiln has an artifact repository.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controllers/api/v1alpha1.h"
#include "controllers/common/plan.h"
#include "controllers/common/time.h"
#include "controllers/datapipeline/job.h"

namespace kiln::controllers::datapipeline {

namespace api = kiln::api::v1alpha1;

// What one run's advance reads. References must outlive the call.
struct RunInputs {
  const nlohmann::json& pipeline;           // The whole DataPipeline (metadata for its children).
  const api::DataPipelineSpec& spec;        // Its decoded spec.
  const std::vector<nlohmann::json>& jobs;  // Jobs labelled with this run.
  const std::vector<nlohmann::json>& pods;  // Pods labelled with this run.
  const nlohmann::json& history;            // status.runs (cache lookups).
  TimePoint now;
  const BuildOptions& options;
};

// A new run: {name, phase Running, startTime now, steps [{name, phase Pending, attempts 0}] in
// spec order}.
nlohmann::json new_run(const api::DataPipelineSpec& spec, const std::string& name, TimePoint now);

// A run that keeps `source`'s results for every step not downstream of `from_step` (and not
// `from_step` itself): Succeeded/Cached steps become Cached with their outputs, the rest Pending.
nlohmann::json rerun_of(const api::DataPipelineSpec& spec, const nlohmann::json& source,
                        const std::string& from_step, const std::string& name, TimePoint now);

// Advances `run` (an element of status.runs) by one level: Jobs to apply or delete, Events and
// requeue times go into `plan`; `run` is updated in place. Finished runs are left alone.
void advance_run(nlohmann::json& run, const RunInputs& in, Plan& plan);

// True for Pending and Running runs.
bool run_active(const nlohmann::json& run);

// "done/total" over the DAG steps (Succeeded, Skipped or Cached count as done).
std::string run_progress(const api::DataPipelineSpec& spec, const nlohmann::json& run);

}  // namespace kiln::controllers::datapipeline
