#include "runtime/tensor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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

// The amplification of issue 16: a long first column and thousands of empty ones. Before the
// fix the matrix (rows x inputs floats, 1.6 GB here) was allocated before the second input was
// looked at; now the inputs are checked first and the refusal allocates nothing of that size.
TEST(FeatureMatrixTest, RefusesRaggedColumnsBeforeAllocatingRowsTimesInputs) {
  std::vector<Tensor> inputs;
  inputs.push_back({"long", DataType::kFp32, {100'000}, std::vector<float>(100'000, 1.0f)});
  for (int i = 0; i < 4000; ++i) {
    inputs.push_back({"empty", DataType::kFp32, {0}, std::vector<float>{}});
  }
  auto r = to_feature_matrix(inputs);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(r.error().message(), HasSubstr("input 'empty' has 0 rows; input 'long' has 100000"));
}

TEST(FeatureMatrixTest, RefusesATensorHoldingOtherThanItsShape) {
  Tensor short_data{"x", DataType::kFp32, {2, 3}, std::vector<float>{1, 2}};
  auto r = to_feature_matrix(std::span(&short_data, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("holds 2 values; its shape needs 2 x 3"));
}

TEST(ElementSizeTest, FixedSizeTypesTakeTheirNativeWidthAndBytesVaries) {
  EXPECT_EQ(element_size(DataType::kBool), 1u);
  EXPECT_EQ(element_size(DataType::kInt8), 1u);
  EXPECT_EQ(element_size(DataType::kFp16), 2u);
  EXPECT_EQ(element_size(DataType::kUint32), 4u);
  EXPECT_EQ(element_size(DataType::kFp32), 4u);
  EXPECT_EQ(element_size(DataType::kInt64), 8u);
  EXPECT_EQ(element_size(DataType::kFp64), 8u);
  EXPECT_EQ(element_size(DataType::kBytes), 0u);
}

std::string bytes_of(std::initializer_list<unsigned> values) {
  std::string out;
  for (unsigned v : values) out.push_back(static_cast<char>(v));
  return out;
}

TEST(RawTensorTest, DecodesLittleEndianIntegersWithTheirSign) {
  auto i16 = decode_raw(DataType::kInt16, 2, bytes_of({0xfe, 0xff, 0x02, 0x01}), "x");
  ASSERT_TRUE(i16.ok()) << i16.error().to_string();
  EXPECT_THAT(std::get<std::vector<std::int64_t>>(*i16), ElementsAre(-2, 0x0102));
  auto u16 = decode_raw(DataType::kUint16, 1, bytes_of({0xfe, 0xff}), "x");
  EXPECT_THAT(std::get<std::vector<std::int64_t>>(*u16), ElementsAre(65534));
  auto i64 = decode_raw(DataType::kInt64, 1, std::string(8, '\xff'), "x");
  EXPECT_THAT(std::get<std::vector<std::int64_t>>(*i64), ElementsAre(-1));
  auto u64 = decode_raw(DataType::kUint64, 1, std::string(8, '\xff'), "inputs[0]");
  ASSERT_FALSE(u64.ok());
  EXPECT_THAT(u64.error().message(), HasSubstr("inputs[0]: element 0"));
}

TEST(RawTensorTest, FloatsBoolsAndBytesRoundTrip) {
  const std::vector<Tensor> tensors = {
      {"f", DataType::kFp32, {3}, std::vector<float>{1.5f, -0.0f, 3.25e-7f}},
      {"d", DataType::kFp64, {2}, std::vector<double>{0.1, -1e300}},
      {"h", DataType::kFp16, {3}, std::vector<float>{1.0f, -2.5f, 65504.0f}},
      {"b", DataType::kBool, {3}, std::vector<std::uint8_t>{1, 0, 1}},
      {"i", DataType::kInt32, {2}, std::vector<std::int64_t>{-7, 2147483647}},
      {"s", DataType::kBytes, {3}, std::vector<std::string>{"ab", "", std::string("\0z", 2)}},
  };
  for (const Tensor& t : tensors) {
    std::string raw;
    const std::size_t n = append_raw(t, raw);
    EXPECT_EQ(n, raw.size()) << t.name;
    if (t.datatype != DataType::kBytes) {
      EXPECT_EQ(n, t.size() * element_size(t.datatype));
    }
    auto back = decode_raw(t.datatype, static_cast<std::int64_t>(t.size()), raw, t.name);
    ASSERT_TRUE(back.ok()) << back.error().to_string();
    EXPECT_EQ(*back, t.data) << t.name;
  }
  std::string bytes;
  append_raw(tensors.back(), bytes);
  EXPECT_EQ(bytes, bytes_of({2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0, 2, 0, 0, 0, 0, 'z'}));
}

struct RawBad {
  DataType datatype;
  std::int64_t count;
  std::string bytes;
  const char* message;
};

class RawTensorBadTest : public ::testing::TestWithParam<RawBad> {};

TEST_P(RawTensorBadTest, RefusesSizesThatDoNotAddUp) {
  auto r = decode_raw(GetParam().datatype, GetParam().count, GetParam().bytes, "inputs[1]");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(r.error().message(), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RawTensorBadTest,
    ::testing::Values(
        RawBad{DataType::kFp32, 2, std::string(7, '\0'), "inputs[1]: 7 bytes do not hold 2 FP32"},
        RawBad{DataType::kFp32, 1, std::string(8, '\0'), "8 bytes do not hold 1 FP32"},
        // A count whose byte size overflows 64 bits: refused, nothing reserved.
        RawBad{DataType::kFp64, std::int64_t{1} << 61, std::string(8, '\0'), "do not hold"},
        RawBad{DataType::kBytes, 1'000'000, std::string(8, '\0'),
               "8 bytes cannot hold 1000000 BYTES elements"},
        RawBad{DataType::kBytes, 1, bytes_of({5, 0, 0, 0, 'a'}), "has length 5, past the end"},
        RawBad{DataType::kBytes, 1, bytes_of({1, 0, 0, 0, 'a', 'b'}), "1 bytes are left"},
        RawBad{DataType::kBytes, 2, bytes_of({4, 0, 0, 0, 'a', 'b', 'c', 'd'}),
               "element 1 has no room"}));

TEST(HalfFloatTest, ConvertsExactlyAndRoundsToNearestEven) {
  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0xc000), -2.0f);
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // Smallest subnormal.
  EXPECT_TRUE(std::isinf(half_to_float(0x7c00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7e00)));
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);                    // Rounds up to infinity.
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // A tie: to even.
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -26)), 0x0000);  // Below half the smallest: zero.
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);
  for (std::uint32_t h = 0; h < 0x10000; ++h) {  // Every finite half reads back to itself.
    const auto half = static_cast<std::uint16_t>(h);
    if ((half & 0x7c00) == 0x7c00) continue;
    ASSERT_EQ(float_to_half(half_to_float(half)), half) << h;
  }
}

}  // namespace
}  // namespace kiln::runtime
