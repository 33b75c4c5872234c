// metav1.Condition semantics and the ownerReference/finalizer helpers that need no server.

#include "kube/conditions.h"

#include <gtest/gtest.h>

#include "kube/object_helpers.h"

namespace kiln::kube {
namespace {

using nlohmann::json;

TEST(Conditions, ANewConditionGetsTheTransitionTime) {
  json conditions;
  EXPECT_TRUE(set_condition(conditions, {"Ready", "False", "Starting", "", 1}, "T1"));
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0]["lastTransitionTime"], "T1");
  EXPECT_EQ(conditions[0]["observedGeneration"], 1);
}

TEST(Conditions, TransitionTimeMovesOnlyWhenStatusChanges) {
  json conditions;
  set_condition(conditions, {"Ready", "False", "Starting", "", 1}, "T1");
  // Same status, new reason and generation: updated, time kept.
  EXPECT_TRUE(set_condition(conditions, {"Ready", "False", "Waiting", "for pods", 2}, "T2"));
  EXPECT_EQ(conditions[0]["lastTransitionTime"], "T1");
  EXPECT_EQ(conditions[0]["reason"], "Waiting");
  EXPECT_EQ(conditions[0]["observedGeneration"], 2);
  // Status flips: time moves.
  EXPECT_TRUE(set_condition(conditions, {"Ready", "True", "Running", "", 2}, "T3"));
  EXPECT_EQ(conditions[0]["lastTransitionTime"], "T3");
  EXPECT_TRUE(is_condition_true(conditions, "Ready"));
}

TEST(Conditions, SettingTheSameConditionAgainChangesNothing) {
  json conditions;
  set_condition(conditions, {"Ready", "True", "Running", "ok", 3}, "T1");
  json before = conditions;
  EXPECT_FALSE(set_condition(conditions, {"Ready", "True", "Running", "ok", 3}, "T9"));
  EXPECT_EQ(conditions, before);
}

TEST(Conditions, TypesAreIndependentAndRemovable) {
  json conditions;
  set_condition(conditions, {"Ready", "True", "Running", "", 1}, "T1");
  set_condition(conditions, {"Degraded", "False", "AsExpected", "", 1}, "T1");
  EXPECT_EQ(conditions.size(), 2u);
  EXPECT_FALSE(is_condition_true(conditions, "Degraded"));
  EXPECT_TRUE(remove_condition(conditions, "Degraded"));
  EXPECT_FALSE(find_condition(conditions, "Degraded").has_value());
  EXPECT_FALSE(remove_condition(conditions, "Degraded"));
}

TEST(Time, FormatsRfc3339InUtc) {
  std::chrono::system_clock::time_point t{std::chrono::microseconds(1763738415123456)};
  EXPECT_EQ(rfc3339(t), "2025-11-21T15:20:15Z");
  EXPECT_EQ(rfc3339_micro(t), "2025-11-21T15:20:15.123456Z");
}

TEST(OwnerReferences, ControllerReferenceIsSetOnceAndNeverTwoControllers) {
  json owner = {{"apiVersion", "kiln.dev/v1alpha1"},
                {"kind", "TrainingJob"},
                {"metadata", {{"name", "train"}, {"uid", "u1"}}}};
  json other = {
      {"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "x"}, {"uid", "u2"}}}};
  json child = {{"metadata", {{"name", "c"}}}};
  ASSERT_TRUE(set_controller_reference(child, owner).ok());
  ASSERT_TRUE(set_controller_reference(child, owner).ok());  // Idempotent.
  EXPECT_EQ(child["metadata"]["ownerReferences"].size(), 1u);
  EXPECT_EQ(child["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], true);
  EXPECT_TRUE(is_controlled_by(child, owner));
  auto second = set_controller_reference(child, other);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message().find("already controlled by TrainingJob train"),
            std::string::npos);
}

TEST(Finalizers, HasFinalizerReadsTheList) {
  json object = {{"metadata", {{"finalizers", {"kiln.dev/cleanup"}}}}};
  EXPECT_TRUE(has_finalizer(object, "kiln.dev/cleanup"));
  EXPECT_FALSE(has_finalizer(object, "other"));
  EXPECT_FALSE(has_finalizer(json{{"metadata", json::object()}}, "x"));
}

}  // namespace
}  // namespace kiln::kube
