#pragma once

// The DataPipeline controller's plan: a pure function of the pipeline, its observed children and
// the time. Level-based: which run exists is read from status.runs, never from the event that
// woke the reconciler.
//
// Runs start (each trigger names its run deterministically, names.h):
//   - on creation, when there is no spec.schedule and no run yet;
//   - when annotation kiln.dev/run holds a value no run was started for;
//   - when annotation kiln.dev/rerun-from holds `<step>` (or `<step>#<token>` to rerun the same
//     step again): a new run keeping the newest run's results before <step> as Cached;
//   - on each spec.schedule tick after status.lastScheduleTime (or creation) unless
//     spec.suspend, with spec.concurrencyPolicy: Allow (start), Forbid (wait until no run is
//     active; the tick stays due), Replace (fail the active runs, delete their Jobs, start).
// Runs advance as in run.h. History: the newest run, active runs and the runs answering the current
// annotations are always kept; otherwise successfulRunsHistoryLimit / failedRunsHistoryLimit
// finished runs; the Jobs and workspace claims of dropped runs are deleted, as are a finished
// run's after spec.ttlSecondsAfterFinished (its status stays until the history limit drops it).
// Status: runs (newest first), phase and progress of the newest run, conditions Running,
// Succeeded, Failed, observedGeneration, lastScheduleTime.
// The spec is decoded once (api::parse_data_pipeline_spec; its defaults are the schema's). A spec
// that does not decode (a field this Kiln does not know, a wrong type) touches no child and starts
// or advances no run: the plan sets observedGeneration and Failed=True, Running=False,
// Succeeded=False, each with reason InvalidSpec and the decoder's message naming the field; runs,
// phase and progress stay as they were. (DataPipeline has no Ready condition: Failed=True is what
// `kubectl wait --for=condition=Failed` and a user reading the conditions look for, and the run
// that was Running is not moving.)

#include <nlohmann/json.hpp>
#include <vector>

#include "controllers/common/plan.h"
#include "controllers/common/time.h"
#include "controllers/datapipeline/job.h"

namespace kiln::controllers::datapipeline {

// Children in the informer cache labelled kiln.dev/pipeline=<name> (whole objects).
struct Observed {
  std::vector<nlohmann::json> jobs;
  std::vector<nlohmann::json> pods;
  std::vector<nlohmann::json> claims;  // PersistentVolumeClaims of volumeClaimTemplate runs.
};

// `pipeline`: the whole DataPipeline (metadata with uid, generation, annotations,
// creationTimestamp; spec, decoded here, with or without the API server's defaults: absent fields
// take the schema's; status). Never writes spec. Pure; thread-safe.
Plan plan_datapipeline(const nlohmann::json& pipeline, const Observed& observed, TimePoint now,
                       const BuildOptions& options);

}  // namespace kiln::controllers::datapipeline
