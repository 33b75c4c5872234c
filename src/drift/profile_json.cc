// Profile <-> JSON (the "version": 1 format documented in profile.h and docs/drift.md).
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "drift/profile.h"

namespace kiln::drift {
namespace {

using nlohmann::json;

template <class T>
Result<T> field(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) {
    return Error::invalid_input(std::string("profile JSON: missing \"") + key + "\"");
  }
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    return Error::invalid_input(std::string("profile JSON: \"") + key + "\" has the wrong type");
  }
}

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

}  // namespace

json FeatureProfile::to_json() const {
  json j = {{"name", schema_.name},
            {"type", std::string(to_string(schema_.type))},
            {"count", count()},
            {"missing", missing()}};
  if (const auto* n = numerical()) {
    j["binEdges"] = schema_.bin_edges;
    j["binCounts"] = n->bin_counts;
    j["center"] = schema_.center;
    j["min"] = n->count ? json(n->min) : json(nullptr);
    j["max"] = n->count ? json(n->max) : json(nullptr);
    j["sum"] = number_or_null(n->sum);
    j["sumSquares"] = number_or_null(n->sum_squares);
    j["sketch"] = n->sketch.to_json();
  } else {
    const auto* c = categorical();
    j["categories"] = schema_.categories;
    j["categoryCounts"] = c->category_counts;
    j["other"] = c->other;
  }
  return j;
}

Result<FeatureProfile> FeatureProfile::from_json(const json& j) {
  KILN_TRY(auto name, field<std::string>(j, "name"));
  KILN_TRY(auto type_text, field<std::string>(j, "type"));
  auto type = column_type_from_string(type_text);
  if (!type) return Error::invalid_input("profile JSON: unknown type '" + type_text + "'");
  KILN_TRY(auto missing, field<uint64_t>(j, "missing"));
  FeatureSchema schema{name, *type, {}, {}, 0, KllSketch::kDefaultK};
  if (*type == ColumnType::kNumerical) {
    KILN_TRY(schema.bin_edges, field<std::vector<double>>(j, "binEdges"));
    KILN_TRY(schema.center, field<double>(j, "center"));
    KILN_TRY(auto counts, field<std::vector<uint64_t>>(j, "binCounts"));
    KILN_TRY(auto count, field<uint64_t>(j, "count"));
    KILN_TRY(auto sum, field<double>(j, "sum"));
    KILN_TRY(auto sum_squares, field<double>(j, "sumSquares"));
    if (!j.contains("sketch")) return Error::invalid_input("profile JSON: missing \"sketch\"");
    KILN_TRY(auto sketch, KllSketch::from_json(j["sketch"]));
    for (std::size_t i = 1; i < schema.bin_edges.size(); ++i) {
      if (!(schema.bin_edges[i - 1] < schema.bin_edges[i])) {
        return Error::invalid_input("profile JSON: '" + name + "' bin edges not increasing");
      }
    }
    if (counts.size() != schema.bin_edges.size() + 1 ||
        std::accumulate(counts.begin(), counts.end(), uint64_t{0}) != count ||
        sketch.count() != count) {
      return Error::invalid_input("profile JSON: '" + name + "' counts do not match its bins");
    }
    schema.sketch_k = sketch.k();
    FeatureProfile f(std::move(schema));
    auto& n = std::get<NumericalSummary>(f.summary_);
    n.bin_counts = std::move(counts);
    n.count = count;
    n.missing = missing;
    n.sum = sum;
    n.sum_squares = sum_squares;
    if (count > 0) {
      KILN_TRY(n.min, field<double>(j, "min"));
      KILN_TRY(n.max, field<double>(j, "max"));
    }
    n.sketch = std::move(sketch);
    return f;
  }
  KILN_TRY(schema.categories, field<std::vector<std::string>>(j, "categories"));
  KILN_TRY(auto counts, field<std::vector<uint64_t>>(j, "categoryCounts"));
  KILN_TRY(auto other, field<uint64_t>(j, "other"));
  std::unordered_set<std::string_view> seen;
  for (const auto& c : schema.categories) {
    if (!seen.insert(c).second) {
      return Error::invalid_input("profile JSON: '" + name + "' repeats category '" + c + "'");
    }
  }
  if (counts.size() != schema.categories.size()) {
    return Error::invalid_input("profile JSON: '" + name + "' counts do not match categories");
  }
  FeatureProfile f(std::move(schema));
  auto& c = std::get<CategoricalSummary>(f.summary_);
  c.category_counts = std::move(counts);
  c.other = other;
  c.missing = missing;
  return f;
}

json Profile::to_json() const {
  json features = json::array();
  for (const auto& f : features_) features.push_back(f.to_json());
  return {{"version", kProfileFormatVersion}, {"rows", rows_}, {"features", features}};
}

Result<Profile> Profile::from_json(const json& j) {
  KILN_TRY(auto version, field<int>(j, "version"));
  if (version != kProfileFormatVersion) {
    return Error::invalid_input("profile JSON: version " + std::to_string(version) +
                                " is not supported (expected " +
                                std::to_string(kProfileFormatVersion) + ")");
  }
  KILN_TRY(auto rows, field<uint64_t>(j, "rows"));
  if (!j.contains("features") || !j["features"].is_array()) {
    return Error::invalid_input("profile JSON: \"features\" must be an array");
  }
  Profile p({});
  std::unordered_set<std::string> names;
  for (const auto& fj : j["features"]) {
    auto f = FeatureProfile::from_json(fj);
    if (!f.ok()) return std::move(f).error();
    if (!names.insert(f->schema().name).second) {
      return Error::invalid_input("profile JSON: duplicate feature '" + f->schema().name + "'");
    }
    p.features_.push_back(std::move(f).value());
  }
  p.rows_ = rows;
  return p;
}

}  // namespace kiln::drift
