#pragma once

// Columnar data for drift comparisons in exact mode: a Table of named Columns, each numerical
// (doubles, NaN for a missing cell) or categorical (dictionary-encoded strings, code -1 for a
// missing cell). Tables come from read_csv() (drift/csv.h) or are built directly.
//
// A Table is a plain value type: copies are independent; const access from several threads is
// safe, mutation is not.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::drift {

// The statistical type of a feature. Names follow Evidently ("num"/"cat" in its reports).
enum class ColumnType {
  kNumerical,
  kCategorical,
};

// "numerical" or "categorical"; the view points to static storage.
std::string_view to_string(ColumnType type) noexcept;
// Parses "numerical"/"num" and "categorical"/"cat"; nullopt otherwise.
std::optional<ColumnType> column_type_from_string(std::string_view text) noexcept;

// One column. Exactly one of `values` (numerical) or `codes` (categorical) holds the cells.
struct Column {
  std::string name;
  ColumnType type = ColumnType::kNumerical;
  // Numerical cells, one per row; NaN marks a missing cell (so do ±inf, which every test treats
  // as missing, as Evidently does).
  std::vector<double> values;
  // Categorical cells, one per row: an index into `dictionary`, or kMissingCode.
  std::vector<int32_t> codes;
  // Distinct category values, in order of first appearance.
  std::vector<std::string> dictionary;

  static constexpr int32_t kMissingCode = -1;

  // Number of rows (cells, missing included).
  std::size_t size() const noexcept {
    return type == ColumnType::kNumerical ? values.size() : codes.size();
  }
  // Number of missing cells.
  std::size_t missing() const noexcept;
  // Categorical: how many cells hold each dictionary entry (dictionary.size() counts; missing
  // cells are not counted). One pass; four interleaved counter sets, so runs of one category do
  // not wait on each other's increments.
  std::vector<uint64_t> code_counts() const;

  // Builders for tests and callers holding plain vectors.
  static Column numerical(std::string name, std::vector<double> values);
  // `cells` are category values; nullopt marks a missing cell.
  static Column categorical(std::string name, const std::vector<std::optional<std::string>>& cells);
};

// Columns of equal length.
struct Table {
  std::vector<Column> columns;

  // Rows of the first column (0 for a table without columns).
  std::size_t rows() const noexcept { return columns.empty() ? 0 : columns.front().size(); }
  // The column named `name`, or nullptr. The pointer lives as long as the table is not mutated.
  const Column* find(std::string_view name) const noexcept;
};

}  // namespace kiln::drift
