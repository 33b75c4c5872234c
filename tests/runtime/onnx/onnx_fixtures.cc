#include "onnx_fixtures.h"

#include <gtest/gtest.h>

#include <cmath>

#include "model_fixtures.h"

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
  static const OnnxFixtures fixtures = [] {
    const auto made = generated_fixtures(KILN_PYTHON, KILN_MAKE_ONNX_MODELS, KILN_ONNX_FIXTURE_DIR,
                                         "run scripts/setup.sh runtime");
    return OnnxFixtures{made.dir, made.reference};
  }();
  return fixtures;
}

}  // namespace kiln::runtime::testing
