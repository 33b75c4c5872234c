#include "common/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
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

// ---- Text format ----

// Appends `text` escaping backslash and newline, and double quotes when `in_quotes` (label values;
// HELP text leaves them as is).
void append_escaped(std::string& out, std::string_view text, bool in_quotes) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && in_quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    // The longest shortest-form double, "-2.2250738585072014e-308", has 24 characters.
    std::array<char, 32> buffer{};
    out.append(buffer.data(),
               std::to_chars(buffer.data(), buffer.data() + buffer.size(), value).ptr);
  }
}

void append_number(std::string& out, std::uint64_t value) {
  std::array<char, 24> buffer{};
  out.append(buffer.data(), std::to_chars(buffer.data(), buffer.data() + buffer.size(), value).ptr);
}

// `name="value",...` for a child's labels.
std::string render_labels(const std::vector<std::string>& names,
                          std::span<const std::string_view> values) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    append_escaped(out, values[i], /*in_quotes=*/true);
    out += '"';
  }
  return out;
}

// Appends `<name><suffix>{<labels>} <value>\n`, omitting empty braces.
template <class Number>
void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   std::string_view labels, Number value) {
  out += name;
  out += suffix;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  append_number(out, value);
  out += '\n';
}

template <class Child>
constexpr const char* type_name() {
  if constexpr (std::is_same_v<Child, Counter>) {
    return "counter";
  } else if constexpr (std::is_same_v<Child, Gauge>) {
    return "gauge";
  } else {
    static_assert(std::is_same_v<Child, Histogram>);
    return "histogram";
  }
}

void append_header(std::string& out, const std::string& name, const std::string& help,
                   const char* type) {
  out += "# HELP " + name + ' ';
  append_escaped(out, help, /*in_quotes=*/false);
  out += "\n# TYPE " + name + ' ' + type + '\n';
}

void append_child(std::string& out, const std::string& name, const std::string& labels,
                  const std::vector<double>& /*buckets*/, const Counter& counter) {
  append_sample(out, name, "", labels, counter.value());
}

void append_child(std::string& out, const std::string& name, const std::string& labels,
                  const std::vector<double>& /*buckets*/, const Gauge& gauge) {
  append_sample(out, name, "", labels, gauge.value());
}

void append_child(std::string& out, const std::string& name, const std::string& labels,
                  const std::vector<double>& buckets, const Histogram& histogram) {
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  const Histogram::Snapshot snapshot = histogram.snapshot();
  const std::string prefix = labels.empty() ? "le=\"" : labels + ",le=\"";
  for (std::size_t i = 0; i <= buckets.size(); ++i) {
    std::string bucket_labels = prefix;
    append_number(bucket_labels, i < buckets.size() ? buckets[i] : kInfinity);
    bucket_labels += '"';
    append_sample(out, name, "_bucket", bucket_labels, snapshot.cumulative_counts[i]);
  }
  append_sample(out, name, "_sum", labels, snapshot.sum);
  append_sample(out, name, "_count", labels, snapshot.cumulative_counts.back());
}

// The series names a family exposes, to detect clashes between families.
std::vector<std::string> series_names(const std::string& name, bool is_histogram) {
  if (!is_histogram) return {name};
  return {name, name + "_bucket", name + "_sum", name + "_count"};
}

template <class Strings>
std::size_t hash_values(const Strings& values) {
  std::size_t hash = values.size();
  for (std::string_view value : values) {
    hash ^= std::hash<std::string_view>{}(value) + 0x9e3779b97f4a7c15 + (hash << 6U) + (hash >> 2U);
  }
  return hash;
}

template <class A, class B>
bool equal_values(const A& a, const B& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](std::string_view x, std::string_view y) { return x == y; });
}

}  // namespace

// ---- Children ----

static_assert(std::atomic<double>::is_always_lock_free &&
                  std::atomic<std::uint64_t>::is_always_lock_free,
              "metric updates are documented as lock-free");

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds), counts_(upper_bounds.size() + 1) {}

void Histogram::observe(double value) noexcept {
  // The first bound >= value; NaN compares false with every bound and lands in +Inf.
  const auto bound = std::partition_point(upper_bounds_.begin(), upper_bounds_.end(),
                                          [value](double upper) { return !(value <= upper); });
  counts_[bound - upper_bounds_.begin()].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.cumulative_counts.reserve(upper_bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(total);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
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

namespace detail {

std::size_t LabelValuesHash::operator()(std::span<const std::string> values) const noexcept {
  return hash_values(values);
}
std::size_t LabelValuesHash::operator()(std::span<const std::string_view> values) const noexcept {
  return hash_values(values);
}
bool LabelValuesEqual::operator()(std::span<const std::string> a,
                                  std::span<const std::string> b) const noexcept {
  return equal_values(a, b);
}
bool LabelValuesEqual::operator()(std::span<const std::string_view> a,
                                  std::span<const std::string> b) const noexcept {
  return equal_values(a, b);
}
bool LabelValuesEqual::operator()(std::span<const std::string> a,
                                  std::span<const std::string_view> b) const noexcept {
  return equal_values(a, b);
}

}  // namespace detail

template <class Child>
Family<Child>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                      std::vector<double> buckets)
    : FamilyBase(std::move(name), std::move(help), std::move(label_names)),
      buckets_(std::move(buckets)) {
  if (label_names_.empty()) find_or_create({});
}

template <class Child>
Child& Family<Child>::with(std::initializer_list<std::string_view> label_values) {
  if (label_values.size() != label_names_.size()) {
    reject(name_, "with() got " + std::to_string(label_values.size()) + " label values for " +
                      std::to_string(label_names_.size()) + " label names");
  }
  if (std::all_of(label_values.begin(), label_values.end(), is_valid_utf8)) {
    return find_or_create({label_values.begin(), label_values.size()});
  }
  std::vector<std::string> repaired;
  for (std::string_view value : label_values) repaired.push_back(repair_utf8(value));
  const std::vector<std::string_view> views(repaired.begin(), repaired.end());
  return find_or_create(views);
}

template <class Child>
Child& Family<Child>::find_or_create(std::span<const std::string_view> values) {
  std::lock_guard lock(mutex_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    std::unique_ptr<Child> child;
    if constexpr (std::is_same_v<Child, Histogram>) {
      child.reset(new Histogram(buckets_));
    } else {
      child.reset(new Child());
    }
    Entry entry{render_labels(label_names_, values), std::move(child)};
    it = children_.emplace(std::vector<std::string>(values.begin(), values.end()), std::move(entry))
             .first;
  }
  return *it->second.child;
}

template <class Child>
std::size_t Family<Child>::remove_if(
    const std::function<bool(const std::vector<std::string>&)>& match) {
  std::lock_guard lock(mutex_);
  return std::erase_if(children_, [&](const auto& entry) { return match(entry.first); });
}

template <class Child>
void Family<Child>::render(std::string& out) const {
  // Under the family's lock throughout: remove_if() may erase children, so no pointer into
  // children_ may outlive the lock. with() waits for at most one family's rendering.
  std::lock_guard lock(mutex_);
  std::vector<std::pair<const std::vector<std::string>*, const Entry*>> sorted;
  sorted.reserve(children_.size());
  for (const auto& [values, entry] : children_) sorted.emplace_back(&values, &entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return *a.first < *b.first; });
  append_header(out, name_, help_, type_name<Child>());
  for (const auto& [values, entry] : sorted) {
    append_child(out, name_, entry->labels, buckets_, *entry->child);
  }
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
  validate_label_names(name, label_names, kIsHistogram);
  const std::vector<std::string> series = series_names(name, kIsHistogram);

  std::lock_guard lock(mutex_);
  for (const std::string& series_name : series) {
    if (series_names_.contains(series_name)) {
      reject(name, "the name \"" + series_name + "\" is already registered");
    }
  }
  std::unique_ptr<Family<Child>> family(new Family<Child>(
      std::move(name), std::move(help), std::move(label_names), std::move(buckets)));
  Family<Child>& result = *family;
  families_.push_back(std::move(family));
  series_names_.insert(series.begin(), series.end());
  return result;
}

std::string Registry::expose() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& family : families_) family->render(out);
  return out;
}

}  // namespace kiln::metrics
