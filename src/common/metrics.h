#pragma once

// A small Prometheus client: counters, gauges and histograms grouped in labelled families, kept in
// a Registry that renders the text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
//   metrics::Registry registry;
//   auto& reconciles = registry.counter("kiln_reconcile_total", "Reconciles.", {"result"});
//   metrics::Counter& ok = reconciles.with({"success"});  // Look up once ...
//   ok.inc();                                              // ... then update lock-free.
//
// Costs, measured with bench/metrics_bench.cc (RelWithDebInfo, g++ 12, 2-core 2.6 GHz x86-64 VM;
// wall time per operation; uncontended: median of 7 runs, contended: range over 3 noisy runs):
//   operation                            uncontended   2 threads on the same child
//   Counter::inc on a held child         ≈ 11 ns       ≈ 25-70 ns  (compare-exchange loop)
//   Histogram::observe, 11 buckets       ≈ 12 ns       ≈ 65-90 ns  (two atomics per call)
//   Family::with({a, b}) lookup + inc    ≈ 34 ns       ≈ 45-130 ns (mutex + hash of the values)
//   Registry::expose, 100 children       ≈ 8.5 µs
// Under contention the child's cache line bounces between cores and with() serializes on the
// family's mutex, so hot paths should call with() once and keep the reference.
//
// Errors: names, labels and buckets come from our own code, so registration mistakes (bad name,
// duplicate family, bad buckets) and with() calls with the wrong number of values throw
// std::invalid_argument with a message naming the metric. Updating a metric never throws.

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace kiln::metrics {

// The Content-Type of Registry::expose()'s output, for the /metrics HTTP response.
inline constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

class Registry;
template <class Child>
class Family;

// A value that only goes up (requests served, errors seen). Created by a Family; lives as long as
// its Registry. All members are thread-safe and lock-free.
class Counter {
 public:
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `amount`, which must be >= 0 (a counter never goes down). A negative or NaN amount is a
  // bug in the caller: it fails an assert in debug builds and is ignored in release builds.
  void inc(double amount = 1) noexcept {
    assert(amount >= 0 && "Counter::inc: amount must be non-negative");
    if (amount >= 0) value_.fetch_add(amount, std::memory_order_relaxed);
  }

  // The current total.
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  template <class>
  friend class Family;
  Counter() = default;

  std::atomic<double> value_{0};
};

// A value that goes up and down (queue depth, temperature). Created by a Family; lives as long as
// its Registry. All members are thread-safe and lock-free.
class Gauge {
 public:
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  // Replaces the value. Any double is allowed, including negative, infinite and NaN.
  void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
  // Adds `amount` (any sign).
  void inc(double amount = 1) noexcept { value_.fetch_add(amount, std::memory_order_relaxed); }
  // Subtracts `amount` (any sign).
  void dec(double amount = 1) noexcept { value_.fetch_sub(amount, std::memory_order_relaxed); }
  // The current value.
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  template <class>
  friend class Family;
  Gauge() = default;

  std::atomic<double> value_{0};
};

// Counts observations (latencies in seconds, sizes in bytes) into buckets with fixed upper bounds,
// plus their sum. Created by a Family; lives as long as its Registry. Thread-safe; observe() is
// lock-free.
class Histogram {
 public:
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Records one observation: counted in the first bucket whose upper bound is >= `value` (the
  // implicit +Inf bucket when none is) and added to the sum. NaN lands in +Inf and makes the sum
  // NaN, as in the Go client.
  void observe(double value) noexcept;

  // A copy of the current state, taken without a lock. Observations racing with it may be counted
  // but not yet summed (or the reverse); the counts themselves are cumulative by construction, so
  // the +Inf bucket always equals the total count.
  struct Snapshot {
    // cumulative_counts[i] = observations <= upper_bounds[i]; one extra last entry for +Inf, which
    // is the total count.
    std::vector<std::uint64_t> cumulative_counts;
    double sum = 0;
  };
  Snapshot snapshot() const;

 private:
  template <class>
  friend class Family;
  // `upper_bounds` are the family's validated buckets, which outlive this child.
  explicit Histogram(std::span<const double> upper_bounds);

  std::span<const double> upper_bounds_;
  // Non-cumulative: counts_[i] = observations in (upper_bounds_[i-1], upper_bounds_[i]]; the last
  // entry counts those above every bound.
  std::vector<std::atomic<std::uint64_t>> counts_;  // Sized once; never resized.
  std::atomic<double> sum_{0};
};

// Prometheus' default buckets for latencies in seconds: 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
// 1, 2.5, 5, 10.
std::vector<double> default_buckets();

// `count` buckets: start, start*factor, start*factor^2, ... Throws std::invalid_argument unless
// start > 0, factor > 1 and count >= 1.
std::vector<double> exponential_buckets(double start, double factor, int count);

namespace detail {

// Hash and equality over a tuple of label values, transparent so that a family can look up its
// children by string_views without allocating.
struct LabelValuesHash {
  using is_transparent = void;
  std::size_t operator()(std::span<const std::string> values) const noexcept;
  std::size_t operator()(std::span<const std::string_view> values) const noexcept;
};
struct LabelValuesEqual {
  using is_transparent = void;
  bool operator()(std::span<const std::string> a, std::span<const std::string> b) const noexcept;
  bool operator()(std::span<const std::string_view> a,
                  std::span<const std::string> b) const noexcept;
  bool operator()(std::span<const std::string> a,
                  std::span<const std::string_view> b) const noexcept;
};

// What every family has, and the hook the Registry renders through.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

 protected:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;

 private:
  friend class kiln::metrics::Registry;
  // Appends this family's HELP, TYPE and sample lines to `out`.
  virtual void render(std::string& out) const = 0;
};

}  // namespace detail

// The metrics of one name, one child per distinct tuple of label values. Created by a Registry and
// owned by it; references stay valid as long as the registry.
template <class Child>
class Family final : public detail::FamilyBase {
 public:
  // Returns the child for `label_values` (one per label name, in registration order), creating it
  // at zero on first use; later calls return the same object, valid as long as the registry.
  // Values may be any string: bytes that are not valid UTF-8 are replaced by U+FFFD. Children are
  // never removed, so keep label values bounded (no request IDs).
  // Thread-safe; takes the family's mutex (see the costs at the top of this file).
  // Throws std::invalid_argument if the number of values differs from the number of label names.
  Child& with(std::initializer_list<std::string_view> label_values);

  // Removes the children whose label values (in registration order) satisfy `match`, so their
  // series leave the exposition, as prometheus-cpp's Family::Remove: for series of objects that
  // are gone (a deleted DriftMonitor's features). A reference from with() to a removed child
  // dangles, so only callers that look children up on each use may remove. Returns how many were
  // removed. Thread-safe; `match` runs under the family's mutex and must not touch the family.
  std::size_t remove_if(const std::function<bool(const std::vector<std::string>&)>& match);

 private:
  friend class Registry;
  struct Entry {
    std::string labels;  // Rendered `name="value",...`, escaped.
    std::unique_ptr<Child> child;
  };

  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> buckets);
  Child& find_or_create(std::span<const std::string_view> values);
  void render(std::string& out) const override;

  const std::vector<double> buckets_;  // Histogram upper bounds; empty for other kinds.
  mutable std::mutex mutex_;           // Guards children_.
  std::unordered_map<std::vector<std::string>, Entry, detail::LabelValuesHash,
                     detail::LabelValuesEqual>
      children_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// Owns metric families and renders them for scraping. Thread-safe: families may be registered,
// updated and exposed from any thread. Not copyable or movable (children are referenced).
//
// Registration validates, and throws std::invalid_argument on:
//   - a metric name not matching [a-zA-Z_:][a-zA-Z0-9_:]*, or a counter name not ending in _total;
//   - a label name not matching [a-zA-Z_][a-zA-Z0-9_]*, starting with "__", repeated, or "le" on a
//     histogram;
//   - histogram buckets that are not finite and strictly increasing (+Inf is always implicit);
//   - a name already taken, including the _bucket/_sum/_count series of a histogram.
// `help` is free UTF-8 text.
class Registry {
 public:
  Registry();
  ~Registry();  // Destroys every family and child: references into the registry must be dead.
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family and returns it, owned by this registry. `label_names` are the names each
  // child's values go with, in order; none means a single child, exposed even when never updated.
  // Throws std::invalid_argument as listed above.
  Family<Counter>& counter(std::string name, std::string help,
                           std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(std::string name, std::string help,
                       std::vector<std::string> label_names = {});
  // As above; `buckets` are upper bounds in the unit of the observations, and an empty list means
  // the +Inf bucket only.
  Family<Histogram>& histogram(std::string name, std::string help,
                               std::vector<std::string> label_names = {},
                               std::vector<double> buckets = default_buckets());

  // Renders every family in the text format 0.0.4 (see kExpositionContentType): families in
  // registration order, children sorted by label values, histograms as cumulative buckets then
  // _sum and _count. Values are written in shortest round-trip form, +Inf, -Inf or NaN. Families
  // with labels but no children yet produce only their HELP and TYPE lines.
  std::string expose() const;

 private:
  template <class Child>
  Family<Child>& add(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> buckets);

  mutable std::mutex mutex_;  // Guards families_ and series_names_.
  std::vector<std::unique_ptr<detail::FamilyBase>> families_;
  std::unordered_set<std::string> series_names_;  // Every sample name a family may expose.
};

}  // namespace kiln::metrics
