#include "runtime/grpc_codec.h"

#include <limits>
#include <set>
#include <string_view>
#include <type_traits>
#include <utility>


namespace kiln::runtime {
namespace {

using inference::InferParameter;
using inference::InferTensorContents;
using Parameters = google::protobuf::Map<std::string, InferParameter>;

// The largest element count a shape may describe; far above what any message can carry, so a
// real request never meets it, and products below it cannot overflow.
constexpr std::int64_t kMaxElements = std::int64_t{1} << 48;

std::string where(int index, const std::string& name) {
  return "inputs[" + std::to_string(index) + "] '" + name + "'";
}

std::string shape_text(std::span<const std::int64_t> shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

nlohmann::json parameters_json(const Parameters& parameters) {
  if (parameters.empty()) return nullptr;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : parameters) {
    switch (value.parameter_choice_case()) {
      case InferParameter::kBoolParam:
        out[key] = value.bool_param();
        break;
      case InferParameter::kInt64Param:
        out[key] = value.int64_param();
        break;
      case InferParameter::kStringParam:
        out[key] = value.string_param();
        break;
      case InferParameter::kDoubleParam:
        out[key] = value.double_param();
        break;
      case InferParameter::kUint64Param:
        out[key] = value.uint64_param();
        break;
      case InferParameter::PARAMETER_CHOICE_NOT_SET:
        out[key] = nullptr;
        break;
    }
  }
  return out;
}

void fill_parameters(const nlohmann::json& parameters, Parameters& out) {
  if (!parameters.is_object()) return;
  for (const auto& [key, value] : parameters.items()) {
    InferParameter p;
    if (value.is_boolean()) {
      p.set_bool_param(value.get<bool>());
    } else if (value.is_number_unsigned()) {
      p.set_uint64_param(value.get<std::uint64_t>());
    } else if (value.is_number_integer()) {
      p.set_int64_param(value.get<std::int64_t>());
    } else if (value.is_number_float()) {
      p.set_double_param(value.get<double>());
    } else if (value.is_string()) {
      p.set_string_param(value.get<std::string>());
    } else {
      p.set_string_param(value.dump());
    }
    out[key] = std::move(p);
  }
}

// The element count of `shape`; an error past kMaxElements or for a negative dimension.
Result<std::int64_t> checked_count(const google::protobuf::RepeatedField<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) {
      return Error::invalid_input("shape[" + std::to_string(d) + "] is " +
                                  std::to_string(shape[d]) + ", expected >= 0");
    }
    if (shape[d] != 0 && count > kMaxElements / shape[d]) {
      return Error::invalid_input("shape " + shape_text(std::vector<std::int64_t>(shape.begin(), shape.end())) +
                                  " describes too many elements");
    }
    count *= shape[d];
  }
  return count;
}

// Copies typed contents into the datatype's storage, checking the range of the narrow integers.
template <typename Out, typename Repeated>
Result<TensorData> copy_contents(const Repeated& values, std::int64_t lo, std::int64_t hi) {
  std::vector<Out> out;
  out.reserve(static_cast<std::size_t>(values.size()));
  for (int i = 0; i < values.size(); ++i) {
    const auto v = values[i];
    using V = std::remove_cv_t<decltype(v)>;
    if constexpr (std::is_integral_v<V> && !std::is_same_v<V, bool>) {
      const bool below = std::is_signed_v<V> && static_cast<std::int64_t>(v) < lo;
      const bool above = std::is_signed_v<V>
                             ? static_cast<std::int64_t>(v) > hi
                             : static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(hi);
      if (below || above) {
        return Error::invalid_input("element " + std::to_string(i) + " is " + std::to_string(v) +
                                    ", out of range [" + std::to_string(lo) + ", " +
                                    std::to_string(hi) + "]");
      }
    }
    out.push_back(static_cast<Out>(v));
  }
  return TensorData(std::move(out));
}

// The typed contents of a `datatype` tensor: the field's name, its element count, and the data.
struct Typed {
  const char* field;
  int size;
};

Typed typed_field(DataType datatype, const InferTensorContents& c) {
  switch (datatype) {
    case DataType::kBool:
      return {"bool_contents", c.bool_contents_size()};
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
      return {"int_contents", c.int_contents_size()};
    case DataType::kInt64:
      return {"int64_contents", c.int64_contents_size()};
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32:
      return {"uint_contents", c.uint_contents_size()};
    case DataType::kUint64:
      return {"uint64_contents", c.uint64_contents_size()};
    case DataType::kFp32:
      return {"fp32_contents", c.fp32_contents_size()};
    case DataType::kFp64:
      return {"fp64_contents", c.fp64_contents_size()};
    case DataType::kBytes:
      return {"bytes_contents", c.bytes_contents_size()};
    case DataType::kFp16:
      break;
  }
  return {nullptr, 0};
}

// The first typed field other than `field` that holds elements; nullptr when none does.
const char* other_typed_field(const InferTensorContents& c, const char* field) {
  const std::pair<const char*, int> fields[] = {
      {"bool_contents", c.bool_contents_size()},   {"int_contents", c.int_contents_size()},
      {"int64_contents", c.int64_contents_size()}, {"uint_contents", c.uint_contents_size()},
      {"uint64_contents", c.uint64_contents_size()}, {"fp32_contents", c.fp32_contents_size()},
      {"fp64_contents", c.fp64_contents_size()},   {"bytes_contents", c.bytes_contents_size()}};
  for (const auto& [name, size] : fields) {
    if (size > 0 && std::string_view(name) != field) return name;
  }
  return nullptr;
}

Result<TensorData> decode_typed(DataType datatype, const InferTensorContents& c) {
  constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
  switch (datatype) {
    case DataType::kBool:
      return copy_contents<std::uint8_t>(c.bool_contents(), 0, 1);
    case DataType::kInt8:
      return copy_contents<std::int64_t>(c.int_contents(), -128, 127);
    case DataType::kInt16:
      return copy_contents<std::int64_t>(c.int_contents(), -32768, 32767);
    case DataType::kInt32:
      return copy_contents<std::int64_t>(c.int_contents(), INT32_MIN, INT32_MAX);
    case DataType::kInt64:
      return copy_contents<std::int64_t>(c.int64_contents(), INT64_MIN, kInt64Max);
    case DataType::kUint8:
      return copy_contents<std::int64_t>(c.uint_contents(), 0, 255);
    case DataType::kUint16:
      return copy_contents<std::int64_t>(c.uint_contents(), 0, 65535);
    case DataType::kUint32:
      return copy_contents<std::int64_t>(c.uint_contents(), 0, UINT32_MAX);
    case DataType::kUint64:
      return copy_contents<std::int64_t>(c.uint64_contents(), 0, kInt64Max);
    case DataType::kFp32:
      return copy_contents<float>(c.fp32_contents(), 0, 0);
    case DataType::kFp64:
      return copy_contents<double>(c.fp64_contents(), 0, 0);
    case DataType::kBytes:
      return TensorData(std::vector<std::string>(c.bytes_contents().begin(),
                                                 c.bytes_contents().end()));
    case DataType::kFp16:
      break;
  }
  return Error::invalid_input("FP16 has no typed contents: send it in raw_input_contents");
}

Result<Tensor> decode_input(const inference::ModelInferRequest& message, int i, bool raw) {
  const auto& input = message.inputs(i);
  auto context = [&](const Error& e) { return e.with_context(where(i, input.name())); };
  const auto datatype = parse_datatype(input.datatype());
  if (!datatype) {
    return Error::invalid_input(where(i, input.name()) + ": unknown datatype '" +
                                input.datatype().substr(0, 32) + "'");
  }
  auto count = checked_count(input.shape());
  if (!count.ok()) return context(count.error());
  Tensor tensor{input.name(), *datatype, {input.shape().begin(), input.shape().end()}, {}};
  if (raw) {
    auto data = decode_raw(*datatype, *count, message.raw_input_contents(i),
                           where(i, input.name()) + ": raw_input_contents[" +
                               std::to_string(i) + "]");
    if (!data.ok()) return data.error();
    tensor.data = std::move(data).value();
    return tensor;
  }
  const Typed typed = typed_field(*datatype, input.contents());
  if (typed.field == nullptr) {
    return Error::invalid_input(where(i, input.name()) +
                                ": FP16 has no typed contents, send it in raw_input_contents");
  }
  if (const char* other = other_typed_field(input.contents(), typed.field)) {
    return Error::invalid_input(where(i, input.name()) + ": has " + other + " for datatype " +
                                input.datatype() + ", whose contents go in " + typed.field);
  }
  if (typed.size != *count) {
    return Error::invalid_input(where(i, input.name()) + ": expected " + std::to_string(*count) +
                                " " + typed.field + " for shape " +
                                shape_text(tensor.shape) + ", got " + std::to_string(typed.size));
  }
  auto data = decode_typed(*datatype, input.contents());
  if (!data.ok()) return context(data.error().with_context(std::string("contents.") + typed.field));
  tensor.data = std::move(data).value();
  return tensor;
}

}  // namespace

Result<GrpcInferRequest> decode_grpc_infer_request(const inference::ModelInferRequest& message) {
  GrpcInferRequest out;
  out.raw = message.raw_input_contents_size() > 0;
  if (out.raw) {
    if (message.raw_input_contents_size() != message.inputs_size()) {
      return Error::invalid_input(
          "raw_input_contents has " + std::to_string(message.raw_input_contents_size()) +
          " entries for " + std::to_string(message.inputs_size()) +
          " inputs: it needs one per input");
    }
    for (int i = 0; i < message.inputs_size(); ++i) {
      if (message.inputs(i).has_contents()) {
        return Error::invalid_input(where(i, message.inputs(i).name()) +
                                    ": has contents while raw_input_contents is used; a request "
                                    "sends all its inputs raw or all typed");
      }
    }
  }
  out.request.id = message.id();
  out.request.parameters = parameters_json(message.parameters());
  out.request.inputs.reserve(static_cast<std::size_t>(message.inputs_size()));
  for (int i = 0; i < message.inputs_size(); ++i) {
    auto tensor = decode_input(message, i, out.raw);
    if (!tensor.ok()) return tensor.error();
    out.request.inputs.push_back(std::move(tensor).value());
  }
  std::set<std::string> seen;
  for (int i = 0; i < message.outputs_size(); ++i) {
    const auto& requested = message.outputs(i);
    if (!seen.insert(requested.name()).second) {
      return Error::invalid_input("outputs[" + std::to_string(i) + "] '" + requested.name() +
                                  "': requested more than once");
    }
    out.request.outputs.push_back({requested.name(), parameters_json(requested.parameters())});
  }
  return out;
}

namespace {

void fill_contents(const Tensor& tensor, InferTensorContents& c) {
  std::visit(
      [&](const auto& values) {
        using V = typename std::decay_t<decltype(values)>::value_type;
        for (const auto& v : values) {
          if constexpr (std::is_same_v<V, std::string>) {
            c.add_bytes_contents(v);
          } else {
            switch (tensor.datatype) {
              case DataType::kBool:
                c.add_bool_contents(v != V{});
                break;
              case DataType::kInt8:
              case DataType::kInt16:
              case DataType::kInt32:
                c.add_int_contents(static_cast<std::int32_t>(v));
                break;
              case DataType::kInt64:
                c.add_int64_contents(static_cast<std::int64_t>(v));
                break;
              case DataType::kUint8:
              case DataType::kUint16:
              case DataType::kUint32:
                c.add_uint_contents(static_cast<std::uint32_t>(v));
                break;
              case DataType::kUint64:
                c.add_uint64_contents(static_cast<std::uint64_t>(v));
                break;
              case DataType::kFp64:
                c.add_fp64_contents(static_cast<double>(v));
                break;
              default:  // FP32 (FP16 goes raw).
                c.add_fp32_contents(static_cast<float>(v));
            }
          }
        }
      },
      tensor.data);
}

}  // namespace

void encode_grpc_infer_response(InferenceResponse response, bool raw,
                                inference::ModelInferResponse& out) {
  out.set_model_name(std::move(response.model_name));
  out.set_model_version(std::move(response.model_version));
  out.set_id(std::move(response.id));
  fill_parameters(response.parameters, *out.mutable_parameters());
  for (const auto& t : response.outputs) raw = raw || t.datatype == DataType::kFp16;
  for (const auto& tensor : response.outputs) {
    auto* output = out.add_outputs();
    output->set_name(tensor.name);
    output->set_datatype(std::string(to_string(tensor.datatype)));
    for (const auto d : tensor.shape) output->add_shape(d);
    if (raw) {
      append_raw(tensor, *out.add_raw_output_contents());
    } else {
      fill_contents(tensor, *output->mutable_contents());
    }
  }
}

}  // namespace kiln::runtime
