#include "controllers/datapipeline/dag.h"

#include <algorithm>
#include <functional>
#include <regex>
#include <unordered_map>

namespace kiln::controllers {
namespace {

using Index = std::unordered_map<std::string, std::size_t>;

Index index_of(const std::vector<DagNode>& nodes) {
  Index index;
  for (std::size_t i = 0; i < nodes.size(); ++i) index.emplace(nodes[i].name, i);
  return index;
}

// Depth-first search with colours; a grey node reached again closes a cycle.
void find_cycles(const std::vector<DagNode>& nodes, const Index& index,
                 std::vector<DagError>& errors) {
  enum class Colour { kWhite, kGrey, kBlack };
  std::vector<Colour> colour(nodes.size(), Colour::kWhite);
  std::vector<std::size_t> path;
  std::function<void(std::size_t)> visit = [&](std::size_t i) {
    colour[i] = Colour::kGrey;
    path.push_back(i);
    for (const auto& dep : nodes[i].depends_on) {
      auto it = index.find(dep);
      if (it == index.end()) continue;
      std::size_t j = it->second;
      if (colour[j] == Colour::kGrey) {
        auto from = std::find(path.begin(), path.end(), j);
        std::string cycle;
        for (auto p = from; p != path.end(); ++p) cycle += nodes[*p].name + " -> ";
        errors.push_back({i, "dependency cycle: " + cycle + nodes[j].name});
      } else if (colour[j] == Colour::kWhite) {
        visit(j);
      }
    }
    path.pop_back();
    colour[i] = Colour::kBlack;
  };
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (colour[i] == Colour::kWhite) visit(i);
  }
}

}  // namespace

std::vector<DagError> check_dag(const std::vector<DagNode>& nodes) {
  std::vector<DagError> errors;
  Index seen;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!seen.emplace(nodes[i].name, i).second) {
      errors.push_back({i, "duplicate step name \"" + nodes[i].name + "\""});
    }
  }
  Index index = index_of(nodes);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& dep : nodes[i].depends_on) {
      if (!index.count(dep)) errors.push_back({i, "dependsOn: unknown step \"" + dep + "\""});
    }
  }
  find_cycles(nodes, index, errors);
  return errors;
}

std::optional<std::vector<std::size_t>> topological_order(const std::vector<DagNode>& nodes) {
  Index index = index_of(nodes);
  std::vector<std::size_t> indegree(nodes.size(), 0);
  std::vector<std::vector<std::size_t>> dependents(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& dep : nodes[i].depends_on) {
      auto it = index.find(dep);
      if (it == index.end()) return std::nullopt;
      dependents[it->second].push_back(i);
      ++indegree[i];
    }
  }
  std::vector<std::size_t> order;
  std::vector<bool> done(nodes.size(), false);
  // Repeatedly take the first ready step in input order: stable and deterministic.
  while (order.size() < nodes.size()) {
    bool progressed = false;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (done[i] || indegree[i] != 0) continue;
      done[i] = true;
      order.push_back(i);
      for (auto d : dependents[i]) --indegree[d];
      progressed = true;
      break;
    }
    if (!progressed) return std::nullopt;
  }
  return order;
}

std::optional<ArtifactReference> parse_artifact_reference(std::string_view from) {
  static const std::regex kFrom(
      R"(^\{\{\s*steps\.([a-z0-9-]+)\.outputs\.artifacts\.([^{}\s]+)\s*\}\}$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(from.begin(), from.end(), m, kFrom)) return std::nullopt;
  return ArtifactReference{m[1].str(), m[2].str()};
}

}  // namespace kiln::controllers
