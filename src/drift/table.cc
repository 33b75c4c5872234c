#include "drift/table.h"

#include <cmath>
#include <unordered_map>

namespace kiln::drift {

std::string_view to_string(ColumnType type) noexcept {
  return type == ColumnType::kNumerical ? "numerical" : "categorical";
}

std::optional<ColumnType> column_type_from_string(std::string_view text) noexcept {
  if (text == "numerical" || text == "num") return ColumnType::kNumerical;
  if (text == "categorical" || text == "cat") return ColumnType::kCategorical;
  return std::nullopt;
}

std::size_t Column::missing() const noexcept {
  std::size_t n = 0;
  if (type == ColumnType::kNumerical) {
    for (double v : values) n += std::isfinite(v) ? 0 : 1;
  } else {
    for (int32_t c : codes) n += c == kMissingCode ? 1 : 0;
  }
  return n;
}

std::vector<uint64_t> Column::code_counts() const {
  // Slot 0 of each set counts missing cells (code -1 + 1), so the loop has no branch.
  const std::size_t width = dictionary.size() + 1;
  std::vector<uint64_t> sets(4 * width);
  uint64_t* set[4] = {sets.data(), sets.data() + width, sets.data() + 2 * width,
                      sets.data() + 3 * width};
  const std::size_t n = codes.size(), blocks = n / 4 * 4;
  const int32_t* c = codes.data();
  for (std::size_t i = 0; i < blocks; i += 4) {
    ++set[0][c[i] + 1];
    ++set[1][c[i + 1] + 1];
    ++set[2][c[i + 2] + 1];
    ++set[3][c[i + 3] + 1];
  }
  for (std::size_t i = blocks; i < n; ++i) ++set[0][c[i] + 1];
  std::vector<uint64_t> out(dictionary.size());
  for (std::size_t d = 0; d < out.size(); ++d) {
    out[d] = set[0][d + 1] + set[1][d + 1] + set[2][d + 1] + set[3][d + 1];
  }
  return out;
}

Column Column::numerical(std::string name, std::vector<double> values) {
  Column c;
  c.name = std::move(name);
  c.type = ColumnType::kNumerical;
  c.values = std::move(values);
  return c;
}

Column Column::categorical(std::string name, const std::vector<std::optional<std::string>>& cells) {
  Column c;
  c.name = std::move(name);
  c.type = ColumnType::kCategorical;
  std::unordered_map<std::string, int32_t> index;
  c.codes.reserve(cells.size());
  for (const auto& cell : cells) {
    if (!cell) {
      c.codes.push_back(kMissingCode);
      continue;
    }
    auto [it, inserted] = index.try_emplace(*cell, static_cast<int32_t>(c.dictionary.size()));
    if (inserted) c.dictionary.push_back(*cell);
    c.codes.push_back(it->second);
  }
  return c;
}

const Column* Table::find(std::string_view name) const noexcept {
  for (const Column& c : columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

}  // namespace kiln::drift
