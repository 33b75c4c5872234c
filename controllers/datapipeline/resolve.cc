#include "controllers/datapipeline/resolve.h"

#include <utility>
#include <vector>

namespace kiln::controllers::datapipeline {

using nlohmann::json;

namespace {

// Substitutes `field` in place.
Result<void> resolve_string(std::string& field, const Variables& vars, const std::string& where) {
  auto r = substitute(field, vars);
  if (!r.ok()) return r.error().with_context(where);
  field = std::move(*r);
  return Ok();
}

}  // namespace

const api::PipelineStep* step_spec(const api::DataPipelineSpec& spec, const std::string& name) {
  for (const api::PipelineStep& s : spec.steps) {
    if (s.name == name) return &s;
  }
  if (spec.on_exit && spec.on_exit->name == name) return &*spec.on_exit;
  return nullptr;
}

json pipeline_parameters(const api::DataPipelineSpec& spec) {
  json out = json::object();
  for (const api::PipelineParameter& p : spec.parameters) {
    out[p.name] = p.value ? *p.value : std::string();
  }
  return out;
}

Variables run_variables(const api::DataPipelineSpec& spec, const json& run,
                        const std::string& run_phase) {
  Variables vars;
  const json parameters = pipeline_parameters(spec);
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

Result<api::PipelineStep> resolve_step(const api::PipelineStep& step, Variables& vars) {
  api::PipelineStep out = step;
  const std::string where = "step " + step.name;
  if (out.inputs) {
    for (api::PipelineStepInputsParameter& p : out.inputs->parameters) {
      if (!p.value) p.value.emplace();
      if (auto r = resolve_string(*p.value, vars, where + " inputs"); !r.ok()) return r.error();
      vars["inputs.parameters." + p.name] = *p.value;
    }
  }
  // Then the container's fields, which may read the inputs.
  std::vector<std::pair<std::string*, const char*>> fields;
  for (std::string& a : out.command) fields.emplace_back(&a, " command");
  for (std::string& a : out.args) fields.emplace_back(&a, " args");
  for (api::EnvVar& e : out.env) {
    if (e.value) fields.emplace_back(&*e.value, " env");
  }
  for (const auto& [field, name] : fields) {
    if (auto r = resolve_string(*field, vars, where + name); !r.ok()) return r.error();
  }
  return out;
}

}  // namespace kiln::controllers::datapipeline
