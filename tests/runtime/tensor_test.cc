#include "runtime/tensor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kiln::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(DataTypeTest, NamesRoundTripForEveryDatatype) {
  for (const char* name : {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                           "INT64", "FP16", "FP32", "FP64", "BYTES"}) {
    auto parsed = parse_datatype(name);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_EQ(to_string(*parsed), name);
  }
  EXPECT_FALSE(parse_datatype("fp32").has_value());
  EXPECT_FALSE(parse_datatype("FLOAT").has_value());
}

TEST(ElementCountTest, ScalarHoldsOneAndZeroDimensionHoldsNone) {
  EXPECT_EQ(element_count(std::vector<std::int64_t>{}), 1);
  EXPECT_EQ(element_count(std::vector<std::int64_t>{3, 0}), 0);
  EXPECT_EQ(element_count(std::vector<std::int64_t>{2, 3, 4}), 24);
}

TEST(FeatureMatrixTest, OneMatrixInputKeepsRowsAndColumns) {
  Tensor t{"x", DataType::kFp64, {2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6}};
  auto m = to_feature_matrix(std::span(&t, 1));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->rows, 2);
  EXPECT_EQ(m->cols, 3);
  EXPECT_THAT(m->values, ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST(FeatureMatrixTest, OneVectorInputIsASingleRow) {
  Tensor t{"x", DataType::kInt32, {3}, std::vector<std::int64_t>{7, 8, 9}};
  auto m = to_feature_matrix(std::span(&t, 1));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->rows, 1);
  EXPECT_EQ(m->cols, 3);
}

TEST(FeatureMatrixTest, ColumnInputsAreTransposedIntoRows) {
  std::vector<Tensor> cols = {{"a", DataType::kFp32, {2}, std::vector<float>{1, 2}},
                              {"b", DataType::kBool, {2, 1}, std::vector<std::uint8_t>{1, 0}}};
  auto m = to_feature_matrix(cols);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->rows, 2);
  EXPECT_EQ(m->cols, 2);
  EXPECT_THAT(m->values, ElementsAre(1, 1, 2, 0));
}

TEST(FeatureMatrixTest, RefusesBytesRankThreeAndRaggedColumns) {
  Tensor bytes{"s", DataType::kBytes, {1}, std::vector<std::string>{"a"}};
  auto r = to_feature_matrix(std::span(&bytes, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("BYTES"));

  Tensor cube{"c", DataType::kFp32, {1, 1, 1}, std::vector<float>{1}};
  EXPECT_FALSE(to_feature_matrix(std::span(&cube, 1)).ok());

  std::vector<Tensor> ragged = {{"a", DataType::kFp32, {2}, std::vector<float>{1, 2}},
                                {"b", DataType::kFp32, {1}, std::vector<float>{1}}};
  auto rr = to_feature_matrix(ragged);
  ASSERT_FALSE(rr.ok());
  EXPECT_THAT(rr.error().message(), HasSubstr("has 1 rows"));
}

}  // namespace
}  // namespace kiln::runtime
