#include "controllers/admission/validators.h"

#include <regex>
#include <set>
#include <unordered_map>

#include "controllers/datapipeline/dag.h"
#include "controllers/datapipeline/expr.h"

namespace kiln::controllers {
namespace {

using nlohmann::json;

std::string at(const std::string& base, std::size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

std::vector<std::string> strings(const json& object, const char* key) {
  std::vector<std::string> out;
  if (object.contains(key) && object[key].is_array()) {
    for (const auto& v : object[key]) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

// Transitive dependencies of every step (names), for checking output references.
std::vector<std::set<std::string>> ancestors(const std::vector<DagNode>& nodes) {
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < nodes.size(); ++i) index.emplace(nodes[i].name, i);
  std::vector<std::set<std::string>> result(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    std::vector<std::size_t> stack{i};
    while (!stack.empty()) {
      auto n = stack.back();
      stack.pop_back();
      for (const auto& dep : nodes[n].depends_on) {
        auto it = index.find(dep);
        if (it != index.end() && result[i].insert(dep).second) stack.push_back(it->second);
      }
    }
  }
  return result;
}

// Every string of a step in which {{...}} references may appear, with its field path.
std::vector<std::pair<std::string, std::string>> templated_strings(const json& step,
                                                                   const std::string& base) {
  std::vector<std::pair<std::string, std::string>> out;
  auto args = strings(step, "args");
  for (std::size_t k = 0; k < args.size(); ++k) out.emplace_back(at(base + ".args", k), args[k]);
  if (step.contains("when") && step["when"].is_string()) {
    out.emplace_back(base + ".when", step["when"].get<std::string>());
  }
  if (step.contains("inputs") && step["inputs"].contains("parameters")) {
    const auto& params = step["inputs"]["parameters"];
    for (std::size_t k = 0; k < params.size(); ++k) {
      if (params[k].contains("value") && params[k]["value"].is_string()) {
        out.emplace_back(at(base + ".inputs.parameters", k) + ".value",
                         params[k]["value"].get<std::string>());
      }
    }
  }
  return out;
}

struct PipelineNames {
  std::set<std::string> parameters;
  std::unordered_map<std::string, std::set<std::string>> outputs;  // step -> output parameters
  std::unordered_map<std::string, std::set<std::string>> artifacts;  // step -> output artifacts
};

void check_references(const std::string& field, const std::string& text,
                      const std::set<std::string>& reachable, const PipelineNames& names,
                      bool on_exit, std::vector<FieldError>& errors) {
  static const std::regex kRef(R"(\{\{\s*([a-zA-Z]+)\.([^}\s]+)\s*\}\})");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kRef); it != std::sregex_iterator();
       ++it) {
    const std::string scope = (*it)[1];
    const std::string rest = (*it)[2];
    if (scope == "parameters") {
      if (!names.parameters.count(rest)) {
        errors.push_back({field, "unknown pipeline parameter \"" + rest + "\""});
      }
    } else if (scope == "steps") {
      static const std::regex kStepRef(R"(([^.]+)\.outputs\.([^.]+))");
      static const std::regex kPhaseRef(R"(([^.]+)\.phase)");
      std::smatch m;
      const bool phase = std::regex_match(rest, m, kPhaseRef);
      if (!phase && !std::regex_match(rest, m, kStepRef)) {
        errors.push_back(
            {field, "a step reference reads {{steps.STEP.outputs.NAME}} or {{steps.STEP.phase}}"});
        continue;
      }
      const std::string step = m[1], output = phase ? "" : std::string(m[2]);
      auto outputs = names.outputs.find(step);
      if (outputs == names.outputs.end()) {
        errors.push_back({field, "unknown step \"" + step + "\""});
      } else if (!on_exit && !reachable.count(step)) {
        errors.push_back({field, "step \"" + step + "\" is not a dependency, so its " +
                                     (phase ? "phase may not be final" : "outputs may not exist") +
                                     " yet: add it to dependsOn"});
      } else if (!phase && !outputs->second.count(output)) {
        errors.push_back({field, "step \"" + step + "\" declares no output \"" + output + "\""});
      }
    } else if (!(on_exit && scope == "run")) {
      errors.push_back({field, "unknown reference scope \"" + scope + "\""});
    }
  }
}

// A `when` the controller could not parse (the same parser, datapipeline/expr.h).
void check_when(const json& step, const std::string& base, std::vector<FieldError>& errors) {
  if (!step.contains("when") || !step["when"].is_string()) return;
  auto parsed = datapipeline::when_references(step["when"].get<std::string>());
  if (!parsed.ok()) errors.push_back({base + ".when", parsed.error().message()});
}

PipelineNames pipeline_names(const json& spec) {
  PipelineNames names;
  if (spec.contains("parameters")) {
    for (const auto& p : spec["parameters"]) names.parameters.insert(p.value("name", ""));
  }
  for (const auto& step : spec.value("steps", json::array())) {
    auto& outs = names.outputs[step.value("name", "")];
    auto& arts = names.artifacts[step.value("name", "")];
    if (step.contains("outputs") && step["outputs"].contains("parameters")) {
      for (const auto& o : step["outputs"]["parameters"]) outs.insert(o.value("name", ""));
    }
    if (step.contains("outputs") && step["outputs"].contains("artifacts")) {
      for (const auto& o : step["outputs"]["artifacts"]) arts.insert(o.value("name", ""));
    }
  }
  return names;
}

// The member `key` of `object` when it is a string, else nullptr.
const std::string* string_member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

const json& member(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// What a URI field names: one file (a model, a profile, a table) or a directory outputs go under.
enum class UriUse { kFile, kOutputPrefix };

// object[key], when set, parses as a storage URI fit for `use`; else an error on `field`.
void check_uri(const json& object, const char* key, const std::string& field, UriUse use,
               const UriPolicy& policy, std::vector<FieldError>& errors) {
  const std::string* uri = string_member(object, key);
  if (uri == nullptr) return;
  auto parsed = parse_storage_uri(*uri, policy);
  if (!parsed.ok()) {
    errors.push_back({field, parsed.error().message()});
    return;
  }
  if (use == UriUse::kOutputPrefix) {
    if (parsed->scheme == UriScheme::kHttps || parsed->scheme == UriScheme::kHttp) {
      errors.push_back({field, *uri + ": outputs go to a directory on pvc://, file://, s3:// or "
                                      "gs://, not to http(s)://"});
    }
    return;
  }
  const std::string_view before_query = std::string_view(*uri).substr(0, uri->find('?'));
  if (parsed->basename().empty() || before_query.ends_with('/')) {
    errors.push_back({field, *uri + ": names no file (a path or key ending in the file's name "
                                    "is needed)"});
  }
}

// object.storage.endpoint, when set, is an http:// or https:// URL with a host and no query.
void check_storage(const json& object, const std::string& base, std::vector<FieldError>& errors) {
  const std::string* endpoint = string_member(member(object, "storage"), "endpoint");
  if (endpoint == nullptr) return;
  const std::string field = base + ".storage.endpoint";
  if (!endpoint->starts_with("https://") && !endpoint->starts_with("http://")) {
    errors.push_back({field, *endpoint + ": an endpoint is an http:// or https:// URL"});
    return;
  }
  auto parsed = parse_storage_uri(*endpoint, UriPolicy{.allow_http = true});
  if (!parsed.ok()) {
    errors.push_back({field, parsed.error().message()});
  } else if (parsed->path.find('?') != std::string::npos) {
    errors.push_back({field, *endpoint + ": an endpoint takes no query"});
  }
}

// A ModelSource at `base` (spec.model, spec.canary.model, spec.shadow.model).
void check_model_source(const json& model, const std::string& base, const UriPolicy& policy,
                        std::vector<FieldError>& errors) {
  check_uri(model, "uri", base + ".uri", UriUse::kFile, policy, errors);
  check_uri(model, "profileUri", base + ".profileUri", UriUse::kFile, policy, errors);
  check_storage(model, base, errors);
}

// An artifact's path, relative to the workspace (a path under `mount_path`, or absolute under
// it), as a relative path without a trailing '/'; nullopt (and an error at `field`) when it is
// empty, names the workspace itself, lies outside it, or has a ".", ".." or empty segment.
std::optional<std::string> check_artifact_path(const json& artifact, const std::string& field,
                                               const std::string& mount_path,
                                               std::vector<FieldError>& errors) {
  const std::string* path = string_member(artifact, "path");
  if (path == nullptr) return std::nullopt;
  std::string rel = *path;
  if (!rel.empty() && rel.front() == '/') {
    const std::string root = mount_path + "/";
    if (!rel.starts_with(root)) {
      errors.push_back({field, *path + ": an absolute path is under the workspace's mountPath " +
                                   mount_path});
      return std::nullopt;
    }
    rel = rel.substr(root.size());
  }
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  if (rel.empty()) {
    errors.push_back({field, "\"" + *path + "\": a path names a file or directory in the "
                             "workspace, not the workspace itself"});
    return std::nullopt;
  }
  std::size_t start = 0;
  while (start <= rel.size()) {
    const std::size_t end = std::min(rel.find('/', start), rel.size());
    const std::string_view segment = std::string_view(rel).substr(start, end - start);
    if (segment == "." || segment == ".." || segment.empty()) {
      errors.push_back({field, *path + ": a path has no \".\", \"..\" or empty segment"});
      return std::nullopt;
    }
    start = end + 1;
  }
  return rel;
}

// `inner` is `outer` or a path under it.
bool path_within(const std::string& inner, const std::string& outer) {
  return inner == outer || (inner.size() > outer.size() && inner.starts_with(outer) &&
                            inner[outer.size()] == '/');
}

// Artifact names become object keys (<prefix>/<pipeline>/<run>/<step>/<name>) and are matched
// by {{steps.S.outputs.artifacts.NAME}}: one segment of letters, digits, '.', '_' and '-', unique
// among the step's inputs (and among its outputs).
void check_artifact_names(const json& list, const std::string& base,
                          std::vector<FieldError>& errors) {
  static const std::regex kName(R"(^[A-Za-z0-9._-]{1,128}$)");
  std::set<std::string> seen;
  for (std::size_t k = 0; list.is_array() && k < list.size(); ++k) {
    const std::string* name = string_member(list[k], "name");
    if (name == nullptr) continue;
    const std::string field = at(base, k) + ".name";
    if (!std::regex_match(*name, kName) || *name == "." || *name == "..") {
      errors.push_back({field, "\"" + *name + "\": an artifact name is 1-128 letters, digits, "
                               "'.', '_' or '-' (not \".\" or \"..\")"});
    } else if (!seen.insert(*name).second) {
      errors.push_back({field, "duplicate artifact name \"" + *name + "\""});
    }
  }
}

// The artifacts of one step (spec.steps[i] or spec.onExit at `base`): paths, remote input URIs,
// and `from` references to an artifact an ancestor declares (any step, for onExit).
void check_step_artifacts(const json& step, const std::string& base,
                          const std::set<std::string>& reachable, const PipelineNames& names,
                          bool on_exit, const std::string& mount_path, const UriPolicy& policy,
                          std::vector<FieldError>& errors) {
  const json& inputs = member(member(step, "inputs"), "artifacts");
  check_artifact_names(inputs, base + ".inputs.artifacts", errors);
  // Downloaded inputs are mounted at their paths: two at one path, or a path under another's,
  // would make the API server refuse the step's Job.
  std::vector<std::pair<std::string, std::size_t>> mounted;
  for (std::size_t k = 0; inputs.is_array() && k < inputs.size(); ++k) {
    const std::string field = at(base + ".inputs.artifacts", k);
    const auto rel = check_artifact_path(inputs[k], field + ".path", mount_path, errors);
    const bool downloaded = string_member(inputs[k], "uri") || string_member(inputs[k], "from");
    if (rel && downloaded) {
      for (const auto& [other, j] : mounted) {
        if (path_within(*rel, other) || path_within(other, *rel)) {
          errors.push_back({field + ".path", *rel + " overlaps inputs.artifacts[" +
                                                 std::to_string(j) + "].path " + other +
                                                 ": each download is mounted at its own path"});
        }
      }
      mounted.emplace_back(*rel, k);
    }
    if (const std::string* uri = string_member(inputs[k], "uri")) {
      auto parsed = parse_storage_uri(*uri, policy);
      if (!parsed.ok()) {
        errors.push_back({field + ".uri", parsed.error().message()});
      } else if (!parsed->remote()) {
        errors.push_back({field + ".uri", *uri + ": an input artifact is downloaded from s3://, "
                                               "gs:// or https://"});
      } else if (parsed->scheme != UriScheme::kS3 && parsed->scheme != UriScheme::kGs &&
                 uri->ends_with("/")) {
        errors.push_back({field + ".uri", *uri + ": a directory (a uri ending in '/') is read "
                                               "from s3:// or gs:// only"});
      }
    }
    const std::string* from = string_member(inputs[k], "from");
    if (from == nullptr) continue;
    const auto ref = parse_artifact_reference(*from);
    if (!ref) {
      errors.push_back({field + ".from", "reads {{steps.STEP.outputs.artifacts.NAME}}"});
      continue;
    }
    const std::string& producer = ref->step;
    const std::string& artifact = ref->artifact;
    auto declared = names.artifacts.find(producer);
    if (declared == names.artifacts.end()) {
      errors.push_back({field + ".from", "unknown step \"" + producer + "\""});
    } else if (!on_exit && !reachable.count(producer)) {
      errors.push_back({field + ".from", "step \"" + producer + "\" is not a dependency, so its " +
                                             "artifacts may not exist yet: add it to dependsOn"});
    } else if (!declared->second.count(artifact)) {
      errors.push_back({field + ".from", "step \"" + producer +
                                             "\" declares no output artifact \"" + artifact +
                                             "\""});
    }
  }
  const json& outputs = member(member(step, "outputs"), "artifacts");
  check_artifact_names(outputs, base + ".outputs.artifacts", errors);
  for (std::size_t k = 0; outputs.is_array() && k < outputs.size(); ++k) {
    const std::string field = at(base + ".outputs.artifacts", k) + ".path";
    const auto rel = check_artifact_path(outputs[k], field, mount_path, errors);
    if (!rel) continue;
    // A file written under a downloaded input goes to that input's emptyDir, not the claim the
    // upload reads.
    for (const auto& [input, j] : mounted) {
      if (path_within(*rel, input)) {
        errors.push_back({field, *rel + " is under inputs.artifacts[" + std::to_string(j) +
                                     "].path " + input + ", a download, not the workspace"});
      }
    }
  }
}

}  // namespace

std::vector<FieldError> validate_datapipeline(const json& spec,
                                              const ValidationOptions& options) {
  std::vector<FieldError> errors;
  const json steps = spec.value("steps", json::array());
  std::vector<DagNode> nodes;
  for (const auto& step : steps)
    nodes.push_back({step.value("name", ""), strings(step, "dependsOn")});
  for (const auto& e : check_dag(nodes)) {
    bool duplicate = e.message.rfind("duplicate", 0) == 0;
    errors.push_back(
        {at("spec.steps", e.step_index) + (duplicate ? ".name" : ".dependsOn"), e.message});
  }
  const auto names = pipeline_names(spec);
  const auto reach = ancestors(nodes);
  std::string mount_path = "/workspace";
  if (const std::string* m = string_member(member(spec, "workspace"), "mountPath")) mount_path = *m;
  while (mount_path.size() > 1 && mount_path.back() == '/') mount_path.pop_back();
  for (std::size_t i = 0; i < steps.size(); ++i) {
    check_when(steps[i], at("spec.steps", i), errors);
    for (const auto& [field, text] : templated_strings(steps[i], at("spec.steps", i))) {
      check_references(field, text, reach[i], names, false, errors);
    }
    check_step_artifacts(steps[i], at("spec.steps", i), reach[i], names, false, mount_path,
                         options.uri_policy, errors);
  }
  if (const json& repo = member(spec, "artifactRepository"); repo.is_object()) {
    if (const std::string* uri = string_member(repo, "uri")) {
      auto parsed = parse_storage_uri(*uri, options.uri_policy);
      if (!parsed.ok()) {
        errors.push_back({"spec.artifactRepository.uri", parsed.error().message()});
      } else if (parsed->scheme != UriScheme::kS3 && parsed->scheme != UriScheme::kGs) {
        errors.push_back({"spec.artifactRepository.uri",
                          *uri + ": an artifact repository is an s3:// or gs:// prefix"});
      }
    }
    check_storage(repo, "spec.artifactRepository", errors);
  }
  if (spec.contains("onExit")) {
    const auto& on_exit = spec["onExit"];
    if (names.outputs.count(on_exit.value("name", ""))) {
      errors.push_back({"spec.onExit.name", "must differ from every step's name"});
    }
    if (on_exit.contains("dependsOn")) {
      errors.push_back({"spec.onExit.dependsOn",
                        "onExit runs after the whole run; it has no "
                        "dependencies"});
    }
    check_when(on_exit, "spec.onExit", errors);
    check_step_artifacts(on_exit, "spec.onExit", {}, names, true, mount_path, options.uri_policy,
                         errors);
    for (const auto& [field, text] : templated_strings(on_exit, "spec.onExit")) {
      check_references(field, text, {}, names, true, errors);
    }
  }
  return errors;
}

std::vector<FieldError> validate_trainingjob(const json& spec, const ValidationOptions& options) {
  std::vector<FieldError> errors;
  check_uri(member(member(spec, "builtin"), "xgboost"), "data", "spec.builtin.xgboost.data",
            UriUse::kFile, options.uri_policy, errors);
  check_uri(member(spec, "output"), "modelUri", "spec.output.modelUri", UriUse::kOutputPrefix,
            options.uri_policy, errors);
  check_storage(spec, "spec", errors);
  if (spec.contains("builtin") && spec.value("replicas", 1) > 1) {
    errors.push_back({"spec.replicas",
                      "the built-in XGBoost trainer runs one worker; use a "
                      "template for distributed training"});
  }
  if (spec.contains("template")) {
    const auto& tmpl = spec["template"];
    if (!tmpl.contains("spec") || !tmpl["spec"].contains("containers") ||
        !tmpl["spec"]["containers"].is_array() || tmpl["spec"]["containers"].empty()) {
      errors.push_back({"spec.template.spec.containers", "at least one container is required"});
    }
  }
  return errors;
}

std::vector<FieldError> validate_modeldeployment(const json& spec,
                                                 const ValidationOptions& options) {
  std::vector<FieldError> errors;
  check_model_source(member(spec, "model"), "spec.model", options.uri_policy, errors);
  check_model_source(member(member(spec, "canary"), "model"), "spec.canary.model",
                     options.uri_policy, errors);
  check_model_source(member(member(spec, "shadow"), "model"), "spec.shadow.model",
                     options.uri_policy, errors);
  // spec.rollout without spec.canary is valid: the canary may come from the annotation
  // kiln.dev/canary-model that a DriftMonitor writes after retraining.
  if (!spec.contains("rollout")) return errors;
  int previous = 0;
  const auto steps = spec["rollout"].value("steps", json::array());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!steps[i].contains("setWeight")) continue;
    int weight = steps[i]["setWeight"].get<int>();
    if (weight < previous) {
      errors.push_back({at("spec.rollout.steps", i) + ".setWeight",
                        std::to_string(weight) + " is below the previous step's " +
                            std::to_string(previous) + ": weights only grow during a rollout"});
    }
    previous = std::max(previous, weight);
  }
  return errors;
}

std::vector<FieldError> validate_driftmonitor(const json& spec, const ValidationOptions& options) {
  std::vector<FieldError> errors;
  check_uri(member(spec, "baseline"), "uri", "spec.baseline.uri", UriUse::kFile,
            options.uri_policy, errors);
  static const std::set<std::string> kNumericalOnly{"ks", "wasserstein"};
  static const std::set<std::string> kCategoricalOnly{"chisquare", "ztest"};
  std::set<std::string> seen;
  const auto features = spec.value("features", json::array());
  for (std::size_t i = 0; i < features.size(); ++i) {
    const auto name = features[i].value("name", "");
    if (!seen.insert(name).second) {
      errors.push_back({at("spec.features", i) + ".name", "duplicate feature \"" + name + "\""});
    }
    const auto type = features[i].value("type", "");
    const auto test = features[i].value("test", "auto");
    if (type == "categorical" && kNumericalOnly.count(test)) {
      errors.push_back({at("spec.features", i) + ".test",
                        test + " compares numbers; a categorical feature needs chisquare, ztest, "
                               "psi or jensenshannon"});
    }
    if (type == "numerical" && kCategoricalOnly.count(test)) {
      errors.push_back({at("spec.features", i) + ".test",
                        test + " compares categories; a numerical feature needs ks, wasserstein, "
                               "psi or jensenshannon"});
    }
  }
  return errors;
}

std::vector<FieldError> validate_object(const json& object, const ValidationOptions& options) {
  if (!object.is_object() || !object.contains("spec") || !object["spec"].is_object()) return {};
  const auto kind = object.value("kind", "");
  const auto& spec = object["spec"];
  if (kind == "DataPipeline") return validate_datapipeline(spec, options);
  if (kind == "TrainingJob") return validate_trainingjob(spec, options);
  if (kind == "ModelDeployment") return validate_modeldeployment(spec, options);
  if (kind == "DriftMonitor") return validate_driftmonitor(spec, options);
  return {};
}

std::string to_message(const std::vector<FieldError>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += e.field + ": " + e.message;
  }
  return out;
}

}  // namespace kiln::controllers
