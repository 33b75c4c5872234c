// kiln-runtime: the native runtime that runs inside Kiln's serving, training and profiling pods.
// Its subcommands register themselves (see runtime_command.h).

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cmd/runtime_command.h"
#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"kiln-runtime: Kiln's shared native runtime (model serving, routing, training, "
               "profiling, drift)",
               "kiln-runtime"};
  app.set_version_flag("--version", std::string("kiln-runtime ") + kiln::kVersion + " (" +
                                        kiln::kGitCommit + ")");
  app.require_subcommand(0, 1);
  std::vector<std::pair<CLI::App*, kiln::cmd::CommandRunner>> runners;
  for (const auto& command : kiln::cmd::runtime_commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    runners.emplace_back(sub, command.setup(*sub));
  }
  CLI11_PARSE(app, argc, argv);
  for (auto& [sub, run] : runners) {
    if (sub->parsed()) return run();
  }
  std::fputs(app.help().c_str(), stdout);
  return 0;
}
