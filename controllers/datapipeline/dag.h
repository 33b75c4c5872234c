#pragma once

// The dependency graph of a DataPipeline's steps: checks (unknown dependencies, cycles) and a
// topological order. Pure functions of the step list; used by the admission webhook and by the
// DataPipeline controller, so it is its own library (kiln_dag) below both, depending on nothing.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::controllers {

struct DagNode {
  std::string name;
  std::vector<std::string> depends_on;
};

// A problem found in the graph, located at the step that shows it.
struct DagError {
  std::size_t step_index;  // Index in the input list.
  std::string message;     // e.g. "dependsOn: unknown step \"x\"", "dependency cycle: a -> b -> a"
};

// Every unknown dependency, duplicate step name and cycle (each cycle reported once, at the step
// where the depth-first search closed it, as "a -> b -> a"). Empty when the graph is a DAG.
// O(steps + edges). Thread-safe (pure).
std::vector<DagError> check_dag(const std::vector<DagNode>& nodes);

// Step indices in an order where every step comes after its dependencies (Kahn's algorithm,
// ties broken by input order). std::nullopt when the graph has a cycle or unknown dependency.
std::optional<std::vector<std::size_t>> topological_order(const std::vector<DagNode>& nodes);

// An input artifact's `from`, "{{steps.STEP.outputs.artifacts.NAME}}" (spaces allowed inside the
// braces; STEP a DNS label, NAME without braces or spaces): its step and artifact, or nullopt.
// The one parser of the reference, for the admission webhook and the controller alike.
struct ArtifactReference {
  std::string step;
  std::string artifact;
};
std::optional<ArtifactReference> parse_artifact_reference(std::string_view from);

}  // namespace kiln::controllers
