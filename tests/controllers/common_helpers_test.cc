// Shared controller helpers: child names, storage URIs, conditions, time and durations.

#include <gtest/gtest.h>

#include <regex>

#include "controllers/common/conditions.h"
#include "controllers/common/names.h"
#include "controllers/common/time.h"
#include "controllers/common/uri.h"

namespace kiln::controllers {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::regex kDnsLabel("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");

TEST(ChildName, KeepsShortNamesAsParentDashSuffix) {
  EXPECT_EQ(child_name("flights", "workers"), "flights-workers");
  EXPECT_EQ(child_name("flights", ""), "flights");
}

TEST(ChildName, TruncatesLongParentsToAValidHashedDnsLabel) {
  const std::string parent(80, 'a');
  const std::string name = child_name(parent, "ingest-3");
  EXPECT_EQ(name.size(), 63u);
  EXPECT_TRUE(std::regex_match(name, kDnsLabel)) << name;
  EXPECT_TRUE(name.ends_with("-ingest-3")) << name;
  EXPECT_EQ(name, child_name(parent, "ingest-3"));  // Deterministic.
  EXPECT_NE(name, child_name(parent + "b", "ingest-3"));
}

TEST(ChildName, DropsDashesLeftAtTheCut) {
  const std::string parent = std::string(50, 'a') + "-------------------b";
  const std::string name = child_name(parent, "x");
  EXPECT_TRUE(std::regex_match(name, kDnsLabel)) << name;
  EXPECT_LE(name.size(), 63u);
}

TEST(Sha256, MatchesTheFipsTestVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(OwnerReference, IsAControllerReferenceBlockingDeletion) {
  const json owner = {{"apiVersion", "kiln.dev/v1alpha1"},
                      {"kind", "TrainingJob"},
                      {"metadata", {{"name", "t"}, {"namespace", "ns"}, {"uid", "u-1"}}}};
  const json meta = child_metadata(owner, "t-0", {{"kiln.dev/trainingjob", "t"}});
  EXPECT_EQ(meta["namespace"], "ns");
  EXPECT_EQ(meta["labels"]["app.kubernetes.io/managed-by"], "kiln");
  EXPECT_EQ(meta["labels"]["kiln.dev/trainingjob"], "t");
  const json& ref = meta["ownerReferences"][0];
  EXPECT_EQ(ref["uid"], "u-1");
  EXPECT_EQ(ref["kind"], "TrainingJob");
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(ref["blockOwnerDeletion"], true);
}

TEST(StorageUri, MapsClaimsUnderTheMountRoot) {
  auto pvc = parse_storage_uri("pvc://flights-data/features/train.csv");
  ASSERT_TRUE(pvc.ok());
  EXPECT_EQ(pvc->claim, "flights-data");
  EXPECT_EQ(pvc->path, "features/train.csv");
  EXPECT_EQ(pvc->local_path, "/mnt/kiln/flights-data/features/train.csv");
  EXPECT_EQ(uri_for_local_path(pvc->local_path), "pvc://flights-data/features/train.csv");

  auto file = parse_storage_uri("file:///models/m.json");
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(file->on_claim());
  EXPECT_EQ(file->local_path, "/models/m.json");

  EXPECT_FALSE(parse_storage_uri("ftp://bucket/x").ok());
  EXPECT_FALSE(parse_storage_uri("pvc:///x").ok());
}

TEST(Conditions, MoveTransitionTimeOnlyWhenStatusChanges) {
  const TimePoint t0 = std::chrono::system_clock::from_time_t(1'700'000'000);
  json status;
  EXPECT_TRUE(set_condition(status, "Running", true, "Started", "a", 1, t0));
  EXPECT_FALSE(set_condition(status, "Running", true, "StillRunning", "b", 2, t0 + 60s));
  const json* c = find_condition(status, "Running");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["lastTransitionTime"], format_time(t0));
  EXPECT_EQ((*c)["reason"], "StillRunning");
  EXPECT_EQ((*c)["observedGeneration"], 2);
  EXPECT_TRUE(set_condition(status, "Running", false, "Done", "c", 2, t0 + 120s));
  EXPECT_EQ(find_condition(status, "Running")->at("lastTransitionTime"), format_time(t0 + 120s));
  EXPECT_FALSE(condition_true(status, "Running"));
}

TEST(Time, RoundTripsRfc3339AndOffsets) {
  const TimePoint t = std::chrono::system_clock::from_time_t(1'700'000'000);
  EXPECT_EQ(format_time(t), "2023-11-14T22:13:20Z");
  EXPECT_EQ(parse_time("2023-11-14T22:13:20Z"), t);
  EXPECT_EQ(parse_time("2023-11-14T22:13:20.123456Z"), t);
  EXPECT_EQ(parse_time("2023-11-15T00:13:20+02:00"), t);
  EXPECT_FALSE(parse_time("yesterday").has_value());
}

TEST(Duration, ParsesGoStyleSequences) {
  struct Case {
    const char* text;
    std::optional<std::chrono::milliseconds> want;
  };
  const Case cases[] = {{"10s", 10'000ms},  {"1h30m", 5'400'000ms}, {"500ms", 500ms},
                        {"1.5s", 1'500ms},  {"", std::nullopt},     {"5d", std::nullopt},
                        {".", std::nullopt}};
  for (const auto& c : cases) EXPECT_EQ(parse_duration(c.text), c.want) << c.text;
}

}  // namespace
}  // namespace kiln::controllers
