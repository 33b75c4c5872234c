#include "common/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace kiln::metrics {
namespace {

// ---- Names (https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels) ----

bool is_name_char(char c, bool first, bool allow_colon) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return letter || (allow_colon && c == ':') || (!first && c >= '0' && c <= '9');
}

// True if `name` matches [a-zA-Z_:][a-zA-Z0-9_:]* (metric) or [a-zA-Z_][a-zA-Z0-9_]* (label).
bool matches_name(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i], i == 0, allow_colon)) return false;
  }
  return true;
}

[[noreturn]] void reject(std::string_view metric, const std::string& problem) {
  throw std::invalid_argument("metric \"" + std::string(metric) + "\": " + problem);
}

void validate_label_names(std::string_view metric, const std::vector<std::string>& names,
                          bool is_histogram) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& label = names[i];
    if (!matches_name(label, /*allow_colon=*/false)) {
      reject(metric, "invalid label name \"" + label + "\": must match [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if (label.starts_with("__")) {
      reject(metric, "label name \"" + label + "\" is reserved: it starts with \"__\"");
    }
    if (is_histogram && label == "le") reject(metric, "histograms may not use the label \"le\"");
    const std::span<const std::string> earlier(names.data(), i);
    if (std::ranges::find(earlier, label) != earlier.end()) {
      reject(metric, "label name \"" + label + "\" is repeated");
    }
  }
}

void validate_buckets(std::string_view metric, const std::vector<double>& buckets) {
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i])) reject(metric, "bucket bounds must be finite");
    if (i > 0 && !(buckets[i - 1] < buckets[i])) {
      reject(metric, "bucket bounds must be strictly increasing");
    }
  }
}

// ---- UTF-8 ----

// Length of the well-formed UTF-8 sequence starting at text[i], or 0 if it is malformed (bad
// lead or continuation byte, truncated, overlong, surrogate or beyond U+10FFFF).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const char32_t lead = static_cast<unsigned char>(text[i]);
  if (lead < 0x80U) return 1;
  std::size_t length;
  char32_t code_point;
  if ((lead & 0xE0U) == 0xC0U) {
    length = 2, code_point = lead & 0x1FU;
  } else if ((lead & 0xF0U) == 0xE0U) {
    length = 3, code_point = lead & 0x0FU;
  } else if ((lead & 0xF8U) == 0xF0U) {
    length = 4, code_point = lead & 0x07U;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    const char32_t byte = static_cast<unsigned char>(text[i + k]);
    if ((byte & 0xC0U) != 0x80U) return 0;
    code_point = (code_point << 6U) | (byte & 0x3FU);
  }
  constexpr std::array<char32_t, 5> kMinimum = {0, 0, 0x80, 0x800, 0x10000};
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  if (code_point < kMinimum[length] || code_point > 0x10FFFF || surrogate) return 0;
  return length;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0, length; i < text.size(); i += length) {
    length = utf8_sequence_length(text, i);
    if (length == 0) return false;
  }
  return true;
}

// `text` with each malformed byte replaced by U+FFFD.
std::string repair_utf8(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_sequence_length(text, i);
    out += length == 0 ? std::string_view("\xEF\xBF\xBD") : text.substr(i, length);
    i += std::max<std::size_t>(length, 1);
  }
  return out;
}

// `text` with each malformed byte replaced by U+FFFD, or as is when it is valid.
std::string valid_utf8(std::string_view text) {
  return is_valid_utf8(text) ? std::string(text) : repair_utf8(text);
}

// ---- Text format ----

// HELP text escaped as the format wants (backslash and newline). prometheus::TextSerializer 1.0.1
// (and later, up to 1.3) writes HELP verbatim, so a newline in it would break the exposition.
std::string escape_help(std::string_view help) {
  std::string out;
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Puts each child's labels in the family's registration order (prometheus-cpp's are in name order)
// and sorts the children by their label values, so the exposition reads the same on every scrape.
void order_children(prometheus::MetricFamily& family, const std::vector<std::string>& names) {
  for (prometheus::ClientMetric& child : family.metric) {
    std::vector<prometheus::ClientMetric::Label> ordered;
    ordered.reserve(child.label.size());
    for (const std::string& name : names) {
      const auto it = std::ranges::find(child.label, name, &prometheus::ClientMetric::Label::name);
      if (it != child.label.end()) ordered.push_back(std::move(*it));
    }
    child.label = std::move(ordered);
  }
  std::ranges::sort(family.metric, [](const auto& a, const auto& b) {
    return std::ranges::lexicographical_compare(a.label, b.label, std::less<>{},
                                                &prometheus::ClientMetric::Label::value,
                                                &prometheus::ClientMetric::Label::value);
  });
}

// The series names a family exposes, to detect clashes between families.
std::vector<std::string> series_names(const std::string& name, bool is_histogram) {
  if (!is_histogram) return {name};
  return {name, name + "_bucket", name + "_sum", name + "_count"};
}

// Registers the prometheus family of `Impl` in `registry`.
template <class Impl>
prometheus::Family<Impl>& register_family(prometheus::Registry& registry, const std::string& name,
                                          const std::string& help) {
  if constexpr (std::is_same_v<Impl, prometheus::Counter>) {
    return prometheus::BuildCounter().Name(name).Help(escape_help(help)).Register(registry);
  } else if constexpr (std::is_same_v<Impl, prometheus::Gauge>) {
    return prometheus::BuildGauge().Name(name).Help(escape_help(help)).Register(registry);
  } else {
    static_assert(std::is_same_v<Impl, prometheus::Histogram>);
    return prometheus::BuildHistogram().Name(name).Help(escape_help(help)).Register(registry);
  }
}

}  // namespace

// ---- Children ----

void Histogram::observe(double value) noexcept {
  if (std::isnan(value)) {
    impl_.ObserveMultiple(nan_increments_, value);  // Sizes match: the family built both.
  } else {
    impl_.Observe(value);
  }
}

Histogram::Snapshot Histogram::snapshot() const {
  const prometheus::ClientMetric collected = impl_.Collect();
  Snapshot snapshot;
  snapshot.cumulative_counts.reserve(collected.histogram.bucket.size());
  for (const auto& bucket : collected.histogram.bucket) {
    snapshot.cumulative_counts.push_back(bucket.cumulative_count);
  }
  snapshot.sum = collected.histogram.sample_sum;
  return snapshot;
}

std::vector<double> default_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    throw std::invalid_argument("exponential_buckets needs start > 0, factor > 1 and count >= 1");
  }
  std::vector<double> buckets;
  for (int i = 0; i < count; ++i, start *= factor) buckets.push_back(start);
  return buckets;
}

// ---- Families ----

namespace {

// One 0 per bucket, then a 1 for +Inf: Histogram::observe's increments for a NaN.
std::vector<double> nan_increments(bool is_histogram, const std::vector<double>& buckets) {
  if (!is_histogram) return {};
  std::vector<double> increments(buckets.size() + 1, 0);
  increments.back() = 1;
  return increments;
}

}  // namespace

template <class Child>
Family<Child>::Family(prometheus::Family<Impl>& family, std::string name,
                      std::vector<std::string> label_names, std::vector<double> buckets)
    : FamilyBase(std::move(name), std::move(label_names)),
      family_(family),
      buckets_(std::move(buckets)),
      nan_increments_(nan_increments(std::is_same_v<Child, Histogram>, buckets_)) {
  if (label_names_.empty()) with({});
}

template <class Child>
Child& Family<Child>::with(std::initializer_list<std::string_view> label_values) {
  if (label_values.size() != label_names_.size()) {
    reject(name_, "with() got " + std::to_string(label_values.size()) + " label values for " +
                      std::to_string(label_names_.size()) + " label names");
  }
  prometheus::Labels labels;
  const std::string_view* value = label_values.begin();
  for (const std::string& name : label_names_) labels.emplace(name, valid_utf8(*value++));

  std::lock_guard lock(mutex_);
  Impl* impl;
  if constexpr (std::is_same_v<Child, Histogram>) {
    impl = &family_.Add(labels, buckets_);
  } else {
    impl = &family_.Add(labels);
  }
  auto [it, inserted] = children_.try_emplace(impl);
  if (inserted) {
    try {
      Entry& entry = it->second;
      for (const std::string& name : label_names_) entry.label_values.push_back(labels.at(name));
      if constexpr (std::is_same_v<Child, Histogram>) {
        entry.child.reset(new Histogram(*impl, nan_increments_));
      } else {
        entry.child.reset(new Child(*impl));
      }
    } catch (...) {
      children_.erase(it);  // The prometheus child stays, at zero; the next with() wraps it.
      throw;
    }
  }
  return *it->second.child;
}

template <class Child>
std::size_t Family<Child>::remove_if(
    const std::function<bool(const std::vector<std::string>&)>& match) {
  std::lock_guard lock(mutex_);
  return std::erase_if(children_, [&](const auto& child) {
    if (!match(child.second.label_values)) return false;
    family_.Remove(child.first);
    return true;
  });
}

template <class Child>
std::vector<prometheus::MetricFamily> Family<Child>::collect() const {
  return family_.Collect();
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Registry ----

Registry::Registry() = default;
Registry::~Registry() = default;

Family<Counter>& Registry::counter(std::string name, std::string help,
                                   std::vector<std::string> label_names) {
  if (!name.ends_with("_total")) reject(name, "counter names must end in \"_total\"");
  return add<Counter>(std::move(name), std::move(help), std::move(label_names), {});
}

Family<Gauge>& Registry::gauge(std::string name, std::string help,
                               std::vector<std::string> label_names) {
  return add<Gauge>(std::move(name), std::move(help), std::move(label_names), {});
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<std::string> label_names,
                                       std::vector<double> buckets) {
  validate_buckets(name, buckets);
  return add<Histogram>(std::move(name), std::move(help), std::move(label_names),
                        std::move(buckets));
}

template <class Child>
Family<Child>& Registry::add(std::string name, std::string help,
                             std::vector<std::string> label_names, std::vector<double> buckets) {
  constexpr bool kIsHistogram = std::is_same_v<Child, Histogram>;
  if (!matches_name(name, /*allow_colon=*/true)) {
    reject(name, "invalid metric name: must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  if (name.starts_with("__")) reject(name, "metric names starting with \"__\" are reserved");
  validate_label_names(name, label_names, kIsHistogram);
  const std::vector<std::string> series = series_names(name, kIsHistogram);

  std::lock_guard lock(mutex_);
  for (const std::string& series_name : series) {
    if (series_names_.contains(series_name)) {
      reject(name, "the name \"" + series_name + "\" is already registered");
    }
  }
  auto& family = register_family<typename Family<Child>::Impl>(registry_, name, help);
  std::unique_ptr<Family<Child>> ours;
  try {
    ours.reset(new Family<Child>(family, std::move(name), std::move(label_names),
                                 std::move(buckets)));
  } catch (...) {
    registry_.Remove(family);
    throw;
  }
  Family<Child>& result = *ours;
  families_.push_back(std::move(ours));
  series_names_.insert(series.begin(), series.end());
  return result;
}

std::string Registry::expose() const {
  std::vector<prometheus::MetricFamily> collected;
  {
    std::lock_guard lock(mutex_);
    collected.reserve(families_.size());
    for (const auto& family : families_) {
      for (prometheus::MetricFamily& one : family->collect()) {
        order_children(one, family->label_names_);
        collected.push_back(std::move(one));
      }
    }
  }
  return prometheus::TextSerializer().Serialize(collected);
}

}  // namespace kiln::metrics
