#include "drift/csv.h"

#include <csv.h>

#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace kiln::drift {
namespace {

constexpr std::array<std::string_view, 12> kMissingTokens = {
    "NA", "N/A", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "n/a", "#N/A", "<NA>"};

bool is_missing(std::string_view cell) {
  if (cell.empty()) return true;
  for (std::string_view t : kMissingTokens) {
    if (cell == t) return true;
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::optional<double> parse_number(std::string_view cell) {
  cell = trim(cell);
  if (!cell.empty() && cell.front() == '+') cell.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec != std::errc() || ptr != cell.data() + cell.size() || cell.empty()) return std::nullopt;
  return v;
}

// Feeds a CSV byte stream to libcsv and calls on_row(fields) per record.
using ChunkSource = std::function<std::optional<std::string_view>()>;
using RowSink = std::function<bool(const std::vector<std::string>&)>;  // false: stop with error

struct ParseState {
  std::vector<std::string> fields;
  const RowSink* sink;
  bool ok = true;
};

void on_field(void* data, size_t len, void* state) {
  auto* s = static_cast<ParseState*>(state);
  s->fields.emplace_back(data ? static_cast<const char*>(data) : "", data ? len : 0);
}

void on_row(int, void* state) {
  auto* s = static_cast<ParseState*>(state);
  if (s->ok && !(*s->sink)(s->fields)) s->ok = false;
  s->fields.clear();
}

Result<void> parse_stream(const ChunkSource& next, char delimiter, const RowSink& sink) {
  csv_parser parser;
  if (csv_init(&parser, CSV_APPEND_NULL) != 0) return Error::terminal("csv: out of memory");
  csv_set_delim(&parser, static_cast<unsigned char>(delimiter));
  ParseState state{{}, &sink};
  Result<void> result;
  while (auto chunk = next()) {
    if (csv_parse(&parser, chunk->data(), chunk->size(), on_field, on_row, &state) !=
        chunk->size()) {
      result =
          Error::invalid_input(std::string("malformed CSV: ") + csv_strerror(csv_error(&parser)));
      break;
    }
    if (!state.ok) break;
  }
  if (result.ok() && state.ok) csv_fini(&parser, on_field, on_row, &state);
  csv_free(&parser);
  if (!result.ok()) return result;
  if (!state.ok) return Error::invalid_input("CSV row has a different number of fields");
  return Ok();
}

struct Plan {
  std::vector<std::string> header;
  std::vector<int> keep;  // header index -> output column index, or -1
  std::vector<Column> columns;
};

Result<Plan> make_plan(const std::vector<std::string>& header, const CsvOptions& options) {
  Plan plan;
  plan.header = header;
  std::unordered_set<std::string_view> seen;
  for (const std::string& h : header) {
    if (!seen.insert(h).second) return Error::invalid_input("duplicate CSV column '" + h + "'");
  }
  for (const std::string& want : options.columns) {
    if (!seen.contains(want)) return Error::invalid_input("no CSV column named '" + want + "'");
  }
  plan.keep.assign(header.size(), -1);
  for (size_t i = 0; i < header.size(); ++i) {
    const bool wanted = options.columns.empty() ||
                        std::find(options.columns.begin(), options.columns.end(), header[i]) !=
                            options.columns.end();
    if (!wanted) continue;
    plan.keep[i] = static_cast<int>(plan.columns.size());
    Column c;
    c.name = header[i];
    plan.columns.push_back(std::move(c));
  }
  return plan;
}

Result<Table> read_table(const std::function<ChunkSource()>& open, const CsvOptions& options) {
  // Pass 1: header and types.
  std::optional<Plan> plan;
  std::vector<bool> numeric;
  Error plan_error = Error::invalid_input("empty CSV: no header row");
  RowSink infer = [&](const std::vector<std::string>& row) {
    if (!plan) {
      auto p = make_plan(row, options);
      if (!p.ok()) {
        plan_error = p.error();
        return false;
      }
      plan = std::move(p).value();
      numeric.assign(row.size(), true);
      return true;
    }
    if (row.size() != plan->header.size()) return false;
    for (size_t i = 0; i < row.size(); ++i) {
      if (numeric[i] && plan->keep[i] >= 0 && !is_missing(row[i]) && !parse_number(row[i])) {
        numeric[i] = false;
      }
    }
    return true;
  };
  auto pass1 = parse_stream(open(), options.delimiter, infer);
  if (!plan) return plan_error;
  if (!pass1.ok()) return pass1.error();
  for (size_t i = 0; i < plan->header.size(); ++i) {
    if (plan->keep[i] < 0) continue;
    Column& c = plan->columns[plan->keep[i]];
    c.type = numeric[i] ? ColumnType::kNumerical : ColumnType::kCategorical;
    if (auto it = options.types.find(c.name); it != options.types.end()) {
      if (it->second == ColumnType::kNumerical && !numeric[i]) {
        return Error::invalid_input("CSV column '" + c.name + "' is not numerical");
      }
      c.type = it->second;
    }
  }
  // Pass 2: values.
  std::vector<std::unordered_map<std::string, int32_t>> dictionaries(plan->columns.size());
  bool header_done = false;
  RowSink fill = [&](const std::vector<std::string>& row) {
    if (!header_done) return header_done = true;
    for (size_t i = 0; i < row.size(); ++i) {
      if (plan->keep[i] < 0) continue;
      Column& c = plan->columns[plan->keep[i]];
      const bool missing = is_missing(row[i]);
      if (c.type == ColumnType::kNumerical) {
        c.values.push_back(missing ? NAN : *parse_number(row[i]));
      } else if (missing) {
        c.codes.push_back(Column::kMissingCode);
      } else {
        auto& dict = dictionaries[plan->keep[i]];
        auto [it, inserted] = dict.try_emplace(row[i], static_cast<int32_t>(c.dictionary.size()));
        if (inserted) c.dictionary.push_back(row[i]);
        c.codes.push_back(it->second);
      }
    }
    return true;
  };
  auto pass2 = parse_stream(open(), options.delimiter, fill);
  if (!pass2.ok()) return pass2.error();
  return Table{std::move(plan->columns)};
}

}  // namespace

Result<Table> read_csv(const std::string& path, const CsvOptions& options) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) return Error::invalid_input("cannot read CSV file '" + path + "'");
  }
  auto open = [&path]() -> ChunkSource {
    auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
    auto buffer = std::make_shared<std::vector<char>>(1 << 20);
    return [in, buffer]() -> std::optional<std::string_view> {
      in->read(buffer->data(), static_cast<std::streamsize>(buffer->size()));
      const auto got = in->gcount();
      if (got <= 0) return std::nullopt;
      return std::string_view(buffer->data(), static_cast<size_t>(got));
    };
  };
  auto table = read_table(open, options);
  if (!table.ok()) return table.error().with_context("reading " + path);
  return table;
}

Result<Table> parse_csv(std::string_view text, const CsvOptions& options) {
  auto open = [text]() -> ChunkSource {
    auto done = std::make_shared<bool>(false);
    return [text, done]() -> std::optional<std::string_view> {
      if (*done || text.empty()) return std::nullopt;
      *done = true;
      return text;
    };
  };
  return read_table(open, options);
}

}  // namespace kiln::drift
