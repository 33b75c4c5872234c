#include "onnx_fixtures.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace kiln::runtime::testing {

Tensor OnnxFixtures::rows(const std::string& model, const std::string& name) const {
  const auto rows = reference.at(model).at("rows").get<std::vector<std::vector<float>>>();
  std::vector<float> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return {name,
          DataType::kFp32,
          {static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(rows.at(0).size())},
          std::move(flat)};
}

std::vector<Tensor> OnnxFixtures::inputs(const std::string& model) const {
  std::vector<Tensor> out;
  for (const auto& [name, value] : reference.at(model).at("inputs").items()) {
    Tensor t{name, DataType::kFp32, value.at("shape").get<std::vector<std::int64_t>>(), {}};
    const std::string type = value.at("type");
    const auto& data = value.at("data");
    if (type == "int64") {
      t.datatype = DataType::kInt64;
      t.data = data.get<std::vector<std::int64_t>>();
    } else if (type == "string") {
      t.datatype = DataType::kBytes;
      t.data = data.get<std::vector<std::string>>();
    } else {
      std::vector<float> values;
      for (const auto& v : data) values.push_back(v.is_null() ? NAN : v.get<float>());
      t.data = std::move(values);
    }
    out.push_back(std::move(t));
  }
  return out;
}

const OnnxFixtures& onnx_fixtures() {
  // One directory in the build tree shared by every test process (ctest runs each test in its own
  // process): an flock serializes the conversion; files are reused until the script changes.
  static const OnnxFixtures fixtures = [] {
    namespace fs = std::filesystem;
    OnnxFixtures f;
    const fs::path dir = KILN_ONNX_FIXTURE_DIR;
    fs::create_directories(dir.parent_path());
    const int lock = ::open((dir.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
      ADD_FAILURE() << "cannot lock " << dir << ".lock";
      return f;
    }
    std::error_code ec;
    const auto done = dir / "reference.json";
    // Fresh when written after every script of this directory changed (the model script and the
    // operator graphs it imports).
    bool fresh = fs::exists(done, ec);
    const fs::path scripts = fs::path(KILN_MAKE_ONNX_MODELS).parent_path();
    for (const auto& entry : fs::directory_iterator(scripts, ec)) {
      if (entry.path().extension() == ".py") {
        fresh = fresh && fs::last_write_time(done, ec) >= fs::last_write_time(entry.path(), ec);
      }
    }
    if (!fresh) {
      const std::string command = std::string("'") + KILN_PYTHON + "' '" + KILN_MAKE_ONNX_MODELS +
                                  "' '" + dir.string() + "'";
      if (std::system(command.c_str()) != 0) {
        ADD_FAILURE() << "converting the ONNX fixture models failed: " << command
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
