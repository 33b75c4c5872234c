#include "model_fixtures.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace kiln::runtime::testing {

std::vector<std::vector<float>> ModelFixtures::rows(const std::string& model) const {
  auto out = reference[model]["rows"].get<std::vector<std::vector<float>>>();
  for (const auto& at : reference[model]["missing"]) {
    out[at[0].get<std::size_t>()][at[1].get<std::size_t>()] = NAN;
  }
  return out;
}

std::vector<float> ModelFixtures::predictions(const std::string& model) const {
  std::vector<float> flat;
  for (const auto& v : reference[model]["predict"]) {
    if (v.is_array()) {
      for (const auto& x : v) flat.push_back(x.get<float>());
    } else {
      flat.push_back(v.get<float>());
    }
  }
  return flat;
}

ModelFixtures generated_fixtures(const std::string& python, const std::string& script,
                                 const std::string& dir_name, const std::string& hint) {
  namespace fs = std::filesystem;
  ModelFixtures f;
  const fs::path dir = dir_name;
  fs::create_directories(dir.parent_path());
  const int lock = ::open((dir.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
    ADD_FAILURE() << "cannot lock " << dir << ".lock";
    if (lock >= 0) ::close(lock);
    return f;
  }
  std::error_code ec;
  const auto done = dir / "reference.json";
  bool fresh = fs::exists(done, ec);
  for (const auto& entry : fs::directory_iterator(fs::path(script).parent_path(), ec)) {
    if (entry.path().extension() == ".py") {
      fresh = fresh && fs::last_write_time(done, ec) >= fs::last_write_time(entry.path(), ec);
    }
  }
  if (!fresh) {
    const std::string command = "'" + python + "' '" + script + "' '" + dir.string() + "'";
    if (std::system(command.c_str()) != 0) {
      ADD_FAILURE() << "making the fixtures failed: " << command << " (" << hint << ")";
      ::close(lock);
      return f;
    }
  }
  ::close(lock);
  f.dir = dir.string();
  std::ifstream in(done);
  f.reference = nlohmann::json::parse(in);
  return f;
}

const ModelFixtures& model_fixtures() {
  static const ModelFixtures fixtures = generated_fixtures(
      KILN_PYTHON, KILN_MAKE_MODELS, KILN_FIXTURE_DIR, "run scripts/setup.sh runtime");
  return fixtures;
}

}  // namespace kiln::runtime::testing
