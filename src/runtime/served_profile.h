#pragma once

// Per-feature input and per-output profiles of served traffic over a sliding window, exposed at
// GET /v2/models/{m}/profile. The profile type is the drift engine's (drift::Profile), so the
// DriftMonitor merges the JSON of every replica (Profile::from_json + merge) and compares it with
// the training baseline.
//
// Window: `window` is split into `slots` equal time slots, each a Profile; a batch lands in the
// slot of its arrival time, and a read merges the slots that started within the last `window`
// (so the window is exact to one slot). Time comes from an injected clock.
//
// Schema: the baseline's when given (kiln-runtime train writes profile.json), so served bins line
// up with the baseline's; otherwise one numerical feature per model input column, named from the
// model's feature names (or f0, f1, ...), with a single bin and the KLL sketch.
//
// JSON: {"windowSeconds", "maxWindowSeconds", "skippedBatches", "inputs": <drift::Profile JSON>,
// "outputs": <drift::Profile JSON>}. A reader may ask for a shorter window than the observer
// keeps (a DriftMonitor's spec.window.duration); it is rounded to whole slots.
//
// Thread-safety: observe() and profile_json() may be called from any thread; they take one mutex
// (a batch costs one sketch insert per feature under it).

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "drift/profile.h"
#include "runtime/inference_service.h"

namespace kiln::runtime {

class ServedProfile final : public TrafficObserver {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `inputs` and `outputs` give the schemas (empty profiles are fine: only the schema is used).
  ServedProfile(const drift::Profile& inputs, const drift::Profile& outputs,
                std::chrono::seconds window, int slots, Clock clock);

  // The default schemas for a model: input features from `metadata` (feature_names, or f0.. for
  // the input's column count), outputs "predict" or "predict_0".. per output column.
  static drift::Profile default_inputs(const ModelMetadata& metadata);
  static drift::Profile default_outputs(const ModelMetadata& metadata);

  // Records every row of a batch. Batches whose feature count differs from the schema are
  // counted in the "skippedBatches" member and otherwise ignored.
  void observe(std::span<const Tensor> inputs, std::span<const Tensor> outputs) override;
  // {"windowSeconds" (the span covered: `window` rounded up to whole slots and clipped to the
  // observer's, or the whole one when zero), "maxWindowSeconds", "skippedBatches", "inputs",
  // "outputs"}.
  Result<nlohmann::json> profile_json(std::chrono::seconds window) const override;
  std::optional<nlohmann::json> baseline_json() const override { return baseline_; }
  // Keeps the baseline profile JSON for baseline_json(). Call before sharing the object.
  void set_baseline(nlohmann::json baseline) { baseline_ = std::move(baseline); }

 private:
  struct Slot {
    std::chrono::steady_clock::time_point start;
    drift::Profile inputs;
    drift::Profile outputs;
  };
  Slot& slot_for(std::chrono::steady_clock::time_point now);

  const drift::Profile empty_inputs_;
  const drift::Profile empty_outputs_;
  const std::chrono::steady_clock::duration window_;
  const std::chrono::steady_clock::duration slot_length_;
  const Clock clock_;
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;  // Ring; guarded by mutex_.
  std::uint64_t skipped_ = 0;
  std::optional<nlohmann::json> baseline_;  // Immutable once shared.
};

}  // namespace kiln::runtime
