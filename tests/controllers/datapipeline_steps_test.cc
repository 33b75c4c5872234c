// DataPipeline step helpers: `when` expressions, substitution, step Jobs, retry decisions,
// backoff delays, cache keys.

#include <gtest/gtest.h>

#include "controllers/common/names.h"
#include "controllers/datapipeline/attempt.h"
#include "controllers/datapipeline/cache.h"
#include "controllers/datapipeline/expr.h"
#include "controllers/datapipeline/job.h"
#include "controllers/datapipeline/resolve.h"

namespace kiln::controllers::datapipeline {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Kind = AttemptOutcome::Kind;

TEST(When, ComparesNumbersNumericallyAndTextAsText) {
  const Variables vars = {{"steps.validate.outputs.rows", "1000"}, {"parameters.mode", "full"}};
  struct Case {
    const char* expr;
    bool want;
  };
  const Case cases[] = {
      {"{{steps.validate.outputs.rows}} > 999", true},
      {"{{steps.validate.outputs.rows}} > 1e4", false},
      {"{{steps.validate.outputs.rows}} >= 1000.0", true},
      {"{{steps.validate.outputs.rows}} < 20", false},  // Text comparison would say true.
      {"{{steps.validate.outputs.rows}} <= 1000", true},
      {"{{steps.validate.outputs.rows}} == 1000", true},
      {"{{parameters.mode}} == full", true},
      {"{{ parameters.mode }} != 'full'", false},
      {"{{parameters.mode}} == \"fast\"", false},
      {"true", true},
      {"false", false},
  };
  for (const Case& c : cases) {
    auto got = evaluate_when(c.expr, vars);
    ASSERT_TRUE(got.ok()) << c.expr << ": " << got.error().to_string();
    EXPECT_EQ(*got, c.want) << c.expr;
  }
}

TEST(When, SubstitutedValuesAreNeverReadAsOperators) {
  const Variables vars = {{"parameters.rule", "a == b"},
                          {"parameters.lt", "<"},
                          {"parameters.paren", "x) || (true"},
                          {"steps.s.outputs.msg", "rows < 10 && ok"}};
  struct Case {
    const char* expr;
    bool want;
  };
  const Case cases[] = {
      {"{{parameters.rule}} == 'a == b'", true},
      {"{{parameters.rule}} != 'a == b'", false},
      {"{{parameters.lt}} == '<'", true},
      {"{{parameters.paren}} == true", false},
      {"{{steps.s.outputs.msg}} == \"rows < 10 && ok\"", true},
      {"prefix-{{parameters.lt}} == 'prefix-<'", true},  // Adjacent pieces make one operand.
  };
  for (const Case& c : cases) {
    auto got = evaluate_when(c.expr, vars);
    ASSERT_TRUE(got.ok()) << c.expr << ": " << got.error().to_string();
    EXPECT_EQ(*got, c.want) << c.expr;
  }
}

TEST(When, CombinesConditionsWithAndOrNotAndParentheses) {
  const Variables vars = {{"steps.v.outputs.rows", "1000"},
                          {"steps.v.phase", "Succeeded"},
                          {"steps.t.phase", "Failed"},
                          {"steps.v.outputs.ok", "true"}};
  struct Case {
    const char* expr;
    bool want;
  };
  const Case cases[] = {
      {"{{steps.v.outputs.rows}} > 10 && {{steps.v.phase}} == Succeeded", true},
      {"{{steps.v.outputs.rows}} > 10 && {{steps.t.phase}} == Succeeded", false},
      {"{{steps.t.phase}} == Failed || {{steps.v.outputs.rows}} < 1", true},
      {"false && true || true", true},  // && binds tighter than ||.
      {"false && (true || true)", false},
      {"!false && !({{steps.v.outputs.rows}} >= 1000)", false},
      {"!!{{steps.v.outputs.ok}}", true},
      {"({{steps.v.outputs.rows}}==1000)&&({{steps.t.phase}}!=Succeeded)", true},
      {"{{steps.v.outputs.ok}}", true},
  };
  for (const Case& c : cases) {
    auto got = evaluate_when(c.expr, vars);
    ASSERT_TRUE(got.ok()) << c.expr << ": " << got.error().to_string();
    EXPECT_EQ(*got, c.want) << c.expr;
  }
}

TEST(When, ErrorsNameTheExpressionAndThePosition) {
  struct Case {
    const char* expr;
    const char* message;
  };
  const Case cases[] = {
      {"{{steps.x.outputs.y}} > 1",
       "when \"{{steps.x.outputs.y}} > 1\": unknown variable {{steps.x.outputs.y}} at position 0"},
      {"maybe", "when \"maybe\": expected a comparison or true/false, got \"maybe\" at position 0"},
      {" > 3", "when \" > 3\": expected an operand, got '>' at position 1"},
      {"(1 == 1", "when \"(1 == 1\": expected ')', got end of expression at position 7"},
      {"1 = 1", "when \"1 = 1\": single '=' (write ==) at position 2"},
      {"1 == 1 &&", "when \"1 == 1 &&\": expected an operand, got end of expression at position 9"},
      {"1 == 1 2", "when \"1 == 1 2\": unexpected operand at position 7"},
      {"'open == 1", "when \"'open == 1\": unterminated string at position 0"},
      {"{{a > 1", "when \"{{a > 1\": unclosed {{ at position 0"},
  };
  for (const Case& c : cases) {
    auto got = evaluate_when(c.expr, {});
    ASSERT_FALSE(got.ok()) << c.expr;
    EXPECT_EQ(got.error().message(), c.message);
  }
  EXPECT_FALSE(evaluate_when(std::string(200, '(') + "true" + std::string(200, ')'), {}).ok());
}

TEST(When, ReferencesAreListedWithoutEvaluating) {
  auto refs = when_references("{{steps.a.phase}} == Failed || '{{ parameters.m }}' > 1");
  ASSERT_TRUE(refs.ok()) << refs.error().to_string();
  EXPECT_EQ(*refs, (std::set<std::string>{"parameters.m", "steps.a.phase"}));
}

TEST(Substitute, ReplacesEveryReference) {
  auto text = substitute("m={{parameters.month}} r={{steps.a.outputs.rows}}{{parameters.month}}",
                         {{"parameters.month", "7"}, {"steps.a.outputs.rows", "9"}});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "m=7 r=97");
}

api::PipelineStep decoded_step(const json& j) {
  api::PipelineStep step;
  const auto ok = api::decode(j, "step", step);
  EXPECT_TRUE(ok.ok()) << ok.error().message();
  return step;
}

TEST(Resolve, SubstitutesInputsFirstThenCommandArgsAndEnv) {
  const api::PipelineStep step = decoded_step(json::parse(R"({
    "name": "train", "image": "i:1", "command": ["run", "{{inputs.parameters.m}}"],
    "args": ["--rows={{steps.a.outputs.rows}}"],
    "env": [{"name": "MONTH", "value": "{{parameters.month}}"}, {"name": "FROM",
             "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    "inputs": {"parameters": [{"name": "m", "value": "m{{parameters.month}}"}, {"name": "e"}]}
  })"));
  Variables vars = {{"parameters.month", "7"}, {"steps.a.outputs.rows", "9"}};
  auto resolved = resolve_step(step, vars);
  ASSERT_TRUE(resolved.ok()) << resolved.error().to_string();
  EXPECT_EQ(resolved->command, (std::vector<std::string>{"run", "m7"}));
  EXPECT_EQ(resolved->args, std::vector<std::string>{"--rows=9"});
  EXPECT_EQ(resolved->env[0].value, "7");
  EXPECT_EQ(resolved->env[1].value, std::nullopt);  // valueFrom stays as written.
  EXPECT_EQ(resolved->inputs->parameters[1].value, "");  // No value: empty.
  EXPECT_EQ(vars.at("inputs.parameters.m"), "m7");

  Variables none;
  auto unknown = resolve_step(step, none);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("step train inputs"), std::string::npos)
      << unknown.error().message();
}

json pipeline_object() {
  return {{"apiVersion", "kiln.dev/v1alpha1"},
          {"kind", "DataPipeline"},
          {"metadata", {{"name", "flights"}, {"namespace", "ns"}, {"uid", "uid-7"}}}};
}

TEST(StepJob, ContainerFieldsMakeContainerMainWithThePullPolicyOfTheStepOrTheOptions) {
  api::DataPipelineSpec spec;
  const api::PipelineStep step = decoded_step({{"name", "a"},
                                               {"image", "i:1"},
                                               {"args", {"x"}},
                                               {"resources", {{"limits", {{"cpu", "1"}}}}}});
  const json job = desired_step_job(pipeline_object(), spec, "flights-r", step, 1, BuildOptions{});
  const json& c = job["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["name"], "main");
  EXPECT_EQ(c["image"], "i:1");
  EXPECT_EQ(c["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(c["args"], json({"x"}));
  EXPECT_EQ(c["resources"]["limits"]["cpu"], "1");
  EXPECT_FALSE(c.contains("command"));
  EXPECT_FALSE(job["spec"].contains("activeDeadlineSeconds"));
  api::PipelineStep always = step;
  always.image_pull_policy = api::PullPolicy::kAlways;
  EXPECT_EQ(desired_step_job(pipeline_object(), spec, "flights-r", always, 1, BuildOptions{})
                ["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always");
}

TEST(StepJob, ATemplateStepKeepsItsPodAndGetsTheWorkspaceAtItsMountPath) {
  api::DataPipelineSpec spec;
  spec.workspace.emplace();
  spec.workspace->mount_path = "/data";
  spec.workspace->persistent_volume_claim = api::WorkspacePersistentVolumeClaim{"shared"};
  const api::PipelineStep step = decoded_step(json::parse(R"({
    "name": "t", "timeoutSeconds": 60,
    "template": {"metadata": {"labels": {"team": "ml"}},
                 "spec": {"containers": [{"name": "x", "image": "i:2"}]}}
  })"));
  const json job = desired_step_job(pipeline_object(), spec, "flights-r", step, 2, BuildOptions{});
  EXPECT_EQ(job["metadata"]["name"], "flights-r-t-2");
  EXPECT_EQ(job["spec"]["activeDeadlineSeconds"], 60);
  const json& pod = job["spec"]["template"];
  EXPECT_EQ(pod["metadata"]["labels"]["team"], "ml");
  EXPECT_EQ(pod["metadata"]["labels"]["kiln.dev/step"], "t");
  EXPECT_EQ(pod["spec"]["containers"][0]["name"], "x");
  EXPECT_EQ(pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"], "/data");
  EXPECT_EQ(pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "shared");
  EXPECT_EQ(desired_workspace_claim(pipeline_object(), spec, "flights-r"), nullptr);
}

TEST(Retry, PolicyAndLimitDecide) {
  using Policy = api::PipelineStepRetryStrategyRetryPolicy;
  struct Case {
    Kind kind;
    Policy policy;
    int attempts;
    int limit;
    bool want;
  };
  const Case cases[] = {
      {Kind::kFailed, Policy::kOnFailure, 1, 1, true},
      {Kind::kFailed, Policy::kOnFailure, 2, 1, false},
      {Kind::kError, Policy::kOnFailure, 1, 3, false},
      {Kind::kError, Policy::kOnError, 1, 3, true},
      {Kind::kFailed, Policy::kOnError, 1, 3, false},
      {Kind::kFailed, Policy::kAlways, 1, 3, true},
      {Kind::kError, Policy::kAlways, 3, 3, true},
      {Kind::kError, Policy::kAlways, 4, 3, false},
      {Kind::kFailed, Policy::kOnFailure, 1, 0, false},
  };
  for (const Case& c : cases) {
    api::PipelineStepRetryStrategy strategy;
    strategy.retry_policy = c.policy;
    strategy.limit = c.limit;
    EXPECT_EQ(should_retry(c.kind, strategy, c.attempts), c.want)
        << api::to_string(c.policy) << " attempts=" << c.attempts << " limit=" << c.limit;
  }
  EXPECT_FALSE(should_retry(Kind::kFailed, api::PipelineStepRetryStrategy{}, 1));  // Limit 0.
}

TEST(Retry, BackoffGrowsByTheFactorUpToTheCap) {
  const api::PipelineStepRetryStrategyBackoff backoff{"5s", 3, "1m"};
  EXPECT_EQ(backoff_delay(backoff, 1), 5s);
  EXPECT_EQ(backoff_delay(backoff, 2), 15s);
  EXPECT_EQ(backoff_delay(backoff, 3), 45s);
  EXPECT_EQ(backoff_delay(backoff, 4), 60s);
  EXPECT_EQ(backoff_delay(api::PipelineStepRetryStrategyBackoff{}, 2), 20s);  // Schema: 10s * 2.
  // The API server refuses a duration outside the schema's pattern; should one reach us, it
  // counts as the schema's default.
  EXPECT_EQ(backoff_delay({"soon", 2, "5m"}, 1), 10s);
}

TEST(Attempt, ReadsOutputsFromTheTerminationMessage) {
  const json job = {
      {"status", {{"conditions", json::array({{{"type", "Complete"}, {"status", "True"}}})}}}};
  const json pod = {
      {"status",
       {{"containerStatuses",
         json::array({{{"state",
                        {{"terminated",
                          {{"exitCode", 0}, {"message", R"({"rows": "12", "ok": true})"}}}}}}})}}}};
  const AttemptOutcome out = read_attempt(&job, {pod});
  EXPECT_EQ(out.kind, Kind::kSucceeded);
  EXPECT_EQ(out.outputs, (std::map<std::string, std::string>{{"ok", "true"}, {"rows", "12"}}));
  EXPECT_EQ(read_attempt(nullptr, {}).kind, Kind::kRunning);
}

TEST(Attempt, DeadlineIsAnErrorAndExitCodeAFailure) {
  const json deadline = {{"status",
                          {{"conditions", json::array({{{"type", "Failed"},
                                                        {"status", "True"},
                                                        {"reason", "DeadlineExceeded"}}})}}}};
  EXPECT_EQ(read_attempt(&deadline, {}).kind, Kind::kError);
  const json failed = {{"status",
                        {{"conditions", json::array({{{"type", "Failed"},
                                                      {"status", "True"},
                                                      {"reason", "BackoffLimitExceeded"}}})}}}};
  const json pod = {
      {"status",
       {{"containerStatuses",
         json::array(
             {{{"state", {{"terminated", {{"exitCode", 137}, {"reason", "OOMKilled"}}}}}}})}}}};
  const AttemptOutcome out = read_attempt(&failed, {pod});
  EXPECT_EQ(out.kind, Kind::kFailed);
  EXPECT_EQ(out.message, "exit code 137 (OOMKilled)");
}

TEST(Cache, KeyDependsOnWhatDeterminesTheResult) {
  api::PipelineStep step;
  step.name = "f";
  step.image = "i:1";
  step.args = {"a"};
  const json params = {{"month", "1"}};
  const std::string key = cache_key(step, params);
  // The key of the JSON the API server stores (what earlier Kilns hashed) is unchanged.
  EXPECT_EQ(key, sha256_hex(json({{"image", "i:1"}, {"args", {"a"}}, {"parameters", params}})
                                .dump()));
  api::PipelineStep renamed = step;
  renamed.name = "g";  // The name does not change the work.
  EXPECT_EQ(cache_key(renamed, params), key);
  api::PipelineStep retried = step;
  retried.retry_strategy.emplace();  // Nor does how failures are retried.
  EXPECT_EQ(cache_key(retried, params), key);
  api::PipelineStep other_image = step;
  other_image.image = "i:2";
  EXPECT_NE(cache_key(other_image, params), key);
  EXPECT_NE(cache_key(step, {{"month", "2"}}), key);
}

TEST(Cache, HitsOnlyRecentSucceededStepsWithTheSameKey) {
  const TimePoint now = std::chrono::system_clock::from_time_t(1'700'000'000);
  const json runs = json::array({{{"name", "r3"},
                                  {"steps", json::array({{{"phase", "Failed"},
                                                          {"cacheKey", "k"},
                                                          {"finishTime", format_time(now)}}})}},
                                 {{"name", "r2"},
                                  {"steps", json::array({{{"phase", "Succeeded"},
                                                          {"cacheKey", "k"},
                                                          {"finishTime", format_time(now - 2h)},
                                                          {"outputs", {{"x", "2"}}}}})}},
                                 {{"name", "r1"},
                                  {"steps", json::array({{{"phase", "Succeeded"},
                                                          {"cacheKey", "k"},
                                                          {"finishTime", format_time(now - 30h)},
                                                          {"outputs", {{"x", "1"}}}}})}}});
  auto hit = find_cache_hit(runs, "k", "24h", now);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->run, "r2");
  EXPECT_EQ(hit->outputs, json({{"x", "2"}}));
  EXPECT_FALSE(find_cache_hit(runs, "k", "1h", now).has_value());
  EXPECT_FALSE(find_cache_hit(runs, "other", std::nullopt, now).has_value());
  EXPECT_EQ(find_cache_hit(runs, "k", std::nullopt, now)->run, "r2");  // Forever: the newest wins.
}

}  // namespace
}  // namespace kiln::controllers::datapipeline
