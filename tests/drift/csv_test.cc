// The CSV reader: RFC 4180 quoting, missing cells, type inference and errors.
#include "drift/csv.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln::drift {
namespace {

TEST(Csv, ReadsQuotedFieldsMissingCellsAndInfersTypes) {
  auto t = parse_csv(
      "n,c,mixed\n"
      "1.5,\"a, with comma\",1\n"
      "NA,\"say \"\"hi\"\"\",x\n"
      ",\"multi\nline\",2\n"
      "-2e3,,3\n");
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  ASSERT_EQ(t->columns.size(), 3u);
  const Column& n = t->columns[0];
  EXPECT_EQ(n.type, ColumnType::kNumerical);
  ASSERT_EQ(n.values.size(), 4u);
  EXPECT_EQ(n.values[0], 1.5);
  EXPECT_TRUE(std::isnan(n.values[1]));
  EXPECT_TRUE(std::isnan(n.values[2]));
  EXPECT_EQ(n.values[3], -2000);
  const Column& c = t->columns[1];
  EXPECT_EQ(c.type, ColumnType::kCategorical);
  EXPECT_EQ(c.dictionary[c.codes[0]], "a, with comma");
  EXPECT_EQ(c.dictionary[c.codes[1]], "say \"hi\"");
  EXPECT_EQ(c.dictionary[c.codes[2]], "multi\nline");
  EXPECT_EQ(c.codes[3], Column::kMissingCode);
  EXPECT_EQ(t->columns[2].type, ColumnType::kCategorical);  // One cell is text.
  EXPECT_EQ(t->columns[2].dictionary[t->columns[2].codes[0]], "1");
}

TEST(Csv, SelectsAndForcesColumns) {
  CsvOptions options;
  options.columns = {"b"};
  options.types["b"] = ColumnType::kCategorical;
  auto t = parse_csv("a,b\n1,2\n3,4\n", options);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->columns.size(), 1u);
  EXPECT_EQ(t->columns[0].name, "b");
  EXPECT_EQ(t->columns[0].type, ColumnType::kCategorical);
  EXPECT_EQ(t->columns[0].dictionary, (std::vector<std::string>{"2", "4"}));
}

TEST(Csv, BadInputIsInvalidInput) {
  struct Case {
    const char* what;
    std::string text;
    CsvOptions options;
  };
  CsvOptions missing_column;
  missing_column.columns = {"zz"};
  CsvOptions forced;
  forced.types["a"] = ColumnType::kNumerical;
  const std::vector<Case> cases = {
      {"empty file", "", {}},
      {"ragged row", "a,b\n1,2\n3\n", {}},
      {"duplicate header", "a,a\n1,2\n", {}},
      {"unknown column", "a,b\n1,2\n", missing_column},
      {"text forced numerical", "a\nx\n", forced},
  };
  for (const Case& c : cases) {
    auto t = parse_csv(c.text, c.options);
    ASSERT_FALSE(t.ok()) << c.what;
    EXPECT_EQ(t.error().category(), ErrorCategory::kInvalidInput) << c.what;
  }
  auto file = read_csv("no/such/file.csv");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().category(), ErrorCategory::kInvalidInput);
}

}  // namespace
}  // namespace kiln::drift
