#include "controllers/datapipeline/resolve.h"

namespace kiln::controllers::datapipeline {

using nlohmann::json;

namespace {

// Substitutes `field` (a string, in place).
Result<bool> resolve_string(json& field, const Variables& vars, const std::string& where) {
  if (!field.is_string()) return true;
  auto r = substitute(field.get<std::string>(), vars);
  if (!r.ok()) return r.error().with_context(where);
  field = *r;
  return true;
}

}  // namespace

const json* step_spec(const json& pipeline, const std::string& name) {
  const json& spec = pipeline.at("spec");
  if (spec.contains("steps")) {
    for (const json& s : spec["steps"]) {
      if (s.value("name", "") == name) return &s;
    }
  }
  if (spec.contains("onExit") && spec["onExit"].value("name", "") == name) return &spec["onExit"];
  return nullptr;
}

json pipeline_parameters(const json& pipeline) {
  json out = json::object();
  for (const json& p : pipeline.at("spec").value("parameters", json::array())) {
    out[p.value("name", "")] = p.value("value", "");
  }
  return out;
}

Variables run_variables(const json& pipeline, const json& run, const std::string& run_phase) {
  Variables vars;
  const json parameters = pipeline_parameters(pipeline);
  for (const auto& [name, value] : parameters.items()) {
    vars["parameters." + name] = value.get<std::string>();
  }
  for (const json& step : run.value("steps", json::array())) {
    vars["steps." + step.value("name", "") + ".phase"] = step.value("phase", "Pending");
    const json outputs = step.value("outputs", json::object());
    for (const auto& [name, value] : outputs.items()) {
      vars["steps." + step.value("name", "") + ".outputs." + name] =
          value.is_string() ? value.get<std::string>() : value.dump();
    }
  }
  vars["run.name"] = run.value("name", "");
  vars["run.phase"] = run_phase;
  return vars;
}

Result<json> resolve_step(const json& step, Variables& vars) {
  json out = step;
  const std::string name = step.value("name", "");
  if (out.contains("inputs") && out["inputs"].contains("parameters")) {
    for (json& p : out["inputs"]["parameters"]) {
      if (!p.contains("value") || !p["value"].is_string()) p["value"] = "";
      KILN_TRY(bool ok, resolve_string(p["value"], vars, "step " + name + " inputs"));
      (void)ok;
      vars["inputs.parameters." + p.value("name", "")] = p["value"].get<std::string>();
    }
  }
  for (const char* field : {"command", "args"}) {
    if (!out.contains(field)) continue;
    for (json& a : out[field]) {
      KILN_TRY(bool ok, resolve_string(a, vars, "step " + name + " " + field));
      (void)ok;
    }
  }
  if (out.contains("env")) {
    for (json& e : out["env"]) {
      if (!e.contains("value")) continue;
      KILN_TRY(bool ok, resolve_string(e["value"], vars, "step " + name + " env"));
      (void)ok;
    }
  }
  return out;
}

}  // namespace kiln::controllers::datapipeline
