#pragma once

// Process-wide logging on spdlog: one line per record on stderr, either JSON (in a cluster, for log
// collectors) or a human-readable console line. Call init_logging() once at startup; afterwards
// both kiln::log::info(...) (with structured fields) and plain spdlog::info(...) go through it.
//
// JSON line:    {"ts":"2026-11-21T15:20:15.123Z","level":"info","logger":"kiln","msg":"started",
//                "namespace":"default"}
// Console line: 2026-11-21T15:20:15.123Z [info] [kiln] started namespace=default
//
// Timestamps are UTC with millisecond precision. JSON level names are trace, debug, info, warn,
// error, critical (console lines use spdlog's names). In JSON lines, bytes that are not valid
// UTF-8 are replaced by U+FFFD.

#include <spdlog/common.h>
#include <spdlog/sinks/sink.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln {

// How init_logging() writes records. The defaults are those of log_options_from_env() outside a
// cluster.
struct LogOptions {
  enum class Format {
    kJson,     // One JSON object per line, for log collectors.
    kConsole,  // Human-readable text.
  };
  Format format = Format::kConsole;
  // Records below this level are dropped before formatting.
  spdlog::level::level_enum level = spdlog::level::info;
};

// Looks up an environment variable by name; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// An EnvLookup over the process environment (std::getenv). Like getenv, not safe to call while
// another thread modifies the environment.
EnvLookup process_env();

// Reads logging options from the environment:
//   KILN_LOG_FORMAT  json | console. Default: json when KUBERNETES_SERVICE_HOST is set (we run in a
//                    cluster), console otherwise.
//   KILN_LOG_LEVEL   trace | debug | info | warn | error | critical | off. Default: info.
// Values are case-insensitive; an empty value counts as unset. An unknown value is an
// invalid-input error whose message names the variable and the value.
Result<LogOptions> log_options_from_env(const EnvLookup& env = process_env());

// Installs a logger named "kiln" writing to stderr as spdlog's default logger, replacing any
// previous default. Call from one thread at startup, before other threads log; logging itself is
// thread-safe (the sink serializes whole lines and flushes each one). Always succeeds; the Result
// is for symmetry with the overload below.
Result<void> init_logging(const LogOptions& options);

// As above, writing to `sink` instead of stderr (for tests: e.g. an ostream_sink_mt). The logger
// shares ownership of `sink`, which must be thread-safe (an _mt sink); its formatter is replaced.
// A null sink is an invalid-input error.
Result<void> init_logging(const LogOptions& options, std::shared_ptr<spdlog::sinks::sink> sink);

// Structured logging through spdlog's default logger. `msg` is written verbatim (no fmt
// formatting). `fields` is a JSON object whose members are added to the line: merged into the
// object in JSON mode, appended as ` key=value` in console mode (strings JSON-quoted when empty or
// containing spaces, control characters, quotes or `=`; bare otherwise). Null means no fields; any
// other non-object value is written under the key "fields". A field named ts, level, logger or msg
// is renamed "fields.<name>". Thread-safe. Fields are attached only by the formatters
// init_logging() installs, which run on the logging thread; with another logger set as default they
// are dropped.
namespace log {
void debug(std::string_view msg, const nlohmann::json& fields = {});
void info(std::string_view msg, const nlohmann::json& fields = {});
void warn(std::string_view msg, const nlohmann::json& fields = {});
void error(std::string_view msg, const nlohmann::json& fields = {});
}  // namespace log

}  // namespace kiln
