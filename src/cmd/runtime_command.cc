#include "cmd/runtime_command.h"

#include <algorithm>
#include <utility>

namespace kiln::cmd {
namespace {

// A function-local static avoids the static-initialization-order problem between the registry
// and the registering translation units.
std::vector<RuntimeCommand>& registry() {
  static std::vector<RuntimeCommand> commands;
  return commands;
}

}  // namespace

bool register_runtime_command(std::string name, std::string description, CommandSetup setup) {
  registry().push_back({std::move(name), std::move(description), std::move(setup)});
  return true;
}

std::vector<RuntimeCommand> runtime_commands() {
  auto commands = registry();
  std::sort(commands.begin(), commands.end(),
            [](const RuntimeCommand& a, const RuntimeCommand& b) { return a.name < b.name; });
  return commands;
}

}  // namespace kiln::cmd
