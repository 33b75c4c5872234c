#include "runtime/served_profile.h"

namespace kiln::runtime {
namespace {

drift::Profile numerical_schema(const std::vector<std::string>& names) {
  std::vector<drift::FeatureSchema> schema;
  for (const auto& name : names) {
    drift::FeatureSchema f;
    f.name = name;
    f.type = drift::ColumnType::kNumerical;
    schema.push_back(f);
  }
  return drift::Profile(std::move(schema));
}

std::int64_t columns_of(const TensorSpec& spec) {
  return spec.shape.size() >= 2 && spec.shape.back() > 0 ? spec.shape.back() : 1;
}

}  // namespace

ServedProfile::ServedProfile(const drift::Profile& inputs, const drift::Profile& outputs,
                             std::chrono::seconds window, int slots, Clock clock)
    : empty_inputs_(inputs.empty_like()),
      empty_outputs_(outputs.empty_like()),
      window_(window),
      slot_length_(window / std::max(1, slots)),
      clock_(std::move(clock)) {}

drift::Profile ServedProfile::default_inputs(const ModelMetadata& metadata) {
  std::vector<std::string> names = metadata.feature_names;
  if (names.empty() && !metadata.inputs.empty()) {
    for (std::int64_t i = 0; i < columns_of(metadata.inputs[0]); ++i) {
      names.push_back("f" + std::to_string(i));
    }
  }
  return numerical_schema(names);
}

drift::Profile ServedProfile::default_outputs(const ModelMetadata& metadata) {
  std::vector<std::string> names;
  if (!metadata.outputs.empty()) {
    const auto& spec = metadata.outputs[0];
    const auto cols = columns_of(spec);
    for (std::int64_t i = 0; i < cols; ++i) {
      names.push_back(cols == 1 ? spec.name : spec.name + "_" + std::to_string(i));
    }
  }
  return numerical_schema(names);
}

ServedProfile::Slot& ServedProfile::slot_for(std::chrono::steady_clock::time_point now) {
  if (slots_.empty() || now - slots_.back().start >= slot_length_) {
    slots_.push_back({now, empty_inputs_.empty_like(), empty_outputs_.empty_like()});
    while (!slots_.empty() && now - slots_.front().start >= window_) slots_.erase(slots_.begin());
  }
  return slots_.back();
}

void ServedProfile::observe(std::span<const Tensor> inputs, std::span<const Tensor> outputs) {
  auto rows = to_feature_matrix(inputs);
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  if (!rows.ok() || static_cast<std::size_t>(rows->cols) != empty_inputs_.size()) {
    ++skipped_;
    return;
  }
  Slot& slot = slot_for(now);
  std::vector<drift::Cell> row(static_cast<std::size_t>(rows->cols));
  for (std::int64_t r = 0; r < rows->rows; ++r) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      row[c] = static_cast<double>(rows->values[static_cast<std::size_t>(r) * row.size() + c]);
    }
    (void)slot.inputs.observe(row);  // Sizes match: checked above.
  }
  if (outputs.empty() || empty_outputs_.size() == 0) return;
  auto out = to_feature_matrix(outputs.subspan(0, 1));
  if (!out.ok()) return;
  const auto cols = static_cast<std::size_t>(empty_outputs_.size());
  for (std::size_t i = 0; i < out->values.size(); ++i) {
    slot.outputs.feature(i % cols).add(static_cast<double>(out->values[i]));
  }
}

Result<nlohmann::json> ServedProfile::profile_json(std::chrono::seconds requested) const {
  const auto now = clock_();
  // The requested window rounded up to whole slots (so the current slot always counts), clipped
  // to the observer's; compared in seconds first so a huge request cannot overflow.
  std::chrono::steady_clock::duration window = window_;
  if (requested.count() > 0 &&
      requested < std::chrono::duration_cast<std::chrono::seconds>(window_)) {
    const auto slots = (std::chrono::steady_clock::duration(requested) + slot_length_ -
                        std::chrono::steady_clock::duration(1)) /
                       slot_length_;
    window = std::min(window_, slots * slot_length_);
  }
  drift::Profile inputs = empty_inputs_.empty_like();
  drift::Profile outputs = empty_outputs_.empty_like();
  std::uint64_t skipped;
  {
    std::lock_guard lock(mutex_);
    for (const auto& slot : slots_) {
      if (now - slot.start >= window) continue;
      if (auto m = inputs.merge(slot.inputs); !m.ok()) return std::move(m).error();
      if (auto m = outputs.merge(slot.outputs); !m.ok()) return std::move(m).error();
    }
    skipped = skipped_;
  }
  return nlohmann::json{{"windowSeconds", std::chrono::duration<double>(window).count()},
                        {"maxWindowSeconds", std::chrono::duration<double>(window_).count()},
                        {"skippedBatches", skipped},
                        {"inputs", inputs.to_json()},
                        {"outputs", outputs.to_json()}};
}

}  // namespace kiln::runtime
