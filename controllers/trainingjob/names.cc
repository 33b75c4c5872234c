#include "controllers/trainingjob/names.h"

#include "controllers/common/names.h"

namespace kiln::controllers::trainingjob {

namespace {
// Pod hostnames are `<job>-<index>`: leave 5 characters for "-1023".
constexpr std::size_t kJobNameMax = kMaxDnsLabel - 5;
}  // namespace

std::string job_name(const std::string& trainingjob, long long restarts) {
  if (restarts <= 0) return child_name(trainingjob, "", kJobNameMax);
  return child_name(trainingjob, "r" + std::to_string(restarts), kJobNameMax);
}

std::string service_name(const std::string& trainingjob) {
  return child_name(trainingjob, "workers");
}

std::string worker_host(const std::string& job, int index, const std::string& service) {
  return job + "-" + std::to_string(index) + "." + service;
}

nlohmann::json labels(const std::string& trainingjob) { return {{kLabel, trainingjob}}; }

}  // namespace kiln::controllers::trainingjob
