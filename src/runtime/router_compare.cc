#include "runtime/router_compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <variant>

#include "runtime/oip_codec.h"

namespace kiln::runtime {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxLabelBytes = 32;
constexpr int kMaxDepth = 8;

bool is_floating(const json& out) {
  const auto type = out.find("datatype");
  if (type == out.end() || !type->is_string()) return true;
  const auto& t = type->get_ref<const std::string&>();
  return t == "FP16" || t == "FP32" || t == "FP64";
}

// Appends the elements of `data` (flat or nested) to `rows`; false past kMaxDepth.
bool flatten(const json& data, bool floating, OutputRows& rows, int depth) {
  if (depth > kMaxDepth) return false;
  for (const auto& v : data) {
    if (v.is_array()) {
      if (!flatten(v, floating, rows, depth + 1)) return false;
    } else if (floating) {
      rows.values.push_back(v.is_number() ? v.get<double>() : NAN);
    } else {
      rows.labels.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  return true;
}

bool same_value(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

std::size_t argmax(const double* row, std::size_t width) {
  std::size_t best = 0;
  for (std::size_t c = 1; c < width; ++c) {
    if (row[c] > row[best] || (std::isnan(row[best]) && !std::isnan(row[c]))) best = c;
  }
  return best;
}

bool in_unit_interval(const std::vector<double>& values) {
  return std::all_of(values.begin(), values.end(),
                     [](double v) { return !std::isfinite(v) || (v >= 0 && v <= 1); });
}

std::string decile_bucket(double v) {
  if (std::isnan(v)) return "NaN";
  const int d = std::clamp(static_cast<int>(std::floor(v * 10)), 0, 9);
  return "p:0." + std::to_string(d);
}

std::string value_bucket(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "value:+Inf" : "value:-Inf";
  if (std::abs(v) < 0x1p-40) return "value:0";
  const double e = std::floor(4 * std::log2(std::abs(v)));
  char text[40];
  std::snprintf(text, sizeof text, "value:%s%.4g", v < 0 ? "-" : "", std::exp2(e / 4));
  return text;
}

std::string label_bucket(const std::vector<std::string>& labels, std::size_t at,
                         std::size_t width) {
  std::string out = "label:";
  for (std::size_t c = 0; c < width; ++c) {
    if (c > 0) out += ',';
    out += std::string_view(labels[at + c]).substr(0, kMaxLabelBytes);
  }
  return out;
}

}  // namespace

Result<OutputRows> first_output_rows(std::string_view body) {
  const auto doc = json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("outputs") || !doc["outputs"].is_array() ||
      doc["outputs"].empty() || !doc["outputs"][0].is_object()) {
    return Error::invalid_input("the answer has no outputs");
  }
  const json& out = doc["outputs"][0];
  OutputRows rows;
  rows.floating = is_floating(out);
  const json data = out.value("data", json::array());
  if (!data.is_array() || !flatten(data, rows.floating, rows, 0)) {
    return Error::invalid_input("outputs[0].data must be an array (nested at most 8 deep)");
  }
  const std::size_t size = rows.floating ? rows.values.size() : rows.labels.size();
  rows.rows = size;
  if (out.contains("shape")) {
    if (!out["shape"].is_array()) return Error::invalid_input("outputs[0].shape must be an array");
    std::size_t elements = 1;
    for (const auto& d : out["shape"]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
        return Error::invalid_input("outputs[0].shape must hold non-negative integers");
      }
      rows.shape.push_back(d.get<std::int64_t>());
      // Checked: [2^62 + 1, 4] wrapped to 4 elements, read as 2^62 + 1 rows of width 0.
      if (__builtin_mul_overflow(elements, static_cast<std::size_t>(rows.shape.back()),
                                 &elements)) {
        return Error::invalid_input("outputs[0].shape has more elements than a 64-bit count holds");
      }
    }
    if (!rows.shape.empty()) {
      if (elements != size) {
        return Error::invalid_input("outputs[0]: shape and data size disagree");
      }
      rows.rows = size == 0 ? 0 : static_cast<std::size_t>(rows.shape[0]);
      rows.width = rows.rows == 0 ? 1 : size / rows.rows;
    }
  }
  return rows;
}

Result<OutputRows> first_output_rows(const Tensor& output) {
  OutputRows rows;
  rows.floating = is_floating(output.datatype);
  rows.shape = output.shape;
  std::visit(
      [&](const auto& values) {
        using V = typename std::decay_t<decltype(values)>::value_type;
        if constexpr (std::is_same_v<V, std::string>) {
          rows.labels.assign(values.begin(), values.end());
        } else if (rows.floating) {
          rows.values.assign(values.begin(), values.end());
        } else {
          rows.labels.reserve(values.size());
          for (const auto v : values) {
            if (output.datatype == DataType::kBool) {
              rows.labels.emplace_back(v != V{} ? "true" : "false");
            } else {
              rows.labels.push_back(std::to_string(static_cast<std::int64_t>(v)));
            }
          }
        }
      },
      output.data);
  const std::size_t size = rows.floating ? rows.values.size() : rows.labels.size();
  rows.rows = size;
  if (!rows.shape.empty()) {
    std::size_t elements = 1;
    for (const auto d : rows.shape) {
      if (d < 0 || __builtin_mul_overflow(elements, static_cast<std::size_t>(d), &elements)) {
        return Error::invalid_input("outputs[0].shape must hold non-negative dimensions");
      }
    }
    if (elements != size) return Error::invalid_input("outputs[0]: shape and data size disagree");
    rows.rows = size == 0 ? 0 : static_cast<std::size_t>(rows.shape[0]);
    rows.width = rows.rows == 0 ? 1 : size / rows.rows;
  }
  return rows;
}

Result<RowComparison> compare_rows(const OutputRows& a, const OutputRows& b,
                                   const CompareOptions& options) {
  if (a.floating != b.floating || a.rows != b.rows || a.width != b.width ||
      (!a.shape.empty() && !b.shape.empty() && a.shape != b.shape)) {
    return Error::invalid_input("the answers' first outputs differ in shape or datatype");
  }
  RowComparison c;
  c.rows = a.rows;
  const std::size_t w = a.width;
  if (!a.floating) {
    c.rule = RowRule::kEqual;
    for (std::size_t r = 0; r < c.rows; ++r) {
      const auto first = a.labels.begin() + static_cast<std::ptrdiff_t>(r * w);
      c.agreed += std::equal(first, first + static_cast<std::ptrdiff_t>(w),
                             b.labels.begin() + static_cast<std::ptrdiff_t>(r * w))
                      ? 1
                      : 0;
      ++c.buckets_a[label_bucket(a.labels, r * w, w)];
      ++c.buckets_b[label_bucket(b.labels, r * w, w)];
    }
    return c;
  }
  for (std::size_t i = 0; i < a.values.size(); ++i) {
    if (std::isfinite(a.values[i]) && std::isfinite(b.values[i])) {
      c.absolute_difference += std::abs(a.values[i] - b.values[i]);
      ++c.values;
    }
  }
  if (w > 1) {
    c.rule = RowRule::kArgmax;
    for (std::size_t r = 0; r < c.rows; ++r) {
      const std::size_t ia = argmax(&a.values[r * w], w), ib = argmax(&b.values[r * w], w);
      c.agreed += ia == ib ? 1 : 0;
      ++c.buckets_a["class:" + std::to_string(ia)];
      ++c.buckets_b["class:" + std::to_string(ib)];
    }
    return c;
  }
  c.rule = in_unit_interval(a.values) && in_unit_interval(b.values) ? RowRule::kThreshold
                                                                    : RowRule::kTolerance;
  for (std::size_t r = 0; r < c.rows; ++r) {
    const double x = a.values[r], y = b.values[r];
    bool agree = false;
    if (c.rule == RowRule::kThreshold) {
      agree = std::isnan(x) || std::isnan(y) ? std::isnan(x) && std::isnan(y)
                                             : (x >= options.threshold) == (y >= options.threshold);
      ++c.buckets_a[decile_bucket(x)];
      ++c.buckets_b[decile_bucket(y)];
    } else {
      const double tolerance = std::max(
          options.relative_tolerance * std::max(std::abs(x), std::abs(y)),
          options.absolute_tolerance);
      agree = same_value(x, y) || std::abs(x - y) <= tolerance;
      ++c.buckets_a[value_bucket(x)];
      ++c.buckets_b[value_bucket(y)];
    }
    c.agreed += agree ? 1 : 0;
  }
  return c;
}

Result<OutputRows> answer_first_output_rows(std::string_view body,
                                           std::string_view header_length) {
  if (header_length.empty()) return first_output_rows(body);
  KILN_TRY(const std::optional<std::size_t> json_bytes,
           parse_inference_header_length(header_length, body.size()));
  const std::string_view text = body.substr(0, json_bytes.value_or(body.size()));
  const auto doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("outputs") || !doc["outputs"].is_array() ||
      doc["outputs"].empty() || !doc["outputs"][0].is_object()) {
    return Error::invalid_input("the answer has no outputs");
  }
  const json& out = doc["outputs"][0];
  const json* size = nullptr;
  if (auto p = out.find("parameters"); p != out.end() && p->is_object()) {
    if (auto s = p->find("binary_data_size"); s != p->end()) size = &*s;
  }
  if (size == nullptr) return first_output_rows(text);  // The first output is in the JSON.
  if (!size->is_number_unsigned()) {
    return Error::invalid_input("outputs[0].parameters.binary_data_size must be a whole number");
  }
  const auto datatype = out.contains("datatype") && out["datatype"].is_string()
                            ? parse_datatype(out["datatype"].get<std::string>())
                            : std::nullopt;
  if (!datatype) return Error::invalid_input("outputs[0].datatype is not an OIP datatype");
  Tensor tensor;
  tensor.datatype = *datatype;
  std::int64_t count = 1;
  if (!out.contains("shape") || !out["shape"].is_array()) {
    return Error::invalid_input("outputs[0].shape must be an array");
  }
  for (const auto& d : out["shape"]) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
      return Error::invalid_input("outputs[0].shape must hold non-negative integers");
    }
    tensor.shape.push_back(d.get<std::int64_t>());
    if (__builtin_mul_overflow(count, tensor.shape.back(), &count)) {
      return Error::invalid_input("outputs[0].shape has more elements than a 64-bit count holds");
    }
  }
  const std::size_t binary_bytes = body.size() - text.size();
  const std::uint64_t bytes = size->get<std::uint64_t>();
  if (bytes > binary_bytes) {
    return Error::invalid_input("outputs[0].parameters.binary_data_size runs past the answer");
  }
  KILN_TRY(tensor.data, decode_raw(tensor.datatype, count,
                                   body.substr(text.size(), static_cast<std::size_t>(bytes)),
                                   "outputs[0]"));
  return first_output_rows(tensor);
}

}  // namespace kiln::runtime
