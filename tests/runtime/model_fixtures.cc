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

const ModelFixtures& model_fixtures() {
  // One directory in the build tree, shared by every test process (ctest runs each test in its
  // own process): an flock serializes training, and the files are reused until the script changes.
  static const ModelFixtures fixtures = [] {
    namespace fs = std::filesystem;
    ModelFixtures f;
    const fs::path dir = KILN_FIXTURE_DIR;
    fs::create_directories(dir.parent_path());
    const int lock = ::open((dir.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
      ADD_FAILURE() << "cannot lock " << dir << ".lock";
      return f;
    }
    std::error_code ec;
    const auto done = dir / "reference.json";
    const bool fresh = fs::exists(done, ec) &&
                       fs::last_write_time(done, ec) >= fs::last_write_time(KILN_MAKE_MODELS, ec);
    if (!fresh) {
      const std::string command =
          std::string("'") + KILN_PYTHON + "' '" + KILN_MAKE_MODELS + "' '" + dir.string() + "'";
      if (std::system(command.c_str()) != 0) {
        ADD_FAILURE() << "training the fixture models failed: " << command
                      << " (run scripts/setup.sh runtime)";
        ::close(lock);
        return f;
      }
    }
    ::close(lock);
    f.dir = dir.string();
    std::ifstream in(done);
    f.reference = nlohmann::json::parse(in);
    return f;
  }();
  return fixtures;
}

}  // namespace kiln::runtime::testing
