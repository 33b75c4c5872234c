#pragma once

// Converts a controller's Plan into the Executor's Actions.

#include "controllers/common/plan.h"
#include "controllers/manager/executor.h"

namespace kiln::controllers::manager {

inline Actions to_actions(const controllers::Plan& plan) {
  Actions a;
  a.apply = plan.apply;
  for (const auto& d : plan.remove) {
    a.remove.push_back({d.api_version, d.kind, d.ns, d.name, d.propagation});
  }
  for (const auto& p : plan.patches) {
    a.patches.push_back({p.target.api_version, p.target.kind, p.target.ns, p.target.name, p.patch});
  }
  a.status = plan.status;
  for (const auto& e : plan.events) a.events.push_back({e.type, e.reason, e.message});
  a.requeue_after = plan.requeue_after;
  return a;
}

}  // namespace kiln::controllers::manager
