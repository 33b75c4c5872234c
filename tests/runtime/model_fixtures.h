#pragma once

// Real model files for the runtime's tests, trained once per test process by make_models.py
// through the test virtualenv's Python (see that script for what each file is).

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::runtime::testing {

struct ModelFixtures {
  std::string dir;           // Holds the files make_models.py writes.
  nlohmann::json reference;  // reference.json.

  std::string path(const std::string& file) const { return dir + "/" + file; }
  // The reference rows of `model` with NaN restored where the script marked a missing value.
  std::vector<std::vector<float>> rows(const std::string& model) const;
  std::vector<float> predictions(const std::string& model) const;
};

// A directory of fixtures a Python script writes (`python script dir`), ending with
// dir/reference.json: made once per build tree and shared by every test process (ctest runs each
// test in its own; an flock on dir.lock serializes them), remade when any .py file beside the
// script is newer than reference.json. Returns {dir, parsed reference.json}; on failure adds a
// test failure naming the command and `hint` (what to install) and returns an empty dir.
ModelFixtures generated_fixtures(const std::string& python, const std::string& script,
                                 const std::string& dir, const std::string& hint);

// Trains the models on first use (a few seconds) and returns them; later calls return the same
// files. Fails the current test (ADD_FAILURE) and returns an empty dir when Python fails.
const ModelFixtures& model_fixtures();

}  // namespace kiln::runtime::testing
