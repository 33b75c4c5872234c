#include "drift/kll.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::drift {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr uint32_t kMinLevelCapacity = 8;

// splitmix64 (Steele, Lea, Flood 2014): one 64-bit draw.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

KllSketch::KllSketch(uint32_t k, uint64_t seed)
    : k_(std::max(k, kMinK)), min_(kNaN), max_(kNaN), rng_(seed), levels_(1) {
  refresh_capacities();
  levels_[0].reserve(k_);
}

uint32_t KllSketch::level_capacity(std::size_t level) const noexcept {
  const std::size_t depth = levels_.size() - 1 - level;
  const double cap = std::ceil(k_ * std::pow(2.0 / 3.0, static_cast<double>(depth)));
  return std::max(kMinLevelCapacity, static_cast<uint32_t>(cap));
}

std::size_t KllSketch::retained() const noexcept { return retained_; }

void KllSketch::refresh_capacities() {
  capacities_.resize(levels_.size());
  total_capacity_ = 0;
  for (std::size_t h = 0; h < levels_.size(); ++h) {
    capacities_[h] = level_capacity(h);
    total_capacity_ += capacities_[h];
  }
}

void KllSketch::add(double x) {
  if (std::isnan(x)) return;
  if (n_ == 0) {
    min_ = max_ = x;
  } else {
    min_ = std::min(min_, x);
    max_ = std::max(max_, x);
  }
  ++n_;
  levels_[0].push_back(x);
  if (++retained_ >= total_capacity_) compress();
}

void KllSketch::insert_item(std::size_t h, double x) {
  auto& level = levels_[h];
  if (h == 0) {
    level.push_back(x);
  } else {
    level.insert(std::upper_bound(level.begin(), level.end(), x), x);
  }
}

template <class At>
void KllSketch::add_run(std::size_t n, const At& at) {
  if (n == 0) return;
  if (n <= k_) {
    for (std::size_t r = 0; r < n; ++r) add(at(r));
    return;
  }
  min_ = n_ == 0 ? at(0) : std::min(min_, at(0));
  max_ = n_ == 0 ? at(n - 1) : std::max(max_, at(n - 1));
  n_ += n;
  // The run at level h is the ranks base + stride·p, p < size.
  std::size_t base = 0, stride = 1, size = n, h = 0;
  while (size > k_) {
    if (levels_.size() < h + 2) levels_.resize(h + 2);
    if (size % 2 == 1) {  // The odd last item stays at this level.
      insert_item(h, at(base + stride * (size - 1)));
      ++retained_;
      --size;
    }
    const std::size_t offset = next_random(rng_) & 1;  // Every other item from here moves up.
    base += offset * stride;
    stride *= 2;
    size /= 2;
    ++h;
  }
  auto& level = levels_[h];
  const auto middle = static_cast<std::ptrdiff_t>(level.size());
  for (std::size_t p = 0; p < size; ++p) level.push_back(at(base + stride * p));
  if (h > 0) std::inplace_merge(level.begin(), level.begin() + middle, level.end());
  retained_ += size;
  refresh_capacities();
  compress();
}

void KllSketch::add_sorted(std::span<const double> sorted) {
  add_run(sorted.size(), [&](std::size_t r) { return sorted[r]; });
}

std::vector<std::size_t> KllSketch::sorted_run_ranks(std::size_t n) const {
  // The same walk as add_run on a copy of the sketch, recording the ranks it reads.
  KllSketch copy(k_);
  copy.rng_ = rng_;
  copy.n_ = n_;
  copy.min_ = min_;
  copy.max_ = max_;
  std::vector<std::size_t> ranks;
  copy.add_run(n, [&](std::size_t r) {
    ranks.push_back(r);
    return 0.0;
  });
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  return ranks;
}

void KllSketch::add_sorted_ranks(std::size_t n, std::span<const double> values_at_ranks) {
  const std::vector<std::size_t> ranks = sorted_run_ranks(n);
  add_run(n, [&](std::size_t r) {
    return values_at_ranks[std::lower_bound(ranks.begin(), ranks.end(), r) - ranks.begin()];
  });
}

void KllSketch::compact_level(std::size_t h) {
  if (h + 1 == levels_.size()) {
    levels_.emplace_back();
    refresh_capacities();
  }
  auto& items = levels_[h];
  if (h == 0) std::sort(items.begin(), items.end());  // Levels above are kept sorted.
  // An odd item stays behind; the rest pair up and one of each pair is promoted.
  double leftover = 0;
  const bool odd = items.size() % 2 == 1;
  if (odd) {
    leftover = items.back();
    items.pop_back();
  }
  const std::size_t offset = next_random(rng_) & 1;
  auto& up = levels_[h + 1];
  const auto middle = static_cast<std::ptrdiff_t>(up.size());
  for (std::size_t i = offset; i < items.size(); i += 2) up.push_back(items[i]);
  std::inplace_merge(up.begin(), up.begin() + middle, up.end());
  retained_ -= items.size() / 2;
  items.clear();
  if (odd) items.push_back(leftover);
}

void KllSketch::compress() {
  // DataSketches' policy: while the sketch holds more than its total capacity, compact the lowest
  // level that is at or over its own capacity (level 0 may grow past its share meanwhile).
  while (retained_ >= total_capacity_) {
    std::size_t h = 0;
    while (h < levels_.size() && levels_[h].size() < capacities_[h]) ++h;
    if (h == levels_.size()) break;
    compact_level(h);
  }
}

void KllSketch::merge(const KllSketch& other) {
  if (other.n_ == 0) return;
  if (n_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  n_ += other.n_;
  if (other.levels_.size() > levels_.size()) {
    levels_.resize(other.levels_.size());
    refresh_capacities();
  }
  for (std::size_t h = 0; h < other.levels_.size(); ++h) {
    auto& level = levels_[h];
    const auto middle = static_cast<std::ptrdiff_t>(level.size());
    level.insert(level.end(), other.levels_[h].begin(), other.levels_[h].end());
    if (h > 0) std::inplace_merge(level.begin(), level.begin() + middle, level.end());
  }
  retained_ += other.retained_;
  compress();
}

std::vector<std::pair<double, uint64_t>> KllSketch::sorted_items() const {
  std::vector<std::pair<double, uint64_t>> items;
  items.reserve(retained());
  for (std::size_t h = 0; h < levels_.size(); ++h) {
    for (double x : levels_[h]) items.emplace_back(x, uint64_t{1} << h);
  }
  std::sort(items.begin(), items.end());
  return items;
}

double KllSketch::cdf(double x) const {
  if (n_ == 0) return 0;
  uint64_t below = 0;
  for (std::size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) below += v <= x ? (uint64_t{1} << h) : 0;
  }
  return static_cast<double>(below) / static_cast<double>(n_);
}

double KllSketch::quantile(double q) const {
  if (n_ == 0) return kNaN;
  const auto items = sorted_items();
  const double target = std::clamp(q, 0.0, 1.0) * static_cast<double>(n_);
  uint64_t cum = 0;
  for (const auto& [v, w] : items) {
    cum += w;
    if (static_cast<double>(cum) >= target) return v;
  }
  return items.back().first;
}

nlohmann::json KllSketch::to_json() const {
  nlohmann::json levels = nlohmann::json::array();
  for (const auto& level : levels_) levels.push_back(level);
  nlohmann::json j = {{"k", k_}, {"n", n_}, {"levels", levels}};
  j["min"] = n_ ? nlohmann::json(min_) : nlohmann::json(nullptr);
  j["max"] = n_ ? nlohmann::json(max_) : nlohmann::json(nullptr);
  return j;
}

Result<KllSketch> KllSketch::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("k") || !j["k"].is_number_unsigned() || !j.contains("n") ||
      !j["n"].is_number_unsigned() || !j.contains("levels") || !j["levels"].is_array() ||
      j["levels"].empty()) {
    return Error::invalid_input("sketch: expected {k, n, levels[], min, max}");
  }
  KllSketch s(j["k"].get<uint32_t>());
  s.levels_.clear();
  uint64_t weight = 0;
  for (std::size_t h = 0; h < j["levels"].size(); ++h) {
    const auto& level = j["levels"][h];
    if (!level.is_array() || h >= 63) return Error::invalid_input("sketch: malformed level");
    std::vector<double> items;
    for (const auto& v : level) {
      if (!v.is_number()) return Error::invalid_input("sketch: non-numeric item");
      items.push_back(v.get<double>());
    }
    weight += items.size() << h;
    if (h > 0) std::sort(items.begin(), items.end());  // The invariant of levels above 0.
    s.levels_.push_back(std::move(items));
  }
  s.retained_ = 0;
  for (const auto& level : s.levels_) s.retained_ += level.size();
  s.refresh_capacities();
  s.n_ = j["n"].get<uint64_t>();
  if (weight != s.n_) return Error::invalid_input("sketch: item weights do not add up to n");
  if (s.n_ > 0) {
    if (!j.contains("min") || !j["min"].is_number() || !j.contains("max") ||
        !j["max"].is_number()) {
      return Error::invalid_input("sketch: min/max missing");
    }
    s.min_ = j["min"].get<double>();
    s.max_ = j["max"].get<double>();
  }
  return s;
}

}  // namespace kiln::drift
