#include "runtime/oip_codec.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>

namespace kiln::runtime {
namespace {

using json = nlohmann::json;

// The deepest nesting of arrays and objects a request body may have: the request's own structure
// takes 4 levels and data may nest 32 more (see flatten), which leaves room for parameters.
constexpr int kMaxJsonDepth = 64;

// Python's json module (allow_nan, so tritonclient.http without binary data) and Triton write
// the non-finite floats as the bare tokens NaN, Infinity and -Infinity, which JSON does not
// have. They are rewritten, outside strings, to null (a missing value, as a null element is) and
// to these strings, which the parser callback turns back into ±infinity; nlohmann refuses a
// number that overflows (1e999), so there is no number literal to use instead.
constexpr std::string_view kPositiveInfinity = "\\u0000kiln:+Infinity";
constexpr std::string_view kNegativeInfinity = "\\u0000kiln:-Infinity";
constexpr std::string_view kPositiveInfinityValue{"\0kiln:+Infinity", 15};
constexpr std::string_view kNegativeInfinityValue{"\0kiln:-Infinity", 15};

// `text` with the bare tokens NaN, Infinity and -Infinity outside strings rewritten (see above);
// nullopt when it has none.
std::optional<std::string> rewrite_non_finite_tokens(std::string_view text) {
  std::string out;
  bool in_string = false;
  bool rewritten = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\' && i + 1 < text.size()) {
        out += c;
        out += text[++i];
        continue;
      }
      if (c == '"') in_string = false;
      out += c;
      continue;
    }
    if (c == '"') in_string = true;
    const std::string_view rest = text.substr(i);
    if (rest.starts_with("NaN")) {
      out += "null";
      i += 2;
      rewritten = true;
    } else if (rest.starts_with("Infinity")) {
      out += '"';
      out += kPositiveInfinity;
      out += '"';
      i += 7;
      rewritten = true;
    } else if (rest.starts_with("-Infinity")) {
      out += '"';
      out += kNegativeInfinity;
      out += '"';
      i += 8;
      rewritten = true;
    } else {
      out += c;
    }
  }
  if (!rewritten) return std::nullopt;
  return out;
}

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

std::string json_string(std::string_view s);

// What the inputs of one request draw on while they decode, in input order.
struct Budget {
  std::string_view binary;          // The binary part not yet taken by an input.
  std::uint64_t json_elements = 0;  // Elements the JSON part can still carry (>= 2 bytes each).
  std::size_t json_bytes = 0;       // The JSON part's length, for messages.
};

// The element count of `shape` (left to right, as element_count() computes it), read into
// t.shape; refused when a partial product overflows: [2^40, 2^40, 0] holds no elements but would
// overflow there.
Result<std::int64_t> decode_shape(const json& in, const std::string& where, Tensor& t) {
  auto shape = in.find("shape");
  if (shape == in.end() || !shape->is_array()) {
    return Error::invalid_input(where + ".shape must be an array of integers");
  }
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
  return elements;
}

std::string shape_text(const Tensor& t) { return json(t.shape).dump(); }

// Takes an input's data from the binary part: `size` bytes (its binary_data_size).
Result<void> decode_binary_input(const json& size, std::int64_t elements, const std::string& where,
                                 Budget& budget, Tensor& t) {
  const std::string field = where + ".parameters.binary_data_size";
  if (!size.is_number_integer() || (!size.is_number_unsigned() && size.get<std::int64_t>() < 0)) {
    return Error::invalid_input(field + " must be a non-negative integer, got " + size.dump());
  }
  const auto bytes = size.get<std::uint64_t>();
  if (bytes > budget.binary.size()) {
    return Error::invalid_input(field + " is " + std::to_string(bytes) + " bytes, but only " +
                                std::to_string(budget.binary.size()) +
                                " bytes of binary data are left after the JSON (its length is "
                                "the Inference-Header-Content-Length header)");
  }
  if (const std::size_t n = element_size(t.datatype); n != 0) {
    const auto count = static_cast<std::uint64_t>(elements);
    if (count > bytes / n || count * n != bytes) {
      return Error::invalid_input(field + " is " + std::to_string(bytes) + " bytes; shape " +
                                  shape_text(t) + " of " + std::string(to_string(t.datatype)) +
                                  " takes " + std::to_string(count) + " x " + std::to_string(n));
    }
  }
  KILN_TRY(t.data, decode_raw(t.datatype, elements,
                              budget.binary.substr(0, static_cast<std::size_t>(bytes)), where));
  budget.binary.remove_prefix(static_cast<std::size_t>(bytes));
  return Ok();
}

// Reads an input's JSON data into t.data.
Result<void> decode_json_input(const json& data, std::int64_t elements, const std::string& where,
                               Budget& budget, Tensor& t) {
  if (!data.is_array()) return Error::invalid_input(where + ".data must be an array");
  if (static_cast<std::uint64_t>(elements) > budget.json_elements) {
    return Error::invalid_input(where + ": shape " + shape_text(t) + " holds " +
                                std::to_string(elements) + " elements, more than the " +
                                std::to_string(budget.json_bytes) +
                                " bytes of JSON can carry with the other inputs");
  }
  budget.json_elements -= static_cast<std::uint64_t>(elements);
  t.data = empty_data_for(t.datatype);
  std::visit([&](auto& values) { values.reserve(static_cast<std::size_t>(elements)); }, t.data);
  auto err = flatten(data, t.datatype, t.data, where + ".data", 0);
  if (!err.empty()) return Error::invalid_input(err);
  if (static_cast<std::uint64_t>(elements) != t.size()) {
    return Error::invalid_input(where + ": shape " + shape_text(t) + " holds " +
                                std::to_string(elements) + " elements but data has " +
                                std::to_string(t.size()));
  }
  return Ok();
}

Result<Tensor> decode_input(const json& in, std::size_t index, Budget& budget) {
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
  KILN_TRY(const std::int64_t elements, decode_shape(in, where, t));
  const json* binary_size = nullptr;
  if (auto p = in.find("parameters"); p != in.end()) {
    if (!p->is_object()) return Error::invalid_input(where + ".parameters must be an object");
    if (auto b = p->find("binary_data_size"); b != p->end()) binary_size = &*b;
  }
  auto data = in.find("data");
  if (binary_size != nullptr) {
    if (data != in.end()) {
      return Error::invalid_input(where + " has both data and parameters.binary_data_size");
    }
    if (auto r = decode_binary_input(*binary_size, elements, where, budget, t); !r.ok()) {
      return std::move(r).error();
    }
    return t;
  }
  if (data == in.end()) return Error::invalid_input(where + ".data must be an array");
  if (auto r = decode_json_input(*data, elements, where, budget, t); !r.ok()) {
    return std::move(r).error();
  }
  return t;
}

// The requested outputs; each name at most once.
Result<std::vector<RequestedOutput>> decode_outputs(const json& outputs) {
  if (!outputs.is_array()) return Error::invalid_input("outputs must be an array");
  std::vector<RequestedOutput> out;
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const json& o = outputs[i];
    const std::string where = "outputs[" + std::to_string(i) + "]";
    auto name = o.is_object() ? o.find("name") : o.end();
    if (!o.is_object() || name == o.end() || !name->is_string()) {
      return Error::invalid_input(where + " must be an object with a string name");
    }
    RequestedOutput want{name->get<std::string>(), json()};
    if (!seen.insert(want.name).second) {
      return Error::invalid_input(where + ": output " + json_string(want.name) +
                                  " is requested twice");
    }
    if (auto p = o.find("parameters"); p != o.end()) {
      if (!p->is_object()) return Error::invalid_input(where + ".parameters must be an object");
      if (auto b = p->find("binary_data"); b != p->end()) {
        if (!b->is_boolean()) {
          return Error::invalid_input(where + ".parameters.binary_data must be true or false");
        }
        want.binary_data = b->get<bool>();
      }
      want.parameters = *p;
    }
    out.push_back(std::move(want));
  }
  return out;
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

Result<std::optional<std::size_t>> parse_inference_header_length(std::string_view header,
                                                                 std::size_t body_bytes) {
  if (header.empty()) return std::optional<std::size_t>();
  std::size_t length = 0;
  const auto [ptr, ec] = std::from_chars(header.data(), header.data() + header.size(), length);
  if (ec != std::errc() || ptr != header.data() + header.size()) {
    return Error::invalid_input("Inference-Header-Content-Length must be a whole number of bytes, "
                                "not " + json_string(header));
  }
  if (length > body_bytes) {
    return Error::invalid_input("Inference-Header-Content-Length is " + std::to_string(length) +
                                " bytes, more than the body's " + std::to_string(body_bytes));
  }
  return std::optional<std::size_t>(length);
}

Result<InferenceRequest> decode_infer_request(std::string_view body,
                                              std::optional<std::size_t> json_bytes) {
  const std::string_view json_part = body.substr(0, json_bytes.value_or(body.size()));
  Budget budget{body.substr(json_part.size()), json_part.size() / 2, json_part.size()};
  // nlohmann's parser is iterative, but copying and dumping a value recurse once per level, so a
  // body of a million '[' would overflow the stack in an error message or the echoed parameters.
  // The depth is checked while parsing; deeper values are discarded at once.
  bool too_deep = false;
  const json::parser_callback_t limit_depth = [&too_deep](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  // nlohmann's lexer ends the input at a NUL byte, which JSON never holds unescaped: without this,
  // a JSON body followed by binary data but no Inference-Header-Content-Length would parse.
  if (const auto nul = json_part.find('\0'); nul != std::string_view::npos) {
    return Error::invalid_input(
        "the request body is not valid JSON: a NUL byte at offset " + std::to_string(nul) +
        (json_bytes ? std::string() : " (binary data needs the Inference-Header-Content-Length "
                                      "header)"));
  }
  json doc = json::parse(json_part, limit_depth, /*allow_exceptions=*/false);
  if (doc.is_discarded() && !too_deep) {
    if (auto rewritten = rewrite_non_finite_tokens(json_part)) {
      const json::parser_callback_t restore = [&](int depth, json::parse_event_t event,
                                                  json& parsed) {
        if (event == json::parse_event_t::value && parsed.is_string()) {
          // Compared before `parsed` is assigned: the assignment frees the string `text` views.
          const auto& text = parsed.get_ref<const std::string&>();
          if (text == kPositiveInfinityValue) {
            parsed = std::numeric_limits<double>::infinity();
          } else if (text == kNegativeInfinityValue) {
            parsed = -std::numeric_limits<double>::infinity();
          }
        }
        return limit_depth(depth, event, parsed);
      };
      doc = json::parse(*rewritten, restore, /*allow_exceptions=*/false);
    }
  }
  if (too_deep) {
    return Error::invalid_input("the request body nests deeper than " +
                                std::to_string(kMaxJsonDepth) + " levels");
  }
  if (doc.is_discarded()) {
    return Error::invalid_input(json_bytes ? "the request's first " + std::to_string(*json_bytes) +
                                                 " bytes (Inference-Header-Content-Length) are "
                                                 "not valid JSON"
                                           : std::string("the request body is not valid JSON"));
  }
  if (!doc.is_object()) return Error::invalid_input("the request body must be a JSON object");
  InferenceRequest request;
  if (auto id = doc.find("id"); id != doc.end()) {
    if (!id->is_string()) return Error::invalid_input("id must be a string");
    request.id = id->get<std::string>();
  }
  if (auto p = doc.find("parameters"); p != doc.end()) {
    if (!p->is_object()) return Error::invalid_input("parameters must be an object");
    if (auto b = p->find("binary_data_output"); b != p->end()) {
      if (!b->is_boolean()) {
        return Error::invalid_input("parameters.binary_data_output must be true or false");
      }
      request.binary_data_output = b->get<bool>();
    }
    request.parameters = std::move(*p);
  }
  auto inputs = doc.find("inputs");
  if (inputs == doc.end() || !inputs->is_array() || inputs->empty()) {
    return Error::invalid_input("inputs must be a non-empty array");
  }
  request.inputs.reserve(inputs->size());
  for (std::size_t i = 0; i < inputs->size(); ++i) {
    KILN_TRY(Tensor t, decode_input((*inputs)[i], i, budget));
    request.inputs.push_back(std::move(t));
  }
  if (!budget.binary.empty()) {
    const std::size_t binary = body.size() - json_part.size();
    return Error::invalid_input(
        "the body has " + std::to_string(binary) +
        " bytes of binary data after its JSON (Inference-Header-Content-Length " +
        std::to_string(json_part.size()) + "), but the inputs' binary_data_size add up to " +
        std::to_string(binary - budget.binary.size()));
  }
  if (auto outputs = doc.find("outputs"); outputs != doc.end()) {
    KILN_TRY(request.outputs, decode_outputs(*outputs));
  }
  return request;
}

namespace {

void append_output(std::string& out, const Tensor& t, bool binary, std::string& raw) {
  out += R"({"name":)" + json_string(t.name) + R"(,"datatype":")";
  out += to_string(t.datatype);
  out += R"(","shape":)" + json(t.shape).dump();
  if (binary) {
    out += R"(,"parameters":{"binary_data_size":)";
    out += std::to_string(append_raw(t, raw));
    out += "}}";
    return;
  }
  out += R"(,"data":)";
  append_data(out, t.data);
  out += '}';
}

EncodedInferResponse encode(const InferenceResponse& response, const std::vector<bool>& binary) {
  std::string out;
  std::string raw;
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
    if (i > 0) out += ',';
    append_output(out, response.outputs[i], i < binary.size() && binary[i], raw);
  }
  out += "]}";
  const std::size_t json_bytes = out.size();
  out += raw;
  return {std::move(out), json_bytes};
}

}  // namespace

std::string encode_infer_response(const InferenceResponse& response) {
  return encode(response, {}).body;
}

EncodedInferResponse encode_infer_response(const InferenceResponse& response,
                                           const std::vector<bool>& binary) {
  return encode(response, binary);
}

std::vector<bool> binary_outputs(std::span<const RequestedOutput> requested,
                                 bool binary_data_output, std::size_t count) {
  std::vector<bool> binary(count, binary_data_output);
  for (std::size_t i = 0; i < count && i < requested.size(); ++i) {
    binary[i] = requested[i].binary_data.value_or(binary_data_output);
  }
  return binary;
}

Result<std::vector<Tensor>> select_outputs(std::vector<Tensor> outputs,
                                           std::span<const RequestedOutput> requested) {
  if (requested.empty()) return outputs;
  // Indices first, so that a name is looked up among outputs none of which has been moved yet.
  std::vector<std::size_t> indices;
  indices.reserve(requested.size());
  std::vector<bool> taken(outputs.size(), false);
  for (const auto& want : requested) {
    std::size_t i = 0;
    while (i < outputs.size() && outputs[i].name != want.name) ++i;
    if (i == outputs.size()) {
      return Error::invalid_input("the model has no output named " + json_string(want.name));
    }
    if (taken[i]) {
      return Error::invalid_input("output " + json_string(want.name) + " is requested twice");
    }
    taken[i] = true;
    indices.push_back(i);
  }
  std::vector<Tensor> selected;
  selected.reserve(indices.size());
  for (std::size_t i : indices) selected.push_back(std::move(outputs[i]));
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
