#include "common/log.h"

#include <fmt/core.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <utility>

namespace kiln {
namespace {

using spdlog::memory_buf_t;
using Json = nlohmann::json;

constexpr std::string_view kLoggerName = "kiln";

struct LevelName {
  std::string_view name;
  spdlog::level::level_enum level;
};
constexpr auto kLevels = std::to_array<LevelName>({
    {"trace", spdlog::level::trace},
    {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},
    {"critical", spdlog::level::critical},
    {"off", spdlog::level::off},
});

std::string_view level_name(spdlog::level::level_enum level) {
  for (const LevelName& entry : kLevels) {
    if (entry.level == level) return entry.name;
  }
  return "unknown";
}

// The structured fields of the record being logged on this thread, set by kiln::log::* around the
// spdlog call and read by the formatters below. spdlog's sync loggers format on the calling thread,
// so this reaches exactly the record it belongs to. Null for plain spdlog calls.
thread_local const Json* t_fields = nullptr;

// Serializes `value` as JSON, replacing invalid UTF-8 rather than throwing.
std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void append(std::string_view text, memory_buf_t& dest) {
  dest.append(text.data(), text.data() + text.size());
}

void append_json_string(std::string_view text, memory_buf_t& dest) {
  append(dump(Json(std::string(text))), dest);
}

// Calls emit(key, value) for each field of the current record (see log.h for the rules).
template <class Emit>
void for_each_field(Emit&& emit) {
  if (t_fields == nullptr || t_fields->is_null()) return;
  if (!t_fields->is_object()) {
    emit("fields", *t_fields);
    return;
  }
  for (auto it = t_fields->begin(); it != t_fields->end(); ++it) {
    const std::string& key = it.key();
    const bool reserved = key == "ts" || key == "level" || key == "logger" || key == "msg";
    emit(reserved ? "fields." + key : key, it.value());
  }
}

// Appends "2026-11-21T15:20:15.123Z".
void append_timestamp(spdlog::log_clock::time_point time, memory_buf_t& dest) {
  using std::chrono::duration_cast;
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis = duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t t = seconds.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  fmt::format_to(fmt::appender(dest), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 millis);
}

// One JSON object per line: ts, level, logger, msg, then the record's fields.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, memory_buf_t& dest) override {
    append(R"({"ts":")", dest);
    append_timestamp(msg.time, dest);
    append(R"(","level":")", dest);
    append(level_name(msg.level), dest);
    append(R"(","logger":)", dest);
    append_json_string({msg.logger_name.data(), msg.logger_name.size()}, dest);
    append(R"(,"msg":)", dest);
    append_json_string({msg.payload.data(), msg.payload.size()}, dest);
    for_each_field([&dest](const std::string& key, const Json& value) {
      dest.push_back(',');
      append_json_string(key, dest);
      dest.push_back(':');
      append(dump(value), dest);
    });
    append("}\n", dest);
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// Console pattern flag %* : the record's fields as " key=value" pairs.
class ConsoleFieldsFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& /*msg*/, const std::tm& /*time*/,
              memory_buf_t& dest) override {
    for_each_field([&dest](const std::string& key, const Json& value) {
      dest.push_back(' ');
      append(key, dest);
      dest.push_back('=');
      append(needs_quotes(value) ? dump(value) : value.get_ref<const std::string&>(), dest);
    });
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ConsoleFieldsFlag>();
  }

 private:
  // Strings print bare unless that would be ambiguous or hide control characters; other values
  // print as JSON.
  static bool needs_quotes(const Json& value) {
    if (!value.is_string()) return true;
    const auto& text = value.get_ref<const std::string&>();
    return text.empty() || std::any_of(text.begin(), text.end(), [](unsigned char c) {
             return c <= ' ' || c == '"' || c == '=' || c == 0x7F;
           });
  }
};

std::unique_ptr<spdlog::formatter> make_formatter(LogOptions::Format format) {
  if (format == LogOptions::Format::kJson) return std::make_unique<JsonFormatter>();
  auto console = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  console->add_flag<ConsoleFieldsFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ [%^%l%$] [%n] %v%*");
  return console;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The variable's value; nullopt when unset or empty.
std::optional<std::string> lookup(const EnvLookup& env, std::string_view name) {
  std::optional<std::string> value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

Error invalid_env(std::string_view name, std::string_view value, std::string_view expected) {
  return Error::invalid_input(
      fmt::format("{}={}: expected one of {}", name, dump(Json(std::string(value))), expected));
}

Result<LogOptions::Format> format_from_env(const EnvLookup& env) {
  constexpr std::string_view kName = "KILN_LOG_FORMAT";
  const std::optional<std::string> value = lookup(env, kName);
  if (!value) {
    const bool in_cluster = lookup(env, "KUBERNETES_SERVICE_HOST").has_value();
    return in_cluster ? LogOptions::Format::kJson : LogOptions::Format::kConsole;
  }
  const std::string name = lowercase(*value);
  if (name == "json") return LogOptions::Format::kJson;
  if (name == "console") return LogOptions::Format::kConsole;
  return invalid_env(kName, *value, "json, console");
}

Result<spdlog::level::level_enum> level_from_env(const EnvLookup& env) {
  constexpr std::string_view kName = "KILN_LOG_LEVEL";
  const std::optional<std::string> value = lookup(env, kName);
  if (!value) return spdlog::level::info;
  const std::string name = lowercase(*value);
  for (const LevelName& entry : kLevels) {
    if (entry.name == name) return entry.level;
  }
  return invalid_env(kName, *value, "trace, debug, info, warn, error, critical, off");
}

void write(spdlog::level::level_enum level, std::string_view msg, const Json& fields) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  const Json* previous = std::exchange(t_fields, &fields);
  logger->log(level, spdlog::string_view_t(msg.data(), msg.size()));
  t_fields = previous;
}

}  // namespace

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<LogOptions> log_options_from_env(const EnvLookup& env) {
  KILN_TRY(LogOptions::Format format, format_from_env(env));
  KILN_TRY(spdlog::level::level_enum level, level_from_env(env));
  return LogOptions{format, level};
}

Result<void> init_logging(const LogOptions& options) {
  return init_logging(options, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
}

Result<void> init_logging(const LogOptions& options, std::shared_ptr<spdlog::sinks::sink> sink) {
  if (sink == nullptr) return Error::invalid_input("init_logging: the sink is null");
  sink->set_formatter(make_formatter(options.format));
  auto logger = std::make_shared<spdlog::logger>(std::string(kLoggerName), std::move(sink));
  logger->set_level(options.level);
  spdlog::set_default_logger(std::move(logger));
  return Ok();
}

namespace log {
void debug(std::string_view msg, const nlohmann::json& fields) {
  write(spdlog::level::debug, msg, fields);
}
void info(std::string_view msg, const nlohmann::json& fields) {
  write(spdlog::level::info, msg, fields);
}
void warn(std::string_view msg, const nlohmann::json& fields) {
  write(spdlog::level::warn, msg, fields);
}
void error(std::string_view msg, const nlohmann::json& fields) {
  write(spdlog::level::err, msg, fields);
}
}  // namespace log

}  // namespace kiln
