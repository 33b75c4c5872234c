// kiln-runtime artifacts PATH...: checks that a DataPipeline step's declared output artifacts
// exist (the check Job of controllers/datapipeline/artifacts.h runs it, in the runtime image,
// which has no shell). Exit 0 when every path exists; else 1, with "missing: <path> ..." written
// to --termination-log (default /dev/termination-log) and to stderr.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "cmd/runtime_command.h"

namespace kiln::cmd {
namespace {

struct ArtifactsFlags {
  std::vector<std::string> paths;
  std::string termination_log = "/dev/termination-log";
};

int run_artifacts(const ArtifactsFlags& flags) {
  std::string missing;
  for (const auto& path : flags.paths) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) missing += " " + path;
  }
  if (missing.empty()) {
    std::printf("artifacts: %zu found\n", flags.paths.size());
    return 0;
  }
  const std::string message = "missing:" + missing;
  std::fprintf(stderr, "artifacts: %s\n", message.c_str());
  std::ofstream(flags.termination_log) << message;
  return 1;
}

const bool kRegistered = register_runtime_command(
    "artifacts", "Check that files exist (a DataPipeline step's output artifacts)",
    [](CLI::App& sub) {
      auto flags = std::make_shared<ArtifactsFlags>();
      sub.add_option("paths", flags->paths, "Paths that must exist")->required();
      sub.add_option("--termination-log", flags->termination_log,
                     "Where the names of missing paths are written");
      return [flags] { return run_artifacts(*flags); };
    });

}  // namespace
}  // namespace kiln::cmd
