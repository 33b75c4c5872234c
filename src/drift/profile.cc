#include "drift/profile.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "drift/ranks.h"

namespace kiln::drift {
namespace {

using nlohmann::json;

// numpy.quantile(column, q) with the default "linear" method, from the column's order statistics.
double quantile_linear(const ColumnRanks& ranks, double q) {
  const double pos = q * static_cast<double>(ranks.count() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min<std::size_t>(lo + 1, ranks.count() - 1);
  const double low = ranks.at(lo);
  return low + (ranks.at(hi) - low) * (pos - static_cast<double>(lo));
}

// The ranks quantile_linear(ranks, q) reads.
void want_quantile(ColumnRanks& ranks, double q) {
  const double pos = q * static_cast<double>(ranks.count() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  ranks.want_rank(lo);
  ranks.want_rank(std::min<std::size_t>(lo + 1, ranks.count() - 1));
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

// The schema of a numerical column: its median as the center of the sums, and the edges at the
// j/bins quantiles (equal edges merged). `ranks`: built over the column and gathered for
// want_schema() and the sketch's ranks.
void want_schema(ColumnRanks& ranks, const ProfileOptions& options) {
  if (ranks.count() == 0) return;
  want_quantile(ranks, 0.5);
  for (uint32_t j = 1; j < options.bins; ++j) {
    want_quantile(ranks, static_cast<double>(j) / options.bins);
  }
}

FeatureSchema numerical_schema(const Column& column, const ColumnRanks& ranks,
                               const ProfileOptions& options) {
  FeatureSchema s{column.name, ColumnType::kNumerical, {}, {}, 0, options.sketch_k};
  if (ranks.count() == 0) return s;
  s.center = quantile_linear(ranks, 0.5);
  for (uint32_t j = 1; j < options.bins; ++j) {
    const double e = quantile_linear(ranks, static_cast<double>(j) / options.bins);
    if (s.bin_edges.empty() || e > s.bin_edges.back()) s.bin_edges.push_back(e);
  }
  return s;
}

// What add_column() reads of a column beyond the schema: the counts below the bin edges and the
// values at the ranks `sketch` keeps of a sorted run.
void want_summary(ColumnRanks& ranks, const FeatureSchema& schema, const KllSketch& sketch) {
  for (double e : schema.bin_edges) ranks.want_below(e);
  for (std::size_t r : sketch.sorted_run_ranks(ranks.count())) ranks.want_rank(r);
}

// Adds a column at once: `ranks` indexes its finite values (`values`), gathered for want_summary().
// The same summary as FeatureProfile::add on every value (the sums to rounding), in a few passes
// over the column, against a binary search and a sketch insert per value.
void add_column(const FeatureSchema& schema, NumericalSummary& n, const ColumnRanks& ranks,
                std::span<const double> values) {
  const uint64_t count = ranks.count();
  n.missing += values.size() - count;
  if (count == 0) return;
  // Bin i holds [e_{i-1}, e_i): its count is the number of values below e_i minus those below
  // e_{i-1}, as std::upper_bound(edges, value) places each value in add().
  std::size_t below_previous = 0;
  for (std::size_t i = 0; i < schema.bin_edges.size(); ++i) {
    const std::size_t below = ranks.below(schema.bin_edges[i]);
    n.bin_counts[i] += below - below_previous;
    below_previous = below;
  }
  n.bin_counts.back() += count - below_previous;
  n.min = n.count ? std::min(n.min, ranks.min()) : ranks.min();
  n.max = n.count ? std::max(n.max, ranks.max()) : ranks.max();
  n.count += count;
  double sum = 0, sum_squares = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    const double d = v - schema.center;
    sum += d;
    sum_squares += d * d;
  }
  n.sum += sum;
  n.sum_squares += sum_squares;
  const std::vector<std::size_t> sketch_ranks = n.sketch.sorted_run_ranks(count);
  std::vector<double> at_ranks;
  at_ranks.reserve(sketch_ranks.size());
  for (std::size_t r : sketch_ranks) at_ranks.push_back(ranks.at(r));
  n.sketch.add_sorted_ranks(count, at_ranks);
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
  // Each numerical column is indexed once (ColumnRanks), for its bin edges and its summary.
  Profile out{std::vector<FeatureSchema>{}};
  out.features_.reserve(baseline.columns.size());
  ColumnRanks ranks;
  for (const Column& c : baseline.columns) {
    if (c.type == ColumnType::kNumerical) {
      ranks.build(c.values);
      want_schema(ranks, options);
      // A new summary's sketch reads the ranks a fresh sketch of this k does.
      for (std::size_t r : KllSketch(options.sketch_k).sorted_run_ranks(ranks.count())) {
        ranks.want_rank(r);
      }
      ranks.gather();
      FeatureProfile& f = out.features_.emplace_back(numerical_schema(c, ranks, options));
      add_column(f.schema(), std::get<NumericalSummary>(f.summary_), ranks, c.values);
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
  ColumnRanks ranks;
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
      auto& summary = std::get<NumericalSummary>(f.summary_);
      ranks.build(c->values);
      want_summary(ranks, f.schema(), summary.sketch);
      ranks.gather();
      add_column(f.schema(), summary, ranks, c->values);
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
