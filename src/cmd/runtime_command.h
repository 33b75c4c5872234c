#pragma once

// Subcommands of kiln-runtime (serve, route, train, profile, drift), each defined in its own
// runtime_<name>_command.cc and registered at static-initialization time, so adding one touches
// no other file.
//
//   const bool kRegistered = kiln::cmd::register_runtime_command(
//       "drift", "Compare two datasets or profiles", [](CLI::App& sub) {
//         auto opts = std::make_shared<DriftOptions>();
//         sub.add_option("--reference", opts->reference)->required();
//         return [opts] { return run_drift(*opts); };  // runs after parsing; returns exit code
//       });

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace kiln::cmd {

// Runs a parsed subcommand and returns the process exit code.
using CommandRunner = std::function<int()>;
// Declares the subcommand's options on `sub` and returns the runner that uses them.
using CommandSetup = std::function<CommandRunner(CLI::App& sub)>;

struct RuntimeCommand {
  std::string name;
  std::string description;
  CommandSetup setup;
};

// Adds a subcommand. Call only from a namespace-scope initializer; returns true so it can
// initialize a constant. Not thread-safe (static initialization is single-threaded).
bool register_runtime_command(std::string name, std::string description, CommandSetup setup);

// Every registered subcommand, in name order.
std::vector<RuntimeCommand> runtime_commands();

}  // namespace kiln::cmd
