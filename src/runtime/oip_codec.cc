#include "runtime/oip_codec.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

namespace kiln::runtime {
namespace {

using json = nlohmann::json;

// The deepest nesting of arrays and objects a request body may have: the request's own structure
// takes 4 levels and data may nest 32 more (see flatten), which leaves room for parameters.
constexpr int kMaxJsonDepth = 64;

// The [min, max] of an integer datatype.
std::pair<std::int64_t, std::int64_t> integer_range(DataType t) {
  switch (t) {
    case DataType::kUint8:
      return {0, 255};
    case DataType::kUint16:
      return {0, 65535};
    case DataType::kUint32:
      return {0, 4294967295LL};
    case DataType::kUint64:
      return {0, std::numeric_limits<std::int64_t>::max()};
    case DataType::kInt8:
      return {-128, 127};
    case DataType::kInt16:
      return {-32768, 32767};
    case DataType::kInt32:
      return {std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()};
    default:
      return {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()};
  }
}

// Appends one JSON element to `out`, checking it against `type`. Returns an error message or "".
std::string append_element(const json& v, DataType type, TensorData& out) {
  const auto name = std::string(to_string(type));
  if (is_floating(type)) {
    double d;
    if (v.is_number()) {
      d = v.get<double>();
    } else if (v.is_null()) {
      d = std::numeric_limits<double>::quiet_NaN();
    } else {
      return "expected a number for " + name + ", got " + v.dump();
    }
    if (type == DataType::kFp64) {
      std::get<std::vector<double>>(out).push_back(d);
    } else {
      std::get<std::vector<float>>(out).push_back(static_cast<float>(d));
    }
    return {};
  }
  if (is_integer(type)) {
    if (!v.is_number_integer()) return "expected an integer for " + name + ", got " + v.dump();
    const auto [lo, hi] = integer_range(type);
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
      return "value " + v.dump() + " is out of range for " + name;
    }
    const auto i = v.get<std::int64_t>();
    if (!v.is_number_unsigned() && (i < lo || i > hi)) {
      return "value " + v.dump() + " is out of range for " + name;
    }
    std::get<std::vector<std::int64_t>>(out).push_back(i);
    return {};
  }
  if (type == DataType::kBool) {
    if (!v.is_boolean()) return "expected true or false for BOOL, got " + v.dump();
    std::get<std::vector<std::uint8_t>>(out).push_back(v.get<bool>() ? 1 : 0);
    return {};
  }
  if (!v.is_string()) return "expected a string for BYTES, got " + v.dump();
  std::get<std::vector<std::string>>(out).push_back(v.get<std::string>());
  return {};
}

// Flattens (possibly nested) `data` into `out`. Returns an error message or "".
std::string flatten(const json& data, DataType type, TensorData& out, const std::string& where,
                    int depth) {
  if (depth > 32) return where + ": data nests too deeply";
  std::size_t i = 0;
  for (const auto& v : data) {
    if (v.is_array()) {
      auto err = flatten(v, type, out, where, depth + 1);
      if (!err.empty()) return err;
    } else {
      auto err = append_element(v, type, out);
      if (!err.empty()) return where + "[" + std::to_string(i) + "]: " + err;
    }
    ++i;
  }
  return {};
}

Result<Tensor> decode_input(const json& in, std::size_t index) {
  const std::string where = "inputs[" + std::to_string(index) + "]";
  if (!in.is_object()) return Error::invalid_input(where + " must be an object");
  Tensor t;
  auto name = in.find("name");
  if (name == in.end() || !name->is_string()) {
    return Error::invalid_input(where + ".name must be a string");
  }
  t.name = name->get<std::string>();
  auto datatype = in.find("datatype");
  if (datatype == in.end() || !datatype->is_string()) {
    return Error::invalid_input(where + ".datatype must be a string");
  }
  auto type = parse_datatype(datatype->get_ref<const std::string&>());
  if (!type) return Error::invalid_input(where + ": unknown datatype " + datatype->dump());
  t.datatype = *type;
  auto shape = in.find("shape");
  if (shape == in.end() || !shape->is_array()) {
    return Error::invalid_input(where + ".shape must be an array of integers");
  }
  // The element count as element_count() computes it (left to right), refused when a partial
  // product overflows: [2^40, 2^40, 0] holds no elements but would overflow there.
  std::int64_t elements = 1;
  for (const auto& d : *shape) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
      return Error::invalid_input(where + ".shape must hold non-negative integers, got " +
                                  shape->dump());
    }
    t.shape.push_back(d.get<std::int64_t>());
    if (__builtin_mul_overflow(elements, t.shape.back(), &elements)) {
      return Error::invalid_input(where + ": shape " + shape->dump() +
                                  " has more elements than a 64-bit count holds");
    }
  }
  auto data = in.find("data");
  if (data == in.end() || !data->is_array()) {
    return Error::invalid_input(where + ".data must be an array");
  }
  t.data = empty_data_for(t.datatype);
  auto err = flatten(*data, t.datatype, t.data, where + ".data", 0);
  if (!err.empty()) return Error::invalid_input(err);
  if (static_cast<std::uint64_t>(elements) != t.size()) {
    return Error::invalid_input(where + ": shape " + shape->dump() + " holds " +
                                std::to_string(elements) + " elements but data has " +
                                std::to_string(t.size()));
  }
  return t;
}

void append_number(std::string& out, double v, bool as_float) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto r = as_float ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                    : std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_data(std::string& out, const TensorData& data) {
  out += '[';
  std::visit(
      [&out](const auto& values) {
        using V = typename std::decay_t<decltype(values)>::value_type;
        bool first = true;
        for (const auto& v : values) {
          if (!first) out += ',';
          first = false;
          if constexpr (std::is_same_v<V, float>) {
            append_number(out, v, true);
          } else if constexpr (std::is_same_v<V, double>) {
            append_number(out, v, false);
          } else if constexpr (std::is_same_v<V, std::string>) {
            out += json(v).dump(-1, ' ', false, json::error_handler_t::replace);
          } else if constexpr (std::is_same_v<V, std::uint8_t>) {
            out += v != 0 ? "true" : "false";
          } else {
            out += std::to_string(v);
          }
        }
      },
      data);
  out += ']';
}

std::string json_string(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

json spec_json(const TensorSpec& spec) {
  return {{"name", spec.name}, {"datatype", to_string(spec.datatype)}, {"shape", spec.shape}};
}

}  // namespace

Result<InferenceRequest> decode_infer_request(std::string_view body) {
  // nlohmann's parser is iterative, but copying and dumping a value recurse once per level, so a
  // body of a million '[' would overflow the stack in an error message or the echoed parameters.
  // The depth is checked while parsing; deeper values are discarded at once.
  bool too_deep = false;
  const json::parser_callback_t limit_depth = [&too_deep](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  json doc = json::parse(body, limit_depth, /*allow_exceptions=*/false);
  if (too_deep) {
    return Error::invalid_input("the request body nests deeper than " +
                                std::to_string(kMaxJsonDepth) + " levels");
  }
  if (doc.is_discarded()) return Error::invalid_input("the request body is not valid JSON");
  if (!doc.is_object()) return Error::invalid_input("the request body must be a JSON object");
  InferenceRequest request;
  if (auto id = doc.find("id"); id != doc.end()) {
    if (!id->is_string()) return Error::invalid_input("id must be a string");
    request.id = id->get<std::string>();
  }
  if (auto p = doc.find("parameters"); p != doc.end()) {
    if (!p->is_object()) return Error::invalid_input("parameters must be an object");
    request.parameters = std::move(*p);
  }
  auto inputs = doc.find("inputs");
  if (inputs == doc.end() || !inputs->is_array() || inputs->empty()) {
    return Error::invalid_input("inputs must be a non-empty array");
  }
  for (std::size_t i = 0; i < inputs->size(); ++i) {
    KILN_TRY(Tensor t, decode_input((*inputs)[i], i));
    request.inputs.push_back(std::move(t));
  }
  if (auto outputs = doc.find("outputs"); outputs != doc.end()) {
    if (!outputs->is_array()) return Error::invalid_input("outputs must be an array");
    for (const auto& o : *outputs) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) {
        return Error::invalid_input("each of outputs must be an object with a string name");
      }
      request.outputs.push_back({o["name"].get<std::string>(), o.value("parameters", json())});
    }
  }
  return request;
}

std::string encode_infer_response(const InferenceResponse& response) {
  std::string out;
  out.reserve(128 + 16 * response.outputs.size());
  out += R"({"model_name":)";
  out += json_string(response.model_name);
  if (!response.model_version.empty())
    out += R"(,"model_version":)" + json_string(response.model_version);
  if (!response.id.empty()) out += R"(,"id":)" + json_string(response.id);
  if (!response.parameters.is_null()) {
    out += R"(,"parameters":)";
    out += response.parameters.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  out += R"(,"outputs":[)";
  for (std::size_t i = 0; i < response.outputs.size(); ++i) {
    const Tensor& t = response.outputs[i];
    if (i > 0) out += ',';
    out += R"({"name":)" + json_string(t.name) + R"(,"datatype":")";
    out += to_string(t.datatype);
    out += R"(","shape":)" + json(t.shape).dump() + R"(,"data":)";
    append_data(out, t.data);
    out += '}';
  }
  out += "]}";
  return out;
}

Result<std::vector<Tensor>> select_outputs(std::vector<Tensor> outputs,
                                           std::span<const RequestedOutput> requested) {
  if (requested.empty()) return outputs;
  std::vector<Tensor> selected;
  for (const auto& want : requested) {
    bool found = false;
    for (auto& t : outputs) {
      if (t.name == want.name) {
        selected.push_back(t);
        found = true;
        break;
      }
    }
    if (!found)
      return Error::invalid_input("the model has no output named " + json_string(want.name));
  }
  return selected;
}

std::string encode_error(std::string_view message) {
  return json{{"error", std::string(message)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

json model_metadata_json(std::string_view name, std::string_view version,
                         const ModelMetadata* metadata, std::string_view not_ready_reason) {
  json out = {{"name", name},
              {"versions", version.empty() ? json::array() : json::array({version})},
              {"platform", metadata != nullptr ? metadata->platform : ""},
              {"inputs", json::array()},
              {"outputs", json::array()}};
  if (metadata != nullptr) {
    for (const auto& spec : metadata->inputs) out["inputs"].push_back(spec_json(spec));
    for (const auto& spec : metadata->outputs) out["outputs"].push_back(spec_json(spec));
  } else {
    out["state"] = "UNAVAILABLE";
    out["reason"] = not_ready_reason;
  }
  return out;
}

}  // namespace kiln::runtime
