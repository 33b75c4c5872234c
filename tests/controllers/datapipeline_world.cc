#include "datapipeline_world.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "controllers/api/v1alpha1.h"

namespace kiln::controllers::datapipeline::testing {

using nlohmann::json;

namespace {

json* find_named(std::vector<json>& list, const std::string& name) {
  for (json& o : list) {
    if (o["metadata"]["name"] == name) return &o;
  }
  return nullptr;
}

// The image digest a kubelet reports for the steps' image.
constexpr const char* kImageId =
    "docker.io/library/busybox@sha256:"
    "1111111111111111111111111111111111111111111111111111111111111111";

void finish(World& w, const std::string& name, const std::string& type, const json& terminated) {
  w.finish_pod(name, type,
               json::array({{{"name", "main"}, {"imageID", kImageId}, {"state", terminated}}}));
}

}  // namespace

const Plan& World::step() {
  if (expect_readable_spec) {
    const auto spec = api::parse_data_pipeline_spec(pipeline);
    EXPECT_TRUE(spec.ok()) << "fixture: " << spec.error().message();
  }
  last = plan_datapipeline(pipeline, observed, now, options);
  pipeline["status"] = last.status;
  for (const json& o : last.apply) {
    auto& list = o["kind"] == "Job" ? observed.jobs : observed.claims;
    if (find_named(list, o["metadata"]["name"]) == nullptr) list.push_back(o);
  }
  for (const ObjectRef& d : last.remove) {
    for (auto* list : {&observed.jobs, &observed.claims}) {
      std::erase_if(*list, [&](const json& o) { return o["metadata"]["name"] == d.name; });
    }
  }
  return last;
}

std::vector<std::string> World::running_jobs() const {
  std::vector<std::string> out;
  for (const json& j : observed.jobs) {
    if (!j.contains("status") || !j["status"].contains("conditions"))
      out.push_back(j["metadata"]["name"]);
  }
  return out;
}

void World::complete(const std::string& name, const json& outputs) {
  json terminated = {{"exitCode", 0}, {"reason", "Completed"}};
  if (!outputs.is_null()) terminated["message"] = outputs.dump();
  finish(*this, name, "Complete", {{"terminated", terminated}});
}

void World::fail(const std::string& name, int code, const std::string& message) {
  json terminated = {{"exitCode", code}, {"reason", "Error"}};
  if (!message.empty()) terminated["message"] = message;
  finish(*this, name, "Failed", {{"terminated", terminated}});
}

void World::finish_pod(const std::string& name, const std::string& type,
                       const json& container_statuses, const json& init_statuses) {
  json* job = find_named(observed.jobs, name);
  if (job == nullptr) return;
  if (!type.empty()) {
    (*job)["status"]["conditions"] =
        json::array({{{"type", type},
                      {"status", "True"},
                      {"reason", type == "Failed" ? "BackoffLimitExceeded" : ""}}});
  }
  json labels = (*job)["metadata"]["labels"];
  labels["batch.kubernetes.io/job-name"] = name;
  std::erase_if(observed.pods, [&](const json& p) { return p["metadata"]["name"] == name + "-pod"; });
  observed.pods.push_back(
      {{"apiVersion", "v1"},
       {"kind", "Pod"},
       {"metadata", {{"name", name + "-pod"}, {"namespace", "ns"}, {"labels", labels}}},
       {"status",
        {{"containerStatuses", container_statuses},
         {"initContainerStatuses", init_statuses}}}});
}

void World::image_pull_error(const std::string& name) {
  json* job = find_named(observed.jobs, name);
  json labels = (*job)["metadata"]["labels"];
  labels["batch.kubernetes.io/job-name"] = name;
  observed.pods.push_back(
      {{"apiVersion", "v1"},
       {"kind", "Pod"},
       {"metadata", {{"name", name + "-pod"}, {"namespace", "ns"}, {"labels", labels}}},
       {"status",
        {{"containerStatuses", json::array({{{"name", "main"},
                                             {"state",
                                              {{"waiting",
                                                {{"reason", "ImagePullBackOff"},
                                                 {"message", "no such image"}}}}}}})}}}});
}

const json& World::run(std::size_t i) const { return pipeline["status"]["runs"][i]; }

json World::step_status(const std::string& step, std::size_t run_index) const {
  for (const json& s : run(run_index)["steps"]) {
    if (s["name"] == step) return s;
  }
  return nullptr;
}

std::string World::job(const std::string& step, std::size_t run_index) const {
  return step_status(step, run_index).value("jobName", "");
}

std::string World::phase(const std::string& step, std::size_t run_index) const {
  for (const json& s : run(run_index)["steps"]) {
    if (s["name"] == step) return s["phase"];
  }
  return "<none>";
}

json make_pipeline(const json& steps, const json& spec_extra) {
  json spec = {{"steps", steps}};
  spec.update(spec_extra);
  return {{"apiVersion", "kiln.dev/v1alpha1"},
          {"kind", "DataPipeline"},
          {"metadata",
           {{"name", "flights"},
            {"namespace", "ns"},
            {"uid", "uid-7"},
            {"generation", 1},
            {"creationTimestamp", "2023-11-14T22:00:00Z"}}},
          {"spec", spec}};
}

json make_step(const std::string& name, std::vector<std::string> depends_on) {
  json s = {{"name", name}, {"image", "busybox"}, {"command", {"sh", "-c", "true"}}};
  if (!depends_on.empty()) s["dependsOn"] = depends_on;
  return s;
}

}  // namespace kiln::controllers::datapipeline::testing
