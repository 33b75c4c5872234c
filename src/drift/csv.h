#pragma once

// Reading a CSV file (RFC 4180: quoted fields, embedded separators, quotes and newlines; parsed by
// libcsv) into a drift Table.
//
// The first row names the columns. A cell is missing when it is empty or one of pandas' default
// NA strings ("NA", "N/A", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "n/a", "#N/A",
// "<NA>"). A column is numerical when every non-missing cell parses as a number (std::from_chars,
// surrounding blanks allowed; "inf" parses and counts as missing in every test), otherwise
// categorical with the cells' text as categories — the same split pandas.read_csv makes between
// numeric and object columns. Callers may force a type per column.
//
// The file is parsed twice (types, then values) so memory stays at the size of the table.
// Thread-compatible: no shared state.

#include <map>
#include <string>

#include "common/result.h"
#include "drift/table.h"

namespace kiln::drift {

struct CsvOptions {
  char delimiter = ',';
  // Columns to keep (empty: all), in the file's order.
  std::vector<std::string> columns;
  // Forced types by column name; other columns are inferred.
  std::map<std::string, ColumnType, std::less<>> types;
};

// Reads `path`. invalid-input errors: unreadable file, malformed CSV, empty file (no header),
// duplicate column names, a row with another number of fields than the header, a requested
// column absent from the header, a column forced numerical holding text.
Result<Table> read_csv(const std::string& path, const CsvOptions& options = {});
// The same from text in memory.
Result<Table> parse_csv(std::string_view text, const CsvOptions& options = {});

}  // namespace kiln::drift
