#include "drift/profile.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "drift/sort.h"

namespace kiln::drift {
namespace {

using nlohmann::json;

// numpy.quantile(sorted, q) with the default "linear" method.
double quantile_linear(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

// std::upper_bound(edges, v) − begin, the bin of v, without a branch on the data (Khuong and
// Morin, "Array Layouts for Comparison-Based Searching", 2017): served values hit bins in random
// order, and a branchy search mispredicts about every other step.
std::size_t bin_of(const std::vector<double>& edges, double v) {
  if (edges.empty()) return 0;
  const double* base = edges.data();
  std::size_t n = edges.size();
  while (n > 1) {
    const std::size_t half = n / 2;
    base = base[half] <= v ? base + half : base;
    n -= half;
  }
  return static_cast<std::size_t>(base - edges.data()) + (*base <= v ? 1 : 0);
}

// `sorted`: the column's finite values, ascending.
FeatureSchema numerical_schema(const Column& column, const std::vector<double>& sorted,
                               const ProfileOptions& options) {
  FeatureSchema s{column.name, ColumnType::kNumerical, {}, {}, 0, options.sketch_k};
  if (sorted.empty()) return s;
  s.center = quantile_linear(sorted, 0.5);
  for (uint32_t j = 1; j < options.bins; ++j) {
    const double e = quantile_linear(sorted, static_cast<double>(j) / options.bins);
    if (s.bin_edges.empty() || e > s.bin_edges.back()) s.bin_edges.push_back(e);
  }
  return s;
}

// Adds a column at once: `sorted` holds its finite values ascending, `missing` counts the others.
// The same summary as FeatureProfile::add on every value (the sums to rounding), in O(n + bins ·
// log n) after the sort, against a binary search and a sketch insert per value.
void add_sorted(const FeatureSchema& schema, NumericalSummary& n, const std::vector<double>& sorted,
                uint64_t missing) {
  n.missing += missing;
  if (sorted.empty()) return;
  // Bin i holds [e_{i-1}, e_i): its count is the number of values below e_i minus those below
  // e_{i-1}, as std::upper_bound(edges, value) places each value in add().
  std::size_t below_previous = 0;
  for (std::size_t i = 0; i < schema.bin_edges.size(); ++i) {
    const auto below = static_cast<std::size_t>(
        std::lower_bound(sorted.begin(), sorted.end(), schema.bin_edges[i]) - sorted.begin());
    n.bin_counts[i] += below - below_previous;
    below_previous = below;
  }
  n.bin_counts.back() += sorted.size() - below_previous;
  n.min = n.count ? std::min(n.min, sorted.front()) : sorted.front();
  n.max = n.count ? std::max(n.max, sorted.back()) : sorted.back();
  n.count += sorted.size();
  double sum = 0, sum_squares = 0;
  for (double v : sorted) {
    const double d = v - schema.center;
    sum += d;
    sum_squares += d * d;
  }
  n.sum += sum;
  n.sum_squares += sum_squares;
  n.sketch.add_sorted(sorted);
}

// `counts`: column.code_counts().
FeatureSchema categorical_schema(const Column& column, const std::vector<uint64_t>& counts,
                                 const ProfileOptions& options) {
  FeatureSchema s{column.name, ColumnType::kCategorical, {}, {}, 0, options.sketch_k};
  std::vector<std::size_t> order(counts.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (counts[a] != counts[b]) return counts[a] > counts[b];
    return column.dictionary[a] < column.dictionary[b];
  });
  for (std::size_t i = 0; i < order.size() && i < options.max_categories; ++i) {
    if (counts[order[i]] > 0) s.categories.push_back(column.dictionary[order[i]]);
  }
  return s;
}

Result<void> check_table(const Table& table) {
  if (table.columns.empty()) return Error::invalid_input("profile: the table has no columns");
  std::unordered_set<std::string_view> names;
  for (const Column& c : table.columns) {
    if (!names.insert(c.name).second) {
      return Error::invalid_input("profile: duplicate column '" + c.name + "'");
    }
    if (c.size() != table.rows()) {
      return Error::invalid_input("profile: column '" + c.name + "' has another length");
    }
  }
  return Ok();
}

}  // namespace

double NumericalSummary::mean(double center) const noexcept {
  return count ? center + sum / static_cast<double>(count) : NAN;
}

double NumericalSummary::stddev() const noexcept {
  if (count == 0) return NAN;
  const double n = static_cast<double>(count);
  const double m = sum / n;
  return std::sqrt(std::max(sum_squares / n - m * m, 0.0));
}

uint64_t CategoricalSummary::count() const noexcept {
  return std::accumulate(category_counts.begin(), category_counts.end(), other);
}

std::size_t FeatureProfile::StringHash::operator()(std::string_view s) const noexcept {
  return std::hash<std::string_view>{}(s);
}

FeatureProfile::FeatureProfile(FeatureSchema schema) : schema_(std::move(schema)) {
  if (schema_.type == ColumnType::kNumerical) {
    NumericalSummary n{std::vector<uint64_t>(schema_.bin_edges.size() + 1),
                       0,
                       0,
                       0,
                       0,
                       0,
                       0,
                       KllSketch(schema_.sketch_k)};
    summary_ = std::move(n);
  } else {
    summary_ = CategoricalSummary{std::vector<uint64_t>(schema_.categories.size()), 0, 0};
    for (std::size_t i = 0; i < schema_.categories.size(); ++i) {
      category_index_.emplace(schema_.categories[i], static_cast<uint32_t>(i));
    }
  }
}

void FeatureProfile::add(double value) {
  if (auto* n = std::get_if<NumericalSummary>(&summary_)) {
    if (!std::isfinite(value)) {
      ++n->missing;
      return;
    }
    ++n->bin_counts[bin_of(schema_.bin_edges, value)];
    if (n->count == 0) {
      n->min = n->max = value;
    } else {
      n->min = std::min(n->min, value);
      n->max = std::max(n->max, value);
    }
    ++n->count;
    const double d = value - schema_.center;
    n->sum += d;
    n->sum_squares += d * d;
    n->sketch.add(value);
    return;
  }
  if (std::isnan(value)) return add_missing();
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  add(std::string_view(buf, ec == std::errc() ? static_cast<std::size_t>(end - buf) : 0));
}

void FeatureProfile::add(std::string_view value) {
  if (auto* c = std::get_if<CategoricalSummary>(&summary_)) {
    auto it = category_index_.find(value);
    if (it == category_index_.end()) {
      ++c->other;
    } else {
      ++c->category_counts[it->second];
    }
    return;
  }
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (!value.empty() && value.front() == '+') value.remove_prefix(1);
  double v = NAN;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  add(ec == std::errc() && ptr == value.data() + value.size() ? v : NAN);
}

void FeatureProfile::add_missing() {
  std::visit([](auto& s) { ++s.missing; }, summary_);
}

void FeatureProfile::add(const Cell& cell) {
  if (const double* d = std::get_if<double>(&cell)) return add(*d);
  if (const auto* s = std::get_if<std::string_view>(&cell)) return add(*s);
  add_missing();
}

uint64_t FeatureProfile::count() const noexcept {
  if (const auto* n = numerical()) return n->count;
  return categorical()->count();
}

uint64_t FeatureProfile::missing() const noexcept {
  return std::visit([](const auto& s) { return s.missing; }, summary_);
}

const NumericalSummary* FeatureProfile::numerical() const noexcept {
  return std::get_if<NumericalSummary>(&summary_);
}
const CategoricalSummary* FeatureProfile::categorical() const noexcept {
  return std::get_if<CategoricalSummary>(&summary_);
}

Result<void> FeatureProfile::merge(const FeatureProfile& other) {
  if (!(schema_ == other.schema_)) {
    return Error::invalid_input("profile: feature '" + schema_.name +
                                "' has a different schema (bins, categories or type)");
  }
  if (auto* n = std::get_if<NumericalSummary>(&summary_)) {
    const NumericalSummary& o = *other.numerical();
    for (std::size_t i = 0; i < n->bin_counts.size(); ++i) n->bin_counts[i] += o.bin_counts[i];
    if (o.count > 0) {
      n->min = n->count ? std::min(n->min, o.min) : o.min;
      n->max = n->count ? std::max(n->max, o.max) : o.max;
    }
    n->count += o.count;
    n->missing += o.missing;
    n->sum += o.sum;
    n->sum_squares += o.sum_squares;
    n->sketch.merge(o.sketch);
  } else {
    auto& c = std::get<CategoricalSummary>(summary_);
    const CategoricalSummary& o = *other.categorical();
    for (std::size_t i = 0; i < c.category_counts.size(); ++i) {
      c.category_counts[i] += o.category_counts[i];
    }
    c.other += o.other;
    c.missing += o.missing;
  }
  return Ok();
}

Profile::Profile(std::vector<FeatureSchema> schema) {
  features_.reserve(schema.size());
  for (auto& s : schema) features_.emplace_back(std::move(s));
}

Result<Profile> Profile::from_table(const Table& baseline, const ProfileOptions& options) {
  auto checked = check_table(baseline);
  if (!checked.ok()) return std::move(checked).error();
  // Each numerical column is sorted once, for its bin edges and its summary.
  Profile out{std::vector<FeatureSchema>{}};
  out.features_.reserve(baseline.columns.size());
  SortScratch scratch;
  std::vector<double> sorted;
  for (const Column& c : baseline.columns) {
    if (c.type == ColumnType::kNumerical) {
      sort_finite(c.values, sorted, scratch);
      FeatureProfile& f = out.features_.emplace_back(numerical_schema(c, sorted, options));
      add_sorted(f.schema(), std::get<NumericalSummary>(f.summary_), sorted,
                 c.values.size() - sorted.size());
    } else {
      // The codes are counted once, for the tracked categories and for the summary.
      const std::vector<uint64_t> counts = c.code_counts();
      out.features_.emplace_back(categorical_schema(c, counts, options)).add_code_counts(c, counts);
    }
  }
  out.rows_ = baseline.rows();
  return out;
}

Result<Profile> Profile::profile_of(const Table& data) const {
  auto checked = check_table(data);
  if (!checked.ok()) return std::move(checked).error();
  Profile out = empty_like();
  SortScratch scratch;
  std::vector<double> sorted;
  for (FeatureProfile& f : out.features_) {
    const Column* c = data.find(f.schema().name);
    if (c == nullptr) {
      return Error::invalid_input("profile: the data has no column '" + f.schema().name + "'");
    }
    if (c->type != f.type()) {
      return Error::invalid_input("profile: column '" + c->name + "' is " +
                                  std::string(to_string(c->type)) + ", the schema says " +
                                  std::string(to_string(f.type())));
    }
    if (c->type == ColumnType::kNumerical) {
      sort_finite(c->values, sorted, scratch);
      add_sorted(f.schema(), std::get<NumericalSummary>(f.summary_), sorted,
                 c->values.size() - sorted.size());
    } else {
      f.add_code_counts(*c, c->code_counts());
    }
  }
  out.rows_ = data.rows();
  return out;
}

void FeatureProfile::add_code_counts(const Column& column, const std::vector<uint64_t>& per_code) {
  // Resolve each dictionary entry to its tracked slot (or "other").
  auto& summary = std::get<CategoricalSummary>(summary_);
  uint64_t counted = 0;
  for (std::size_t d = 0; d < column.dictionary.size(); ++d) {
    counted += per_code[d];
    if (auto it = category_index_.find(column.dictionary[d]); it != category_index_.end()) {
      summary.category_counts[it->second] += per_code[d];
    } else {
      summary.other += per_code[d];
    }
  }
  summary.missing += column.codes.size() - counted;
}

Profile Profile::empty_like() const { return Profile(schema()); }

std::optional<std::size_t> Profile::index_of(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < features_.size(); ++i) {
    if (features_[i].schema().name == name) return i;
  }
  return std::nullopt;
}

std::vector<FeatureSchema> Profile::schema() const {
  std::vector<FeatureSchema> out;
  for (const auto& f : features_) out.push_back(f.schema());
  return out;
}

Result<void> Profile::observe(std::span<const Cell> row) {
  if (row.size() != features_.size()) {
    return Error::invalid_input("profile: row has " + std::to_string(row.size()) +
                                " cells, the profile has " + std::to_string(features_.size()) +
                                " features");
  }
  for (std::size_t i = 0; i < row.size(); ++i) features_[i].add(row[i]);
  ++rows_;
  return Ok();
}

Result<void> Profile::merge(const Profile& other) {
  if (other.features_.size() != features_.size()) {
    return Error::invalid_input("profile: merging profiles with different feature counts");
  }
  for (std::size_t i = 0; i < features_.size(); ++i) {
    if (!(features_[i].schema() == other.features_[i].schema())) {
      return Error::invalid_input("profile: feature " + std::to_string(i) + " ('" +
                                  features_[i].schema().name + "') has a different schema");
    }
  }
  for (std::size_t i = 0; i < features_.size(); ++i) features_[i].merge(other.features_[i]).value();
  rows_ += other.rows_;
  return Ok();
}

}  // namespace kiln::drift
