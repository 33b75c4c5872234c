#pragma once

// The distributed-training environment a framework expects, wired from the Indexed Job's
// completion index and the headless Service's hostnames. Every worker gets the same list; the
// per-worker values come from the pod annotation batch.kubernetes.io/job-completion-index through
// the Downward API.
//
//   pytorch    MASTER_ADDR (worker 0's host), MASTER_PORT 23456, WORLD_SIZE, RANK
//              (torch.distributed "env://" init, PyTorch docs:
//              torch.distributed.init_process_group)
//   xgboost    DMLC_TRACKER_URI (worker 0's host), DMLC_TRACKER_PORT 9091, DMLC_TASK_ID,
//              DMLC_NUM_WORKER (XGBoost's Rabit/collective tracker environment)
//   tensorflow TF_CONFIG = {"cluster": {"worker": ["<host>:2222", ...]},
//                           "task": {"type": "worker", "index": N}}
//              (tf.distribute.MultiWorkerMirroredStrategy). The index sits inside a JSON string,
//              so TF_CONFIG uses Kubernetes' dependent-variable expansion: JOB_COMPLETION_INDEX is
//              defined first (Downward API) and TF_CONFIG holds "$(JOB_COMPLETION_INDEX)", which
//              the kubelet expands. No shell is needed in the user's image.
//   generic    only JOB_COMPLETION_INDEX.

#include <nlohmann/json.hpp>
#include <string>

#include "controllers/api/v1alpha1.h"

namespace kiln::controllers::trainingjob {

namespace api = kiln::api::v1alpha1;

inline constexpr int kPytorchPort = 23456;
inline constexpr int kXgboostTrackerPort = 9091;
inline constexpr int kTensorflowPort = 2222;

// The env list (Kubernetes EnvVar objects) for `framework` with `replicas` workers of Job `job`
// behind Service `service`. JOB_COMPLETION_INDEX comes first so later values may reference it.
nlohmann::json framework_env(api::Framework framework, const std::string& job,
                             const std::string& service, int replicas);

// Puts `extra` (an env list) first in the container's env, so the user's own variables may
// reference it with $(NAME); the user's entries with the same names are dropped.
void merge_env(nlohmann::json& container, const nlohmann::json& extra);

}  // namespace kiln::controllers::trainingjob
