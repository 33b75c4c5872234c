#include "common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kiln {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr const char* kTimestamp = R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)";

// True if all of `text` matches the ECMAScript regular expression `pattern`.
bool matches(const std::string& text, const std::string& pattern) {
  return std::regex_match(text, std::regex(pattern));
}

// Logs into a string through init_logging(options, sink).
class LogTest : public ::testing::Test {
 protected:
  void init(LogOptions::Format format, spdlog::level::level_enum level = spdlog::level::trace) {
    ASSERT_TRUE(
        init_logging({format, level}, std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)).ok());
  }

  // Parses every line as JSON; fails the test on a line that is not a JSON object.
  std::vector<Json> json_lines() const {
    std::vector<Json> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) {
      Json parsed = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      EXPECT_TRUE(parsed.is_object()) << "not a JSON object: " << line;
      lines.push_back(std::move(parsed));
    }
    return lines;
  }

  // The stream dies with the fixture: point the default logger elsewhere first.
  void TearDown() override {
    ASSERT_TRUE(init_logging({}, std::make_shared<spdlog::sinks::null_sink_mt>()).ok());
  }

  std::ostringstream out_;
};

TEST_F(LogTest, JsonLineHasTimestampLevelLoggerAndMessage) {
  init(LogOptions::Format::kJson);
  log::info("reconciler started");
  const std::vector<Json> lines = json_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(matches(lines[0]["ts"].get<std::string>(), kTimestamp)) << lines[0]["ts"];
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["logger"], "kiln");
  EXPECT_EQ(lines[0]["msg"], "reconciler started");
  EXPECT_TRUE(matches(out_.str(), R"(\{"ts":"[^"]+","level":"info","logger":"kiln",.*\}\n)"))
      << out_.str();
}

TEST_F(LogTest, JsonLineEscapesQuotesNewlinesBackslashesAndControlCharacters) {
  init(LogOptions::Format::kJson);
  const std::string tricky = "say \"hi\"\nnext line\\tab\t\x01 ünïcødé";
  log::warn(tricky, {{tricky, tricky}});
  const std::vector<Json> lines = json_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["msg"], tricky);
  EXPECT_EQ(lines[0][tricky], tricky);
}

TEST_F(LogTest, JsonLineReplacesInvalidUtf8InsteadOfFailing) {
  init(LogOptions::Format::kJson);
  log::info("bad \xff byte", {{"value", "\xfe"}});
  const std::vector<Json> lines = json_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["msg"], "bad \uFFFD byte");
  EXPECT_EQ(lines[0]["value"], "\uFFFD");
}

TEST_F(LogTest, JsonLineMergesStructuredFields) {
  init(LogOptions::Format::kJson);
  log::error("apply failed", {{"namespace", "default"}, {"attempt", 3}, {"ids", {1, 2}}});
  const std::vector<Json> lines = json_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["level"], "error");
  EXPECT_EQ(lines[0]["namespace"], "default");
  EXPECT_EQ(lines[0]["attempt"], 3);
  EXPECT_EQ(lines[0]["ids"], Json({1, 2}));
}

TEST_F(LogTest, JsonLineRenamesFieldsThatCollideWithFixedKeys) {
  init(LogOptions::Format::kJson);
  log::info("real", {{"msg", "fake"}, {"level", "fake"}});
  const std::vector<Json> lines = json_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["msg"], "real");
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["fields.msg"], "fake");
  EXPECT_EQ(lines[0]["fields.level"], "fake");
}

TEST_F(LogTest, JsonLineKeepsNonObjectFieldsUnderFields) {
  init(LogOptions::Format::kJson);
  log::info("list", Json::array({1, 2}));
  const std::vector<Json> lines = json_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["fields"], Json({1, 2}));
}

TEST_F(LogTest, PlainSpdlogCallsProduceValidJsonLines) {
  init(LogOptions::Format::kJson);
  spdlog::info("formatted {} with \"quotes\"", 42);
  spdlog::critical("line\nbreak");
  const std::vector<Json> lines = json_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["msg"], "formatted 42 with \"quotes\"");
  EXPECT_EQ(lines[1]["msg"], "line\nbreak");
  EXPECT_EQ(lines[1]["level"], "critical");
}

TEST_F(LogTest, DropsRecordsBelowTheConfiguredLevel) {
  init(LogOptions::Format::kJson, spdlog::level::warn);
  log::debug("d");
  log::info("i");
  spdlog::info("plain i");
  log::warn("w");
  log::error("e");
  const std::vector<Json> lines = json_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["level"], "warn");
  EXPECT_EQ(lines[1]["level"], "error");
}

TEST_F(LogTest, ConcurrentLoggingProducesWholeLines) {
  init(LogOptions::Format::kJson);
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLinesPerThread; ++i) log::info("tick", {{"thread", t}, {"i", i}});
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::map<int, int> per_thread;
  for (const Json& line : json_lines()) ++per_thread[line.at("thread").get<int>()];
  EXPECT_EQ(per_thread.size(), static_cast<size_t>(kThreads));
  for (const auto& [thread, count] : per_thread) EXPECT_EQ(count, kLinesPerThread) << thread;
}

TEST_F(LogTest, ConsoleLineAppendsFieldsAsKeyValuePairs) {
  init(LogOptions::Format::kConsole);
  log::info("started", {{"namespace", "default"},
                        {"reason", "two words"},
                        {"replicas", 2},
                        {"terminal", "\x1b[2J"}});
  EXPECT_TRUE(matches(out_.str(), std::string(kTimestamp) +
                                      R"( \[info\] \[kiln\] started namespace=default )"
                                      R"(reason="two words" replicas=2 terminal="\\u001b\[2J"\n)"))
      << out_.str();
}

TEST_F(LogTest, ConsoleLineOfPlainSpdlogCallHasNoFields) {
  init(LogOptions::Format::kConsole);
  spdlog::warn("plain");
  EXPECT_TRUE(matches(out_.str(), R"(.*\[warning\] \[kiln\] plain\n)")) << out_.str();
}

TEST(LogInit, RejectsANullSink) {
  const Result<void> r = init_logging({}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category(), ErrorCategory::kInvalidInput);
}

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    const auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(LogOptionsFromEnv, ReadsFormatAndLevelWithDefaults) {
  struct Case {
    std::map<std::string, std::string> env;
    LogOptions::Format format;
    spdlog::level::level_enum level;
  };
  using enum LogOptions::Format;
  const std::vector<Case> cases = {
      {{}, kConsole, spdlog::level::info},
      {{{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}}, kJson, spdlog::level::info},
      {{{"KUBERNETES_SERVICE_HOST", ""}}, kConsole, spdlog::level::info},
      {{{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KILN_LOG_FORMAT", "console"}},
       kConsole,
       spdlog::level::info},
      {{{"KILN_LOG_FORMAT", "json"}}, kJson, spdlog::level::info},
      {{{"KILN_LOG_FORMAT", "JSON"}}, kJson, spdlog::level::info},
      {{{"KILN_LOG_FORMAT", ""}, {"KILN_LOG_LEVEL", ""}}, kConsole, spdlog::level::info},
      {{{"KILN_LOG_LEVEL", "trace"}}, kConsole, spdlog::level::trace},
      {{{"KILN_LOG_LEVEL", "debug"}}, kConsole, spdlog::level::debug},
      {{{"KILN_LOG_LEVEL", "Warn"}}, kConsole, spdlog::level::warn},
      {{{"KILN_LOG_LEVEL", "error"}}, kConsole, spdlog::level::err},
      {{{"KILN_LOG_LEVEL", "critical"}}, kConsole, spdlog::level::critical},
      {{{"KILN_LOG_LEVEL", "off"}}, kConsole, spdlog::level::off},
  };
  for (const Case& c : cases) {
    const Result<LogOptions> options = log_options_from_env(fake_env(c.env));
    ASSERT_TRUE(options.ok()) << options.error().to_string();
    EXPECT_EQ(options->format, c.format) << testing::PrintToString(c.env);
    EXPECT_EQ(options->level, c.level) << testing::PrintToString(c.env);
  }
}

TEST(LogOptionsFromEnv, RejectsUnknownValuesNamingTheVariableAndValue) {
  struct Case {
    std::map<std::string, std::string> env;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"KILN_LOG_FORMAT", "xml"}}, R"(KILN_LOG_FORMAT="xml": expected one of json, console)"},
      {{{"KILN_LOG_LEVEL", "Verbose"}}, R"(KILN_LOG_LEVEL="Verbose": expected one of trace,)"},
      {{{"KILN_LOG_LEVEL", "warning"}}, R"(KILN_LOG_LEVEL="warning")"},
  };
  for (const Case& c : cases) {
    const Result<LogOptions> options = log_options_from_env(fake_env(c.env));
    ASSERT_FALSE(options.ok()) << testing::PrintToString(c.env);
    EXPECT_EQ(options.error().category(), ErrorCategory::kInvalidInput);
    EXPECT_THAT(options.error().message(), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace kiln
