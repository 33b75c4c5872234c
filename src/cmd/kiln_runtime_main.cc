// kiln-runtime: the native runtime that runs inside Kiln's serving, training and profiling pods.
//
// This first version answers --version and --help; its subcommands arrive with the runtime library.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"kiln-runtime: Kiln's shared native runtime (model serving, routing, training, "
               "profiling)",
               "kiln-runtime"};
  app.set_version_flag("--version", std::string("kiln-runtime ") + kiln::kVersion + " (" +
                                        kiln::kGitCommit + ")");
  CLI11_PARSE(app, argc, argv);
  std::fputs(app.help().c_str(), stdout);
  return 0;
}
