#include <gtest/gtest.h>

#include "controllers/datapipeline/dag.h"

namespace kiln::controllers {
namespace {

std::vector<std::string> messages(const std::vector<DagError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(std::to_string(e.step_index) + ": " + e.message);
  return out;
}

TEST(Dag, DiamondIsAcyclicAndOrdersDependenciesFirst) {
  std::vector<DagNode> nodes{
      {"join", {"left", "right"}}, {"left", {"root"}}, {"right", {"root"}}, {"root", {}}};
  EXPECT_TRUE(check_dag(nodes).empty());
  auto order = topological_order(nodes);
  ASSERT_TRUE(order.has_value());
  EXPECT_EQ(*order, (std::vector<std::size_t>{3, 1, 2, 0}));
}

TEST(Dag, CycleIsReportedWithItsPath) {
  std::vector<DagNode> nodes{{"a", {"c"}}, {"b", {"a"}}, {"c", {"b"}}};
  EXPECT_EQ(messages(check_dag(nodes)),
            (std::vector<std::string>{"1: dependency cycle: a -> c -> b -> a"}));
  EXPECT_FALSE(topological_order(nodes).has_value());
}

TEST(Dag, SelfDependencyIsACycle) {
  EXPECT_EQ(messages(check_dag({{"a", {"a"}}})),
            (std::vector<std::string>{"0: dependency cycle: a -> a"}));
}

TEST(Dag, UnknownDependencyAndDuplicateNameAreNamed) {
  std::vector<DagNode> nodes{{"a", {}}, {"a", {}}, {"b", {"nope"}}};
  EXPECT_EQ(messages(check_dag(nodes)),
            (std::vector<std::string>{"1: duplicate step name \"a\"",
                                      "2: dependsOn: unknown step \"nope\""}));
  EXPECT_FALSE(topological_order({{"b", {"nope"}}}).has_value());
}

TEST(Dag, TwoDisjointCyclesAreBothReported) {
  std::vector<DagNode> nodes{{"a", {"b"}}, {"b", {"a"}}, {"c", {"d"}}, {"d", {"c"}}, {"e", {}}};
  EXPECT_EQ(check_dag(nodes).size(), 2u);
}

}  // namespace
}  // namespace kiln::controllers
