#include "runtime/onnx/onnx_backend.h"

#include <onnx/onnx_pb.h>  // The ONNX-ML schema with ONNX_ML defined (onnx.cmake).

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>
#include <utility>

#include "runtime/onnx/graph.h"

namespace kiln::runtime {
namespace {

using onnx_eval::ElemType;
using onnx_eval::GraphInput;
using onnx_eval::Plan;
using onnx_eval::Value;

DataType oip_type(ElemType type) {
  switch (type) {
    case ElemType::kFloat:
      return DataType::kFp32;
    case ElemType::kInt64:
      return DataType::kInt64;
    case ElemType::kString:
      return DataType::kBytes;
  }
  return DataType::kFp32;
}

// The declared dims with the batch (first) dimension as -1.
std::vector<std::int64_t> batch_dims(std::vector<std::int64_t> dims) {
  if (!dims.empty()) dims[0] = -1;
  return dims;
}

// Converts one request tensor to a graph input's element type.
Result<Value> to_value(const GraphInput& input, const Tensor& t) {
  const bool negative = std::any_of(t.shape.begin(), t.shape.end(), [](auto d) { return d < 0; });
  if (negative || static_cast<std::int64_t>(t.size()) != element_count(t.shape)) {
    return Error::invalid_input("input '" + t.name + "' holds " + std::to_string(t.size()) +
                                " values, which does not fit its shape");
  }
  Value v;
  v.type = input.type;
  v.shape = t.shape;
  const auto wrong = [&] {
    return Error::invalid_input("input '" + input.name + "' is " +
                                std::string(to_string(t.datatype)) + "; the model takes " +
                                std::string(to_string(oip_type(input.type))));
  };
  switch (input.type) {
    case ElemType::kFloat:
      if (t.datatype == DataType::kBytes) return wrong();
      std::visit(
          [&v](const auto& data) {
            using V = typename std::decay_t<decltype(data)>::value_type;
            if constexpr (!std::is_same_v<V, std::string>) v.f.assign(data.begin(), data.end());
          },
          t.data);
      break;
    case ElemType::kInt64:
      if (!is_integer(t.datatype) && t.datatype != DataType::kBool) return wrong();
      if (const auto* ints = std::get_if<std::vector<std::int64_t>>(&t.data)) {
        v.i = *ints;
      } else if (const auto* bools = std::get_if<std::vector<std::uint8_t>>(&t.data)) {
        v.i.assign(bools->begin(), bools->end());
      }
      break;
    case ElemType::kString:
      if (t.datatype != DataType::kBytes) return wrong();
      v.s = std::get<std::vector<std::string>>(t.data);
      break;
  }
  return v;
}

// Checks a bound value against the declared dims (a single [features] row becomes [1, features]).
Result<void> check_shape(const GraphInput& input, Value& v) {
  if (input.dims.size() == 2 && v.shape.size() == 1) v.shape.insert(v.shape.begin(), 1);
  if (input.dims.empty()) return Ok();  // No declared shape.
  if (v.shape.size() != input.dims.size()) {
    return Error::invalid_input("input '" + input.name + "' has shape " +
                                onnx_eval::shape_string(v.shape) + "; the model takes " +
                                onnx_eval::shape_string(batch_dims(input.dims)));
  }
  if (v.shape[0] == 0) return Error::invalid_input("the request has no rows");
  for (std::size_t d = 1; d < v.shape.size(); ++d) {
    if (input.dims[d] < 0 || input.dims[d] == v.shape[d]) continue;
    if (v.shape.size() == 2) {
      return Error::invalid_input("the model takes " + std::to_string(input.dims[d]) +
                                  " features; the request has " + std::to_string(v.shape[d]));
    }
    return Error::invalid_input("input '" + input.name + "' has shape " +
                                onnx_eval::shape_string(v.shape) + "; the model takes " +
                                onnx_eval::shape_string(batch_dims(input.dims)));
  }
  return Ok();
}

class OnnxBackend final : public ModelBackend {
 public:
  OnnxBackend(Plan plan, ModelMetadata metadata)
      : plan_(std::move(plan)), metadata_(std::move(metadata)) {}

  const ModelMetadata& metadata() const noexcept override { return metadata_; }

  Result<std::vector<Tensor>> predict(std::span<const Tensor> inputs) const override {
    try {
      return run(inputs);
    } catch (const std::bad_alloc&) {
      return Error::terminal("out of memory evaluating the ONNX model");
    } catch (const std::exception& e) {
      return Error::terminal(std::string("evaluating the ONNX model failed: ") + e.what());
    }
  }

 private:
  Result<std::vector<Tensor>> run(std::span<const Tensor> inputs) const {
    if (inputs.empty()) return Error::invalid_input("the request has no inputs");
    KILN_TRY(std::vector<Value> bound, bind(inputs));
    KILN_TRY(std::vector<Value> values, plan_.run(std::move(bound)));
    std::vector<Tensor> outputs;
    outputs.reserve(values.size());
    for (std::size_t k = 0; k < values.size(); ++k) {
      Value& v = values[k];
      Tensor t{plan_.outputs()[k].name, oip_type(v.type), std::move(v.shape), {}};
      switch (v.type) {
        case ElemType::kFloat:
          t.data = std::move(v.f);
          break;
        case ElemType::kInt64:
          t.data = std::move(v.i);
          break;
        case ElemType::kString:
          t.data = std::move(v.s);
          break;
      }
      outputs.push_back(std::move(t));
    }
    return outputs;
  }

  // One value per graph input: by name, else (single-input graphs) the request as a whole.
  Result<std::vector<Value>> bind(std::span<const Tensor> inputs) const {
    const auto& graph_inputs = plan_.inputs();
    std::vector<Value> bound;
    bound.reserve(graph_inputs.size());
    for (const auto& input : graph_inputs) {
      const Tensor* named = nullptr;
      for (const auto& t : inputs) {
        if (t.name == input.name) named = &t;
      }
      Value v;
      if (named != nullptr) {
        KILN_TRY(v, to_value(input, *named));
      } else if (graph_inputs.size() == 1 && input.type == ElemType::kFloat) {
        KILN_TRY(FeatureMatrix m, to_feature_matrix(inputs));
        if (m.rows < 0 || m.cols < 0 ||
            static_cast<std::int64_t>(m.values.size()) != m.rows * m.cols) {
          return Error::invalid_input("the request's values do not fit its shapes");
        }
        v = Value{ElemType::kFloat, {m.rows, m.cols}, std::move(m.values), {}, {}, false};
      } else if (graph_inputs.size() == 1 && inputs.size() == 1) {
        KILN_TRY(v, to_value(input, inputs[0]));
      } else {
        std::string names;
        for (const auto& g : graph_inputs) names += (names.empty() ? "'" : ", '") + g.name + "'";
        return Error::invalid_input("the request has no input named '" + input.name +
                                    "'; the model takes " + names);
      }
      if (auto shape = check_shape(input, v); !shape.ok()) return std::move(shape).error();
      bound.push_back(std::move(v));
    }
    return bound;
  }

  Plan plan_;
  ModelMetadata metadata_;
};

ModelMetadata metadata_of(const Plan& plan) {
  ModelMetadata m;
  m.platform = "onnx";
  for (const auto& in : plan.inputs()) {
    m.inputs.push_back({in.name, oip_type(in.type), batch_dims(in.dims)});
  }
  for (const auto& out : plan.outputs()) {
    m.outputs.push_back({out.name, oip_type(out.type), batch_dims(out.dims)});
  }
  return m;
}

}  // namespace

Result<std::unique_ptr<ModelBackend>> load_onnx(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Error::invalid_input("model file '" + path + "' does not exist or is not a file");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  if (!in) return Error::invalid_input("cannot read model file '" + path + "'");
  auto model = std::make_shared<::onnx::ModelProto>();
  if (!model->ParseFromString(bytes.str()) || !model->has_graph() ||
      model->graph().node_size() == 0) {
    return Error::invalid_input("cannot load ONNX model '" + path +
                                "': not an ONNX ModelProto with a graph of nodes");
  }
  auto plan = Plan::compile(std::move(model));
  if (!plan.ok()) return plan.error().with_context("cannot load ONNX model '" + path + "'");
  ModelMetadata metadata = metadata_of(*plan);
  return std::unique_ptr<ModelBackend>(
      std::make_unique<OnnxBackend>(std::move(plan).value(), std::move(metadata)));
}

}  // namespace kiln::runtime
