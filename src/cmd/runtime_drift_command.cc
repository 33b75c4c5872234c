// kiln-runtime drift: compare a current dataset (CSV) or profile with a reference one.
//
//   kiln-runtime drift --reference REF.csv --current CUR.csv [--columns a,b]
//       [--test auto|ks|psi|jensenshannon|wasserstein|chisquare|z|hellinger|linf]
//       [--threshold X] [--correction none|bonferroni|fdr] [--drift-share S] --format json|table
//   kiln-runtime drift --reference-profile REF.json (--current-profile CUR.json | --current
//   CUR.csv)
//
// Two CSV files: exact mode. A reference profile: sketch mode (a current CSV is profiled with the
// reference's schema first). Exit code 0 with the report on stdout, 2 on invalid input (message
// on stderr).
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cmd/runtime_command.h"
#include "drift/csv.h"
#include "drift/detect.h"
#include "drift/profile.h"

namespace kiln::cmd {
namespace {

struct DriftCommandOptions {
  std::string reference, current, reference_profile, current_profile;
  std::vector<std::string> columns;
  std::string test = "auto";
  std::optional<double> threshold;
  std::string correction = "none";
  double drift_share = 0.5;
  std::string format = "json";
};

Result<drift::Profile> load_profile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::invalid_input("cannot read profile '" + path + "'");
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error::invalid_input("profile '" + path + "' is not JSON");
  auto p = drift::Profile::from_json(j);
  if (!p.ok()) return p.error().with_context(path);
  return p;
}

Result<drift::DriftReport> run(const DriftCommandOptions& o) {
  drift::DriftOptions options;
  options.columns = o.columns;
  auto test = drift::test_kind_from_string(o.test);
  if (!test) return Error::invalid_input("unknown --test '" + o.test + "'");
  options.test = *test;
  options.threshold = o.threshold;
  auto correction = drift::correction_from_string(o.correction);
  if (!correction) return Error::invalid_input("unknown --correction '" + o.correction + "'");
  options.correction = *correction;
  options.drift_share = o.drift_share;
  drift::CsvOptions csv;
  csv.columns = o.columns;

  if (!o.reference_profile.empty()) {
    KILN_TRY(drift::Profile reference, load_profile(o.reference_profile));
    if (!o.current_profile.empty()) {
      KILN_TRY(drift::Profile current, load_profile(o.current_profile));
      return drift::compare_profiles(reference, current, options);
    }
    if (o.current.empty()) return Error::invalid_input("--current or --current-profile needed");
    KILN_TRY(drift::Table table, drift::read_csv(o.current, csv));
    KILN_TRY(drift::Profile current, reference.profile_of(table));
    return drift::compare_profiles(reference, current, options);
  }
  if (!o.current_profile.empty()) {
    return Error::invalid_input(
        "--current-profile needs --reference-profile (the profile its schema came from)");
  }
  if (o.reference.empty() || o.current.empty()) {
    return Error::invalid_input("give --reference and --current (or --reference-profile)");
  }
  KILN_TRY(drift::Table reference, drift::read_csv(o.reference, csv));
  // The current file takes the reference's column types, so both sides are compared alike.
  for (const auto& c : reference.columns) csv.types[c.name] = c.type;
  KILN_TRY(drift::Table current, drift::read_csv(o.current, csv));
  return drift::compare_tables(reference, current, options);
}

const bool kRegistered = register_runtime_command(
    "drift", "Compare a current dataset or profile with a reference (data drift)",
    [](CLI::App& sub) {
      auto o = std::make_shared<DriftCommandOptions>();
      sub.add_option("--reference", o->reference, "Reference dataset (CSV with a header row)");
      sub.add_option("--current", o->current, "Current dataset (CSV)");
      sub.add_option("--reference-profile", o->reference_profile, "Reference profile (JSON)");
      sub.add_option("--current-profile", o->current_profile, "Current profile (JSON)");
      sub.add_option("--columns", o->columns, "Features to compare (default: all)")->delimiter(',');
      sub.add_option("--test", o->test,
                     "auto|ks|psi|jensenshannon|wasserstein|chisquare|z|hellinger|linf");
      sub.add_option("--threshold", o->threshold, "Threshold for every feature's test");
      sub.add_option("--correction", o->correction, "none|bonferroni|fdr");
      sub.add_option("--drift-share", o->drift_share, "Share of drifted features for dataset drift")
          ->check(CLI::Range(0.0, 1.0));
      sub.add_option("--format", o->format, "json|table")->check(CLI::IsMember({"json", "table"}));
      return [o] {
        auto report = run(*o);
        if (!report.ok()) {
          std::cerr << "kiln-runtime drift: " << report.error().to_string() << "\n";
          return 2;
        }
        if (o->format == "table") {
          std::cout << report->to_table();
        } else {
          std::cout << report->to_json().dump(2) << "\n";
        }
        return 0;
      };
    });

}  // namespace
}  // namespace kiln::cmd
