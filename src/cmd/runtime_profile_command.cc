// kiln-runtime profile: the baseline profile of a dataset (the drift reference), in the format
// served profiles use (drift::Profile JSON).
//
//   kiln-runtime profile --data train.csv --exclude label --output profile.json

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cmd/runtime_command.h"
#include "drift/csv.h"
#include "drift/profile.h"

namespace kiln::cmd {
namespace {

struct ProfileFlags {
  std::string data;
  std::string output;
  std::vector<std::string> exclude;
  std::uint32_t bins = 10;
};

int run_profile(const ProfileFlags& flags) {
  auto table = drift::read_csv(flags.data);
  if (!table.ok()) {
    std::fprintf(stderr, "profile: %s\n", table.error().to_string().c_str());
    return 1;
  }
  std::erase_if(table->columns, [&](const drift::Column& c) {
    return std::find(flags.exclude.begin(), flags.exclude.end(), c.name) != flags.exclude.end();
  });
  drift::ProfileOptions options;
  options.bins = flags.bins;
  auto profile = drift::Profile::from_table(*table, options);
  if (!profile.ok()) {
    std::fprintf(stderr, "profile: %s\n", profile.error().to_string().c_str());
    return 1;
  }
  std::ofstream out(flags.output);
  out << profile->to_json().dump() << '\n';
  if (!out) {
    std::fprintf(stderr, "profile: cannot write %s\n", flags.output.c_str());
    return 1;
  }
  std::printf("%s\n", nlohmann::json{{"profile", flags.output},
                                     {"rows", profile->rows()},
                                     {"features", profile->size()}}
                          .dump()
                          .c_str());
  return 0;
}

const bool kRegistered = register_runtime_command(
    "profile", "Write the baseline profile of a CSV dataset", [](CLI::App& sub) {
      auto flags = std::make_shared<ProfileFlags>();
      sub.add_option("--data", flags->data, "CSV file with a header")->required();
      sub.add_option("--output", flags->output, "Profile JSON to write")->required();
      sub.add_option("--exclude", flags->exclude, "Columns to leave out (e.g. the label)");
      sub.add_option("--bins", flags->bins, "Bins per numerical feature");
      return [flags] { return run_profile(*flags); };
    });

}  // namespace
}  // namespace kiln::cmd
