// kiln-manager: the operator binary that reconciles Kiln's four kinds.
//
// This first version answers --version and --help; the controllers arrive with the kube library.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"kiln-manager: reconciles DataPipeline, TrainingJob, ModelDeployment and "
               "DriftMonitor resources (group kiln.dev)",
               "kiln-manager"};
  app.set_version_flag("--version", std::string("kiln-manager ") + kiln::kVersion + " (" +
                                        kiln::kGitCommit + ")");
  CLI11_PARSE(app, argc, argv);
  std::fputs(app.help().c_str(), stdout);
  return 0;
}
