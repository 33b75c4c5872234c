#include "controllers/modeldeployment/analysis.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "drift/stattests.h"

namespace kiln::controllers::modeldeployment {
namespace {


struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

Result<double> parse_value(std::string_view text) {
  if (text == "+Inf" || text == "Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) {
    return Error::invalid_input("bad sample value '" + s + "'");
  }
  return v;
}

// Parses `{a="x",b="y"}` starting at line[i] == '{'; leaves i after '}'.
Result<std::map<std::string, std::string>> parse_labels(std::string_view line, std::size_t& i) {
  std::map<std::string, std::string> labels;
  ++i;
  while (true) {
    while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
    if (i < line.size() && line[i] == '}') {
      ++i;
      return labels;
    }
    const std::size_t eq = line.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
      return Error::invalid_input("bad label in '" + std::string(line) + "'");
    }
    std::string name(line.substr(i, eq - i));
    std::string value;
    i = eq + 2;
    for (; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) {
        ++i;
        value += line[i] == 'n' ? '\n' : line[i];
      } else {
        value += line[i];
      }
    }
    if (i >= line.size()) return Error::invalid_input("unterminated label value");
    ++i;  // closing quote
    labels[std::move(name)] = std::move(value);
  }
}

Result<std::optional<Sample>> parse_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty() || line.front() == '#') return std::optional<Sample>();
  Sample s;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    auto labels = parse_labels(line, i);
    if (!labels.ok()) return labels.error();
    s.labels = std::move(*labels);
  }
  while (i < line.size() && line[i] == ' ') ++i;
  std::size_t end = line.find(' ', i);  // An optional timestamp follows.
  auto value = parse_value(line.substr(i, end == std::string_view::npos ? end : end - i));
  if (!value.ok()) return value.error();
  s.value = *value;
  return std::optional<Sample>(std::move(s));
}

void record(RouterSnapshot& snapshot, const Sample& s) {
  auto variant = s.labels.find("variant");
  if (variant == s.labels.end() || !s.name.starts_with("kiln_router_")) return;
  VariantCounters& c = snapshot.variants[variant->second];
  const std::string_view name = std::string_view(s.name).substr(12);
  if (name == "requests_total") {
    c.requests += s.value;
    auto code = s.labels.find("code");
    if (code != s.labels.end() && std::atoi(code->second.c_str()) >= 500) c.errors += s.value;
  } else if (name == "comparisons_total") {
    auto result = s.labels.find("result");
    const std::string r = result == s.labels.end() ? "" : result->second;
    if (r == "agree") c.agreements += s.value;
    if (r == "agree" || r == "disagree" || r == "mismatch") c.comparisons += s.value;
  } else if (name == "output_rows_total") {
    auto source = s.labels.find("source");
    auto bucket = s.labels.find("bucket");
    if (source == s.labels.end() || bucket == s.labels.end()) return;
    if (source->second == variant->second) c.output_rows[bucket->second] += s.value;
    if (source->second == "stable") c.stable_output_rows[bucket->second] += s.value;
  } else if (name == "mean_absolute_difference") {
    c.mean_absolute_difference = s.value;
  } else if (name == "request_duration_seconds_bucket") {
    auto le = s.labels.find("le");
    if (le == s.labels.end()) return;
    auto bound = parse_value(le->second);
    if (bound.ok()) c.latency_buckets[*bound] += s.value;
  }
}

double delta(double previous, double current) {
  return current >= previous ? current - previous : current;  // A reset counts from zero.
}

std::optional<double> ratio(double numerator, double denominator) {
  if (denominator <= 0) return std::nullopt;
  return numerator / denominator;
}

// The counts of `current` since `before` (each bucket from zero when lower, or all when `reset`).
std::map<std::string, double> window_of(const std::map<std::string, double>& before,
                                        const std::map<std::string, double>& current, bool reset) {
  std::map<std::string, double> out;
  for (const auto& [bucket, count] : current) {
    auto was = before.find(bucket);
    out[bucket] = reset || was == before.end() ? count : delta(was->second, count);
  }
  return out;
}

// drift::jensen_shannon between two bucket counts aligned by label over the union of buckets;
// nullopt when either side has no rows.
std::optional<double> output_distance(const std::map<std::string, double>& reference,
                                      const std::map<std::string, double>& current) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> aligned;
  auto rows = [](double count) {
    return static_cast<uint64_t>(std::llround(std::max(count, 0.0)));
  };
  for (const auto& [bucket, count] : reference) aligned[bucket].first = rows(count);
  for (const auto& [bucket, count] : current) aligned[bucket].second = rows(count);
  std::vector<uint64_t> r, c;
  uint64_t total_r = 0, total_c = 0;
  for (const auto& [bucket, counts] : aligned) {
    r.push_back(counts.first);
    c.push_back(counts.second);
    total_r += counts.first;
    total_c += counts.second;
  }
  if (total_r == 0 || total_c == 0) return std::nullopt;
  return drift::jensen_shannon(drift::shares_from_counts(r, c));
}

json counts_to_json(const std::map<std::string, double>& counts) {
  json out = json::object();
  for (const auto& [bucket, count] : counts) out[bucket] = count;
  return out;
}

// v[key] ({"<bucket>": count}, absent: empty); `where` names it in errors.
Result<std::map<std::string, double>> counts_from_json(const json& v, const char* key,
                                                       const std::string& where) {
  std::map<std::string, double> out;
  const json counts = v.value(key, json::object());
  if (!counts.is_object()) return Error::invalid_input(where + ": not an object");
  for (const auto& [bucket, count] : counts.items()) {
    if (!count.is_number()) {
      return Error::invalid_input(where + "." + bucket + ": not a number");
    }
    out[bucket] = count.get<double>();
  }
  return out;
}

}  // namespace

Result<RouterSnapshot> parse_router_metrics(std::string_view text) {
  RouterSnapshot snapshot;
  std::size_t start = 0;
  int line_number = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    ++line_number;
    auto sample = parse_line(text.substr(start, end - start));
    if (!sample.ok()) {
      return sample.error().with_context("metrics line " + std::to_string(line_number));
    }
    if (*sample) record(snapshot, **sample);
    start = end + 1;
  }
  return snapshot;
}

json snapshot_to_json(const RouterSnapshot& snapshot) {
  json out = json::object();
  for (const auto& [name, c] : snapshot.variants) {
    json buckets = json::object();
    for (const auto& [bound, count] : c.latency_buckets) {
      // The shortest text that reads back as the same double (0.0002, not 0.00020000000000000001).
      char text[32] = "+Inf";
      if (!std::isinf(bound)) {
        const auto end = std::to_chars(text, text + sizeof text - 1, bound,
                                       std::chars_format::general).ptr;
        *end = '\0';
      }
      buckets[text] = count;
    }
    out[name] = {{"requests", c.requests},
                 {"errors", c.errors},
                 {"comparisons", c.comparisons},
                 {"agreements", c.agreements},
                 {"latencyBuckets", std::move(buckets)}};
    if (!c.output_rows.empty()) out[name]["outputRows"] = counts_to_json(c.output_rows);
    if (!c.stable_output_rows.empty()) {
      out[name]["stableOutputRows"] = counts_to_json(c.stable_output_rows);
    }
  }
  return out;
}

Result<RouterSnapshot> snapshot_from_json(const json& j) {
  if (!j.is_object()) return Error::invalid_input("routerCounters: not an object");
  RouterSnapshot out;
  for (const auto& [name, v] : j.items()) {
    if (!v.is_object()) return Error::invalid_input("routerCounters." + name + ": not an object");
    VariantCounters c;
    for (auto [field, target] : {std::pair{"requests", &c.requests},
                                 {"errors", &c.errors},
                                 {"comparisons", &c.comparisons},
                                 {"agreements", &c.agreements}}) {
      const json value = v.value(field, json(0));
      if (!value.is_number()) {
        return Error::invalid_input("routerCounters." + name + "." + field + ": not a number");
      }
      *target = value.get<double>();
    }
    const json buckets = v.value("latencyBuckets", json::object());
    if (!buckets.is_object()) {
      return Error::invalid_input("routerCounters." + name + ".latencyBuckets: not an object");
    }
    for (const auto& [bound, count] : buckets.items()) {
      char* end = nullptr;
      const double b = std::strtod(bound.c_str(), &end);
      if (bound.empty() || *end != '\0' || !count.is_number()) {
        return Error::invalid_input("routerCounters." + name + ".latencyBuckets: bad bucket '" +
                                    bound + "'");
      }
      c.latency_buckets[b] = count.get<double>();
    }
    const std::string where = "routerCounters." + name;
    KILN_TRY(c.output_rows, counts_from_json(v, "outputRows", where + ".outputRows"));
    KILN_TRY(c.stable_output_rows,
             counts_from_json(v, "stableOutputRows", where + ".stableOutputRows"));
    out.variants[name] = std::move(c);
  }
  return out;
}

RouterSnapshot merge_snapshots(const RouterSnapshot& a, const RouterSnapshot& b) {
  RouterSnapshot out = a;
  for (const auto& [name, c] : b.variants) {
    VariantCounters& o = out.variants[name];
    o.requests += c.requests;
    o.errors += c.errors;
    o.comparisons += c.comparisons;
    o.agreements += c.agreements;
    for (const auto& [bound, count] : c.latency_buckets) o.latency_buckets[bound] += count;
    for (const auto& [bucket, count] : c.output_rows) o.output_rows[bucket] += count;
    for (const auto& [bucket, count] : c.stable_output_rows) o.stable_output_rows[bucket] += count;
    if (c.mean_absolute_difference) {
      o.mean_absolute_difference =
          std::max(o.mean_absolute_difference.value_or(*c.mean_absolute_difference),
                   *c.mean_absolute_difference);
    }
  }
  return out;
}

std::optional<double> histogram_quantile(double q, const std::map<double, double>& buckets) {
  if (buckets.empty() || !std::isinf(buckets.rbegin()->first)) return std::nullopt;
  const double total = buckets.rbegin()->second;
  if (total <= 0) return std::nullopt;
  const double rank = q * total;
  double lower_bound = 0, lower_count = 0, highest_finite = 0;
  for (const auto& [bound, count] : buckets) {
    if (std::isinf(bound)) return highest_finite;  // The rank is above every finite bucket.
    if (count >= rank) {
      if (count == lower_count) return bound;
      return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count);
    }
    lower_bound = highest_finite = bound;
    lower_count = count;
  }
  return std::nullopt;
}

AnalysisSample sample_between(const RouterSnapshot* previous, const RouterSnapshot& current) {
  static const VariantCounters kZero;
  auto get = [](const RouterSnapshot* s, std::string_view v) -> const VariantCounters& {
    if (s == nullptr) return kZero;
    auto it = s->variants.find(v);
    return it == s->variants.end() ? kZero : it->second;
  };
  const VariantCounters& canary = get(&current, "canary");
  const VariantCounters& canary_before = get(previous, "canary");
  const VariantCounters& stable = get(&current, "stable");
  const VariantCounters& stable_before = get(previous, "stable");
  AnalysisSample s;
  s.canary_requests = delta(canary_before.requests, canary.requests);
  s.canary_errors = delta(canary_before.errors, canary.errors);
  s.stable_requests = delta(stable_before.requests, stable.requests);
  s.stable_errors = delta(stable_before.errors, stable.errors);
  const bool reset = canary.requests < canary_before.requests;
  std::map<double, double> window;
  for (const auto& [bound, count] : canary.latency_buckets) {
    auto before = canary_before.latency_buckets.find(bound);
    window[bound] = reset || before == canary_before.latency_buckets.end()
                        ? count
                        : delta(before->second, count);
  }
  s.latency_p99 = histogram_quantile(0.99, window);
  s.agreement = ratio(delta(canary_before.agreements, canary.agreements),
                      delta(canary_before.comparisons, canary.comparisons));
  s.output_drift =
      output_distance(window_of(canary_before.stable_output_rows, canary.stable_output_rows, reset),
                      window_of(canary_before.output_rows, canary.output_rows, reset));
  return s;
}

json AnalysisResult::to_status(support::TimePoint time) const {
  json out = {{"time", support::format_time(time)},
              {"passed", passed},
              {"requests", requests},
              {"metrics", json::array()}};
  for (const auto& m : metrics) {
    json entry = {{"name", m.name}, {"threshold", m.threshold}, {"passed", m.passed}};
    if (m.value && std::isfinite(*m.value)) entry["value"] = *m.value;
    out["metrics"].push_back(std::move(entry));
  }
  return out;
}

AnalysisResult evaluate_analysis(const api::AnalysisSpec& analysis,
                                 const AnalysisSample& sample) {
  using Name = api::AnalysisMetricName;
  AnalysisResult result;
  result.requests = static_cast<int64_t>(sample.canary_requests);
  result.counted = sample.canary_requests >= analysis.min_requests;
  bool all = true;
  for (const auto& spec : analysis.metrics) {
    MetricResult m;
    m.name = std::string(api::to_string(spec.name));
    m.threshold = spec.threshold;
    bool at_least = false;
    switch (spec.name) {
      case Name::kErrorRate: m.value = ratio(sample.canary_errors, sample.canary_requests); break;
      case Name::kLatencyP99: m.value = sample.latency_p99; break;
      case Name::kAgreement:
        m.value = sample.agreement;
        at_least = true;
        break;
      case Name::kOutputDrift: m.value = sample.output_drift; break;
    }
    m.passed = m.value && std::isfinite(*m.value) &&
               (at_least ? *m.value >= m.threshold : *m.value <= m.threshold);
    all = all && m.passed;
    result.metrics.push_back(std::move(m));
  }
  result.passed = result.counted && all;
  return result;
}

AnalysisWindow measure_window(const json& last_analysis, const MeasuredCanary& canary,
                              const RouterSnapshot& current) {
  AnalysisWindow w;
  std::optional<RouterSnapshot> previous;
  const json* kept = last_analysis.is_object() && last_analysis.contains("routerCounters")
                         ? &last_analysis["routerCounters"]
                         : nullptr;
  if (kept != nullptr) {
    auto parsed = snapshot_from_json(*kept);
    if (parsed.ok()) {
      previous = std::move(parsed).value();
    } else {
      w.restarted = parsed.error().message();
    }
    // Counters kept by a measurement of another canary (or by one that did not say which) end
    // a window that still holds that canary's traffic.
    const json measured = {{"uri", canary.uri}, {"version", canary.version}};
    w.baseline = !last_analysis.contains("canary") || last_analysis["canary"] != measured;
  }
  w.sample = sample_between(previous ? &*previous : nullptr, current);
  w.router_counters = snapshot_to_json(current);
  return w;
}

}  // namespace kiln::controllers::modeldeployment
